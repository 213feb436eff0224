package mqtt

import (
	"errors"
	"fmt"
	"io"

	"tandem/internal/broker"
	wire "tandem/internal/wire/mqtt"
)

// Outbound deliveries. A subscription's consumer hands each delivery to
// deliver, under its queue's lock; the writer goroutine turns it into a
// PUBLISH when the client has room for it.
//
// Packet identifiers of QoS 1 and 2 deliveries are not counted out but
// derived from the message id (pidFor): a message keeps its packet
// identifier however often it is delivered, to a reconnected client, to
// the same client after a restart, or by the backup after a failover, so
// unacknowledged messages are resent with their original packet
// identifiers as the specification asks [MQTT-4.4.0-1] without a write per
// delivery. A delivery whose identifier is still in use (a copy of the
// same message through another subscription, or a message 65,535 ids
// apart) waits, with every delivery behind it, until that one is
// acknowledged.

// pidFor is the packet identifier of a message's QoS 1 and 2 deliveries.
func pidFor(msgID uint64) uint16 { return uint16(msgID%65535) + 1 }

// deliver queues a delivery for the writer (Deliver callback: it runs
// under the queue's lock and must not call back into the broker).
func (c *conn) deliver(sub *subscription, d broker.Delivery) {
	dl := &outDelivery{sub: sub, d: d}
	size := int(d.Message.DeliverySize())
	if l := d.Message.Large(); l != nil {
		// Opened now, while the queue holds the message: an
		// auto-acknowledged delivery may release the body as soon as this
		// returns.
		rc, err := c.session.OpenLargeBody(l)
		if err != nil {
			c.log.Error("cannot read a large message body; the message is not delivered", "event", "large_message_error",
				"message", d.Message.ID, "err", err)
		} else {
			dl.rc = rc
		}
		size = 1024
	}
	c.push(outItem{dl: dl}, size)
}

// afterFlush is what the writer does once a burst is on the wire: give
// window back for auto-acknowledged deliveries and settle the QoS 0
// deliveries of acknowledging consumers.
type afterFlush struct {
	credits map[*broker.Consumer]int
	settles []held
}

func (a *afterFlush) credit(c *broker.Consumer) {
	if a.credits == nil {
		a.credits = map[*broker.Consumer]int{}
	}
	a.credits[c]++
}

func (a *afterFlush) run() {
	for cons, n := range a.credits {
		cons.AddCredit(n)
		delete(a.credits, cons)
	}
	for i, h := range a.settles {
		h.cons.Settle(h.delivery, h.delivery, broker.Settlement{Outcome: broker.Accepted}, nil, nil)
		a.settles[i] = held{}
	}
	a.settles = a.settles[:0]
}

// finished records that a delivery needs no acknowledgement from the
// client: it was sent at QoS 0, or dropped (expired, too large for the
// client, a topic it cannot have).
func (a *afterFlush) finished(d broker.Delivery) {
	if d.Consumer == nil {
		return
	}
	if d.Consumer.AckMode() == broker.AckAuto {
		a.credit(d.Consumer)
		return
	}
	a.settles = append(a.settles, held{cons: d.Consumer, delivery: d.ID})
}

// pumpHeld writes the held deliveries the client has room for, in order.
// It returns false when the writer is broken.
func (c *conn) pumpHeld(after *afterFlush) bool {
	n := 0
	for _, dl := range c.held {
		sent, err := c.writeDelivery(dl, after)
		if err != nil {
			return false
		}
		if !sent {
			break
		}
		n++
	}
	if n > 0 {
		rest := copy(c.held, c.held[n:])
		clear(c.held[rest:])
		c.held = c.held[:rest]
	}
	return true
}

