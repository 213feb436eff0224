package amqp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/amqp"
)

// dest is where a link sends or receives: an address, its routing type
// and, for a fully qualified queue name (address::queue) or a
// subscription, the queue.
type dest struct {
	address string
	queue   string
	rt      message.RoutingType
}

// resolve maps a terminus address and its capabilities onto the broker,
// as Artemis does: capability queue means anycast and topic multicast; an
// address spelled queue://X or topic://X says so itself; without either,
// an existing address keeps its routing type and a new one takes the
// address-settings' default-address-routing-type.
func (c *conn) resolve(addr string, caps []wire.Symbol) (dest, error) {
	if len(addr) > c.srv.opts.MaxDestinationLength {
		return dest{}, wire.NewError(wire.ErrorInvalidField,
			"address is %d bytes long; the limit is %d (max-destination-name-length in broker.yaml)", len(addr), c.srv.opts.MaxDestinationLength)
	}
	d := dest{address: addr}
	explicit := true
	switch {
	case strings.HasPrefix(addr, "queue://"):
		d.address, d.rt = addr[len("queue://"):], message.Anycast
	case strings.HasPrefix(addr, "topic://"):
		d.address, d.rt = addr[len("topic://"):], message.Multicast
	case wire.HasCapability(caps, wire.CapabilityQueue), wire.HasCapability(caps, wire.CapabilityTempQueue):
		d.rt = message.Anycast
	case wire.HasCapability(caps, wire.CapabilityTopic), wire.HasCapability(caps, wire.CapabilityTempTopic):
		d.rt = message.Multicast
	default:
		explicit = false
	}
	if i := strings.Index(d.address, "::"); i >= 0 {
		d.address, d.queue = d.address[:i], d.address[i+2:]
		if d.queue == "" {
			return dest{}, wire.NewError(wire.ErrorInvalidField, "address %q names no queue after \"::\"", addr)
		}
		info, err := c.session.QueueInfo(d.queue)
		if err != nil {
			return dest{}, wire.NewError(wire.ErrorNotFound, "queue %q does not exist", d.queue)
		}
		if info.Address != d.address {
			return dest{}, wire.NewError(wire.ErrorNotFound, "queue %q is on address %q, not %q", d.queue, info.Address, d.address)
		}
		d.rt = info.RoutingType
		return d, nil
	}
	if d.address == "" {
		return dest{}, wire.NewError(wire.ErrorInvalidField, "address %q names no address", addr)
	}
	if !explicit {
		d.rt = c.routingTypeOf(d.address)
	}
	return d, nil
}

// routingTypeOf is the routing type of a link without capabilities: the
// address's own when it exists (anycast when it has both), else the
// configured default.
func (c *conn) routingTypeOf(addr string) message.RoutingType {
	if info, err := c.session.AddressInfo(addr); err == nil {
		if info.Anycast || !info.Multicast {
			return message.Anycast
		}
		return message.Multicast
	}
	return c.srv.opts.Addresses(addr).RoutingType
}

// checkExists refuses a link to an address that does not exist when the
// address-settings forbid creating it (amqp:not-found), so that the
// client learns at attach time rather than at its first send.
func (c *conn) checkExists(d dest) error {
	if d.queue != "" {
		return nil
	}
	if info, err := c.session.AddressInfo(d.address); err == nil {
		if (d.rt == message.Anycast && info.Anycast) || (d.rt == message.Multicast && info.Multicast) {
			return nil
		}
	}
	if c.srv.opts.Addresses(d.address).AutoCreate {
		return nil
	}
	return wire.NewError(wire.ErrorNotFound, "address %q (%s) does not exist and auto-create-addresses is off for it", d.address, d.rt)
}

// createDynamic creates a dynamic node: a temporary queue, or a temporary
// topic when the terminus asks for one. It lives as long as the
// connection.
func (c *conn) createDynamic(caps []wire.Symbol) (string, message.RoutingType, error) {
	c.tempSeq++
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("tmp.amqp.%x.%d", rnd, c.tempSeq)
	if wire.HasCapability(caps, wire.CapabilityTempTopic) || wire.HasCapability(caps, wire.CapabilityTopic) {
		if err := c.session.CreateTempTopic(name); err != nil {
			return "", 0, brokerError(err)
		}
		return name, message.Multicast, nil
	}
	if err := c.session.CreateTempQueue(name); err != nil {
		return "", 0, brokerError(err)
	}
	return name, message.Anycast, nil
}

// subscriptionQueue names the queue of a durable or shared subscription
// as Artemis does: containerId.linkName, the link name alone for a global
// subscription (or a connection without container id), anything from a
// "|" on dropped for a shared one (Qpid JMS appends |2, |3 to the links of
// one shared subscription), and ":shared-volatile" and ":global" appended.
func subscriptionQueue(containerID, linkName string, shared, global, volatile bool) string {
	q := linkName
	if containerID != "" && !global {
		q = containerID + "." + linkName
	}
	if shared {
		if i := strings.IndexByte(q, '|'); i >= 0 {
			q = q[:i]
		}
		if volatile {
			q += ":shared-volatile"
		}
		if global {
			q += ":global"
		}
	}
	return q
}

// brokerError maps a broker error onto the AMQP error a client is told.
func brokerError(err error) *wire.Error {
	var e *wire.Error
	if errors.As(err, &e) {
		return e
	}
	cond := wire.ErrorInternal
	switch {
	case errors.Is(err, broker.ErrForbidden):
		cond = wire.ErrorUnauthorizedAccess
	case errors.Is(err, broker.ErrNoSuchAddress), errors.Is(err, broker.ErrNoSuchQueue), errors.Is(err, broker.ErrAutoCreateDenied):
		cond = wire.ErrorNotFound
	case errors.Is(err, broker.ErrAddressFull), errors.Is(err, broker.ErrMaxConsumers):
		cond = wire.ErrorResourceLimitExceeded
	case errors.Is(err, broker.ErrSubscriptionBusy), errors.Is(err, broker.ErrExclusiveBusy):
		cond = wire.ErrorResourceLocked
	case errors.Is(err, broker.ErrBadDestination):
		cond = wire.ErrorInvalidField
	case errors.Is(err, broker.ErrNoSuchTx), errors.Is(err, broker.ErrTxRolledBack):
		cond = wire.ErrorTransactionRollback
	case errors.Is(err, broker.ErrClosed), errors.Is(err, broker.ErrSessionClosed):
		cond = wire.ErrorConnectionForced
	case strings.HasPrefix(err.Error(), "bad selector"):
		cond = wire.ErrorInvalidField
	}
	return &wire.Error{Condition: cond, Description: err.Error()}
}
