package broker

import "tandem/internal/store"

// Auto-delete follows Artemis' address-settings:
//
//   - auto-delete-queues: an auto-created queue (one a send or a subscribe
//     created, never a configured queue or a durable subscription) is
//     deleted once it has had a consumer, has none any more, and holds no
//     more than auto-delete-queues-message-count messages (-1: any number,
//     dropped with it), auto-delete-queues-delay after its last consumer
//     left. A queue nobody ever consumed from is kept, so messages sent
//     before the first subscriber are not lost.
//   - auto-delete-addresses: an auto-created address is deleted once it has
//     had a queue and has none left, auto-delete-addresses-delay after the
//     last one went.
//
// With a zero delay the deletion happens as the last consumer (or queue)
// goes; otherwise the broker's one-second maintenance tick finds it.

// consumerGoneLocked notes when q lost its last consumer.
func (q *queue) consumerGoneLocked(now int64) {
	if len(q.consumers) == 0 {
		q.idleSince = now
	}
}

// autoDeletableLocked reports whether q may be auto-deleted at now. It
// requires q.mu and b.mu.
func (q *queue) autoDeletableLocked(set AddressSettings, now int64) bool {
	if !q.autoCreated || q.configured || q.owner != nil || q.deleted || q.closed || !set.AutoDeleteQueues {
		return false
	}
	if !q.hadConsumer || len(q.consumers) > 0 || q.sending.Load() > 0 {
		return false
	}
	if pg := q.b.pages[q.address]; pg != nil && pg.paging.Load() {
		return false // some of its messages are still in page files
	}
	if now-q.idleSince < set.AutoDeleteQueuesDelay.Milliseconds() {
		return false
	}
	held := q.ready + len(q.sched) + q.delivering
	return set.AutoDeleteQueuesMessageCount < 0 || held <= set.AutoDeleteQueuesMessageCount
}

// maybeAutoDelete deletes q if it is auto-deletable now. The check and the
// removal from the registries happen under b.mu, so no send can pick q as a
// target in between.
func (b *Broker) maybeAutoDelete(q *queue) bool {
	set := b.settingsFor(q.address)
	if !set.AutoDeleteQueues {
		return false
	}
	now := b.nowMs()
	b.mu.Lock()
	if b.closed || b.queues[q.name] != q {
		b.mu.Unlock()
		return false
	}
	q.lock()
	if !q.autoDeletableLocked(set, now) {
		q.mu.Unlock()
		b.mu.Unlock()
		return false
	}
	var tail store.Batch
	b.unbindQueueLocked(q, &tail)
	held := q.ready + len(q.sched)
	q.dropLocked()
	q.pending.Ops = append(q.pending.Ops, tail.Ops...)
	b.mu.Unlock()
	q.unlock()
	b.log.Info("auto-created queue deleted", "event", "queue_auto_deleted", "queue", q.name, "address", q.address,
		"dropped", held)
	return true
}

// reapAutoDeleted deletes the auto-created queues and addresses whose
// auto-delete delay has passed.
func (b *Broker) reapAutoDeleted() {
	for _, q := range b.queueList() {
		if q.autoCreated && q.owner == nil {
			b.maybeAutoDelete(q)
		}
	}
	now := b.nowMs()
	var batch store.Batch
	b.mu.Lock()
	for _, a := range b.addresses {
		if !a.autoCreated || a.configured || !a.hadQueue || len(a.queues) > 0 {
			continue
		}
		set := b.settingsFor(a.name)
		if set.AutoDeleteAddresses && now-a.emptySince >= set.AutoDeleteAddressesDelay.Milliseconds() {
			b.deleteAddressLocked(a, &batch)
		}
	}
	b.mu.Unlock()
	b.commit(&batch, false, nil)
}
