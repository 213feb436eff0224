package amqp

import "math"

// FrameBody is what a frame carries: a Performative in an AMQP frame or a
// SASLPerformative in a SASL frame.
type FrameBody interface {
	composite
	frameType() FrameType
}

// Performative is one of the nine AMQP performatives: *Open, *Begin,
// *Attach, *Flow, *Transfer, *Disposition, *Detach, *End, *Close.
type Performative interface {
	FrameBody
	performative()
}

// Role is the role of a link endpoint: false for a sender, true for a
// receiver, as on the wire.
type Role bool

// The two roles.
const (
	RoleSender   Role = false
	RoleReceiver Role = true
)

func (r Role) String() string {
	if r == RoleReceiver {
		return "receiver"
	}
	return "sender"
}

// SenderSettleMode is how a sender settles deliveries: unsettled, settled
// (pre-settled: at most once) or mixed (the default).
type SenderSettleMode uint8

// The sender settle modes.
const (
	SenderSettleUnsettled SenderSettleMode = 0
	SenderSettleSettled   SenderSettleMode = 1
	SenderSettleMixed     SenderSettleMode = 2
)

// ReceiverSettleMode is how a receiver settles: first (settle at once, the
// default) or second (settle after the sender settles).
type ReceiverSettleMode uint8

// The receiver settle modes.
const (
	ReceiverSettleFirst  ReceiverSettleMode = 0
	ReceiverSettleSecond ReceiverSettleMode = 1
)

// Defaults of the fields whose absence means more than zero.
const (
	DefaultMaxFrameSize = math.MaxUint32
	DefaultChannelMax   = math.MaxUint16
	DefaultHandleMax    = math.MaxUint32
	// MinMaxFrameSize is the smallest max-frame-size a peer may announce,
	// and the largest frame either side may send before the open frames
	// are exchanged.
	MinMaxFrameSize = 512
)

// Open is the first frame on a connection, announcing the container and
// its limits. Zero values of Hostname, MaxFrameSize and IdleTimeout
// encode as absent.
type Open struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32 // 0: absent (DefaultMaxFrameSize)
	ChannelMax          Optional[uint16]
	IdleTimeout         uint32 // milliseconds; 0: none
	OutgoingLocales     []Symbol
	IncomingLocales     []Symbol
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

// EffectiveMaxFrameSize returns MaxFrameSize with the default applied.
func (o *Open) EffectiveMaxFrameSize() uint32 {
	if o.MaxFrameSize == 0 {
		return DefaultMaxFrameSize
	}
	return o.MaxFrameSize
}

