package broker

import (
	"tandem/internal/store"
)

// Outcome is what a consumer's client decided about deliveries it holds.
// Every protocol's acknowledgements map onto these (docs/protocols.md):
// STOMP ACK and NACK, OpenWire's ack types, AMQP's delivery states, MQTT's
// PUBACK and PUBCOMP.
type Outcome uint8

// Outcomes.
const (
	// Accepted consumes the message: it leaves the queue (at commit, within
	// a transaction) once the acknowledgement is durable.
	Accepted Outcome = iota + 1
	// Released returns the message to the head of its queue as if it had
	// never been delivered: its delivery count is not raised, and neither
	// the redelivery delay nor max-delivery-attempts applies (AMQP
	// released, modified without delivery-failed).
	Released
	// Modified returns the message after a failed delivery: its delivery
	// count stays raised, it waits out the redelivery delay, and it goes
	// to the dead-letter address once max-delivery-attempts is used up
	// (STOMP NACK, AMQP modified with delivery-failed).
	Modified
	// Rejected sends the message straight to the dead-letter address of
	// its queue, or drops it when there is none (AMQP rejected, OpenWire
	// poison ack).
	Rejected
	// Expired sends the message to the expiry address of its queue, or
	// drops it when there is none, as if the broker had found it expired
	// (OpenWire's expired ack: the client saw its expiration pass while it
	// held the message).
	Expired
)

// String names the outcome as logs and errors show it.
func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Released:
		return "released"
	case Modified:
		return "modified"
	case Rejected:
		return "rejected"
	case Expired:
		return "expired"
	}
	return "unknown outcome"
}

// Settlement is an outcome with its options.
type Settlement struct {
	Outcome Outcome
	// DeliveryFailed, with Modified, counts the delivery as a failed
	// attempt. Modified without it behaves as Released, as AMQP defines.
	DeliveryFailed bool
	// UndeliverableHere, with Modified, keeps the message from ever going
	// to this consumer again.
	UndeliverableHere bool
	// Reason, with Rejected, is recorded on the dead letter
	// (_AMQ_DLQ_REASON); empty means "rejected by the consumer".
	Reason string
}

// Settle applies s to every delivery of this consumer that is still
// unsettled and whose id lies in [first, last]; first 0 means from the
// oldest, which makes a cumulative acknowledgement (STOMP client mode,
// OpenWire standard acks). Delivery ids of one consumer grow in delivery
// order, so a range names the deliveries made between two points.
//
// Within tx only Accepted waits for the commit; the other outcomes take
// effect at once, as AMQP and OpenWire expect of a returned message. done
// runs once the settlement is durable (Accepted) or applied (the others);
// it may be nil. It gets ErrUnknownDelivery when no unsettled delivery of
// this consumer lies in the range.
func (c *Consumer) Settle(first, last uint64, s Settlement, tx *Tx, done func(error)) {
	q := c.q
	q.lock()
	refs := c.takeRangeLocked(first, last)
	if refs == nil {
		q.unlock()
		callDone(done, ErrUnknownDelivery)
		return
	}
	switch s.Outcome {
	case Accepted:
		q.dispatchLocked()
		if tx != nil {
			q.unlock()
			tx.addAcks(q, refs)
			callDone(done, nil)
			return
		}
		var b store.Batch
		for _, r := range refs {
			r.state = refDone
			q.stats.Acked++
			if q.lastValue {
				q.forgetLastValueLocked(r)
			}
			q.forgetExcludedLocked(r)
			q.b.ackOp(&b, r)
		}
		q.unlock()
		c.s.b.commit(&b, true, done)
		return
	case Released:
		c.releaseLocked(refs)
	case Modified:
		if s.UndeliverableHere {
			for _, r := range refs {
				q.excludeLocked(r, c)
			}
		}
		if s.DeliveryFailed {
			now := q.b.nowMs()
			for i := len(refs) - 1; i >= 0; i-- {
				q.delivering++
				q.returnLocked(refs[i], now)
			}
		} else {
			c.releaseLocked(refs)
		}
	case Rejected:
		reason := s.Reason
		if reason == "" {
			reason = "rejected by the consumer"
		}
		for _, r := range refs {
			r.state = refDone
			q.stats.Killed++
			if q.lastValue {
				q.forgetLastValueLocked(r)
			}
			q.forgetExcludedLocked(r)
			q.moves = append(q.moves, move{r: r, kind: moveDeadLetter, reason: reason})
		}
	case Expired:
		for _, r := range refs {
			q.expireLocked(r)
		}
	default:
		// An adapter bug, not a client's: put the deliveries back untouched.
		c.releaseLocked(refs)
	}
	q.dispatchLocked()
	q.unlock()
	callDone(done, nil)
}

// releaseLocked puts refs back at the head of the queue, in their delivery
// order, with the delivery that took them out not counted.
func (c *Consumer) releaseLocked(refs []*ref) {
	q := c.q
	for i := len(refs) - 1; i >= 0; i-- {
		r := refs[i]
		if r.deliveryCount > 0 {
			r.deliveryCount--
		}
		q.requeueLocked(r)
	}
}

// MarkRedelivered raises the delivery count of this consumer's unsettled
// deliveries in [first, last] (first 0: from the oldest) without settling them, for a client that
// redelivers to its application by itself after a rollback (OpenWire's
// redelivered ack): a later return of the message then counts that
// attempt too, and the count survives a restart.
func (c *Consumer) MarkRedelivered(first, last uint64) {
	q := c.q
	q.lock()
	for r := c.inflight.head; r != nil && r.deliveryID() <= last; r = r.next {
		if r.deliveryID() < first {
			continue
		}
		r.deliveryCount++
		if r.stored() {
			q.pending.SetDeliveryCount(r.msg().ID, q.id, r.deliveryCount)
		}
	}
	q.unlock()
}

// takeRangeLocked removes this consumer's deliveries with ids in [first,
// last] from its in-flight list and returns them in delivery order, or nil
// when there are none.
func (c *Consumer) takeRangeLocked(first, last uint64) []*ref {
	var out []*ref
	for r := c.inflight.head; r != nil && r.deliveryID() <= last; {
		next := r.next
		if r.deliveryID() >= first {
			c.inflight.remove(r)
			out = append(out, r)
		}
		r = next
	}
	c.outstanding -= len(out)
	c.q.delivering -= len(out)
	for _, r := range out {
		if c.windowBytes > 0 {
			c.outBytes -= r.msg().DeliverySize()
		}
	}
	return out
}

// excludeLocked keeps r from ever going to c again (AMQP's
// undeliverable-here). Exclusions live in a map of the queue rather than
// on every ref because they are rare and refs are many.
func (q *queue) excludeLocked(r *ref, c *Consumer) {
	if q.excluded == nil {
		q.excluded = map[*ref][]*Consumer{}
	}
	q.excluded[r] = append(q.excluded[r], c)
}

// excludes reports whether r may not go to c.
func (q *queue) excludes(r *ref, c *Consumer) bool {
	for _, x := range q.excluded[r] {
		if x == c {
			return true
		}
	}
	return false
}

// forgetExcludedLocked drops r's exclusions once r has left the queue.
func (q *queue) forgetExcludedLocked(r *ref) {
	if len(q.excluded) > 0 {
		delete(q.excluded, r)
	}
}
