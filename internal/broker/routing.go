package broker

import (
	"fmt"
	"slices"
	"strconv"

	"tandem/internal/message"
	"tandem/internal/store"
)

// addressForSend returns the address a message to name with routing type rt
// goes to, auto-creating the address and, for anycast, its queue, as the
// address-settings allow.
func (b *Broker) addressForSend(name string, rt message.RoutingType, set AddressSettings) (*address, error) {
	b.mu.RLock()
	a := b.addresses[name]
	closed := b.closed
	hasRT := a != nil && hasRoutingType(a, rt)
	ok := hasRT && (rt == message.Multicast || hasQueue(a, message.Anycast))
	b.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if ok {
		return a, nil
	}
	if !hasRT && !set.AutoCreateAddresses {
		return nil, fmt.Errorf("%w: address %q (%s) does not exist and %v", ErrNoSuchAddress, name, rt, ErrAutoCreateDenied)
	}
	a, err := b.ensureAddress(name, rt == message.Anycast, rt == message.Multicast, true, false)
	if err != nil {
		return nil, err
	}
	if rt == message.Anycast {
		b.mu.RLock()
		has := hasQueue(a, message.Anycast)
		b.mu.RUnlock()
		if !has {
			if !set.AutoCreateQueues {
				return nil, fmt.Errorf("%w: address %q has no queue and %v", ErrNoSuchQueue, name, ErrAutoCreateDenied)
			}
			_, _, err := b.ensureQueue(QueueConfig{Name: name, Address: name, RoutingType: message.Anycast, Durable: true,
				Exclusive: set.DefaultExclusive, LastValue: set.DefaultLastValue}, true, false, nil)
			if err != nil {
				return nil, err
			}
		}
	}
	return a, nil
}

func hasRoutingType(a *address, rt message.RoutingType) bool {
	if rt == message.Multicast {
		return a.multicast
	}
	return a.anycast
}

func hasQueue(a *address, rt message.RoutingType) bool {
	for _, q := range a.queues {
		if q.rt == rt {
			return true
		}
	}
	return false
}

// targetsLocked picks the queues a message goes to: one anycast queue
// (round-robin among those whose filter matches) or every matching
// multicast queue. It requires b.mu held for reading.
func (b *Broker) targetsLocked(a *address, m *message.Message) []*queue {
	var out []*queue
	if m.RoutingType == message.Multicast {
		for _, q := range a.queues {
			if q.rt == message.Multicast && (q.filter == nil || q.filter.Match(m, 0)) {
				out = append(out, q)
			}
		}
		for _, w := range a.wild {
			for _, q := range w.queues {
				if q.rt == message.Multicast && (q.filter == nil || q.filter.Match(m, 0)) {
					out = append(out, q)
				}
			}
		}
		return out
	}
	n := len(a.queues)
	start := int(a.rr.Add(1))
	for i := 0; i < n; i++ {
		q := a.queues[(start+i)%n]
		if q.rt == message.Anycast && (q.filter == nil || q.filter.Match(m, 0)) {
			return []*queue{q}
		}
	}
	return nil
}

// routed is a message ready to enter its queues once its batch is durable.
type routed struct {
	refs  []*ref
	batch store.Batch
	dup   *dupEntry
	addr  string
	m     *message.Message
	// a is the address the message was sent to, and set its settings.
	a     *address
	limit sizeLimit
	// direct marks a message routed to one named queue (Session.SendToQueue),
	// which address size limits and paging do not apply to.
	direct bool
	// oneRef and ops hold refs and batch.Ops for the common case, a
	// message stored for one queue, so that routing it allocates them with
	// the routed rather than apart.
	oneRef [1]*ref
	ops    [2]store.Op
}

// prepare stamps, routes and encodes m without making it visible. It
// returns nil (and arranges done) when m is a duplicate.
func (b *Broker) prepare(m *message.Message, done func(error)) (*routed, error) {
	return b.prepareAt(m, done, b.nowMs())
}

