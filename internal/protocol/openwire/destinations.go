package openwire

import (
	"strings"

	"tandem/internal/message"
	wire "tandem/internal/wire/openwire"
)

// advisoryPrefix starts the names of ActiveMQ's advisory topics.
const advisoryPrefix = "ActiveMQ.Advisory."

// The advisory topics tandem publishes on: the creation and deletion of
// temporary destinations, which the JMS client watches so that it can
// send to another connection's temporary queue (request/reply).
const (
	advisoryTempQueue = advisoryPrefix + "TempQueue"
	advisoryTempTopic = advisoryPrefix + "TempTopic"
)

// target is one destination of a (possibly composite) OpenWire
// destination, as the broker addresses it.
type target struct {
	dest *wire.Destination
	addr string
	rt   message.RoutingType
	// advisory is set for an ActiveMQ.Advisory topic, which the adapter
	// serves itself.
	advisory bool
}

// targets resolves d, splitting a composite destination ("A,B",
// "queue://A,topic://B") into its members, appended to buf.
func (c *conn) targets(d *wire.Destination, buf []target) ([]target, error) {
	if d == nil {
		return nil, errorf(classInvalidDestination, "no destination given")
	}
	if !d.IsComposite() {
		t, err := c.target(d)
		if err != nil {
			return nil, err
		}
		return append(buf, t), nil
	}
	members := d.Members()
	if len(members) == 0 {
		return nil, errorf(classInvalidDestination, "destination %q names nothing", d.Name)
	}
	out := buf
	for _, m := range members {
		t, err := c.target(m)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// target resolves one destination that is not composite.
func (c *conn) target(d *wire.Destination) (target, error) {
	name := d.Name
	switch {
	case name == "":
		return target{}, errorf(classInvalidDestination, "a %v without a name", d.DataType())
	case len(name) > c.srv.opts.MaxDestinationLength:
		return target{}, errorf(classInvalidDestination, "destination name is %d bytes long; the limit is %d (max-destination-name-length in broker.yaml)",
			len(name), c.srv.opts.MaxDestinationLength)
	}
	t := target{dest: d, addr: name}
	if d.IsTopic() {
		t.rt = message.Multicast
		t.advisory = d.Kind == wire.TypeTopic && strings.HasPrefix(name, advisoryPrefix)
	}
	return t, nil
}

// canonical renders an OpenWire destination as the message model spells a
// reply-to (queue://X, topic://X, temp-queue://X, temp-topic://X).
func canonical(d *wire.Destination) string {
	if d == nil {
		return ""
	}
	md := message.Destination{Name: d.Name}
	switch d.Kind {
	case wire.TypeTopic:
		md.Kind = message.DestTopic
	case wire.TypeTempQueue:
		md.Kind = message.DestTempQueue
	case wire.TypeTempTopic:
		md.Kind = message.DestTempTopic
	}
	return md.String()
}

// fromCanonical turns a stored reply-to back into an OpenWire destination;
// text that names no destination becomes a queue of that name, as ActiveMQ
// reads a bare name.
func fromCanonical(s string) *wire.Destination {
	if s == "" {
		return nil
	}
	md, ok := message.ParseDestination(s)
	if !ok {
		return wire.NewQueue(s)
	}
	switch md.Kind {
	case message.DestTopic:
		return wire.NewTopic(md.Name)
	case message.DestTempQueue:
		return wire.NewTempQueue(md.Name)
	case message.DestTempTopic:
		return wire.NewTempTopic(md.Name)
	}
	return wire.NewQueue(md.Name)
}

// destinationOf is the destination a delivered message shows: its address,
// as a queue or topic like the consumer's, or as the temporary destination
// it is.
func (s *Server) destinationOf(addr string, rt message.RoutingType) *wire.Destination {
	if d := s.temp.lookup(addr); d != nil {
		return d
	}
	if rt == message.Multicast {
		return wire.NewTopic(addr)
	}
	return wire.NewQueue(addr)
}
