package openwire

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/openwire"
)

// consumer is a client's message consumer, queue browser or advisory
// consumer. A consumer on a composite destination has one broker consumer
// (member) per queue or topic it names.
type consumer struct {
	conn *conn
	id   wire.ConsumerID
	wid  *wire.ConsumerID
	dest *wire.Destination

	members []*member
	browser *browser
	// advisory is set for a consumer of advisory topics only, which the
	// adapter feeds itself.
	advisory bool

	// mu guards what deliveries (broker goroutines), acks (the read
	// goroutine) and the writer share.
	mu       sync.Mutex
	prefetch int
	entries  map[uint64]*entry
	head     *entry
	tail     *entry
}

// member is one broker consumer of a client consumer.
type member struct {
	k  *consumer
	bc *broker.Consumer
	t  target
}

// entry is a delivery the client holds and has not acknowledged, in
// delivery order. The client acks by message id ranges; each dispatched
// message carries its delivery id in the broker sequence field, which the
// client echoes.
type entry struct {
	m   *member
	id  uint64
	msg *message.Message
	// credited is set once a delivered (or consuming) ack gave the
	// prefetch credit of this delivery back.
	credited bool
	// tx is the transaction whose ack consumed it, until that commits or
	// rolls back.
	tx         *txState
	prev, next *entry
}

// browser is a queue browser's snapshot and how far it has been sent.
type browser struct {
	items  []broker.BrowseItem
	next   int
	credit int
	ended  bool
}

func (k *consumer) linkLocked(e *entry) {
	k.entries[e.id] = e
	e.prev = k.tail
	if k.tail != nil {
		k.tail.next = e
	} else {
		k.head = e
	}
	k.tail = e
}

func (k *consumer) unlinkLocked(e *entry) {
	delete(k.entries, e.id)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		k.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		k.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *conn) consumer(id *wire.ConsumerID) *consumer {
	if id == nil {
		return nil
	}
	c.consMu.Lock()
	defer c.consMu.Unlock()
	return c.consumers[*id]
}

// addConsumer opens a consumer, a browser or an advisory consumer.
func (c *conn) addConsumer(x *wire.ConsumerInfo) {
	if x.ConsumerID == nil {
		c.respond(x, errorf(classJMSException, "ConsumerInfo without a consumer ID"))
		return
	}
	c.consMu.Lock()
	_, dup := c.consumers[*x.ConsumerID]
	n := len(c.consumers)
	c.consMu.Unlock()
	switch {
	case dup:
		c.respond(x, errorf(classIllegalState, "consumer %s already exists on this connection", x.ConsumerID))
		return
	case n >= c.srv.opts.MaxConsumers:
		c.respond(x, errorf(classResourceAllocation, "too many consumers: this connection already has %d (max-subscriptions-per-connection)", n))
		return
	}
	targets, err := c.targets(x.Destination, nil)
	if err != nil {
		c.respond(x, err)
		return
	}
	k := &consumer{conn: c, id: *x.ConsumerID, wid: x.ConsumerID, dest: x.Destination,
		prefetch: int(max(x.PrefetchSize, 0)), entries: map[uint64]*entry{}}
	if x.Browser {
		c.startBrowser(x, k, targets)
		return
	}
	var w watch
	for _, t := range targets {
		if t.advisory {
			w.queues = w.queues || t.addr == advisoryTempQueue
			w.topics = w.topics || t.addr == advisoryTempTopic
			continue
		}
		if t.dest.IsTemporary() && !c.srv.temp.exists(t.dest) {
			k.close()
			c.respond(x, errorf(classInvalidDestination, "Cannot consume from a deleted Destination: %s", t.dest))
			return
		}
		m := &member{k: k, t: t}
		opts := broker.SubscribeOptions{Address: t.addr, RoutingType: t.rt, Selector: x.Selector,
			AckMode: broker.AckIndividual, Credit: true, InitialCredit: k.prefetch, NoLocal: x.NoLocal,
			Priority: int(x.Priority), Exclusive: x.Exclusive, Deliver: m.deliver}
		if x.SubscriptionName != "" && t.rt == message.Multicast {
			opts.DurableName = x.SubscriptionName
		}
		bc, err := c.session.Subscribe(opts)
		if err != nil {
			k.close()
			c.respond(x, err)
			return
		}
		m.bc = bc
		k.members = append(k.members, m)
	}
	k.advisory = len(k.members) == 0
	c.consMu.Lock()
	c.consumers[k.id] = k
	c.consMu.Unlock()
	if w.queues || w.topics {
		c.srv.temp.watch(k, w)
	}
	c.respond(x, nil)
}

