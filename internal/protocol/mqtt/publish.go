package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// Inbound PUBLISH. A QoS 0 message is sent and forgotten; a QoS 1 one is
// acknowledged with PUBACK once it is durable; a QoS 2 one is stored with
// a marker of its packet identifier in one transaction and answered with
// PUBREC once both are durable, and PUBREL removes the marker before
// PUBCOMP. A PUBLISH that repeats a packet identifier with a marker is
// answered with PUBREC again and not routed twice, on this connection, a
// later one, or the backup's after a failover: exactly once.

// publish handles a PUBLISH from the client; false ends the connection.
func (c *conn) publish(p *wire.Publish) bool {
	if c.version == wire.V5 {
		if err := c.aliases.Resolve(p); err != nil {
			code, _ := wire.ReasonFor(err)
			return c.disconnect(code, err.Error())
		}
	}
	if len(p.Topic) > c.srv.opts.MaxTopicLength {
		why := fmt.Sprintf("the topic name is %d bytes long; the limit is %d (max-destination-name-length in broker.yaml)",
			len(p.Topic), c.srv.opts.MaxTopicLength)
		return c.refusePublish(p, wire.TopicNameInvalid, why, true)
	}
	pid := p.PacketID
	if p.QoS == wire.QoS2 {
		c.inMu.Lock()
		pending := c.inPending[pid]
		c.inMu.Unlock()
		if pending {
			return true // a resend while the first is being stored: its PUBREC is coming
		}
		if c.st.hasMarker(c.clientID, markerIn, pid) {
			c.enqueue(&wire.Pubrec{PacketID: pid}) // stored already: exactly once
			return true
		}
	}
	if p.QoS > 0 && !c.takeInSlot() {
		return c.disconnect(wire.ReceiveMaximumExceeded,
			fmt.Sprintf("more than %d QoS 1 and 2 PUBLISHes unacknowledged (the Receive Maximum tandem announced)", c.srv.opts.ReceiveMaximum))
	}
	addr := c.addressFor(p.Topic)
	m, badPayload := toMessage(p, addr, c.routingType(addr), c.srv.nowMs())
	if badPayload {
		if p.QoS > 0 {
			c.freeInSlot()
		}
		return c.refusePublish(p, wire.PayloadFormatInvalid, "the payload is not UTF-8 though its Payload Format Indicator says so", false)
	}
	var mk *marker
	if p.QoS == wire.QoS2 {
		mk = &marker{ClientID: c.clientID, Dir: markerIn, PacketID: pid}
		c.inMu.Lock()
		if c.inPending == nil {
			c.inPending = map[uint16]bool{}
		}
		c.inPending[pid] = true
		c.inMu.Unlock()
	}
	qos := p.QoS
	c.pace(m, p.Retain || mk != nil)
	c.srv.route(c.session, c.st, m, p.Retain, mk, c.txName(), func(err error) {
		if qos == wire.QoS2 {
			c.inMu.Lock()
			delete(c.inPending, pid)
			c.inMu.Unlock()
		}
		if err != nil {
			if qos > 0 {
				c.freeInSlot()
			}
			c.publishFailed(qos, pid, addr, err)
			return
		}
		switch qos {
		case wire.QoS1:
			c.freeInSlot()
			c.enqueue(&wire.Puback{PacketID: pid})
		case wire.QoS2:
			if c.version != wire.V5 {
				// A 3.1.1 client's slot only bounds what waits for the
				// store: its PUBREL could not be read while the reader
				// waits for a slot.
				c.freeInSlot()
			}
			c.enqueue(&wire.Pubrec{PacketID: pid})
		}
	})
	return true
}

// route sends m, and in the same transaction its retained copy (retain)
// and a QoS 2 marker (mk), for a client's publish or a will. done runs
// once all of it is durable.
func (s *Server) route(bs *broker.Session, st *store, m *message.Message, retain bool, mk *marker, txName string,
	done func(error)) {
	if !retain && mk == nil {
		bs.Send(m, nil, done)
		return
	}
	tx, err := bs.Begin(txName)
	if err != nil {
		done(err)
		return
	}
	var sendErr error
	bs.Send(m, tx, func(err error) { sendErr = err })
	if sendErr != nil {
		tx.Rollback()
		done(sendErr)
		return
	}
	if retain {
		// One message per topic, the last one published wins; an empty
		// one clears the topic (store.onRetained). The copy is durable
		// whatever the QoS, as retained messages outlive restarts.
		cp := m.Clone()
		cp.Durable = true
		cp.RoutingType = message.Anycast
		st.sess.SendToQueue(cp, retainQueue, tx, nil)
	}
	if mk != nil {
		st.sess.SendToQueue(markerMessage(*mk), qos2Queue, tx, nil)
	}
	tx.Commit(done)
}

// txName names a transaction of this connection.
func (c *conn) txName() string {
	c.txSeq++
	return fmt.Sprintf("mqtt-%d-%d", c.id, c.txSeq)
}

