package amqp

// Durability says what survives of a terminus when its link, session or
// connection goes (terminus-durability).
type Durability uint32

// The terminus durabilities.
const (
	DurableNone          Durability = 0
	DurableConfiguration Durability = 1
	DurableUnsettled     Durability = 2
)

// The terminus expiry policies. An empty ExpiryPolicy field means the
// default, ExpirySessionEnd.
const (
	ExpiryLinkDetach      Symbol = "link-detach"
	ExpirySessionEnd      Symbol = "session-end"
	ExpiryConnectionClose Symbol = "connection-close"
	ExpiryNever           Symbol = "never"
)

// The distribution modes of a source: move consumes, copy browses.
const (
	DistributionMove Symbol = "move"
	DistributionCopy Symbol = "copy"
)

// Capabilities and properties clients and brokers exchange.
const (
	CapabilityQueue            Symbol = "queue"
	CapabilityTopic            Symbol = "topic"
	CapabilityTempQueue        Symbol = "temporary-queue"
	CapabilityTempTopic        Symbol = "temporary-topic"
	CapabilityShared           Symbol = "shared"
	CapabilityGlobal           Symbol = "global"
	CapabilityAnonymousRelay   Symbol = "ANONYMOUS-RELAY"
	CapabilityDelayedDelivery  Symbol = "DELAYED_DELIVERY"
	CapabilitySharedSubs       Symbol = "SHARED-SUBS"
	CapabilitySoleConnection   Symbol = "sole-connection-for-container"
	PropertyFailoverServerList Symbol = "failover-server-list"
	PropertyLifetimePolicy     Symbol = "lifetime-policy"
	TxnCapabilityLocal         Symbol = "amqp:local-transactions"
)

// Source is the source terminus of a link: where messages come from. On a
// consumer's attach it names the queue or subscription and carries the
// filters.
type Source struct {
	Address               string // "" when null (a dynamic node before the broker names it)
	Durable               Durability
	ExpiryPolicy          Symbol // "" means session-end
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties Map
	DistributionMode      Symbol
	Filter                Map // filter-set: Symbol keys, Described values
	DefaultOutcome        DeliveryState
	Outcomes              []Symbol
	Capabilities          []Symbol
}

// Target is the target terminus of a link: where messages go.
type Target struct {
	Address               string // "" when null (the anonymous relay)
	Durable               Durability
	ExpiryPolicy          Symbol // "" means session-end
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties Map
	Capabilities          []Symbol
}

// Coordinator is the target of a link to the transaction coordinator.
type Coordinator struct {
	Capabilities []Symbol
}

// Expiry returns the expiry policy with the default filled in.
func (s *Source) Expiry() Symbol { return expiryOrDefault(s.ExpiryPolicy) }

// Expiry returns the expiry policy with the default filled in.
func (t *Target) Expiry() Symbol { return expiryOrDefault(t.ExpiryPolicy) }

func expiryOrDefault(p Symbol) Symbol {
	if p == "" {
		return ExpirySessionEnd
	}
	return p
}

// HasCapability reports whether caps holds c.
func HasCapability(caps []Symbol, c Symbol) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}

// Selector returns the JMS selector in the source's filter set, found by
// its descriptor (ulong or symbol form) whatever its key.
func (s *Source) Selector() (string, bool) {
	v, ok := findFilter(s.Filter, SelectorFilterCode, SelectorFilterSymbol)
	if !ok {
		return "", false
	}
	str, ok := v.(string)
	return str, ok
}

// NoLocal reports whether the source's filter set holds a no-local filter.
func (s *Source) NoLocal() bool {
	_, ok := findFilter(s.Filter, NoLocalFilterCode, NoLocalFilterSymbol)
	return ok
}

func findFilter(filters Map, code uint64, sym Symbol) (any, bool) {
	for _, e := range filters {
		d, ok := e.Value.(Described)
		if !ok {
			continue
		}
		if d.Descriptor == code || d.Descriptor == sym {
			return d.Value, true
		}
	}
	return nil, false
}

// SelectorFilter returns the filter-set entry value for a JMS selector, as
// Qpid JMS sends it (ulong descriptor). Add it under the key
// "jms-selector".
func SelectorFilter(expr string) Described {
	return Described{Descriptor: SelectorFilterCode, Value: expr}
}

// NoLocalFilter returns the filter-set entry value for no-local, as Qpid
// JMS sends it. Add it under the key "no-local".
func NoLocalFilter() Described {
	return Described{Descriptor: NoLocalFilterCode, Value: "NoLocalFilter{}"}
}

// LifetimePolicy returns the name of the lifetime policy in a dynamic
// node's properties ("delete-on-close", "delete-on-no-links",
// "delete-on-no-messages", "delete-on-no-links-or-messages"), or "".
func LifetimePolicy(props Map) string {
	v, ok := props.Get(PropertyLifetimePolicy)
	if !ok {
		return ""
	}
	d, ok := v.(Described)
	if !ok {
		return ""
	}
	var code uint64
	switch x := d.Descriptor.(type) {
	case uint64:
		code = x
	case Symbol:
		code = descriptorBySymbol[string(x)]
	}
	switch code {
	case descDeleteOnClose:
		return "delete-on-close"
	case descDeleteOnNoLinks:
		return "delete-on-no-links"
	case descDeleteOnNoMessages:
		return "delete-on-no-messages"
	case descDeleteOnNoLinksOrMessages:
		return "delete-on-no-links-or-messages"
	}
	return ""
}