// deliver is a member's Deliver callback. It runs with the broker's queue
// lock held, so it only records the delivery and queues it for the writer.
func (m *member) deliver(d broker.Delivery) {
	k := m.k
	k.mu.Lock()
	k.linkLocked(&entry{m: m, id: d.ID, msg: d.Message})
	k.conn.push(outItem{cons: k, mem: m, dl: d}, deliveryCost)
	k.mu.Unlock()
}

// close detaches every member; deliveries the client held go back to
// their queues.
func (k *consumer) close() {
	for _, m := range k.members {
		if m.bc != nil {
			k.conn.session.Unsubscribe(m.bc)
		}
	}
}

// removeConsumer closes a consumer at the client's request.
// lastDelivered is the broker sequence of the last message the application
// saw: the ones dispatched after it went no further than the client's
// prefetch buffer, so they go back without counting as a delivery.
func (c *conn) removeConsumer(id *wire.ConsumerID, lastDelivered int64) {
	c.consMu.Lock()
	k := c.consumers[*id]
	delete(c.consumers, *id)
	c.consMu.Unlock()
	if k == nil {
		return
	}
	c.srv.temp.unwatch(k) // a no-op for a consumer that watched no advisory topic
	if lastDelivered >= 0 {
		k.releaseAfter(uint64(max(lastDelivered-c.seqBase, 0)))
	}
	k.close()
}

// releaseAfter returns the deliveries after id unseen: their delivery
// count is not raised.
func (k *consumer) releaseAfter(id uint64) {
	k.mu.Lock()
	var unseen []*entry
	for e := k.tail; e != nil && e.id > id; e = e.prev {
		if e.tx == nil {
			unseen = append(unseen, e)
		}
	}
	for _, e := range unseen {
		k.unlinkLocked(e)
	}
	k.mu.Unlock()
	for _, r := range groupRanges(unseen, nil) {
		r.m.bc.Settle(r.first, r.last, broker.Settlement{Outcome: broker.Released}, nil, nil)
	}
}

// removeSession closes what the client's session owned.
func (c *conn) removeSession(id *wire.SessionID) {
	c.consMu.Lock()
	var ks []*consumer
	for cid, k := range c.consumers {
		if cid.ConnectionID == id.ConnectionID && cid.SessionID == id.Value {
			ks = append(ks, k)
		}
	}
	c.consMu.Unlock()
	for _, k := range ks {
		c.removeConsumer(k.wid, wire.LastDeliveredUnknown)
	}
	for pid := range c.producers {
		if pid.ConnectionID == id.ConnectionID && pid.SessionID == id.Value {
			delete(c.producers, pid)
		}
	}
	delete(c.sessions, id.Value)
}

// onPull answers a MessagePull of a consumer with prefetch 0 (a JMS
// receive): one message, or a MessageDispatch without one when none comes
// in time.
func (c *conn) onPull(x *wire.MessagePull) {
	k := c.consumer(x.ConsumerID)
	if k == nil || k.browser != nil || len(k.members) == 0 {
		c.respond(x, nil)
		return
	}
	k.mu.Lock()
	prefetch := k.prefetch
	k.mu.Unlock()
	if prefetch > 0 {
		c.respond(x, nil) // the consumer is fed by its prefetch
		return
	}
	var wait time.Duration
	switch {
	case x.Timeout < 0:
		wait = -1
	case x.Timeout > 0:
		wait = time.Duration(x.Timeout) * time.Millisecond
	}
	// A composite consumer pulls from its first member.
	k.members[0].bc.Pull(wait, func(delivered bool) {
		if !delivered {
			c.send(&wire.MessageDispatch{ConsumerID: k.wid, Destination: k.dest})
		}
	})
	c.respond(x, nil)
}

