package broker

import (
	"sync"

	"tandem/internal/store"
)

// dupCaches remembers recent duplicate-detection ids per address, bounded
// per address like Artemis' id-cache-size.
type dupCaches struct {
	mu    sync.Mutex
	size  int
	addrs map[string]*dupCache
}

type dupCache struct {
	ids  map[string]*dupEntry
	ring []*dupEntry
	next int
}

// dupEntry is one remembered id. While its send is still being written,
// pending is true and resends of the same id wait on it, so a resend is
// confirmed only once the original is durable.
type dupEntry struct {
	id       string
	recordID uint64
	pending  bool
	failed   bool
	// unwritten marks the id of a paged message: its record goes to the
	// journal with the message, when the message is depaged (paging.go),
	// and until then the page record itself carries the id.
	unwritten bool
	waiters   []func(error)
}

func newDupCaches(size int) *dupCaches {
	return &dupCaches{size: size, addrs: map[string]*dupCache{}}
}

func (d *dupCaches) cache(addr string) *dupCache {
	c := d.addrs[addr]
	if c == nil {
		c = &dupCache{ids: map[string]*dupEntry{}, ring: make([]*dupEntry, 0, min(d.size, 1024))}
		d.addrs[addr] = c
	}
	return c
}

// reserve records id for addr. It returns the new entry, or nil when the
// id is already known, in which case done has been arranged to run with the
// original send's outcome.
func (d *dupCaches) reserve(addr, id string, batch *store.Batch, newID func() uint64, durable bool, done func(error)) *dupEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cache(addr)
	if e := c.ids[id]; e != nil && !e.failed {
		if e.pending {
			e.waiters = append(e.waiters, done)
		} else {
			go done(nil)
		}
		return nil
	}
	e := &dupEntry{id: id, pending: true}
	if durable {
		e.recordID = newID()
		batch.AddDuplicateID(store.DuplicateID{RecordID: e.recordID, Address: addr, ID: id})
	}
	d.insertLocked(c, e, batch)
	return e
}

func (d *dupCaches) insertLocked(c *dupCache, e *dupEntry, batch *store.Batch) {
	if len(c.ring) < d.size {
		c.ring = append(c.ring, e)
	} else {
		old := c.ring[c.next]
		if c.ids[old.id] == old {
			delete(c.ids, old.id)
		}
		if old.recordID != 0 && !old.unwritten && batch != nil {
			batch.DeleteDuplicateID(old.recordID)
		}
		c.ring[c.next] = e
		c.next = (c.next + 1) % d.size
	}
	c.ids[e.id] = e
}

// settle ends a reservation with the outcome of its send.
func (d *dupCaches) settle(addr string, e *dupEntry, err error) {
	if e == nil {
		return
	}
	d.mu.Lock()
	e.pending = false
	waiters := e.waiters
	e.waiters = nil
	if err != nil {
		e.failed = true
		if c := d.addrs[addr]; c != nil && c.ids[e.id] == e {
			delete(c.ids, e.id)
		}
	}
	d.mu.Unlock()
	for _, w := range waiters {
		w(err)
	}
}

// markUnwritten takes the record of e's id out of batch: e belongs to a
// paged message, whose depage batch writes the record (paging.go).
func (d *dupCaches) markUnwritten(e *dupEntry, batch *store.Batch) {
	if e == nil || e.recordID == 0 {
		return
	}
	d.mu.Lock()
	e.unwritten = true
	d.mu.Unlock()
	ops := batch.Ops[:0]
	for _, op := range batch.Ops {
		if !(op.Kind == store.OpAddDuplicateID && op.ID == e.recordID) {
			ops = append(ops, op)
		}
	}
	batch.Ops = ops
}

// restorePaged re-learns the id of a durable paged message found in the
// page files at start, unless the journal's records taught it already.
func (d *dupCaches) restorePaged(addr, id string, newID func() uint64, batch *store.Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cache(addr)
	if c.ids[id] != nil {
		return
	}
	d.insertLocked(c, &dupEntry{id: id, recordID: newID(), unwritten: true}, batch)
}

// depaged adds to batch the record of the id of a paged message being
// moved into the journal, if its record was never written, and returns
// a function that marks it written once batch is durable.
func (d *dupCaches) depaged(addr, id string, batch *store.Batch) func() {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.addrs[addr]
	if c == nil {
		return nil
	}
	e := c.ids[id]
	if e == nil || !e.unwritten || e.recordID == 0 {
		return nil
	}
	batch.AddDuplicateID(store.DuplicateID{RecordID: e.recordID, Address: addr, ID: id})
	return func() {
		d.mu.Lock()
		e.unwritten = false
		d.mu.Unlock()
	}
}

// restore re-learns an id recovered from the store.
func (d *dupCaches) restore(dup store.DuplicateID, batch *store.Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cache(dup.Address)
	d.insertLocked(c, &dupEntry{id: dup.ID, recordID: dup.RecordID}, batch)
}