// prepareAt is prepare at time now (unix milliseconds), for a caller that
// has just read the clock: on this kind of machine a clock reading costs a
// few percent of a message's CPU.
func (b *Broker) prepareAt(m *message.Message, done func(error), now int64) (*routed, error) {
	set := b.settingsFor(m.Address)
	a, err := b.addressForSend(m.Address, m.RoutingType, set)
	if err != nil {
		return nil, err
	}
	if m.Timestamp == 0 {
		m.Timestamp = now
	}
	if m.Expiration == 0 && set.ExpiryDelay > 0 {
		m.Expiration = now + set.ExpiryDelay.Milliseconds()
	}
	if m.ScheduledTime == 0 {
		if v, ok := m.Property(message.PropScheduledTime); ok {
			if t, err := strconv.ParseInt(v, 10, 64); err == nil {
				m.ScheduledTime = t
			}
		} else if v, ok := m.Property(message.PropScheduledDelay); ok {
			if d, err := strconv.ParseInt(v, 10, 64); err == nil && d > 0 {
				m.ScheduledTime = now + d
			}
		}
	}
	rt := &routed{addr: m.Address}
	rt.batch.Ops = rt.ops[:0]
	if id, ok := m.Property(message.PropDuplicateID); ok && id != "" {
		rt.dup = b.dups.reserve(m.Address, id, &rt.batch, b.store.NewID, m.Durable, done)
		if rt.dup == nil {
			return nil, nil
		}
	}
	m.ID = b.store.NewID()
	b.mu.RLock()
	targets := b.targetsLocked(a, m)
	for attempt := 0; b.vanishedLocked(a, m.RoutingType, targets) && attempt < 3; attempt++ {
		// The address or its queue was auto-deleted since addressForSend
		// returned it: create them again rather than drop the message.
		b.mu.RUnlock()
		if a, err = b.addressForSend(m.Address, m.RoutingType, set); err != nil {
			b.dups.settle(rt.addr, rt.dup, err)
			return nil, err
		}
		b.mu.RLock()
		targets = b.targetsLocked(a, m)
	}
	for _, q := range targets {
		// Counted under b.mu so that auto-delete, which checks the count
		// under b.mu too, never removes a queue a send has picked.
		if q.autoCreated {
			q.sending.Add(1)
		}
	}
	b.mu.RUnlock()
	rt.a, rt.limit, rt.m = a, limitOf(set), m
	if len(targets) == 1 {
		rt.refs = rt.oneRef[:]
	} else {
		rt.refs = make([]*ref, len(targets))
	}
	limited := b.limited(set.MaxSizeBytes)
	var e *entry
	stored := false
	for i, q := range targets {
		var r *ref
		if len(targets) == 1 && canSolo(m, q, a, limited) {
			// The queue keeps a copy; the store writes m (solo.go).
			r = newSolo(m, q, limited)
		} else {
			if e == nil {
				e = &entry{m: m}
				if limited {
					e.acct = a
				}
			}
			r = newRef(e, q)
		}
		if m.Durable && q.durable {
			r.flags |= refStored
			if e != nil {
				e.storedRefs++
			}
			if !stored {
				// The message record must precede its references.
				rt.batch.Ops = slices.Insert(rt.batch.Ops, 0, store.Op{Kind: store.OpAddMessage, ID: m.ID, Message: m})
				stored = true
			}
			rt.batch.AddRef(m.ID, q.id)
		}
		rt.refs[i] = r
	}
	return rt, nil
}

// abandon undoes what prepare counted for a routed message that will never
// be delivered (its write failed or its transaction rolled back).
func (rt *routed) abandon() {
	for _, r := range rt.refs {
		if r.q.autoCreated {
			r.q.sending.Add(-1)
		}
	}
}

// vanishedLocked reports whether a was deleted, or lost its anycast queues,
// after a send looked it up. It requires b.mu held for reading.
func (b *Broker) vanishedLocked(a *address, rt message.RoutingType, targets []*queue) bool {
	if a.deleted {
		return true
	}
	return rt == message.Anycast && len(targets) == 0 && !hasQueue(a, message.Anycast)
}

// deliver makes a routed message visible in its queues.
func (b *Broker) deliver(rt *routed) {
	now := b.nowMs()
	// Every reference holds a large body before the first is enqueued: an
	// auto-acknowledging consumer may release its reference at once, which
	// must not take the body from the queues still to come.
	for _, r := range rt.refs {
		if e := r.entry(); e != nil { // a solo is never large
			holdBody(e, 1)
			holdRecord(e)
		}
	}
	for _, r := range rt.refs {
		q := r.q
		q.lock()
		if q.autoCreated {
			q.sending.Add(-1)
		}
		b.charge(r)
		switch {
		case q.closed:
			// The broker closed (a stop, a failback) while the message was
			// being written. It is in the store, and whichever node starts
			// on the store next delivers it; acknowledging it here, as for
			// a deleted queue, would delete it, though its producer may
			// have been told it was stored.
		case q.deleted:
			q.finishLocked(r)
		default:
			q.enqueueLocked(r, now)
			q.dispatchAtLocked(now)
			if r.state == refReady || r.state == refScheduled {
				q.packLocked(r) // it waits: keep it small
			}
		}
		q.unlock()
	}
}

