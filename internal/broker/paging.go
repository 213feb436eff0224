package broker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Flow control and paging, as in Artemis:
//
// Each address whose settings limit it (max-size-bytes >= 0, or a
// broker-wide global-max-size) counts the bytes of the messages it holds in
// memory: every reference adds its message's size when it enters a queue
// and takes it off when it ends (acknowledged, expired, moved, purged). On
// the send path that costs one atomic add per queue reference, and nothing
// for an unlimited address.
//
// A send to an address at or over its limit follows address-full-policy:
//
//   - PAGE: the message goes to the address's page files instead of the
//     queues (and the journal), and from then on every message to it does,
//     so order is kept, until a depager has moved all of them back. The
//     depager moves records into the journal and the queues as room frees
//     up, recording how far it got (a page cursor) in the same journal
//     batch, so a crash never loses or repeats a paged message.
//   - BLOCK: the send waits until there is room; the protocol adapter,
//     which calls Send on its reading goroutine, stops reading meanwhile.
//   - FAIL: the send is refused with ErrAddressFull.
//   - DROP: the message is dropped and the send confirmed.
//
// Transactional sends are admitted as they are committed (admitTx) and
// are not paged: a commit to a full PAGE or BLOCK address waits for room.

// pageState is the paging state of one address.
type pageState struct {
	address string
	store   store.PageStore
	// paging says new messages go to the page files.
	paging atomic.Bool
	kickCh chan struct{}

	// mu orders appends against the depager's "all drained" decision.
	mu      sync.Mutex
	running bool

	// Owned by the depager goroutine.
	cursor   store.PagePosition
	cursorID uint64
	// bootEnd is the end of the page files at start: non-durable records
	// before it belong to an earlier run and are dropped, as a restart
	// drops every non-durable message.
	bootEnd store.PagePosition
}

func (pg *pageState) kick() {
	select {
	case pg.kickCh <- struct{}{}:
	default:
	}
}

// sizeLimit is what the send path needs of an address's settings: its
// max-size-bytes (-1 unlimited) and address-full-policy.
type sizeLimit struct {
	max    int64
	policy FullPolicy
}

func limitOf(set AddressSettings) sizeLimit {
	return sizeLimit{max: set.MaxSizeBytes, policy: set.FullPolicy}
}

// limited reports whether messages to an address with max-size-bytes max
// are counted.
func (b *Broker) limited(max int64) bool {
	return max >= 0 || b.opts.GlobalMaxSize > 0
}

// full reports whether a (with max-size-bytes max) is at or over its
// limit, or the broker over its global one.
func (b *Broker) full(a *address, max int64) bool {
	if max >= 0 && a.size.Load() >= max {
		return true
	}
	return b.opts.GlobalMaxSize > 0 && b.globalSize.Load() >= b.opts.GlobalMaxSize
}

// room is how many bytes may still enter a before it is full.
func (b *Broker) room(a *address, max int64) int64 {
	room := int64(1 << 62)
	if max >= 0 {
		room = max - a.size.Load()
	}
	if g := b.opts.GlobalMaxSize; g > 0 {
		room = min(room, g-b.globalSize.Load())
	}
	return room
}

// RefOverhead is what a queued message costs the broker's memory beyond
// what Message.Size counts, per queue that holds it: the Message itself,
// its entry and queue reference, and its journal index entry (about 250
// bytes in all, docs/benchmarks.md). Sizes are counted against
// max-size-bytes and global-max-size with it, as Artemis counts a message's
// memory estimate, so that a limit bounds the memory of small messages as
// well as of big ones.
const RefOverhead = 256

// chargeOf is what r counts against its address's size.
func chargeOf(r *ref) int64 { return int64(r.size()) + RefOverhead }

// charge counts r against its message's address as it enters a queue.
func (b *Broker) charge(r *ref) {
	a := r.acct()
	if a == nil || r.flags&refCharged != 0 {
		return
	}
	r.flags |= refCharged
	n := chargeOf(r)
	a.size.Add(n)
	if b.opts.GlobalMaxSize > 0 {
		b.globalSize.Add(n)
	}
}

