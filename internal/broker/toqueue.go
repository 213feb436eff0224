package broker

import (
	"fmt"

	"tandem/internal/message"
)

// SendToQueue routes m into the named queue alone, whatever address m
// names: m keeps its address, so a consumer of the queue sees where the
// message was sent, but no other queue of that address gets it and the
// queue need not be bound to it. Artemis routes to one queue this way to
// copy an MQTT retained message into a new subscription's queue, and MQTT
// keeps its session state in queues of its own (docs/mqtt.md).
//
// The session needs send permission on the queue's own address (an
// internal session needs none). Address size limits and paging do not
// apply: such messages are the broker's bookkeeping or copies a consumer
// asked for. done runs as for Send: once the message is durable, or at
// once within tx, where it enters the queue at commit.
func (s *Session) SendToQueue(m *message.Message, queue string, tx *Tx, done func(error)) {
	done = s.b.guardLarge(m, done)
	q := s.b.lookupQueue(queue)
	if q == nil {
		callDone(done, fmt.Errorf("%w: %q", ErrNoSuchQueue, queue))
		return
	}
	if err := s.authorize(PermSend, q.address); err != nil {
		callDone(done, err)
		return
	}
	if m.Priority > message.MaxPriority {
		m.Priority = message.MaxPriority
	}
	m.Origin = s.origin()
	rt, err := s.b.prepareDirect(m, q)
	if err != nil {
		callDone(done, err)
		return
	}
	if tx != nil {
		tx.addSend(rt)
		callDone(done, nil)
		return
	}
	b := s.b
	b.commit(&rt.batch, true, func(err error) {
		if err == nil {
			b.deliver(rt)
		} else {
			rt.abandon()
			b.discardBody(m)
		}
		callDone(done, err)
	})
}

// prepareDirect stamps and encodes m for q alone, as prepare does for the
// queues of an address.
func (b *Broker) prepareDirect(m *message.Message, q *queue) (*routed, error) {
	now := b.nowMs()
	if m.Timestamp == 0 {
		m.Timestamp = now
	}
	b.mu.RLock()
	a := b.addresses[q.address]
	if b.closed || b.queues[q.name] != q || a == nil {
		b.mu.RUnlock()
		if b.closed {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: %q was deleted", ErrNoSuchQueue, q.name)
	}
	if q.autoCreated {
		// Counted under b.mu, as prepare does, so that auto-delete never
		// removes the queue while the message is on its way.
		q.sending.Add(1)
	}
	b.mu.RUnlock()
	m.ID = b.store.NewID()
	// Address size limits do not apply here, so nothing is charged to an
	// address (newSolo's acct false, no entry.acct).
	var r *ref
	if canSolo(m, q, a, false) {
		r = newSolo(m, q, false)
	} else {
		r = newRef(&entry{m: m}, q)
	}
	rt := &routed{refs: []*ref{r}, addr: q.address, m: m, a: a, limit: sizeLimit{max: -1}, direct: true}
	if m.Durable && q.durable {
		r.flags |= refStored
		if e := r.entry(); e != nil {
			e.storedRefs++
		}
		rt.batch.AddMessage(m)
		rt.batch.AddRef(m.ID, q.id)
	}
	return rt, nil
}