// onConsumerControl applies a prefetch the client sets (a failover client
// re-creates its consumers with prefetch 0 and restores their prefetch
// once it has recovered).
func (c *conn) onConsumerControl(x *wire.ConsumerControl) {
	k := c.consumer(x.ConsumerID)
	if k == nil {
		c.respond(x, nil)
		return
	}
	if x.Close {
		c.removeConsumer(k.wid, wire.LastDeliveredUnknown)
		c.respond(x, nil)
		return
	}
	k.mu.Lock()
	k.prefetch = int(max(x.Prefetch, 0))
	held := map[*member]int{}
	for e := k.head; e != nil; e = e.next {
		if !e.credited {
			held[e.m]++
		}
	}
	k.mu.Unlock()
	for _, m := range k.members {
		m.bc.SetCredit(max(k.prefetch-held[m], 0))
	}
	c.respond(x, nil)
}

// startBrowser sends a queue browser its snapshot, as much at a time as
// its prefetch allows, then a MessageDispatch without a message.
func (c *conn) startBrowser(x *wire.ConsumerInfo, k *consumer, targets []target) {
	b := &browser{credit: max(k.prefetch, 1)}
	for _, t := range targets {
		if t.rt != message.Anycast {
			continue // JMS browses queues only
		}
		items, err := c.session.Browse(t.addr, t.rt, x.Selector, 0)
		if err != nil {
			c.respond(x, err)
			return
		}
		b.items = append(b.items, items...)
	}
	k.browser = b
	c.consMu.Lock()
	c.consumers[k.id] = k
	c.consMu.Unlock()
	c.respond(x, nil)
	c.browseMore(k, 0)
}

// browseMore adds n to a browser's credit and sends what it allows.
func (c *conn) browseMore(k *consumer, n int) {
	b := k.browser
	b.credit += n
	for ; b.credit > 0 && b.next < len(b.items); b.next++ {
		it := b.items[b.next]
		c.push(outItem{cons: k, browse: true, dl: broker.Delivery{Message: it.Message, DeliveryCount: it.DeliveryCount,
			Redelivered: it.DeliveryCount > 0}}, deliveryCost)
		b.items[b.next] = broker.BrowseItem{}
		b.credit--
	}
	if b.next >= len(b.items) && !b.ended {
		b.ended = true
		b.items = nil
		c.send(&wire.MessageDispatch{ConsumerID: k.wid, Destination: k.dest})
	}
}

// writeDelivery converts a delivery to a MessageDispatch and encodes it. A
// delivery that cannot be sent — its large body is gone, or it is larger
// than the client's frame limit — is dead-lettered with the reason, rather
// than left to block the consumer. It runs on the writer goroutine, which
// reuses one message, id and dispatch for every delivery: each is encoded
// before the next is built.
func (c *conn) writeDelivery(it *outItem) error {
	s := &c.scratch
	var dest *wire.Destination
	if it.mem != nil && it.dl.Message.Address == it.mem.t.addr && !it.mem.t.dest.IsTemporary() {
		dest = it.mem.t.dest
	}
	err := c.fillWire(&s.msg, &s.mid, &s.pid, it.dl, dest)
	if err == nil {
		if it.browse {
			s.mid.BrokerSequenceID = 0
		}
		s.md = wire.MessageDispatch{ConsumerID: it.cons.wid, Destination: it.cons.dest, Message: &s.msg,
			RedeliveryCounter: s.msg.RedeliveryCounter}
		err = c.w.WriteCommand(&s.md)
		if err == nil {
			return nil
		}
		if !errors.Is(err, wire.ErrFrameTooLarge) && !errors.Is(err, wire.ErrInvalid) {
			return err
		}
	}
	c.log.Warn("a message could not be delivered to an OpenWire consumer; it goes to the dead-letter address",
		"event", "delivery_failed", "message", it.dl.Message.ID, "err", err)
	if !it.browse && it.mem != nil {
		it.cons.drop(it.mem, it.dl.ID, "tandem could not deliver it over OpenWire: "+err.Error())
	}
	return nil
}

// drop dead-letters one delivery the client never got.
func (k *consumer) drop(m *member, id uint64, reason string) {
	k.mu.Lock()
	e := k.entries[id]
	if e != nil {
		k.unlinkLocked(e)
	}
	k.mu.Unlock()
	if e == nil {
		return
	}
	m.bc.Settle(id, id, broker.Settlement{Outcome: broker.Rejected, Reason: reason}, nil, nil)
	m.bc.AddCredit(1)
}

