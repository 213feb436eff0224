package broker

import (
	"sync/atomic"
	"tandem/internal/message"
)

// AckMode is how a consumer's deliveries are settled.
type AckMode uint8

// Acknowledgement modes.
const (
	// AckAuto settles a delivery as it is handed to the adapter (STOMP
	// ack:auto, AMQP pre-settled, MQTT QoS 0). In window mode the adapter
	// returns the window with AddCredit as it writes.
	AckAuto AckMode = iota
	// AckClient leaves deliveries unsettled until Settle (or Ack and Nack,
	// which then act cumulatively: on every earlier delivery too, as
	// STOMP's client mode does).
	AckClient
	// AckIndividual leaves deliveries unsettled until Settle (or Ack and
	// Nack, which then act on one delivery).
	AckIndividual
)

// DefaultWindow is the number of unacknowledged deliveries a consumer may
// hold when the client asks for no particular prefetch.
const DefaultWindow = 1000

// Delivery is one message handed to a consumer.
type Delivery struct {
	// ID identifies the delivery within its session; acknowledge with it.
	ID            uint64
	Consumer      *Consumer
	Message       *message.Message
	DeliveryCount uint32
	Redelivered   bool
	// FirstInGroup is set on the first message of a message group that
	// goes to this consumer since the group was (re)assigned to it
	// (OpenWire's JMSXGroupFirstForConsumer).
	FirstInGroup bool
}

// Consumer receives messages from one queue. Its methods are safe for
// concurrent use.
type Consumer struct {
	id        uint64
	s         *Session
	q         *queue
	filter    Filter
	ackMode   AckMode
	priority  int
	exclusive bool
	window    int
	// windowBytes bounds the size of the deliveries counted by outstanding
	// (0: no bound).
	windowBytes int64
	deliver     func(Delivery)
	// ownsQueue is set for a non-durable subscription, whose queue goes
	// with its only consumer.
	ownsQueue atomic.Bool
	// Guarded by q.mu.
	outstanding int
	// outBytes is the size of the outstanding deliveries; autoSizes holds,
	// in delivery order, the sizes of an auto-acknowledging consumer's
	// deliveries not yet credited back (from autoHead on), since those are
	// finished when handed over and AddCredit counts only deliveries.
	outBytes  int64
	autoSizes []int64
	autoHead  int
	inflight  refList
	closed    bool
	// creditMode, credit and pull are the credit-mode flow (flow.go).
	creditMode bool
	credit     int
	pull       *pullReq
	// noLocal skips messages sent by this consumer's own session.
	noLocal bool
}

// ID returns the consumer's id, unique within the broker.
func (c *Consumer) ID() uint64 { return c.id }

// AckMode returns how the consumer's deliveries are settled.
func (c *Consumer) AckMode() AckMode { return c.ackMode }

// QueueName returns the name of the queue the consumer reads.
func (c *Consumer) QueueName() string { return c.q.name }

func (c *Consumer) hasCreditLocked() bool {
	if c.creditMode {
		return !c.closed && c.credit > 0
	}
	if c.closed || (c.window >= 0 && c.outstanding >= c.window) {
		return false
	}
	return c.windowBytes <= 0 || c.outstanding == 0 || c.outBytes < c.windowBytes
}

// matches applies the consumer's selector. JMSXDeliveryCount is the count
// this delivery would have, so a first delivery sees 1.
func (c *Consumer) matches(r *ref) bool {
	if c.noLocal {
		if m := r.msg(); m.Origin != 0 && m.Origin == c.s.origin() {
			return false
		}
	}
	if len(c.q.excluded) > 0 && c.q.excludes(r, c) {
		return false
	}
	return c.filter == nil || c.filter.Match(c.q.viewLocked(r), r.deliveryCount+1)
}

func (c *Consumer) deliverLocked(r *ref, firstInGroup bool) {
	q := c.q
	q.expandLocked(r) // the message leaves the broker's hands whole
	m := r.msg()
	r.deliveryCount++
	c.outstanding++
	if c.creditMode {
		c.credit--
	} else if c.windowBytes > 0 {
		size := m.DeliverySize()
		c.outBytes += size
		if c.ackMode == AckAuto {
			c.autoSizes = append(c.autoSizes, size)
		}
	}
	r.stamp = int64(c.s.deliverySeq.Add(1))
	if c.ackMode != AckAuto {
		r.state = refInflight
		c.inflight.pushBack(r)
		q.delivering++
	}
	c.deliver(Delivery{
		ID:            r.deliveryID(),
		Consumer:      c,
		Message:       m,
		DeliveryCount: r.deliveryCount,
		Redelivered:   r.deliveryCount > 1,
		FirstInGroup:  firstInGroup,
	})
	if c.ackMode == AckAuto {
		// After the hand-over: finishing may delete a large message's
		// body, which the adapter opens as it takes the delivery.
		q.finishLocked(r)
	}
	if c.pull != nil {
		c.finishPullLocked(true)
	}
}