// Begin starts a session on a channel.
type Begin struct {
	RemoteChannel       Optional[uint16]
	NextOutgoingID      uint32
	IncomingWindow      uint32
	OutgoingWindow      uint32
	HandleMax           Optional[uint32] // absent: DefaultHandleMax
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

// Attach attaches a link to a session. Target and Coordinator are
// alternatives: a link to the transaction coordinator has a Coordinator
// instead of a Target; null on the wire when both are nil.
type Attach struct {
	Name                 string
	Handle               uint32
	Role                 Role
	SndSettleMode        Optional[SenderSettleMode]   // absent: mixed
	RcvSettleMode        Optional[ReceiverSettleMode] // absent: first
	Source               *Source
	Target               *Target
	Coordinator          *Coordinator
	Unsettled            Map
	IncompleteUnsettled  bool
	InitialDeliveryCount Optional[uint32]
	MaxMessageSize       uint64 // 0: no limit
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           Map
}

// Flow updates a session's windows and, when Handle is set, a link's
// credit.
type Flow struct {
	NextIncomingID Optional[uint32]
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         Optional[uint32]
	DeliveryCount  Optional[uint32]
	LinkCredit     Optional[uint32]
	Available      Optional[uint32]
	Drain          bool
	Echo           bool
	Properties     Map
}

// Transfer carries (part of) a message on a link. The message bytes follow
// the performative in the frame; they are not part of this struct.
type Transfer struct {
	Handle        uint32
	DeliveryID    Optional[uint32]
	DeliveryTag   []byte // nil: absent
	MessageFormat Optional[uint32]
	Settled       bool
	More          bool
	RcvSettleMode Optional[ReceiverSettleMode]
	State         DeliveryState
	Resume        bool
	Aborted       bool
	Batchable     bool
}

// Disposition settles or updates the state of a range of deliveries.
type Disposition struct {
	Role      Role
	First     uint32
	Last      Optional[uint32] // absent: First
	Settled   bool
	State     DeliveryState
	Batchable bool
}

// LastID returns Last with its default (First) applied.
func (d *Disposition) LastID() uint32 { return d.Last.Or(d.First) }

// Detach detaches a link; Closed also closes it (for a durable
// subscription: removes it).
type Detach struct {
	Handle uint32
	Closed bool
	Error  *Error
}

// End ends a session.
type End struct {
	Error *Error
}

// Close closes a connection.
type Close struct {
	Error *Error
}

func (*Open) performative()        {}
func (*Begin) performative()       {}
func (*Attach) performative()      {}
func (*Flow) performative()        {}
func (*Transfer) performative()    {}
func (*Disposition) performative() {}
func (*Detach) performative()      {}
func (*End) performative()         {}
func (*Close) performative()       {}

func (*Open) frameType() FrameType        { return FrameAMQP }
func (*Begin) frameType() FrameType       { return FrameAMQP }
func (*Attach) frameType() FrameType      { return FrameAMQP }
func (*Flow) frameType() FrameType        { return FrameAMQP }
func (*Transfer) frameType() FrameType    { return FrameAMQP }
func (*Disposition) frameType() FrameType { return FrameAMQP }
func (*Detach) frameType() FrameType      { return FrameAMQP }
func (*End) frameType() FrameType         { return FrameAMQP }
func (*Close) frameType() FrameType       { return FrameAMQP }

// AppendPerformative appends the encoding of a performative (or SASL
// performative) to b.
func AppendPerformative(b []byte, p FrameBody) ([]byte, error) { return p.appendTo(b) }

// DecodePerformative decodes the performative at the start of the body of
// an AMQP frame and returns it with the bytes that follow it: a transfer's
// payload, empty for the other performatives. The payload aliases body;
// every value in the performative is a copy.
func DecodePerformative(body []byte) (Performative, []byte, error) {
	d := decoder{b: body}
	code, err := d.readByte()
	if err != nil {
		return nil, nil, err
	}
	if code != codeDescribed {
		return nil, nil, decodeErr("frame body starts with format code 0x%02x, not a described performative", code)
	}
	desc, sym, err := d.descriptor()
	if err != nil {
		return nil, nil, err
	}
	var p Performative
	switch desc {
	case descOpen:
		p, err = d.decodeOpen()
	case descBegin:
		p, err = d.decodeBegin()
	case descAttach:
		p, err = d.decodeAttach()
	case descFlow:
		p, err = d.decodeFlow()
	case descTransfer:
		t := &Transfer{}
		p, err = t, d.decodeTransfer(t)
	case descDisposition:
		p, err = d.decodeDisposition()
	case descDetach:
		p, err = d.decodeDetach()
	case descEnd:
		var e *Error
		e, err = d.decodeErrorOnly("end")
		p = &End{Error: e}
	case descClose:
		var e *Error
		e, err = d.decodeErrorOnly("close")
		p = &Close{Error: e}
	default:
		return nil, nil, errUnknown(desc, sym, "an AMQP frame")
	}
	if err != nil {
		return nil, nil, err
	}
	rest := body[d.i:]
	if len(rest) > 0 && desc != descTransfer {
		return nil, nil, decodeErr("%d bytes after the %s performative; only transfer carries a payload", len(rest), descriptorName(desc))
	}
	return p, rest, nil
}

// DecodeTransfer decodes a transfer performative into t (reusing it, so
// the engine's hot path allocates nothing but the delivery tag) and
// returns the payload that follows it, aliasing body. It fails with
// ErrUnknownPerformative when body holds another performative.
func DecodeTransfer(body []byte, t *Transfer) ([]byte, error) {
	d := decoder{b: body}
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code != codeDescribed {
		return nil, decodeErr("frame body starts with format code 0x%02x, not a described performative", code)
	}
	desc, sym, err := d.descriptor()
	if err != nil {
		return nil, err
	}
	if desc != descTransfer {
		return nil, errUnknown(desc, sym, "a transfer")
	}
	*t = Transfer{}
	if err := d.decodeTransfer(t); err != nil {
		return nil, err
	}
	return body[d.i:], nil
}

func errUnknown(desc uint64, sym Symbol, where string) error {
	return &unknownErr{what: descString(desc, sym), where: where}
}

type unknownErr struct{ what, where string }

func (e *unknownErr) Error() string {
	return ErrUnknownPerformative.Error() + ": descriptor " + e.what + " in " + e.where
}
func (e *unknownErr) Unwrap() error { return ErrUnknownPerformative }

func (o *Open) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descOpen)
	b = w.str(b, o.ContainerID, true)
	b = w.str(b, o.Hostname, o.Hostname != "")
	b = w.uint(b, o.MaxFrameSize, o.MaxFrameSize != 0)
	b = w.ushortOpt(b, o.ChannelMax)
	b = w.uint(b, o.IdleTimeout, o.IdleTimeout != 0)
	var err error
	for _, s := range [][]Symbol{o.OutgoingLocales, o.IncomingLocales, o.OfferedCapabilities, o.DesiredCapabilities} {
		if b, err = w.symbols(b, s); err != nil {
			return b, err
		}
	}
	if b, err = w.mapField(b, o.Properties); err != nil {
		return b, err
	}
	return w.finish(b)
}

