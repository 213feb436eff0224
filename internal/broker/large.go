package broker

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Large messages: a protocol adapter streams a body of at least
// min-large-message-size into a file of the large-messages directory
// (CreateLargeBody) and sends a message whose Large field names it; the
// journal and page files record only the headers and the file's number.
// A delivery opens the file (OpenLargeBody) and the adapter streams it out,
// so a body of any size passes through a fixed buffer.
//
// The file goes when the message does, and never before the journal says
// so: every queue reference counts in entry.liveRefs, and so does the
// message's journal record while it exists (recordHold). The
// record's hold is released only in the completion of the batch that
// deletes the record, once that batch is durable (withBodyReleases), so a
// crash or a fence never leaves a message in the journal whose body is
// gone; the worst it leaves is a body no message names, which the next
// start deletes (largeOrphans). The hold that takes liveRefs to zero
// queues the file for the deleter goroutine, since a completion must not
// wait for an unlink. A copy of the message (a dead letter, an expired
// message moved away) gets its own name for the file (a hard link). A
// body whose message was certainly never stored (refused, dropped, a
// duplicate, routed nowhere) is deleted at once; one whose store write
// failed is kept, since the record may have reached the disk regardless.

// ErrNoLargeMessages is returned when large messages are not configured.
var ErrNoLargeMessages = errors.New("large messages are not enabled on this broker (persistence is off)")

// MayBeLarge reports whether a body of n bytes could be a large message
// on some address; when it cannot, an adapter need not look at the
// destination at all.
func (s *Session) MayBeLarge(n int64) bool {
	if s.b.opts.Large == nil {
		return false
	}
	floor := s.b.opts.SmallestLargeMessage
	if floor <= 0 {
		floor = DefaultAddressSettings().MinLargeMessageSize
	}
	return n >= floor
}

// LargeMessageThreshold returns the body size from which a message to
// address is streamed to the large-messages directory, or -1 when large
// messages are off.
func (s *Session) LargeMessageThreshold(address string) int64 {
	if s.b.opts.Large == nil {
		return -1
	}
	if t := s.b.settingsFor(address).MinLargeMessageSize; t > 0 {
		return t
	}
	return DefaultAddressSettings().MinLargeMessageSize
}

// CreateLargeBody starts a new large message body.
func (s *Session) CreateLargeBody() (store.LargeWriter, error) {
	if s.b.opts.Large == nil {
		return nil, ErrNoLargeMessages
	}
	w, err := s.b.opts.Large.Create()
	if err != nil {
		return nil, fmt.Errorf("create a large message body: %w", err)
	}
	return w, nil
}

// OpenLargeBody opens a delivered large message's body for reading. The
// body stays readable through the returned reader even if the message is
// acknowledged (and its file deleted) meanwhile.
func (s *Session) OpenLargeBody(l *message.Large) (io.ReadCloser, error) { return s.b.OpenLargeBody(l) }

// OpenLargeBody opens a large message's body for reading, for management
// (a browsed message's preview) as for deliveries.
func (b *Broker) OpenLargeBody(l *message.Large) (io.ReadCloser, error) {
	if b.opts.Large == nil {
		return nil, ErrNoLargeMessages
	}
	rc, err := b.opts.Large.Open(l.ID)
	if err != nil {
		return nil, fmt.Errorf("open large message body: %w", err)
	}
	return rc, nil
}

// DiscardLargeBody deletes the body of a large message that was never sent
// (its SEND failed before reaching the broker).
func (s *Session) DiscardLargeBody(l *message.Large) {
	s.b.discardBody(&message.Message{Extra: &message.Extra{Large: l}})
}

// guardLarge wraps the done callback of a send of m so that a refused
// large message's body is deleted, unless the refusal came from a store
// write, which may have reached the disk anyway.
func (b *Broker) guardLarge(m *message.Message, done func(error)) func(error) {
	if m.Large() == nil {
		return done
	}
	return func(err error) {
		var sf storeFailure
		if err != nil && !errors.As(err, &sf) {
			b.discardBody(m)
		}
		callDone(done, err)
	}
}

// storeFailure marks the error of a failed store write (a failed fsync, a
// fence), after which the written record may or may not be on disk. A
// large body it names must then stay: an orphan is deleted at the next
// start, a missing body is a message lost.
type storeFailure struct{ err error }

func (e storeFailure) Error() string { return e.err.Error() }
func (e storeFailure) Unwrap() error { return e.err }

// markStoreFailure wraps a store write's error as a storeFailure.
func markStoreFailure(err error) error {
	if err == nil {
		return nil
	}
	return storeFailure{err}
}