// publishFailed answers a publish the broker refused: MQTT 5 gets the
// reason in PUBACK or PUBREC; MQTT 3.1.1 has no way to say no, so the
// connection closes, as in Artemis (docs/security.md), unless
// close-on-publish-refused is off and the refusal was a permission.
func (c *conn) publishFailed(qos wire.QoS, pid uint16, addr string, err error) {
	code, why := publishReason(err)
	forbidden := errors.Is(err, broker.ErrForbidden)
	c.log.Info("MQTT publish refused", "event", "publish_refused", "client_id", c.clientID, "user", c.user,
		"address", addr, "err", err)
	if c.version == wire.V5 {
		props := wire.Properties{wire.StringProp(wire.PropReasonString, truncate(why, 500))}
		switch qos {
		case wire.QoS1:
			c.enqueue(&wire.Puback{PacketID: pid, Reason: code, Properties: props})
		case wire.QoS2:
			c.enqueue(&wire.Pubrec{PacketID: pid, Reason: code, Properties: props})
		}
		return
	}
	if forbidden && !c.srv.opts.CloseOnPublishRefused {
		switch qos {
		case wire.QoS1:
			c.enqueue(&wire.Puback{PacketID: pid})
		case wire.QoS2:
			c.enqueue(&wire.Pubrec{PacketID: pid})
		}
		return
	}
	c.enqueueFinal(nil)
}

// publishReason maps a refused send to an MQTT 5 reason code and text.
func publishReason(err error) (wire.ReasonCode, string) {
	switch {
	case errors.Is(err, broker.ErrForbidden):
		return wire.NotAuthorized, err.Error()
	case errors.Is(err, broker.ErrAddressFull):
		return wire.QuotaExceeded, err.Error()
	case errors.Is(err, broker.ErrNoSuchAddress), errors.Is(err, broker.ErrNoSuchQueue):
		return wire.TopicNameInvalid, err.Error()
	}
	return wire.ImplementationSpecificError, err.Error()
}

// refusePublish answers a publish refused before it reached the broker:
// with the code in PUBACK or PUBREC (MQTT 5, QoS 1 and 2), by dropping it
// (MQTT 5, QoS 0), or by closing the connection (3.1.1, or fatal).
func (c *conn) refusePublish(p *wire.Publish, code wire.ReasonCode, why string, fatalV3 bool) bool {
	c.log.Info("MQTT publish refused", "event", "publish_refused", "client_id", c.clientID, "topic", truncate(p.Topic, 200),
		"reason", code.String(), "detail", why)
	if c.version != wire.V5 {
		if fatalV3 {
			return c.disconnect(code, why)
		}
		return true
	}
	props := wire.Properties{wire.StringProp(wire.PropReasonString, truncate(why, 500))}
	switch p.QoS {
	case wire.QoS1:
		c.enqueue(&wire.Puback{PacketID: p.PacketID, Reason: code, Properties: props})
	case wire.QoS2:
		c.enqueue(&wire.Pubrec{PacketID: p.PacketID, Reason: code, Properties: props})
	}
	return true
}

// pubrel completes an inbound QoS 2 exchange: the marker goes, then
// PUBCOMP. A PUBREL for an identifier without a marker (released already)
// is answered all the same, with 0x92 in MQTT 5.
func (c *conn) pubrel(pid uint16) {
	c.st.removeMarkerAsync(c.clientID, markerIn, pid, func(found bool, err error) {
		if found && c.version == wire.V5 {
			c.freeInSlot()
		}
		if err != nil {
			c.log.Warn("MQTT PUBREL not recorded", "client_id", c.clientID, "err", err)
		}
		code := wire.Success
		if !found && c.version == wire.V5 {
			code = wire.PacketIdentifierNotFound
		}
		c.enqueue(&wire.Pubcomp{PacketID: pid, Reason: code})
	})
}

// takeInSlot counts one more unacknowledged QoS 1 or 2 PUBLISH (for MQTT 5
// until PUBACK or PUBCOMP, as the client counts; for 3.1.1 until PUBACK
// or PUBREC). An MQTT 5 client past tandem's Receive Maximum broke the
// protocol (false); a 3.1.1 client, which was told no maximum, waits for
// a slot instead.
func (c *conn) takeInSlot() bool {
	limit := int32(c.srv.opts.ReceiveMaximum)
	for {
		n := c.inflightIn.Load()
		if n < limit {
			if c.inflightIn.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		if c.version == wire.V5 {
			return false
		}
		c.turn.Release() // the slot may take a while
		select {
		case <-c.inFreed:
		case <-c.closing:
			return true // the connection is ending; the publish will fail
		}
	}
}

// freeInSlot gives a slot back.
func (c *conn) freeInSlot() {
	c.inflightIn.Add(-1)
	select {
	case c.inFreed <- struct{}{}:
	default:
	}
}

// addressFor maps a topic to its address (cached per connection).
func (c *conn) addressFor(topic string) string {
	if a, ok := c.addrs[topic]; ok {
		return a
	}
	a := wire.TopicToAddress(topic)
	if c.addrs == nil || len(c.addrs) >= 256 {
		c.addrs = map[string]string{}
	}
	c.addrs[strings.Clone(topic)] = a
	return a
}

// routingType is how a publish to addr routes: anycast when the address
// exists as anycast only (an MQTT publisher then feeds a queue, as in
// Artemis), multicast otherwise. Cached per connection.
func (c *conn) routingType(addr string) message.RoutingType {
	if rt, ok := c.rts[addr]; ok {
		return rt
	}
	rt := message.Multicast
	if info, err := c.session.AddressInfo(addr); err == nil && info.Anycast && !info.Multicast {
		rt = message.Anycast
	}
	if c.rts == nil || len(c.rts) >= 256 {
		c.rts = map[string]message.RoutingType{}
	}
	c.rts[addr] = rt
	return rt
}