// writeDelivery encodes one delivery. sent is false when it must wait
// (no room in the client's Receive Maximum, or its packet identifier in
// use); err when the writer is broken.
func (c *conn) writeDelivery(dl *outDelivery, after *afterFlush) (sent bool, err error) {
	m := dl.d.Message
	opts := dl.sub.opts()
	msgQoS, published, retainedCopy := mqttFlags(m)
	qos := min(opts.QoS, msgQoS)
	topic := c.topicOf(m.Address)
	if topic == "" || (dl.sub.wildFirst && topic[0] == '$') {
		// A '+' or '#' first level never matches a '$' topic
		// [MQTT-4.7.2-1]; an address with a '#' inside a word has no
		// topic name.
		c.dropDelivery(dl, after)
		return true, nil
	}
	var pid uint16
	if qos > 0 {
		pid = pidFor(m.ID)
		c.flowMu.Lock()
		_, busy := c.inflight[pid]
		full := len(c.inflight) >= c.outMax
		c.flowMu.Unlock()
		if busy || full {
			return false, nil
		}
	}
	var body []byte
	if dl.rc != nil {
		body, err = io.ReadAll(io.LimitReader(dl.rc, wire.MaxPacketSize))
		dl.rc.Close()
		dl.rc = nil
		if err != nil {
			c.log.Error("cannot read a large message body; the message is not delivered", "event", "large_message_error",
				"message", m.ID, "err", err)
			c.dropDelivery(dl, after)
			return true, nil
		}
	} else if m.Large() != nil {
		c.dropDelivery(dl, after) // its body could not be opened
		return true, nil
	}
	retain := retainedCopy || (c.version == wire.V5 && opts.RetainAsPublished && published)
	var ids []uint32
	if c.version == wire.V5 {
		ids = c.subIDs.lookup(c.sess, topic)
	}
	p, ok := buildPublish(m, delivery{topic: topic, qos: qos, dup: dl.d.DeliveryCount > 1, retain: retain, pid: pid,
		subIDs: ids, body: body}, c.version, c.srv.nowMs())
	if !ok {
		c.dropDelivery(dl, after) // expired while it waited
		return true, nil
	}
	if err := c.w.WritePacket(p); err != nil {
		if errors.Is(err, wire.ErrPacketTooLarge) || errors.Is(err, wire.ErrBadPacket) {
			// [MQTT-3.1.2-25]: a packet the client would not accept is
			// dropped as if it had been sent.
			c.log.Debug("MQTT message not delivered", "client_id", c.clientID, "message", m.ID, "err", err)
			c.dropDelivery(dl, after)
			return true, nil
		}
		return false, err
	}
	if qos == 0 {
		after.finished(dl.d)
		return true, nil
	}
	c.flowMu.Lock()
	c.inflight[pid] = &outFlight{cons: dl.d.Consumer, delivery: dl.d.ID, qos: qos}
	c.flowMu.Unlock()
	return true, nil
}

// dropDelivery settles a delivery that is not sent.
func (c *conn) dropDelivery(dl *outDelivery, after *afterFlush) {
	if dl.rc != nil {
		dl.rc.Close()
		dl.rc = nil
	}
	after.finished(dl.d)
}

// topicOf maps an address to its MQTT topic name (cached), or "" when the
// address has none (a '#' or '+' inside a word).
func (c *conn) topicOf(addr string) string {
	if t, ok := c.topics[addr]; ok {
		return t
	}
	t := wire.AddressToTopic(addr)
	if wire.CheckTopicName(t) != nil {
		t = ""
	}
	if c.topics == nil || len(c.topics) >= 1024 {
		c.topics = make(map[string]string)
	}
	c.topics[addr] = t
	return t
}

// puback ends a QoS 1 delivery.
func (c *conn) puback(pid uint16) {
	c.flowMu.Lock()
	f := c.inflight[pid]
	if f == nil || f.qos != wire.QoS1 {
		c.flowMu.Unlock()
		return // not ours (a duplicate, or after a resend): nothing to do
	}
	delete(c.inflight, pid)
	c.flowMu.Unlock()
	f.cons.Settle(f.delivery, f.delivery, broker.Settlement{Outcome: broker.Accepted}, nil, nil)
	c.signal()
}