// discardBody deletes the body file of a large message no queue holds and
// no durable record names.
func (b *Broker) discardBody(m *message.Message) {
	if m.Large() == nil || b.opts.Large == nil {
		return
	}
	b.deleteBody(m.Large().ID)
}

// deleteBody deletes body file id now.
func (b *Broker) deleteBody(id uint64) {
	if b.opts.Large == nil {
		return
	}
	if err := b.opts.Large.Delete(id); err != nil {
		b.log.Warn("could not delete a large message body; the next start deletes it", "event", "large_message_error", "id", id, "err", err)
	}
}

// holdBody counts n more queue references to a large message's body.
func holdBody(e *entry, n int) {
	if e.m.Large() != nil {
		atomic.AddInt32(&e.liveRefs, int32(n))
	}
}

// recordHold is what a large message's journal record counts in
// entry.liveRefs: far more than any number of queue references, so that
// the record's hold is told from theirs without a field of its own (every
// queued message has an entry).
const recordHold = 1 << 24

// recordHeld reports whether e's journal record holds its body.
func recordHeld(e *entry) bool { return atomic.LoadInt32(&e.liveRefs) >= recordHold }

// holdRecord counts the journal record of a large message as a holder of
// its body, once, if the message has a record (stored references). Call it
// once the record is durable and before any reference can be released.
func holdRecord(e *entry) {
	if e.m.Large() == nil || atomic.LoadInt32(&e.storedRefs) == 0 {
		return
	}
	for {
		n := atomic.LoadInt32(&e.liveRefs)
		if n >= recordHold || atomic.CompareAndSwapInt32(&e.liveRefs, n, n+recordHold) {
			return
		}
	}
}

// releaseBody drops one queue reference to a large message's body; the
// last holder queues the file for deletion.
func (b *Broker) releaseBody(r *ref) {
	e := r.entry() // a solo is never large
	if e == nil || e.m.Large() == nil || r.flags&refBodyReleased != 0 {
		return
	}
	r.flags |= refBodyReleased
	b.dropHold(e)
}

// dropHold drops one queue reference's hold on e's body and queues the
// file for deletion with the last holder.
func (b *Broker) dropHold(e *entry) { b.dropHolds(e, 1) }

// dropHolds drops n of the holds on e's body (recordHold for its record).
func (b *Broker) dropHolds(e *entry, n int32) {
	if atomic.AddInt32(&e.liveRefs, -n) == 0 {
		b.deleter.add(e.m.Large().ID)
	}
}

// releaseRecordWhenDurable arranges for the record hold of e's body to be
// released in the completion of the batch that deletes e's record, which
// the caller has just added to it (ackOp).
func (b *Broker) releaseRecordWhenDurable(e *entry) {
	if e.m.Large() == nil || !recordHeld(e) {
		return
	}
	b.bodyRecords.mu.Lock()
	if b.bodyRecords.pending == nil {
		b.bodyRecords.pending = map[uint64]*entry{}
	}
	b.bodyRecords.pending[e.m.ID] = e
	b.bodyRecords.n.Add(1)
	b.bodyRecords.mu.Unlock()
}

// recordReleases holds the large messages whose record's deletion is in a
// batch not yet durable, by message id. Batches are merged and copied
// before they are committed, so the deletion is found by its operation in
// the batch rather than tied to a batch value.
type recordReleases struct {
	mu      sync.Mutex
	pending map[uint64]*entry
	n       atomic.Int64 // len(pending), read without the lock on every commit
}

// withBodyReleases prepares the commit of batch: if it deletes the record
// of a large message (releaseRecordWhenDurable), the returned done releases
// that record's hold on the body once the batch is durable, and the batch
// must be synced. On a failed write the hold stays: the record may be on
// disk, and a body kept by mistake is only an orphan for the next start.
func (b *Broker) withBodyReleases(batch *store.Batch, sync bool, done func(error)) (func(error), bool) {
	if b.bodyRecords.n.Load() == 0 {
		return done, sync
	}
	var es []*entry
	b.bodyRecords.mu.Lock()
	for i := range batch.Ops {
		if op := &batch.Ops[i]; op.Kind == store.OpDeleteMessage {
			if e, ok := b.bodyRecords.pending[op.ID]; ok {
				es = append(es, e)
				delete(b.bodyRecords.pending, op.ID)
				b.bodyRecords.n.Add(-1)
			}
		}
	}
	b.bodyRecords.mu.Unlock()
	if len(es) == 0 {
		return done, sync
	}
	return func(err error) {
		if err == nil {
			for _, e := range es {
				b.dropHolds(e, recordHold)
			}
		}
		callDone(done, err)
	}, true
}