// AddCredit allows n more deliveries. For a credit-mode consumer it adds n
// to its credit. For an auto-acknowledging window-mode consumer it returns
// n units of window once its adapter has written n deliveries to the
// client, so a slow client holds at most its window of messages in the
// broker's buffers.
func (c *Consumer) AddCredit(n int) {
	q := c.q
	q.lock()
	if c.creditMode {
		c.credit = max(c.credit+n, 0)
		q.dispatchLocked()
		q.unlock()
		return
	}
	c.outstanding -= n
	if c.outstanding < 0 {
		c.outstanding = 0
	}
	if c.windowBytes > 0 {
		for ; n > 0 && c.autoHead < len(c.autoSizes); n-- {
			c.outBytes -= c.autoSizes[c.autoHead]
			c.autoHead++
		}
		if c.autoHead == len(c.autoSizes) {
			c.autoSizes, c.autoHead = c.autoSizes[:0], 0
		} else if c.autoHead > 1024 && c.autoHead > len(c.autoSizes)/2 {
			c.autoSizes = append(c.autoSizes[:0], c.autoSizes[c.autoHead:]...)
			c.autoHead = 0
		}
		if c.outstanding == 0 {
			c.outBytes = 0
		}
	}
	q.dispatchLocked()
	q.unlock()
}

// Ack acknowledges the delivery id (and, for AckClient, every earlier
// delivery of this consumer). Within tx the acknowledgement takes effect at
// commit. done runs once the acknowledgement is durable; it may be nil.
func (c *Consumer) Ack(id uint64, tx *Tx, done func(error)) {
	c.Settle(c.rangeStart(id), id, Settlement{Outcome: Accepted}, tx, done)
}

// Nack rejects the delivery id (and, for AckClient, every earlier one) as
// STOMP's NACK does: it returns to the queue marked redelivered, or goes to
// the dead-letter address when its delivery attempts are used up.
func (c *Consumer) Nack(id uint64, tx *Tx, done func(error)) {
	c.Settle(c.rangeStart(id), id, Settlement{Outcome: Modified, DeliveryFailed: true}, tx, done)
}

// rangeStart is where a STOMP-style acknowledgement of id starts: the
// oldest delivery for a cumulative consumer, id itself otherwise.
func (c *Consumer) rangeStart(id uint64) uint64 {
	if c.ackMode == AckClient {
		return 0
	}
	return id
}

// close detaches the consumer and returns its unacknowledged deliveries to
// the queue, in their original order, marked redelivered.
func (c *Consumer) close() {
	q := c.q
	q.lock()
	if c.closed {
		q.unlock()
		return
	}
	c.closed = true
	for i, x := range q.consumers {
		if x == c {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
	for g, x := range q.groups {
		if x == c {
			delete(q.groups, g)
		}
	}
	now := q.b.nowMs()
	q.consumerGoneLocked(now)
	for r := c.inflight.tail; r != nil; {
		prev := r.prev
		c.inflight.remove(r)
		q.returnLocked(r, now)
		r = prev
	}
	c.outstanding, c.outBytes = 0, 0
	if c.pull != nil {
		c.finishPullLocked(false)
	}
	q.dispatchLocked()
	q.unlock()
	q.lock()
	lastOfVolatile := q.volatile && len(q.consumers) == 0
	q.unlock()
	if c.ownsQueue.Load() || lastOfVolatile {
		c.s.b.deleteQueue(q, true)
	} else if q.autoCreated {
		c.s.b.maybeAutoDelete(q)
	}
}

func callDone(done func(error), err error) {
	if done != nil {
		done(err)
	}
}

// DeliveryOf returns the id of this consumer's unacknowledged delivery of
// message msgID, for protocols (STOMP 1.0 and 1.1) that acknowledge by
// message id.
func (c *Consumer) DeliveryOf(msgID uint64) (uint64, bool) {
	q := c.q
	q.lock()
	defer q.unlock()
	for r := c.inflight.head; r != nil; r = r.next {
		if r.msg().ID == msgID {
			return r.deliveryID(), true
		}
	}
	return 0, false
}