// brokerProperties are the properties the broker adds to a message it
// dead-letters or expires; a native message gets them added.
var brokerProperties = []string{message.PropOriginalAddress, message.PropOriginalQueue,
	message.PropDeadLetterReason, message.PropActualExpiry}

// toWire converts a delivered message to a new OpenWire message.
func (c *conn) toWire(d broker.Delivery) (*wire.Message, error) {
	x, mid, pid := new(wire.Message), new(wire.MessageID), new(wire.ProducerID)
	if err := c.fillWire(x, mid, pid, d, nil); err != nil {
		return nil, err
	}
	return x, nil
}

// fillWire sets x to a delivered message, with mid and pid as its id.
// dest, when set, is the destination to show for the message's own
// address; otherwise it is looked up. The writer passes the same x, mid
// and pid for every delivery, since each is encoded before the next.
func (c *conn) fillWire(x *wire.Message, mid *wire.MessageID, pid *wire.ProducerID, d broker.Delivery, dest *wire.Destination) error {
	m := d.Message
	body := m.Body
	if l := m.Large(); l != nil {
		b, err := c.readLarge(l)
		if err != nil {
			return err
		}
		body = b
	}
	*x = wire.Message{Kind: wireKind(m.BodyKind)}
	var nat *wire.Message
	if n := m.Native(); n != nil && n.Format == message.NativeOpenWire {
		if ds, err := wire.Unmarshal(n.Data); err == nil {
			nat, _ = ds.(*wire.Message)
		}
	}
	c.fillMessageID(m, mid, pid)
	var props *wire.Map
	if nat != nil {
		x.Kind, x.Content, x.Compressed = nat.Kind, nat.Content, nat.Compressed
		if p, err := nat.Properties(); err == nil {
			props = p
		} else {
			props = wire.NewMap()
		}
		for _, k := range brokerProperties {
			if p, ok := m.TypedProperty(k); ok {
				props.Set(k, wireValue(p))
			}
		}
	} else {
		if err := setBody(x, m.BodyKind, body); err != nil {
			return fmt.Errorf("message %d has a %v body that does not decode: %w", m.ID, m.BodyKind, err)
		}
		dupID := ""
		if mid.TextView == "" {
			dupID = m.MessageID()
		}
		for _, p := range m.Properties {
			if p.Key == message.PropDuplicateID && p.Value == dupID {
				continue // the id the adapter stamped, not the application's
			}
			if props == nil {
				props = wire.NewMap()
			}
			props.Set(p.Key, wireValue(p))
		}
	}
	if err := x.SetProperties(props); err != nil {
		return err
	}
	mid.BrokerSequenceID = c.seqBase + int64(d.ID)
	x.ProducerID, x.MessageID = pid, mid
	x.Destination = dest
	if dest == nil {
		x.Destination = c.srv.destinationOf(m.Address, m.RoutingType)
	}
	x.Persistent = m.Durable
	x.Expiration = m.Expiration
	x.Priority = m.Priority
	x.Timestamp = m.Timestamp
	if ex := m.Extra; ex != nil {
		x.CorrelationID = ex.CorrelationID
		x.ReplyTo = fromCanonical(ex.ReplyTo)
		x.Type = ex.Type
		x.UserID = ex.UserID
		x.GroupID, x.GroupSequence = ex.GroupID, ex.GroupSeq
	}
	if d.DeliveryCount > 1 {
		x.RedeliveryCounter = int32(min(d.DeliveryCount-1, 1<<31-1))
	}
	x.JMSXGroupFirstForConsumer = d.FirstInGroup
	return nil
}

// readLarge reads a large message's body, which must fit in a frame.
func (c *conn) readLarge(l *message.Large) ([]byte, error) {
	if limit := c.agreed.MaxFrameSize; limit > 0 && l.Size > limit {
		return nil, fmt.Errorf("%w: a %d-byte body exceeds the client's frame limit of %d", wire.ErrFrameTooLarge, l.Size, limit)
	}
	rc, err := c.session.OpenLargeBody(l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, l.Size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read large message body: %w", err)
	}
	return b, nil
}