// uncharge takes r off its address's count as it ends, waking a depager or
// blocked producers waiting for that room.
func (b *Broker) uncharge(r *ref) {
	if r.flags&refCharged == 0 {
		return
	}
	r.flags &^= refCharged
	a := r.acct()
	n := chargeOf(r) // a routed message never changes, so this is what charge added
	a.size.Add(-n)
	if b.opts.GlobalMaxSize > 0 {
		b.globalSize.Add(-n)
	}
	if pg := a.pg.Load(); pg != nil && pg.paging.Load() {
		pg.kick()
	}
	if b.blocked.Load() > 0 {
		b.signalSpace()
	}
}

func (b *Broker) signalSpace() {
	b.spaceMu.Lock()
	close(b.spaceCh)
	b.spaceCh = make(chan struct{})
	b.spaceMu.Unlock()
}

// admit applies the address-full policy to a routed send. It returns true
// when it has taken the send over (paged, refused or dropped it). A
// credited send is not held by BLOCK: its credit waited for room.
func (b *Broker) admit(rt *routed, lim sizeLimit, credited bool, done func(error)) bool {
	a := rt.a
	pg := a.pg.Load()
	if !(pg != nil && pg.paging.Load()) && !b.full(a, lim.max) {
		return false
	}
	switch lim.policy {
	case FullPage:
		if b.opts.Pager == nil || len(rt.refs) == 0 {
			return false
		}
		b.page(rt, done)
		return true
	case FullBlock:
		if !credited {
			b.waitForSpace(a, lim.max)
		}
		return false
	case FullFail:
		err := fmt.Errorf("%w: %q holds %d bytes and max-size-bytes is %d; consume from it or raise max-size-bytes",
			ErrAddressFull, a.name, a.size.Load(), lim.max)
		if !(lim.max >= 0 && a.size.Load() >= lim.max) {
			err = fmt.Errorf("%w: all addresses together hold %d bytes and global-max-size is %d; consume or raise global-max-size",
				ErrAddressFull, b.globalSize.Load(), b.opts.GlobalMaxSize)
		}
		rt.abandon()
		b.dups.settle(rt.addr, rt.dup, err)
		callDone(done, err)
		return true
	default: // FullDrop
		rt.abandon()
		b.discardBody(rt.m)
		b.dups.settle(rt.addr, rt.dup, nil)
		b.log.Debug("message dropped: address full", "event", "message_dropped", "address", a.name, "reason", "address-full-policy DROP")
		callDone(done, nil)
		return true
	}
}

// admitTx applies the address-full policies to a committing transaction's
// sends. A transaction's messages go into memory and the journal with the
// rest of it, atomically, so they are never paged: under PAGE and BLOCK the
// commit waits until every full address it sends to has room (holding
// memory at the limit), under FAIL the whole transaction is refused, and
// under DROP the sends to full addresses are dropped and the rest commits.
func (b *Broker) admitTx(sends []*routed) ([]*routed, error) {
	kept := sends[:0:0]
	for i, rt := range sends {
		lim := rt.limit
		if rt.direct || !b.limited(lim.max) || !b.full(rt.a, lim.max) {
			kept = append(kept, rt)
			continue
		}
		switch lim.policy {
		case FullFail:
			return append(kept, sends[i:]...), fmt.Errorf("%w: %q holds %d bytes and max-size-bytes is %d", ErrAddressFull, rt.a.name, rt.a.size.Load(), lim.max)
		case FullDrop:
			rt.abandon()
			b.discardBody(rt.m)
			b.dups.settle(rt.addr, rt.dup, nil)
		default: // PAGE and BLOCK
			b.waitForSpace(rt.a, lim.max)
			kept = append(kept, rt)
		}
	}
	return kept, nil
}

// waitForSpace blocks until a has room again or the broker closes.
func (b *Broker) waitForSpace(a *address, max int64) {
	b.blocked.Add(1)
	defer b.blocked.Add(-1)
	for {
		b.spaceMu.Lock()
		ch := b.spaceCh
		b.spaceMu.Unlock()
		if !b.full(a, max) {
			return
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond): // settings or limits may change without a release
		case <-b.closing:
			return
		}
	}
}