// send routes m and makes it visible once it is durable; done reports the
// outcome, the point at which a producer's send is confirmed. direct lets
// the store write it on the calling goroutine (see Session.SendDirect);
// credited says the sender took producer credit for it, so a full BLOCK
// address admits it without waiting (credit.go). now is the time of the
// send (unix milliseconds).
func (b *Broker) send(m *message.Message, done func(error), direct, credited bool, now int64) {
	rt, err := b.prepareAt(m, done, now)
	if err != nil {
		callDone(done, err)
		return
	}
	if rt == nil {
		b.discardBody(m) // a duplicate: the original has its own
		return
	}
	if rt.a.pg.Load() != nil || b.limited(rt.limit.max) {
		if b.admit(rt, rt.limit, credited, done) {
			return
		}
	}
	rt.batch.Inline = direct
	b.commit(&rt.batch, true, func(err error) {
		if err == nil {
			b.deliver(rt)
			if len(rt.refs) == 0 {
				b.discardBody(m) // routed nowhere: a topic without subscribers
			}
		} else {
			rt.abandon()
		}
		b.dups.settle(rt.addr, rt.dup, err)
		callDone(done, markStoreFailure(err))
	})
}

// moveRef sends a copy of an expired or dead message to the expiry or
// dead-letter address of its queue, and removes the original, atomically.
func (b *Broker) moveRef(mv move) {
	r := mv.r
	q := r.q
	set := b.settingsFor(q.address)
	target := set.DeadLetterAddress
	reason := "max-delivery-attempts exceeded"
	if mv.kind == moveExpired {
		target = set.ExpiryAddress
		reason = "expired"
	}
	if mv.reason != "" {
		reason = mv.reason
	}
	var batch store.Batch
	if target == "" || target == q.address {
		b.ackOp(&batch, r)
		b.commit(&batch, true, nil)
		b.log.Debug("message dropped", "event", "message_dropped", "queue", q.name, "reason", reason, "id", r.msg().ID)
		return
	}
	cp := r.messageCopy()
	if err := b.copyBody(cp); err != nil {
		b.log.Warn("could not copy a large message body; dropping the message", "event", "message_dropped", "queue", q.name,
			"target", target, "reason", reason, "err", err)
		b.ackOp(&batch, r)
		b.commit(&batch, true, nil)
		return
	}
	cp.Address = target
	cp.RoutingType = message.Anycast
	cp.ScheduledTime = 0
	cp.SetProperty(message.PropOriginalAddress, q.address)
	cp.SetProperty(message.PropOriginalQueue, q.name)
	cp.DeleteProperty(message.PropDuplicateID)
	cp.DeleteProperty(message.PropScheduledTime)
	cp.DeleteProperty(message.PropScheduledDelay)
	if mv.kind == moveExpired {
		cp.SetProperty(message.PropActualExpiry, strconv.FormatInt(cp.Expiration, 10))
		cp.Expiration = 0
	} else {
		cp.SetProperty(message.PropDeadLetterReason, reason)
	}
	moved, err := b.prepare(cp, nil)
	if err != nil || moved == nil {
		b.discardBody(cp)
		b.log.Warn("could not move message; dropping it", "event", "message_dropped", "queue", q.name,
			"target", target, "reason", reason, "err", err)
		b.ackOp(&batch, r)
		b.commit(&batch, true, nil)
		return
	}
	b.ackOp(&moved.batch, r)
	b.commit(&moved.batch, true, func(err error) {
		if err != nil {
			// The copy's record may be on disk: its body stays (an
			// orphan, if not, for the next start).
			moved.abandon()
			b.logStoreError(err)
			return
		}
		b.deliver(moved)
		if len(moved.refs) == 0 {
			b.discardBody(cp)
		}
	})
}
