package openwire

import (
	"sync"

	"tandem/internal/broker"
	wire "tandem/internal/wire/openwire"
)

// Acknowledgements (docs/protocols.md, "Settlement"). The client acks a
// range of the messages dispatched to a consumer, from FirstMessageID (or
// the oldest, when absent) to LastMessageID:
//
//   - delivered: the client has them; their prefetch credit comes back,
//     nothing is settled;
//   - standard: consumed (at commit, in a transaction); credit comes back
//     for those not yet credited;
//   - individual: one message consumed;
//   - redelivered: the client redelivers them itself after a rollback; the
//     broker counts the attempt;
//   - poison: the client gave up on them: dead-letter address;
//   - expired: they expired in the client: expiry address;
//   - unmatched: a durable subscriber's selector did not match: consumed.

// onAck applies a MessageAck.
func (c *conn) onAck(x *wire.MessageAck) {
	k := c.consumer(x.ConsumerID)
	switch {
	case k == nil:
		// The consumer is gone (its acks raced its close) or belongs to a
		// connection this one replaced; its messages went back to their
		// queues with it. In a transaction the commit must then fail: the
		// JMS client closes a consumer with a transaction open only once it
		// ends, so the ack is one the client believes consumes messages.
		if x.TransactionID != nil && (x.AckType == wire.AckStandard || x.AckType == wire.AckIndividual) {
			if st := c.txs[x.TransactionID.String()]; st != nil {
				st.unmatched = true
			}
		}
		c.respond(x, nil)
		return
	case k.browser != nil:
		c.browseMore(k, int(max(x.MessageCount, 1)))
		c.respond(x, nil)
		return
	case k.advisory:
		c.respond(x, nil)
		return
	}
	var st *txState
	if x.TransactionID != nil && (x.AckType == wire.AckStandard || x.AckType == wire.AckIndividual) {
		var err error
		if st, err = c.txFor(x.TransactionID); err != nil {
			c.respond(x, err)
			return
		}
		st.work = true
	}
	var pbuf [4]*entry // most acks name one delivery, or a few
	picked := k.pick(x, pbuf[:0])
	if picked == nil {
		if st != nil {
			// In a transaction an ack that matches nothing (replayed across a
			// failover) makes the commit fail, so the client redelivers
			// rather than count messages consumed that were not.
			st.unmatched = true
		}
		c.log.Debug("an ack matched no delivery", "event", "ack_unmatched", "consumer", k.id.String(), "type", x.AckType)
		c.respond(x, nil)
		return
	}
	switch x.AckType {
	case wire.AckDelivered:
		k.credit(picked, false)
		c.respond(x, nil)
	case wire.AckRedelivered:
		var rbuf [2]idRange
		for _, r := range groupRanges(picked, rbuf[:0]) {
			r.m.bc.MarkRedelivered(r.first, r.last)
		}
		c.respond(x, nil)
	case wire.AckStandard, wire.AckIndividual, wire.AckUnmatched:
		if st != nil {
			k.holdForTx(picked, st)
			c.respond(x, nil)
			return
		}
		c.settle(x, k, picked, broker.Settlement{Outcome: broker.Accepted})
	case wire.AckPoison:
		reason := "the client gave up on it (poison ack)"
		if x.PoisonCause != nil {
			reason = "poison ack: " + x.PoisonCause.Error()
		}
		c.settle(x, k, picked, broker.Settlement{Outcome: broker.Rejected, Reason: reason})
	case wire.AckExpired:
		c.settle(x, k, picked, broker.Settlement{Outcome: broker.Expired})
	default:
		c.respond(x, errorf(classJMSException, "unknown ack type %d", x.AckType))
	}
}

// pick returns the unsettled deliveries an ack names, in delivery order,
// appended to buf, or nil when it names none of this consumer's.
// Individual acks name one message.
func (k *consumer) pick(x *wire.MessageAck, buf []*entry) []*entry {
	k.mu.Lock()
	defer k.mu.Unlock()
	last := k.find(x.LastMessageID)
	if last == nil {
		return nil
	}
	if x.AckType == wire.AckIndividual {
		return append(buf, last)
	}
	start := k.head
	if f := x.FirstMessageID; f != nil && f.BrokerSequenceID == x.LastMessageID.BrokerSequenceID &&
		f.ProducerSequenceID == x.LastMessageID.ProducerSequenceID {
		// A JMS AUTO_ACKNOWLEDGE session acks each message as a range of
		// one: the id already checked.
		start = last
	} else if f := k.find(f); f != nil {
		start = f
	}
	out := buf
	for e := start; e != nil; e = e.next {
		out = append(out, e)
		if e == last {
			return out
		}
	}
	// The first message comes after the last one: take the last alone.
	return append(buf[:0], last)
}