// page writes a routed send to its address's page files instead of its
// queues. The page record carries the message's duplicate-detection id, so
// the id needs no journal record of its own yet: a start re-learns it from
// the page files (recoverPaging), and the depage batch that moves the
// message into the journal writes the id's record with it, atomically.
// Writing the id's record beside the page record instead would let a crash
// between the two store a resend twice (or, written first, drop a message
// as a duplicate of one never stored).
func (b *Broker) page(rt *routed, done func(error)) {
	pg, err := b.pageStateFor(rt.a)
	if err != nil {
		rt.abandon()
		b.dups.settle(rt.addr, rt.dup, err)
		callDone(done, err)
		return
	}
	m := rt.m
	queues := make([]uint64, len(rt.refs))
	for i, r := range rt.refs {
		queues[i] = r.q.id
	}
	var dupOps store.Batch
	for _, op := range rt.batch.Ops {
		if op.Kind == store.OpAddDuplicateID || op.Kind == store.OpDeleteDuplicateID {
			dupOps.Ops = append(dupOps.Ops, op)
		}
	}
	b.dups.markUnwritten(rt.dup, &dupOps) // what is left: ids the cache evicted
	rt.abandon()
	pg.mu.Lock()
	pg.paging.Store(true)
	pg.store.Append(m, queues, m.Durable, func(err error) {
		if err == nil {
			b.commit(&dupOps, false, nil)
		}
		b.dups.settle(rt.addr, rt.dup, err)
		pg.kick()
		callDone(done, markStoreFailure(err))
	})
	b.startDepagerLocked(pg)
	pg.mu.Unlock()
}

// pageStateFor returns the paging state of a, opening its page store on
// first use.
func (b *Broker) pageStateFor(a *address) (*pageState, error) {
	if pg := a.pg.Load(); pg != nil {
		return pg, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	pg := b.pages[a.name]
	if pg == nil {
		ps, err := b.opts.Pager.Open(a.name)
		if err != nil {
			return nil, fmt.Errorf("open page files of %q: %w", a.name, err)
		}
		pg = &pageState{address: a.name, store: ps, kickCh: make(chan struct{}, 1), cursor: ps.Start(), bootEnd: ps.Start()}
		b.pages[a.name] = pg
	}
	a.pg.Store(pg)
	return pg, nil
}

// startDepagerLocked starts pg's depager unless it runs. It requires pg.mu.
func (pg *pageState) startDepagerLocked(b *Broker) {
	if pg.running {
		return
	}
	pg.running = true
	b.wg.Add(1)
	go b.depager(pg)
}

func (b *Broker) startDepagerLocked(pg *pageState) { pg.startDepagerLocked(b) }

// depageChunk bounds one depage round, so a round's journal batch stays a
// few MiB even when the address has much more room.
const depageChunk = 4 << 20

// depager moves pg's paged messages back into the journal and the queues
// as room frees up, and ends once every paged message has gone back.
func (b *Broker) depager(pg *pageState) {
	defer b.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-pg.kickCh:
		case <-t.C:
		case <-b.closing:
			return
		}
		for {
			b.mu.RLock()
			a := b.addresses[pg.address]
			b.mu.RUnlock()
			set := b.settingsFor(pg.address)
			room := int64(depageChunk)
			if a != nil {
				room = min(room, b.room(a, set.MaxSizeBytes))
			}
			if room <= 0 {
				break
			}
			recs, err := pg.store.Read(pg.cursor, int(room))
			if err != nil {
				b.log.Error("cannot read paged messages; they stay on disk", "event", "paging_error", "address", pg.address, "err", err)
				break
			}
			if len(recs) == 0 {
				pg.mu.Lock()
				if pg.store.End() == pg.cursor {
					pg.paging.Store(false)
					pg.running = false
					pg.mu.Unlock()
					b.log.Info("address left paging mode", "event", "paging_stopped", "address", pg.address)
					return
				}
				pg.mu.Unlock()
				break // appended but not yet durable: wait for the kick
			}
			if err := b.depage(pg, a, set, recs); err != nil {
				b.log.Error("cannot move paged messages into the journal", "event", "paging_error", "address", pg.address, "err", err)
				break
			}
		}
	}
}