// DeleteOnClose is the lifetime-policy value of a temporary node that
// lives as long as the link that created it.
func DeleteOnClose() Described {
	return Described{Descriptor: descDeleteOnClose, Value: List{}}
}

func (s *Source) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descSource)
	b = w.str(b, s.Address, s.Address != "")
	b = w.uint(b, uint32(s.Durable), s.Durable != 0)
	b = w.sym(b, s.ExpiryPolicy)
	b = w.uint(b, s.Timeout, s.Timeout != 0)
	b = w.bool(b, s.Dynamic)
	b, err := w.mapField(b, s.DynamicNodeProperties)
	if err != nil {
		return b, err
	}
	b = w.sym(b, s.DistributionMode)
	if b, err = w.mapField(b, s.Filter); err != nil {
		return b, err
	}
	if b, err = w.composite(b, s.DefaultOutcome); err != nil {
		return b, err
	}
	if b, err = w.symbols(b, s.Outcomes); err != nil {
		return b, err
	}
	if b, err = w.symbols(b, s.Capabilities); err != nil {
		return b, err
	}
	return w.finish(b)
}

func (t *Target) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descTarget)
	b = w.str(b, t.Address, t.Address != "")
	b = w.uint(b, uint32(t.Durable), t.Durable != 0)
	b = w.sym(b, t.ExpiryPolicy)
	b = w.uint(b, t.Timeout, t.Timeout != 0)
	b = w.bool(b, t.Dynamic)
	b, err := w.mapField(b, t.DynamicNodeProperties)
	if err != nil {
		return b, err
	}
	if b, err = w.symbols(b, t.Capabilities); err != nil {
		return b, err
	}
	return w.finish(b)
}

func (c *Coordinator) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descCoordinator)
	b, err := w.symbols(b, c.Capabilities)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

// readSource reads a source or null.
func (d *decoder) readSource() (*Source, error) {
	desc, sym, ok, err := d.describedHeader()
	if err != nil || !ok {
		return nil, err
	}
	if desc != descSource {
		return nil, decodeErr("descriptor %s where a source belongs", descString(desc, sym))
	}
	f, err := d.compositeFields("source")
	if err != nil {
		return nil, err
	}
	s := &Source{}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			s.Address, _, err = d.readString()
		case 1:
			var v uint32
			v, _, err = d.readUint32()
			s.Durable = Durability(v)
		case 2:
			s.ExpiryPolicy, _, err = d.readSymbol()
		case 3:
			s.Timeout, _, err = d.readUint32()
		case 4:
			s.Dynamic, _, err = d.readBool()
		case 5:
			s.DynamicNodeProperties, err = d.readMap()
		case 6:
			s.DistributionMode, _, err = d.readSymbol()
		case 7:
			s.Filter, err = d.readMap()
		case 8:
			s.DefaultOutcome, err = d.readDeliveryState()
		case 9:
			s.Outcomes, err = d.readSymbols()
		case 10:
			s.Capabilities, err = d.readSymbols()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("source", fieldName(i, "address", "durable", "expiry-policy", "timeout", "dynamic",
				"dynamic-node-properties", "distribution-mode", "filter", "default-outcome", "outcomes", "capabilities"), err)
		}
	}
	return s, f.done("source")
}

// readTarget reads a target, a coordinator (exactly one of the results is
// set) or null (neither).
func (d *decoder) readTarget() (*Target, *Coordinator, error) {
	desc, sym, ok, err := d.describedHeader()
	if err != nil || !ok {
		return nil, nil, err
	}
	switch desc {
	case descTarget:
	case descCoordinator:
		c, err := d.decodeCoordinator()
		return nil, c, err
	default:
		return nil, nil, decodeErr("descriptor %s where a target belongs", descString(desc, sym))
	}
	f, err := d.compositeFields("target")
	if err != nil {
		return nil, nil, err
	}
	t := &Target{}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			t.Address, _, err = d.readString()
		case 1:
			var v uint32
			v, _, err = d.readUint32()
			t.Durable = Durability(v)
		case 2:
			t.ExpiryPolicy, _, err = d.readSymbol()
		case 3:
			t.Timeout, _, err = d.readUint32()
		case 4:
			t.Dynamic, _, err = d.readBool()
		case 5:
			t.DynamicNodeProperties, err = d.readMap()
		case 6:
			t.Capabilities, err = d.readSymbols()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, nil, fieldErr("target", fieldName(i, "address", "durable", "expiry-policy", "timeout", "dynamic",
				"dynamic-node-properties", "capabilities"), err)
		}
	}
	return t, nil, f.done("target")
}

func (d *decoder) decodeCoordinator() (*Coordinator, error) {
	f, err := d.compositeFields("coordinator")
	if err != nil {
		return nil, err
	}
	c := &Coordinator{}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			c.Capabilities, err = d.readSymbols()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("coordinator", fieldName(i, "capabilities"), err)
		}
	}
	return c, f.done("coordinator")
}