// pubrec moves a QoS 2 delivery to its second half: the message is
// consumed and a marker remembers the packet identifier, in one
// transaction, so PUBREL can be sent again after a reconnect, a restart or
// a failover; then PUBREL goes out.
func (c *conn) pubrec(p *wire.Pubrec) {
	pid := p.PacketID
	c.flowMu.Lock()
	f := c.inflight[pid]
	if f == nil || f.qos != wire.QoS2 {
		c.flowMu.Unlock()
		if f == nil && c.st.hasMarker(c.clientID, markerOut, pid) {
			c.enqueue(&wire.Pubrel{PacketID: pid}) // a repeated PUBREC
			return
		}
		if c.version == wire.V5 {
			c.enqueue(&wire.Pubrel{PacketID: pid, Reason: wire.PacketIdentifierNotFound})
		}
		return
	}
	if f.released {
		c.flowMu.Unlock()
		c.enqueue(&wire.Pubrel{PacketID: pid})
		return
	}
	if p.Reason.IsError() {
		// The client refused the message (MQTT 5): the exchange ends here.
		delete(c.inflight, pid)
		c.flowMu.Unlock()
		f.cons.Settle(f.delivery, f.delivery, broker.Settlement{Outcome: broker.Accepted}, nil, nil)
		c.signal()
		return
	}
	f.released = true
	c.flowMu.Unlock()
	tx, err := c.begin()
	if err != nil {
		c.log.Warn("MQTT PUBREC not recorded", "client_id", c.clientID, "err", err)
		return
	}
	f.cons.Settle(f.delivery, f.delivery, broker.Settlement{Outcome: broker.Accepted}, tx, nil)
	c.st.sess.SendToQueue(markerMessage(marker{ClientID: c.clientID, Dir: markerOut, PacketID: pid}), qos2Queue, tx, nil)
	tx.Commit(func(err error) {
		if err != nil {
			c.log.Warn("MQTT PUBREC not recorded; the message will be delivered again", "client_id", c.clientID, "err", err)
			c.flowMu.Lock()
			delete(c.inflight, pid)
			c.flowMu.Unlock()
			c.signal()
			return
		}
		c.enqueue(&wire.Pubrel{PacketID: pid})
	})
}

// pubcomp ends a QoS 2 delivery.
func (c *conn) pubcomp(pid uint16) {
	c.flowMu.Lock()
	f := c.inflight[pid]
	if f == nil || !f.released {
		c.flowMu.Unlock()
		return
	}
	delete(c.inflight, pid)
	c.flowMu.Unlock()
	c.st.removeMarkerAsync(c.clientID, markerOut, pid, nil)
	c.signal()
}

// resumeOutbound sends PUBREL again for the QoS 2 deliveries the client
// had acknowledged with PUBREC when its last connection ended.
func (c *conn) resumeOutbound() {
	for _, pid := range c.st.markersOf(c.clientID, markerOut) {
		c.flowMu.Lock()
		c.inflight[pid] = &outFlight{qos: wire.QoS2, released: true}
		c.flowMu.Unlock()
		c.enqueue(&wire.Pubrel{PacketID: pid})
	}
}

// begin opens a broker transaction for a QoS 2 step.
func (c *conn) begin() (*broker.Tx, error) {
	c.txSeq++
	return c.session.Begin(fmt.Sprintf("mqtt-%d-%d", c.id, c.txSeq))
}

// subIDCache remembers, per topic, the Subscription Identifiers of the
// session's subscriptions that match it, until the subscriptions change.
type subIDCache struct {
	gen uint64
	ids map[string][]uint32
}

// lookup returns the Subscription Identifiers of every subscription of
// sess that matches topic: all of them go with each delivery, as the
// specification asks [MQTT-3.3.4-3].
func (sc *subIDCache) lookup(sess *session, topic string) []uint32 {
	gen := sess.generation()
	if sc.ids == nil || sc.gen != gen || len(sc.ids) >= 1024 {
		sc.ids, sc.gen = map[string][]uint32{}, gen
	}
	if ids, ok := sc.ids[topic]; ok {
		return ids
	}
	ids := sess.matchingIDs(topic)
	sc.ids[topic] = ids
	return ids
}

// nowMs is the current time in Unix milliseconds.
func (s *Server) nowMs() int64 { return timeNow().UnixMilli() }
