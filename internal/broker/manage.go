package broker

import (
	"fmt"
	"sort"

	"tandem/internal/message"
)

// AddressInfo is a snapshot of an address for management.
type AddressInfo struct {
	Name        string
	Anycast     bool
	Multicast   bool
	AutoCreated bool
	Queues      []string
	// SizeBytes is what the address's messages in memory count towards
	// max-size-bytes (0 when the address is unlimited); Paging says further
	// messages go to page files.
	SizeBytes int64
	Paging    bool
}

// Queues returns a snapshot of every queue, sorted by name.
func (b *Broker) Queues() []QueueInfo {
	qs := b.queueList()
	out := make([]QueueInfo, 0, len(qs))
	for _, q := range qs {
		q.lock()
		out = append(out, q.infoLocked())
		q.unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Queue returns a snapshot of the named queue.
func (b *Broker) Queue(name string) (QueueInfo, error) {
	q := b.lookupQueue(name)
	if q == nil {
		return QueueInfo{}, fmt.Errorf("%w: %q", ErrNoSuchQueue, name)
	}
	q.lock()
	defer q.unlock()
	return q.infoLocked(), nil
}

// Addresses returns a snapshot of every address, sorted by name.
func (b *Broker) Addresses() []AddressInfo {
	b.mu.RLock()
	out := make([]AddressInfo, 0, len(b.addresses))
	for _, a := range b.addresses {
		out = append(out, a.infoRLocked())
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// infoRLocked snapshots the address; it requires b.mu held for reading.
func (a *address) infoRLocked() AddressInfo {
	ai := AddressInfo{Name: a.name, Anycast: a.anycast, Multicast: a.multicast, AutoCreated: a.autoCreated,
		SizeBytes: a.size.Load()}
	if pg := a.pg.Load(); pg != nil {
		ai.Paging = pg.paging.Load()
	}
	for _, q := range a.queues {
		ai.Queues = append(ai.Queues, q.name)
	}
	sort.Strings(ai.Queues)
	return ai
}

// PurgeQueue removes every waiting message of the named queue and returns
// how many were removed. Messages being delivered are left alone.
func (b *Broker) PurgeQueue(name string) (int, error) {
	q := b.lookupQueue(name)
	if q == nil {
		return 0, fmt.Errorf("%w: %q", ErrNoSuchQueue, name)
	}
	q.lock()
	n := q.purgeLocked()
	q.unlock()
	return n, nil
}

// DeleteQueue deletes the named queue with its messages; its consumers are
// disconnected from it.
func (b *Broker) DeleteQueue(name string) error {
	q := b.lookupQueue(name)
	if q == nil {
		return fmt.Errorf("%w: %q", ErrNoSuchQueue, name)
	}
	b.deleteQueue(q, true)
	return nil
}

// CreateQueue creates a queue (and its address when missing).
func (b *Broker) CreateQueue(qc QueueConfig) error {
	if qc.Address == "" {
		qc.Address = qc.Name
	}
	if _, err := b.ensureAddress(qc.Address, qc.RoutingType == message.Anycast, qc.RoutingType == message.Multicast, false, false); err != nil {
		return err
	}
	_, created, err := b.ensureQueue(qc, false, false, nil)
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("queue %q already exists", qc.Name)
	}
	return nil
}