func (d *decoder) decodeOpen() (*Open, error) {
	f, err := d.compositeFields("open")
	if err != nil {
		return nil, err
	}
	o := &Open{}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			o.ContainerID, has, err = d.readString()
		case 1:
			o.Hostname, _, err = d.readString()
		case 2:
			o.MaxFrameSize, _, err = d.readUint32()
		case 3:
			o.ChannelMax.Value, o.ChannelMax.Set, err = d.readUint16()
		case 4:
			o.IdleTimeout, _, err = d.readUint32()
		case 5:
			o.OutgoingLocales, err = d.readSymbols()
		case 6:
			o.IncomingLocales, err = d.readSymbols()
		case 7:
			o.OfferedCapabilities, err = d.readSymbols()
		case 8:
			o.DesiredCapabilities, err = d.readSymbols()
		case 9:
			o.Properties, err = d.readMap()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("open", fieldName(i, "container-id", "hostname", "max-frame-size", "channel-max",
				"idle-time-out", "outgoing-locales", "incoming-locales", "offered-capabilities", "desired-capabilities", "properties"), err)
		}
	}
	if !has {
		return nil, decodeErr("open: mandatory container-id missing")
	}
	return o, f.done("open")
}

func (p *Begin) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descBegin)
	b = w.ushortOpt(b, p.RemoteChannel)
	b = w.uint(b, p.NextOutgoingID, true)
	b = w.uint(b, p.IncomingWindow, true)
	b = w.uint(b, p.OutgoingWindow, true)
	b = w.uintOpt(b, p.HandleMax)
	var err error
	if b, err = w.symbols(b, p.OfferedCapabilities); err != nil {
		return b, err
	}
	if b, err = w.symbols(b, p.DesiredCapabilities); err != nil {
		return b, err
	}
	if b, err = w.mapField(b, p.Properties); err != nil {
		return b, err
	}
	return w.finish(b)
}