// find returns the entry of a message id the client sent back. The
// broker sequence number finds it at once when the id is of this
// connection's dispatch; the producer sequence is checked so that an id
// from another connection's past never settles the wrong message.
//
// An id the client kept from the connection it had before a failover
// carries the old live's broker sequence number: the JMS client keeps the
// messages a transaction consumed across the failover, takes the new
// live's dispatch of each as a redelivery it expected, and acks them by
// their old ids when the transaction ends. Those are found by what
// identifies the message itself, its producer id and sequence, as
// ActiveMQ Classic matches acks; a scan, but only of the deliveries this
// consumer holds, and only for ids not of this connection.
func (k *consumer) find(id *wire.MessageID) *entry {
	if id == nil {
		return nil
	}
	if e := k.entries[uint64(id.BrokerSequenceID-k.conn.seqBase)]; e != nil && k.conn.producerSeq(e.msg) == id.ProducerSequenceID {
		return e
	}
	if id.ProducerID == nil {
		return nil
	}
	for e := k.head; e != nil; e = e.next {
		if k.conn.isMessage(e.msg, id) {
			return e
		}
	}
	return nil
}

// grant is credit to give one member.
type grant struct {
	m *member
	n int
}

// credit gives back the prefetch credit of the picked deliveries not yet
// credited; with remove, it also forgets them (they are settled).
func (k *consumer) credit(picked []*entry, remove bool) {
	var buf [2]grant
	grants := buf[:0]
	k.mu.Lock()
	for _, e := range picked {
		if !e.credited {
			e.credited = true
			i := 0
			for i < len(grants) && grants[i].m != e.m {
				i++
			}
			if i == len(grants) {
				grants = append(grants, grant{m: e.m})
			}
			grants[i].n++
		}
		if remove && k.entries[e.id] == e {
			k.unlinkLocked(e)
		}
	}
	k.mu.Unlock()
	for _, g := range grants {
		g.m.bc.AddCredit(g.n)
	}
}

// holdForTx marks deliveries consumed by a transaction: they are settled
// when it commits, and stay with the consumer if it rolls back.
func (k *consumer) holdForTx(picked []*entry, st *txState) {
	k.mu.Lock()
	var held []*entry
	for _, e := range picked {
		if e.tx == nil {
			e.tx = st
			held = append(held, e)
		}
	}
	k.mu.Unlock()
	k.credit(held, false)
	st.acks = append(st.acks, txAck{k: k, entries: held})
}

// settle settles the picked deliveries with s, then answers the ack. The
// answer comes from callbacks that run after the reader has moved on and
// reused x for the next ack: they use copies of its id and flag.
func (c *conn) settle(x *wire.MessageAck, k *consumer, picked []*entry, s broker.Settlement) {
	id, rr := x.CommandID, x.ResponseRequired
	var rbuf [2]idRange
	ranges := groupRanges(picked, rbuf[:0])
	k.credit(picked, true)
	if len(ranges) == 1 {
		r := ranges[0]
		if !rr {
			// The JMS client sends most acks without waiting: nothing to
			// answer (a store failure is the broker's to report).
			r.m.bc.Settle(r.first, r.last, s, nil, nil)
			return
		}
		r.m.bc.Settle(r.first, r.last, s, nil, func(err error) {
			if err == broker.ErrUnknownDelivery {
				err = nil
			}
			c.answer(id, rr, err)
		})
		return
	}
	var mu sync.Mutex
	left := len(ranges)
	var first error
	for _, r := range ranges {
		r.m.bc.Settle(r.first, r.last, s, nil, func(err error) {
			mu.Lock()
			if err != nil && first == nil && err != broker.ErrUnknownDelivery {
				first = err
			}
			left--
			done := left == 0
			mu.Unlock()
			if done {
				c.answer(id, rr, first)
			}
		})
	}
}

// idRange is the deliveries of one member between two ids.
type idRange struct {
	m           *member
	first, last uint64
}

// groupRanges splits picked deliveries by member, appending the ranges to
// buf. A member's deliveries come in id order, so the ones of a contiguous
// pick form one range.
func groupRanges(picked []*entry, buf []idRange) []idRange {
	out := buf
	for _, e := range picked {
		found := false
		for i := range out {
			if out[i].m == e.m {
				out[i].first = min(out[i].first, e.id)
				out[i].last = max(out[i].last, e.id)
				found = true
				break
			}
		}
		if !found {
			out = append(out, idRange{m: e.m, first: e.id, last: e.id})
		}
	}
	return out
}