// bodyDeleter deletes body files on a goroutine of its own: the hold that
// frees a body is often dropped in a store completion, which must not wait
// for an unlink (of a file that may be gigabytes long).
type bodyDeleter struct {
	del func(id uint64)

	mu      sync.Mutex
	ids     []uint64
	busy    bool // the goroutine is deleting a batch taken from ids
	stopped bool
	kick    chan struct{}
	idle    chan struct{} // closed and replaced whenever ids empties and busy ends
	done    chan struct{}
}

func newBodyDeleter(del func(id uint64)) *bodyDeleter {
	d := &bodyDeleter{del: del, kick: make(chan struct{}, 1), idle: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// add queues body id for deletion; after stop it deletes it at once.
func (d *bodyDeleter) add(id uint64) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		d.del(id)
		return
	}
	d.ids = append(d.ids, id)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *bodyDeleter) run() {
	defer close(d.done)
	for range d.kick {
		for {
			d.mu.Lock()
			ids := d.ids
			d.ids = nil
			if len(ids) == 0 {
				d.busy = false
				close(d.idle)
				d.idle = make(chan struct{})
				stopped := d.stopped
				d.mu.Unlock()
				if stopped {
					return
				}
				break
			}
			d.busy = true
			d.mu.Unlock()
			for _, id := range ids {
				d.del(id)
			}
		}
	}
}

// flush waits until every body queued so far is deleted.
func (d *bodyDeleter) flush() {
	d.mu.Lock()
	if len(d.ids) == 0 && !d.busy {
		d.mu.Unlock()
		return
	}
	idle := d.idle
	d.mu.Unlock()
	<-idle
}

// stop deletes what is queued and ends the goroutine; later adds delete
// at once.
func (d *bodyDeleter) stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	<-d.done
}

// copyBody gives a copy of a large message its own name for the body.
func (b *Broker) copyBody(cp *message.Message) error {
	l := cp.Large()
	if l == nil || b.opts.Large == nil {
		return nil
	}
	id, err := b.opts.Large.Link(l.ID)
	if err != nil {
		return err
	}
	cp.SetLarge(&message.Large{ID: id, Size: l.Size})
	return nil
}

// largeOrphans returns the body files no stored message names: bodies of
// messages whose record never reached the journal before a crash, or whose
// record's deletion did but whose file's did not. Page records may name
// some of them; recoverPaging takes those out before deleteLargeOrphans.
func (b *Broker) largeOrphans(referenced map[uint64]bool) map[uint64]bool {
	if b.opts.Large == nil {
		return nil
	}
	ids, err := b.opts.Large.IDs()
	if err != nil {
		b.log.Warn("could not list large message bodies", "event", "large_message_error", "err", err)
		return nil
	}
	var out map[uint64]bool
	for _, id := range ids {
		if !referenced[id] {
			if out == nil {
				out = map[uint64]bool{}
			}
			out[id] = true
		}
	}
	return out
}

// deleteLargeOrphans deletes the bodies in orphans.
func (b *Broker) deleteLargeOrphans(orphans map[uint64]bool) {
	n := 0
	for id := range orphans {
		if err := b.opts.Large.Delete(id); err == nil {
			n++
		}
	}
	if n > 0 {
		b.log.Info("deleted large message bodies no message refers to", "event", "large_orphans_deleted", "count", n)
	}
}

// recoverPaged reads the durable page records of address from from on,
// which are not in the journal yet: it takes the large bodies they name out
// of orphans and re-learns their duplicate-detection ids, whose records
// the journal gets only when they are depaged (see page). Non-durable
// records of an earlier run are dropped by the depager, so their bodies
// stay orphans.
func (b *Broker) recoverPaged(address string, ps store.PageStore, from store.PagePosition, orphans map[uint64]bool) error {
	var evicted store.Batch
	defer b.commit(&evicted, false, nil)
	for {
		recs, err := ps.Read(from, 4<<20)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, r := range recs {
			if !r.Message.Durable {
				continue
			}
			if l := r.Message.Large(); l != nil {
				delete(orphans, l.ID)
			}
			if id, ok := r.Message.Property(message.PropDuplicateID); ok && id != "" {
				b.dups.restorePaged(address, id, b.store.NewID, &evicted)
			}
		}
		from = recs[len(recs)-1].Next
	}
}