func (d *decoder) decodeBegin() (*Begin, error) {
	f, err := d.compositeFields("begin")
	if err != nil {
		return nil, err
	}
	p := &Begin{}
	var has [3]bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.RemoteChannel.Value, p.RemoteChannel.Set, err = d.readUint16()
		case 1:
			p.NextOutgoingID, has[0], err = d.readUint32()
		case 2:
			p.IncomingWindow, has[1], err = d.readUint32()
		case 3:
			p.OutgoingWindow, has[2], err = d.readUint32()
		case 4:
			p.HandleMax.Value, p.HandleMax.Set, err = d.readUint32()
		case 5:
			p.OfferedCapabilities, err = d.readSymbols()
		case 6:
			p.DesiredCapabilities, err = d.readSymbols()
		case 7:
			p.Properties, err = d.readMap()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("begin", fieldName(i, "remote-channel", "next-outgoing-id", "incoming-window",
				"outgoing-window", "handle-max", "offered-capabilities", "desired-capabilities", "properties"), err)
		}
	}
	if !has[0] || !has[1] || !has[2] {
		return nil, decodeErr("begin: mandatory next-outgoing-id, incoming-window or outgoing-window missing")
	}
	return p, f.done("begin")
}

func (a *Attach) appendTo(b []byte) ([]byte, error) {
	if a.Target != nil && a.Coordinator != nil {
		return b, encodeErr("attach with both a target and a coordinator")
	}
	b, w := beginComposite(b, descAttach)
	b = w.str(b, a.Name, true)
	b = w.uint(b, a.Handle, true)
	b = w.boolAlways(b, bool(a.Role))
	b = w.ubyte(b, uint8(a.SndSettleMode.Value), a.SndSettleMode.Set)
	b = w.ubyte(b, uint8(a.RcvSettleMode.Value), a.RcvSettleMode.Set)
	var err error
	if b, err = w.composite(b, a.Source); err != nil {
		return b, err
	}
	if a.Coordinator != nil {
		b, err = w.composite(b, a.Coordinator)
	} else {
		b, err = w.composite(b, a.Target)
	}
	if err != nil {
		return b, err
	}
	if b, err = w.mapField(b, a.Unsettled); err != nil {
		return b, err
	}
	b = w.bool(b, a.IncompleteUnsettled)
	b = w.uintOpt(b, a.InitialDeliveryCount)
	b = w.ulong(b, a.MaxMessageSize, a.MaxMessageSize != 0)
	if b, err = w.symbols(b, a.OfferedCapabilities); err != nil {
		return b, err
	}
	if b, err = w.symbols(b, a.DesiredCapabilities); err != nil {
		return b, err
	}
	if b, err = w.mapField(b, a.Properties); err != nil {
		return b, err
	}
	return w.finish(b)
}

func (d *decoder) decodeAttach() (*Attach, error) {
	f, err := d.compositeFields("attach")
	if err != nil {
		return nil, err
	}
	a := &Attach{}
	var has [3]bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			a.Name, has[0], err = d.readString()
		case 1:
			a.Handle, has[1], err = d.readUint32()
		case 2:
			var r bool
			r, has[2], err = d.readBool()
			a.Role = Role(r)
		case 3:
			var m uint8
			m, a.SndSettleMode.Set, err = d.readUint8()
			a.SndSettleMode.Value = SenderSettleMode(m)
			if err == nil && m > uint8(SenderSettleMixed) {
				err = decodeErr("snd-settle-mode %d is not 0, 1 or 2", m)
			}
		case 4:
			var m uint8
			m, a.RcvSettleMode.Set, err = d.readUint8()
			a.RcvSettleMode.Value = ReceiverSettleMode(m)
			if err == nil && m > uint8(ReceiverSettleSecond) {
				err = decodeErr("rcv-settle-mode %d is not 0 or 1", m)
			}
		case 5:
			a.Source, err = d.readSource()
		case 6:
			a.Target, a.Coordinator, err = d.readTarget()
		case 7:
			a.Unsettled, err = d.readMap()
		case 8:
			a.IncompleteUnsettled, _, err = d.readBool()
		case 9:
			a.InitialDeliveryCount.Value, a.InitialDeliveryCount.Set, err = d.readUint32()
		case 10:
			a.MaxMessageSize, _, err = d.readUint64()
		case 11:
			a.OfferedCapabilities, err = d.readSymbols()
		case 12:
			a.DesiredCapabilities, err = d.readSymbols()
		case 13:
			a.Properties, err = d.readMap()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("attach", fieldName(i, "name", "handle", "role", "snd-settle-mode", "rcv-settle-mode",
				"source", "target", "unsettled", "incomplete-unsettled", "initial-delivery-count", "max-message-size",
				"offered-capabilities", "desired-capabilities", "properties"), err)
		}
	}
	if !has[0] || !has[1] || !has[2] {
		return nil, decodeErr("attach: mandatory name, handle or role missing")
	}
	return a, f.done("attach")
}

