package broker

import (
	"fmt"

	"tandem/internal/message"
	"tandem/internal/store"
)

// ensureAddress returns the named address, creating it or adding routing
// types as asked. Creation is persisted before it returns.
func (b *Broker) ensureAddress(name string, anycast, multicast, auto, configured bool) (*address, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: the address name is empty", ErrBadDestination)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	a := b.addresses[name]
	if a != nil && (!anycast || a.anycast) && (!multicast || a.multicast) {
		return a, nil
	}
	var batch store.Batch
	if a == nil {
		a = &address{name: name, autoCreated: auto, configured: configured}
		if pg := b.pages[name]; pg != nil {
			a.pg.Store(pg)
		}
		b.addresses[name] = a
		b.indexAddressLocked(a)
	} else if a.id != 0 {
		batch.DeleteAddress(a.id)
	}
	a.anycast = a.anycast || anycast
	a.multicast = a.multicast || multicast
	a.id = b.store.NewID()
	batch.AddAddress(store.Address{ID: a.id, Name: name, Anycast: a.anycast, Multicast: a.multicast,
		AutoCreated: a.autoCreated, Configured: a.configured})
	if err := b.commitWait(&batch); err != nil {
		return nil, fmt.Errorf("persist address %q: %w", name, err)
	}
	return a, nil
}

// ensureQueue returns the queue named qc.Name, creating it (and persisting
// it when durable) if it does not exist. created reports a new queue.
func (b *Broker) ensureQueue(qc QueueConfig, auto, configured bool, owner *Session) (q *queue, created bool, err error) {
	if qc.Name == "" {
		return nil, false, fmt.Errorf("%w: the queue name is empty", ErrBadDestination)
	}
	var f Filter
	if qc.Filter != "" {
		if f, err = b.compileFilter(qc.Filter); err != nil {
			return nil, false, fmt.Errorf("queue %q filter: %w", qc.Name, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false, ErrClosed
	}
	if q := b.queues[qc.Name]; q != nil {
		if q.address != qc.Address {
			return nil, false, fmt.Errorf("%w: queue %q already exists on address %q, not %q", ErrBadDestination, qc.Name, q.address, qc.Address)
		}
		return q, false, nil
	}
	a := b.addresses[qc.Address]
	if a == nil {
		return nil, false, fmt.Errorf("%w: %q", ErrNoSuchAddress, qc.Address)
	}
	maxc := qc.MaxConsumers
	if maxc == 0 {
		maxc = -1
	}
	q = &queue{b: b, id: b.store.NewID(), name: qc.Name, address: qc.Address, rt: qc.RoutingType, durable: qc.Durable,
		temporary: owner != nil, autoCreated: auto, configured: configured, filterText: qc.Filter, filter: f,
		maxConsumers: maxc, exclusive: qc.Exclusive, lastValue: qc.LastValue, lvKey: qc.LastValueKey, owner: owner}
	if q.durable {
		var batch store.Batch
		batch.AddQueue(store.Queue{ID: q.id, Name: q.name, Address: q.address, RoutingType: q.rt, Filter: q.filterText,
			MaxConsumers: q.maxConsumers, Exclusive: q.exclusive, LastValue: q.lastValue, LastValueKey: q.lvKey,
			AutoCreated: auto, Configured: configured})
		if err := b.commitWait(&batch); err != nil {
			return nil, false, fmt.Errorf("persist queue %q: %w", q.name, err)
		}
	}
	if qc.RoutingType == message.Anycast {
		a.anycast = true
	} else {
		a.multicast = true
	}
	q.addr = a
	a.queues = append(a.queues, q)
	a.hadQueue = true
	b.queues[q.name] = q
	return q, true, nil
}

// deleteQueue removes q, dropping its messages. Consumers still attached
// are closed first. An auto-created address left without queues goes too
// when its settings say so.
func (b *Broker) deleteQueue(q *queue, _ bool) {
	b.mu.Lock()
	if b.queues[q.name] != q {
		b.mu.Unlock()
		return
	}
	var tail store.Batch
	b.unbindQueueLocked(q, &tail)
	b.mu.Unlock()

	q.lock()
	consumers := append([]*Consumer(nil), q.consumers...)
	q.unlock()
	for _, c := range consumers {
		c.ownsQueue.Store(false)
		c.close()
		c.s.forget(c)
	}
	q.lock()
	q.dropLocked()
	q.pending.Ops = append(q.pending.Ops, tail.Ops...)
	q.unlock()
}

// unbindQueueLocked removes q from the registries and from its address,
// deleting the address when it was auto-created, has no queue left and may
// be deleted at once; the address's deletion is added to tail, which the
// caller writes after the queue's own deletion. It requires b.mu held for
// writing.
func (b *Broker) unbindQueueLocked(q *queue, tail *store.Batch) {
	delete(b.queues, q.name)
	a := b.addresses[q.address]
	if a == nil {
		return
	}
	a.queues = removeQueue(a.queues, q)
	if len(a.queues) > 0 {
		return
	}
	a.emptySince = b.nowMs()
	if set := b.settingsFor(a.name); a.autoCreated && !a.configured && set.AutoDeleteAddresses && set.AutoDeleteAddressesDelay <= 0 {
		b.deleteAddressLocked(a, tail)
	}
}

func removeQueue(list []*queue, q *queue) []*queue {
	for i, x := range list {
		if x == q {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// deleteAddressLocked forgets an address that has no queues and adds its
// deletion to batch. It requires b.mu held for writing.
func (b *Broker) deleteAddressLocked(a *address, batch *store.Batch) {
	delete(b.addresses, a.name)
	a.deleted = true
	b.unindexAddressLocked(a)
	b.forgetSettings(a.name)
	if a.id != 0 {
		batch.DeleteAddress(a.id)
	}
	b.log.Debug("address deleted", "event", "address_auto_deleted", "address", a.name)
}

// dropLocked marks a removed queue deleted and drops its waiting messages.
func (q *queue) dropLocked() {
	q.deleted = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.purgeLocked()
	if q.durable {
		q.pending.DeleteQueue(q.id)
	}
}

func (b *Broker) lookupQueue(name string) *queue {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.queues[name]
}

// deleteTempAddress removes a session's temporary topic with every queue
// still bound to it (the subscriptions of its consumers, which close).
func (b *Broker) deleteTempAddress(name string) {
	b.mu.RLock()
	a := b.addresses[name]
	var queues []*queue
	if a != nil {
		queues = append(queues, a.queues...)
	}
	b.mu.RUnlock()
	for _, q := range queues {
		b.deleteQueue(q, true)
	}
	var batch store.Batch
	b.mu.Lock()
	if a = b.addresses[name]; a != nil && len(a.queues) == 0 {
		b.deleteAddressLocked(a, &batch)
	}
	b.mu.Unlock()
	if batch.Len() > 0 {
		b.store.Commit(&batch, false, b.logStoreError)
	}
}
