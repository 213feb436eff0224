package openwire

import (
	"errors"

	"tandem/internal/broker"
	wire "tandem/internal/wire/openwire"
)

// handle processes one command from the client. It returns false when the
// connection must end.
func (c *conn) handle(ds wire.DataStructure) bool {
	cmd, ok := ds.(wire.Command)
	if !ok {
		c.log.Debug("ignoring a second WireFormatInfo", "event", "bad_frame")
		return true
	}
	if c.session == nil {
		switch x := cmd.(type) {
		case *wire.ConnectionInfo:
			return c.connect(x)
		case *wire.KeepAliveInfo:
			c.keepAlive(x)
		case *wire.ShutdownInfo:
			return false
		case *wire.ConnectionControl, *wire.RemoveInfo:
			c.respond(cmd, nil)
		default:
			c.respond(cmd, errorf(classIllegalState, "the connection is not open: send a ConnectionInfo first (was the login refused?)"))
		}
		return true
	}
	switch x := cmd.(type) {
	case *wire.Message:
		c.onMessage(x)
	case *wire.MessageAck:
		c.onAck(x)
	case *wire.MessagePull:
		c.onPull(x)
	case *wire.KeepAliveInfo:
		c.keepAlive(x)
	case *wire.ConnectionInfo:
		return c.connect(x)
	case *wire.SessionInfo:
		if x.SessionID != nil {
			c.sessions[x.SessionID.Value] = true
		}
		c.respond(x, nil)
	case *wire.ProducerInfo:
		c.addProducer(x)
	case *wire.ConsumerInfo:
		c.addConsumer(x)
	case *wire.RemoveInfo:
		c.remove(x)
	case *wire.TransactionInfo:
		c.onTransaction(x)
	case *wire.DestinationInfo:
		c.onDestination(x)
	case *wire.RemoveSubscriptionInfo:
		c.onRemoveSubscription(x)
	case *wire.ConsumerControl:
		c.onConsumerControl(x)
	case *wire.ConnectionControl:
		// A failover client announces itself (FaultTolerant) before it
		// replays its state; nothing changes for the broker.
		c.respond(x, nil)
	case *wire.ShutdownInfo:
		return false
	default:
		c.respond(cmd, errorf(classJMSException, "tandem does not handle a %v from a client", cmd.DataType()))
	}
	return true
}

// keepAlive answers a KeepAliveInfo that asks for an answer with one that
// does not, as ActiveMQ Classic does.
func (c *conn) keepAlive(x *wire.KeepAliveInfo) {
	if x.ResponseRequired {
		c.send(&wire.KeepAliveInfo{})
	}
}

// remove closes what a RemoveInfo names.
func (c *conn) remove(x *wire.RemoveInfo) {
	switch id := x.ObjectID.(type) {
	case *wire.ConsumerID:
		c.removeConsumer(id, x.LastDeliveredSequenceID)
	case *wire.ProducerID:
		delete(c.producers, *id)
	case *wire.SessionID:
		c.removeSession(id)
	case *wire.ConnectionID:
		// The client closes its connection: what it still holds goes back
		// now; ShutdownInfo and the socket's close follow.
		c.rollbackAll()
		c.consMu.Lock()
		var ks []*consumer
		for _, k := range c.consumers {
			ks = append(ks, k)
		}
		c.consMu.Unlock()
		for _, k := range ks {
			c.removeConsumer(k.wid, wire.LastDeliveredUnknown)
		}
	}
	c.respond(x, nil)
}

// onDestination creates or deletes a temporary destination; other
// destinations are created on first use, so adding one is answered at once.
func (c *conn) onDestination(x *wire.DestinationInfo) {
	d := x.Destination
	if d == nil || !d.IsTemporary() {
		c.respond(x, nil)
		return
	}
	if _, err := c.target(d); err != nil {
		c.respond(x, err)
		return
	}
	switch x.OperationType {
	case wire.DestinationAdd:
		if c.temps[d.Name] != nil {
			c.respond(x, nil)
			return
		}
		var err error
		if d.Kind == wire.TypeTempQueue {
			err = c.session.CreateTempQueue(d.Name)
		} else {
			err = c.session.CreateTempTopic(d.Name)
		}
		if err != nil {
			c.respond(x, err)
			return
		}
		c.temps[d.Name] = d
		c.srv.temp.add(d, c)
		c.respond(x, nil)
	case wire.DestinationRemove:
		if c.temps[d.Name] == nil {
			c.respond(x, nil)
			return
		}
		if err := c.session.DeleteTemp(d.Name); err != nil {
			if errors.Is(err, broker.ErrTempInUse) {
				err = errorf(classIllegalState, "Cannot delete a temporary destination while it has active consumers: %s", d)
			}
			c.respond(x, err)
			return
		}
		delete(c.temps, d.Name)
		c.srv.temp.remove(d, c)
		c.respond(x, nil)
	default:
		c.respond(x, errorf(classJMSException, "unknown destination operation %d", x.OperationType))
	}
}

// onRemoveSubscription deletes a durable subscription (JMS unsubscribe).
func (c *conn) onRemoveSubscription(x *wire.RemoveSubscriptionInfo) {
	clientID := x.ClientID
	if clientID == "" {
		clientID = c.clientID
	}
	if clientID == "" || x.SubscriptionName == "" {
		c.respond(x, errorf(classInvalidDestination, "unsubscribe needs the connection's client ID and the subscription name"))
		return
	}
	err := c.session.DeleteSubscriptionQueue(broker.SubscriptionQueueName(clientID, x.SubscriptionName))
	switch {
	case errors.Is(err, broker.ErrSubscriptionBusy):
		err = errorf(classIllegalState, "Durable consumer is in use for client: %s and subscriptionName: %s", clientID, x.SubscriptionName)
	case errors.Is(err, broker.ErrNoSuchQueue):
		err = errorf(classInvalidDestination, "No durable subscription exists for clientID: %s and subscriptionName: %s", clientID, x.SubscriptionName)
	}
	c.respond(x, err)
}