func (p *Flow) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descFlow)
	b = w.uintOpt(b, p.NextIncomingID)
	b = w.uint(b, p.IncomingWindow, true)
	b = w.uint(b, p.NextOutgoingID, true)
	b = w.uint(b, p.OutgoingWindow, true)
	b = w.uintOpt(b, p.Handle)
	b = w.uintOpt(b, p.DeliveryCount)
	b = w.uintOpt(b, p.LinkCredit)
	b = w.uintOpt(b, p.Available)
	b = w.bool(b, p.Drain)
	b = w.bool(b, p.Echo)
	b, err := w.mapField(b, p.Properties)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (d *decoder) decodeFlow() (*Flow, error) {
	f, err := d.compositeFields("flow")
	if err != nil {
		return nil, err
	}
	p := &Flow{}
	var has [3]bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.NextIncomingID.Value, p.NextIncomingID.Set, err = d.readUint32()
		case 1:
			p.IncomingWindow, has[0], err = d.readUint32()
		case 2:
			p.NextOutgoingID, has[1], err = d.readUint32()
		case 3:
			p.OutgoingWindow, has[2], err = d.readUint32()
		case 4:
			p.Handle.Value, p.Handle.Set, err = d.readUint32()
		case 5:
			p.DeliveryCount.Value, p.DeliveryCount.Set, err = d.readUint32()
		case 6:
			p.LinkCredit.Value, p.LinkCredit.Set, err = d.readUint32()
		case 7:
			p.Available.Value, p.Available.Set, err = d.readUint32()
		case 8:
			p.Drain, _, err = d.readBool()
		case 9:
			p.Echo, _, err = d.readBool()
		case 10:
			p.Properties, err = d.readMap()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("flow", fieldName(i, "next-incoming-id", "incoming-window", "next-outgoing-id",
				"outgoing-window", "handle", "delivery-count", "link-credit", "available", "drain", "echo", "properties"), err)
		}
	}
	if !has[0] || !has[1] || !has[2] {
		return nil, decodeErr("flow: mandatory incoming-window, next-outgoing-id or outgoing-window missing")
	}
	return p, f.done("flow")
}

func (t *Transfer) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descTransfer)
	b = w.uint(b, t.Handle, true)
	b = w.uintOpt(b, t.DeliveryID)
	b = w.binary(b, t.DeliveryTag, t.DeliveryTag != nil)
	b = w.uintOpt(b, t.MessageFormat)
	b = w.bool(b, t.Settled)
	b = w.bool(b, t.More)
	b = w.ubyte(b, uint8(t.RcvSettleMode.Value), t.RcvSettleMode.Set)
	b, err := w.composite(b, t.State)
	if err != nil {
		return b, err
	}
	b = w.bool(b, t.Resume)
	b = w.bool(b, t.Aborted)
	b = w.bool(b, t.Batchable)
	return w.finish(b)
}