// depage moves recs into the journal and their queues, with the new page
// cursor in the same batch.
func (b *Broker) depage(pg *pageState, a *address, set AddressSettings, recs []store.PagedMessage) error {
	b.mu.RLock()
	byID := make(map[uint64]*queue, len(b.queues))
	for _, q := range b.queues {
		byID[q.id] = q
	}
	b.mu.RUnlock()
	var acct *address
	if a != nil && b.limited(set.MaxSizeBytes) {
		acct = a
	}
	var batch store.Batch
	var refs []*ref
	var orphans []*message.Message // large bodies no queue takes
	var dupsWritten []func()
	for _, rec := range recs {
		m := rec.Message
		if !m.Durable && rec.Pos.Less(pg.bootEnd) {
			continue
		}
		if id, ok := m.Property(message.PropDuplicateID); ok && id != "" && m.Durable {
			if written := b.dups.depaged(pg.address, id, &batch); written != nil {
				dupsWritten = append(dupsWritten, written)
			}
		}
		m.ID = b.store.NewID()
		var targets []*queue
		for _, qid := range rec.Queues {
			if q := byID[qid]; q != nil { // else deleted while the message was paged
				targets = append(targets, q)
			}
		}
		if len(targets) == 0 {
			orphans = append(orphans, m)
			continue
		}
		var e *entry
		for _, q := range targets {
			var r *ref
			if len(targets) == 1 && canSolo(m, q, a, acct != nil) {
				r = newSolo(m, q, acct != nil)
			} else {
				if e == nil {
					e = &entry{m: m, acct: acct}
				}
				r = newRef(e, q)
			}
			if m.Durable && q.durable {
				if e == nil || e.storedRefs == 0 { // the record before its first reference
					batch.AddMessage(m)
				}
				r.flags |= refStored
				if e != nil {
					e.storedRefs++
				}
				batch.AddRef(m.ID, q.id)
			}
			if q.autoCreated {
				q.sending.Add(1) // deliver takes it off again
			}
			refs = append(refs, r)
		}
	}
	next := recs[len(recs)-1].Next
	cur := store.PagePosition{Page: next.Page, Offset: next.Offset}
	id := b.store.NewID()
	batch.AddPageCursor(store.PageCursor{RecordID: id, Address: pg.address, Page: cur.Page, Offset: cur.Offset})
	if pg.cursorID != 0 {
		batch.DeletePageCursor(pg.cursorID)
	}
	if err := b.commitWait(&batch); err != nil {
		for _, r := range refs {
			if r.q.autoCreated {
				r.q.sending.Add(-1)
			}
		}
		return err
	}
	pg.cursor, pg.cursorID = cur, id
	for _, written := range dupsWritten {
		written()
	}
	b.deliver(&routed{refs: refs})
	for _, m := range orphans {
		b.discardBody(m)
	}
	if err := pg.store.Release(cur); err != nil {
		b.log.Warn("could not delete consumed page files", "event", "paging_error", "address", pg.address, "err", err)
	}
	return nil
}

// recoverPaging opens the page files found on disk and resumes depaging
// from the cursors the journal recorded. Large bodies that the page records
// still to depage name are taken out of orphans.
func (b *Broker) recoverPaging(cursors []store.PageCursor, orphans map[uint64]bool) error {
	if b.opts.Pager == nil {
		return nil
	}
	addrs, err := b.opts.Pager.Addresses()
	if err != nil {
		return fmt.Errorf("list paged addresses: %w", err)
	}
	byAddr := make(map[string]store.PageCursor, len(cursors))
	for _, c := range cursors {
		byAddr[c.Address] = c
	}
	for _, name := range addrs {
		ps, err := b.opts.Pager.Open(name)
		if err != nil {
			return fmt.Errorf("open page files of %q: %w", name, err)
		}
		pg := &pageState{address: name, store: ps, kickCh: make(chan struct{}, 1), cursor: ps.Start(), bootEnd: ps.End()}
		if c, ok := byAddr[name]; ok {
			pos := store.PagePosition{Page: c.Page, Offset: c.Offset}
			if pg.cursor.Less(pos) {
				pg.cursor = pos
			}
			pg.cursorID = c.RecordID
		}
		b.mu.Lock()
		b.pages[name] = pg
		if a := b.addresses[name]; a != nil {
			a.pg.Store(pg)
		}
		b.mu.Unlock()
		if cur := pg.cursor; cur.Less(ps.End()) {
			if err := b.recoverPaged(name, ps, cur, orphans); err != nil {
				// Deleting nothing is safe; deleting a body a page
				// record names is not.
				b.log.Warn("could not read page files for the large bodies and duplicate ids they name; keeping every unreferenced body", "event", "paging_error", "address", name, "err", err)
				clear(orphans)
			}
			pg.paging.Store(true)
			// cur is read before the depager starts: from then on the
			// depager owns pg.cursor.
			pg.mu.Lock()
			b.startDepagerLocked(pg)
			pg.mu.Unlock()
			pg.kick()
			b.log.Info("address resumes paging", "event", "paging_recovered", "address", name,
				"page", cur.Page, "offset", cur.Offset)
		}
	}
	return nil
}