func (d *decoder) decodeTransfer(t *Transfer) error {
	f, err := d.compositeFields("transfer")
	if err != nil {
		return err
	}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			t.Handle, has, err = d.readUint32()
		case 1:
			t.DeliveryID.Value, t.DeliveryID.Set, err = d.readUint32()
		case 2:
			t.DeliveryTag, _, err = d.readBinary()
			if err == nil && len(t.DeliveryTag) > 32 {
				err = decodeErr("delivery-tag of %d bytes; at most 32 are allowed", len(t.DeliveryTag))
			}
		case 3:
			t.MessageFormat.Value, t.MessageFormat.Set, err = d.readUint32()
		case 4:
			t.Settled, _, err = d.readBool()
		case 5:
			t.More, _, err = d.readBool()
		case 6:
			var m uint8
			m, t.RcvSettleMode.Set, err = d.readUint8()
			t.RcvSettleMode.Value = ReceiverSettleMode(m)
			if err == nil && m > uint8(ReceiverSettleSecond) {
				err = decodeErr("rcv-settle-mode %d is not 0 or 1", m)
			}
		case 7:
			t.State, err = d.readDeliveryState()
		case 8:
			t.Resume, _, err = d.readBool()
		case 9:
			t.Aborted, _, err = d.readBool()
		case 10:
			t.Batchable, _, err = d.readBool()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr("transfer", fieldName(i, "handle", "delivery-id", "delivery-tag", "message-format", "settled",
				"more", "rcv-settle-mode", "state", "resume", "aborted", "batchable"), err)
		}
	}
	if !has {
		return decodeErr("transfer: mandatory handle missing")
	}
	return f.done("transfer")
}

func (p *Disposition) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descDisposition)
	b = w.boolAlways(b, bool(p.Role))
	b = w.uint(b, p.First, true)
	b = w.uintOpt(b, p.Last)
	b = w.bool(b, p.Settled)
	b, err := w.composite(b, p.State)
	if err != nil {
		return b, err
	}
	b = w.bool(b, p.Batchable)
	return w.finish(b)
}

func (d *decoder) decodeDisposition() (*Disposition, error) {
	f, err := d.compositeFields("disposition")
	if err != nil {
		return nil, err
	}
	p := &Disposition{}
	var has [2]bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			var r bool
			r, has[0], err = d.readBool()
			p.Role = Role(r)
		case 1:
			p.First, has[1], err = d.readUint32()
		case 2:
			p.Last.Value, p.Last.Set, err = d.readUint32()
		case 3:
			p.Settled, _, err = d.readBool()
		case 4:
			p.State, err = d.readDeliveryState()
		case 5:
			p.Batchable, _, err = d.readBool()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("disposition", fieldName(i, "role", "first", "last", "settled", "state", "batchable"), err)
		}
	}
	if !has[0] || !has[1] {
		return nil, decodeErr("disposition: mandatory role or first missing")
	}
	return p, f.done("disposition")
}

func (p *Detach) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descDetach)
	b = w.uint(b, p.Handle, true)
	b = w.bool(b, p.Closed)
	b, err := w.composite(b, p.Error)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (d *decoder) decodeDetach() (*Detach, error) {
	f, err := d.compositeFields("detach")
	if err != nil {
		return nil, err
	}
	p := &Detach{}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.Handle, has, err = d.readUint32()
		case 1:
			p.Closed, _, err = d.readBool()
		case 2:
			p.Error, err = d.readError()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("detach", fieldName(i, "handle", "closed", "error"), err)
		}
	}
	if !has {
		return nil, decodeErr("detach: mandatory handle missing")
	}
	return p, f.done("detach")
}

func (p *End) appendTo(b []byte) ([]byte, error)   { return appendErrorOnly(b, descEnd, p.Error) }
func (p *Close) appendTo(b []byte) ([]byte, error) { return appendErrorOnly(b, descClose, p.Error) }

func appendErrorOnly(b []byte, desc uint64, e *Error) ([]byte, error) {
	b, w := beginComposite(b, desc)
	b, err := w.composite(b, e)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (d *decoder) decodeErrorOnly(name string) (*Error, error) {
	f, err := d.compositeFields(name)
	if err != nil {
		return nil, err
	}
	var e *Error
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			e, err = d.readError()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr(name, fieldName(i, "error"), err)
		}
	}
	return e, f.done(name)
}
