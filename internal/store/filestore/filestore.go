package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/journal"
	"tandem/internal/store"
)

// idBlock is how many ids one counter record reserves. A new block is
// reserved when half of the current one is used, ahead of need, so handing
// out an id never waits for the disk.
const idBlock = 1 << 20

// counterIDBit marks the record ids of id-counter records, which live in a
// space of their own so they never collide with the ids they hand out.
const counterIDBit = 1 << 63

// Options configure a file store.
type Options struct {
	JournalDir  string
	BindingsDir string
	// FileSize, MinFiles, Sync, BufferTimeout, CompactMinFiles and
	// CompactPercentage are passed to the message journal.
	FileSize          int64
	MinFiles          int
	Sync              bool
	BufferTimeout     time.Duration
	CompactMinFiles   int
	CompactPercentage int
	// BufferedWrites writes both journals through the page cache, never
	// with direct I/O (journal-type NIO).
	BufferedWrites bool
	// Epoch is stamped on every journal file this store creates.
	Epoch uint64
	// Reserve, when set, is memory faulted in ahead for replaying the
	// message journal (see journal.Reserve).
	Reserve *journal.Reserve
	// Fence, when set, is the broker's fencing point: when it falls, both
	// journals are fenced with its error (see Store.Fence).
	Fence *store.Fence
	// Follower, when set, holds what a waiting node read of the store while
	// another node wrote it; Open then replays only the rest (see
	// Follower). It can be used once.
	Follower *Follower
	// VerifyFollower makes Open check a followed open against a full
	// replay of a copy of the journals taken before it, and fail when
	// they differ. It costs the copy and a second replay: it is for tests
	// and diagnosis (TANDEM_VERIFY_FOLLOWER, docs/ha.md).
	VerifyFollower bool
	FS             journal.FS
	Logger         *slog.Logger
}

// Store is a store.Store on the journal.
type Store struct {
	opts     Options
	msgs     *journal.Journal
	bindings *journal.Journal
	state    *store.State

	nextID      atomic.Uint64
	reserveMu   sync.Mutex
	reservedEnd uint64 // end of the last block whose reservation was issued
	counterID   uint64 // record id of the live counter record
	replayed    Replayed

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) both journals and recovers their state, which
// Load then returns. With Options.Follower, it replays only what the
// follower had not read (see Follower); the state is the same.
func Open(opts Options) (*Store, error) {
	s := &Store{opts: opts, state: &store.State{}}
	if opts.BindingsDir == "" || opts.JournalDir == "" {
		return nil, errors.New("filestore: journal and bindings directories are required")
	}
	var check *replayCheck
	if opts.Follower != nil && opts.VerifyFollower {
		var err error
		if check, err = copyForCheck(opts); err != nil {
			return nil, err
		}
		defer check.remove()
	}
	fb, fm := opts.Follower.journals()
	l := &loader{st: s.state}
	var err error
	var bres, mres journal.Followed
	s.bindings, bres, err = journal.OpenFollowed(journal.Options{
		Dir: opts.BindingsDir, Prefix: BindingsPrefix, FileSize: 1 << 20, MinFiles: 2, Sync: true,
		Epoch: opts.Epoch, FS: opts.FS, Logger: opts.Logger, BufferedWrites: opts.BufferedWrites,
	}, fb, l.binding)
	if err != nil {
		return nil, fmt.Errorf("open bindings journal in %s: %w", opts.BindingsDir, err)
	}
	if bres.Used {
		l.followedBindings(opts.Follower.b)
	}
	dec := startReplayDecoder(s.state)
	s.msgs, mres, err = journal.OpenFollowed(journal.Options{
		Dir: opts.JournalDir, Prefix: MessagesPrefix, FileSize: opts.FileSize, MinFiles: opts.MinFiles, Sync: opts.Sync,
		BufferTimeout: opts.BufferTimeout, CompactMinFiles: opts.CompactMinFiles, CompactPercentage: opts.CompactPercentage,
		Epoch: opts.Epoch, FS: opts.FS, Logger: opts.Logger, Indexed: dec.size, Reserve: opts.Reserve,
		BufferedWrites: opts.BufferedWrites,
	}, fm, func(rec journal.Record) error {
		if rec.Type == recMessage {
			l.seen(rec.ID)
			return dec.add(rec)
		}
		return l.message(rec)
	})
	msgStale, decErr := dec.finish(err == nil)
	if err == nil && decErr != nil {
		s.msgs.Close()
		err = decErr
	}
	if err != nil {
		if errors.Is(err, errDecodeFailed) && decErr != nil {
			err = decErr
		}
		s.bindings.Close()
		return nil, fmt.Errorf("open message journal in %s: %w", opts.JournalDir, err)
	}
	if mres.Used {
		msgStale = l.followedMessages(opts.Follower.m)
	}
	s.replayed = Replayed{Bindings: bres, Messages: mres}
	s.counterID = l.counterID
	stale := append(l.stale, msgStale...)
	next := max(l.counterEnd, l.maxID+1)
	s.nextID.Store(next)
	s.state.NextID = next
	s.reservedEnd = next
	if check != nil && (bres.Used || mres.Used) {
		if err := check.compare(s.state); err != nil {
			s.Close()
			return nil, err
		}
		if opts.Logger != nil {
			opts.Logger.Info("the followed state is the same as a full replay's (verify-follower)", "event", "ha_follow_verified",
				"messages", len(s.state.Messages), "queues", len(s.state.Queues))
		}
	}
	if err := s.reserve(next, true); err != nil {
		s.Close()
		return nil, err
	}
	opts.Fence.OnFence(s.fenceJournals)
	if len(stale) > 0 {
		ops := make([]journal.Op, len(stale))
		for i, id := range stale {
			ops[i] = journal.Op{Kind: journal.OpDelete, ID: id}
		}
		if err := s.msgs.Write(ops, false); err != nil {
			s.Close()
			return nil, fmt.Errorf("clean up fully acknowledged messages: %w", err)
		}
	}
	return s, nil
}

// Replayed says how much of each journal Open replayed: everything, or with
// a follower only the tail it had not read (see journal.Followed).
type Replayed struct {
	Bindings journal.Followed
	Messages journal.Followed
}

// Replayed returns what Open replayed.
func (s *Store) Replayed() Replayed { return s.replayed }

// loader turns replayed records into the recovered state.
type loader struct {
	st         *store.State
	maxID      uint64 // highest record id seen, id counters aside
	counterEnd uint64 // end of the highest id block reserved
	counterID  uint64 // record id of the last id counter record
	stale      []uint64
}

func (l *loader) seen(id uint64) {
	if id&counterIDBit == 0 && id > l.maxID {
		l.maxID = id
	}
}

// binding loads a record of the bindings journal.
func (l *loader) binding(rec journal.Record) error {
	l.seen(rec.ID)
	switch rec.Type {
	case recAddress:
		a, err := decodeAddress(rec.ID, rec.Data)
		if err != nil {
			return err
		}
		l.st.Addresses = append(l.st.Addresses, a)
	case recQueue:
		q, err := decodeQueue(rec.ID, rec.Data)
		if err != nil {
			return err
		}
		l.st.Queues = append(l.st.Queues, q)
	default:
		return fmt.Errorf("bindings journal: unknown record type %d for id %d", rec.Type, rec.ID)
	}
	return nil
}

// message loads a record of the message journal other than a message.
func (l *loader) message(rec journal.Record) error {
	l.seen(rec.ID)
	switch rec.Type {
	case recDuplicateID:
		dup, err := decodeDuplicateID(rec)
		if err != nil {
			return err
		}
		l.st.DuplicateIDs = append(l.st.DuplicateIDs, dup)
	case recPageCursor:
		c, err := decodePageCursor(rec)
		if err != nil {
			return err
		}
		l.st.PageCursors = append(l.st.PageCursors, c)
	case recIDCounter:
		end, err := decodeCounter(rec)
		if err != nil {
			return err
		}
		l.counter(rec.ID, end)
	default:
		return fmt.Errorf("message journal: unknown record type %d for id %d", rec.Type, rec.ID)
	}
	return nil
}

// counter loads an id counter record. Only the last one stays; the others
// are stale, left by a crash between writing a new one and deleting the
// old.
func (l *loader) counter(id, end uint64) {
	if end > l.counterEnd {
		l.counterEnd = end
	}
	if l.counterID != 0 {
		l.stale = append(l.stale, l.counterID)
	}
	l.counterID = id
}

// followedBindings loads the bindings a follower kept.
func (l *loader) followedBindings(b *bindingSink) {
	l.st.Addresses = append(l.st.Addresses, b.addresses.take(func(id uint64, _ *store.Address) bool {
		l.seen(id)
		return true
	})...)
	l.st.Queues = append(l.st.Queues, b.queues.take(func(id uint64, _ *store.Queue) bool {
		l.seen(id)
		return true
	})...)
}

// followedMessages loads the message journal's records a follower kept, in
// the order replay would have delivered them, and returns the ids of the
// messages no queue holds any more.
func (l *loader) followedMessages(m *messageSink) (stale []uint64) {
	// The messages are handed over as the follower holds them: a million
	// of them are not worth copying on the takeover path.
	l.st.Messages = m.msgs.take(func(id uint64, sm *store.StoredMessage) bool {
		l.seen(id)
		if len(sm.Refs) == 0 {
			stale = append(stale, id)
			return false
		}
		return true
	})
	l.st.DuplicateIDs = append(l.st.DuplicateIDs, m.dups.take(func(id uint64, _ *store.DuplicateID) bool {
		l.seen(id)
		return true
	})...)
	l.st.PageCursors = append(l.st.PageCursors, m.cursors.take(func(id uint64, _ *store.PageCursor) bool {
		l.seen(id)
		return true
	})...)
	m.counters.take(func(id uint64, end *uint64) bool {
		l.counter(id, *end)
		return true
	})
	return stale
}

func decodeDuplicateID(rec journal.Record) (store.DuplicateID, error) {
	d := &decoder{b: rec.Data}
	dup := store.DuplicateID{RecordID: rec.ID, Address: d.str(), ID: d.str()}
	if d.err != nil {
		return dup, fmt.Errorf("duplicate-id record %d: %w", rec.ID, d.err)
	}
	return dup, nil
}

func decodePageCursor(rec journal.Record) (store.PageCursor, error) {
	d := &decoder{b: rec.Data}
	c := store.PageCursor{RecordID: rec.ID, Address: d.str(), Page: d.uvarint(), Offset: d.uvarint()}
	if d.err != nil {
		return c, fmt.Errorf("page cursor record %d: %w", rec.ID, d.err)
	}
	return c, nil
}

func decodeCounter(rec journal.Record) (uint64, error) {
	end, n := binary.Uvarint(rec.Data)
	if n <= 0 {
		return 0, fmt.Errorf("id counter record %d: %w", rec.ID, errShort)
	}
	return end, nil
}

// replayBatch is how many message records the journal's replay hands to the
// decoder goroutine at a time: enough to make the hand-off cheap, few enough
// to keep both goroutines busy from the start.
const replayBatch = 256

var errDecodeFailed = errors.New("filestore: decoding a replayed message failed")

// replayDecoder decodes replayed message records on a goroutine of its own,
// beside the journal's replay, in the order they were delivered. Record data
// is the caller's to keep (see journal.Open), so handing it over is safe.
type replayDecoder struct {
	st     *store.State
	batch  []journal.Record
	work   chan []journal.Record
	free   chan []journal.Record
	done   chan struct{}
	failed atomic.Bool
	// Owned by the goroutine until done is closed.
	err   error
	stale []uint64
}

func startReplayDecoder(st *store.State) *replayDecoder {
	d := &replayDecoder{
		st:   st,
		work: make(chan []journal.Record, 8),
		free: make(chan []journal.Record, 10),
		done: make(chan struct{}),
	}
	go d.run()
	return d
}

func (d *replayDecoder) run() {
	defer close(d.done)
	names := interner{}
	var refs []store.Ref
	for batch := range d.work {
		if d.err == nil {
			for i := range batch {
				rec := &batch[i]
				sm, err := replayMessage(*rec, names, &refs)
				if err != nil {
					d.err = err
					d.failed.Store(true)
					break
				}
				if len(sm.Refs) == 0 {
					d.stale = append(d.stale, rec.ID)
					continue
				}
				d.st.Messages = append(d.st.Messages, sm)
			}
		}
		clear(batch)
		select {
		case d.free <- batch[:0]:
		default:
		}
	}
}

// size pre-sizes the message list for up to live records. It runs before
// the first add, so before the goroutine touches the list.
func (d *replayDecoder) size(live int) {
	if live > cap(d.st.Messages) {
		d.st.Messages = make([]store.StoredMessage, 0, live)
	}
}

// add queues a message record for decoding. It fails once decoding has
// failed, which stops the replay early; finish returns the real error.
func (d *replayDecoder) add(rec journal.Record) error {
	if d.failed.Load() {
		return errDecodeFailed
	}
	if d.batch == nil {
		select {
		case d.batch = <-d.free:
		default:
			d.batch = make([]journal.Record, 0, replayBatch)
		}
	}
	d.batch = append(d.batch, rec)
	if len(d.batch) == replayBatch {
		d.work <- d.batch
		d.batch = nil
	}
	return nil
}

// finish hands over what is left (if flush), waits for the goroutine and
// returns the ids of fully acknowledged messages and the first decoding error.
func (d *replayDecoder) finish(flush bool) ([]uint64, error) {
	if flush && len(d.batch) > 0 {
		d.work <- d.batch
	}
	d.batch = nil
	close(d.work)
	<-d.done
	return d.stale, d.err
}

// replayMessage rebuilds a message and its references from its add record
// and updates.
func replayMessage(rec journal.Record, in interner, chunk *[]store.Ref) (store.StoredMessage, error) {
	m, err := decodeMessage(rec.Data, in)
	if err != nil {
		return store.StoredMessage{}, fmt.Errorf("message %d: %w", rec.ID, err)
	}
	sm := store.StoredMessage{Message: m}
	if chunk != nil {
		// Carve the refs from a shared chunk (capped, so an append cannot
		// reach a neighbour's) instead of allocating per message.
		n := 0
		for _, u := range rec.Updates {
			if u.Type == recAddRef {
				n++
			}
		}
		if n > 0 && n <= 64 {
			if cap(*chunk)-len(*chunk) < n {
				*chunk = make([]store.Ref, 0, 1024)
			}
			c := *chunk
			sm.Refs = c[len(c) : len(c) : len(c)+n]
			*chunk = c[:len(c)+n]
		}
	}
	for _, u := range rec.Updates {
		if err := applyRefUpdate(&sm, rec.ID, u); err != nil {
			return sm, err
		}
	}
	return sm, nil
}

// applyRefUpdate applies one update of message id's record (a queue
// reference, its acknowledgement or its delivery count) to sm. Replay and
// a Follower both use it, so they read updates alike.
func applyRefUpdate(sm *store.StoredMessage, id uint64, u journal.Update) error {
	d := &decoder{b: u.Data}
	qid := d.uvarint()
	switch u.Type {
	case recAddRef:
		sm.Refs = append(sm.Refs, store.Ref{QueueID: qid})
	case recAck:
		for i := range sm.Refs {
			if sm.Refs[i].QueueID == qid {
				sm.Refs = append(sm.Refs[:i], sm.Refs[i+1:]...)
				break
			}
		}
	case recDeliveryCount:
		count := d.uvarint()
		for i := range sm.Refs {
			if sm.Refs[i].QueueID == qid {
				sm.Refs[i].DeliveryCount = uint32(count)
			}
		}
	default:
		return fmt.Errorf("message %d: unknown update type %d", id, u.Type)
	}
	if d.err != nil {
		return fmt.Errorf("message %d update: %w", id, d.err)
	}
	return nil
}

// reserve writes a counter record claiming ids below from+idBlock. The
// previous counter record is deleted in the same batch.
func (s *Store) reserve(from uint64, wait bool) error {
	s.reserveMu.Lock()
	end := from + idBlock
	if end <= s.reservedEnd && !wait {
		s.reserveMu.Unlock()
		return nil
	}
	s.reservedEnd = end
	rid := counterIDBit | from
	ops := []journal.Op{{Kind: journal.OpAdd, ID: rid, Type: recIDCounter, Data: binary.AppendUvarint(nil, end)}}
	if s.counterID != 0 && s.counterID != rid {
		ops = append(ops, journal.Op{Kind: journal.OpDelete, ID: s.counterID})
	}
	s.counterID = rid
	s.reserveMu.Unlock()
	if wait {
		if err := s.msgs.Write(ops, true); err != nil {
			return fmt.Errorf("reserve message ids: %w", err)
		}
		return nil
	}
	s.msgs.WriteAsync(ops, true, func(err error) {
		if err != nil && s.opts.Logger != nil {
			s.opts.Logger.Error("reserve message ids failed", "err", err)
		}
	})
	return nil
}

// Load implements store.Store.
func (s *Store) Load() (*store.State, error) {
	if s.state == nil {
		return nil, errors.New("filestore: Load called twice")
	}
	st := s.state
	s.state = nil
	return st, nil
}

// NewID implements store.Store. The ids of a reserved block are handed out
// without I/O; the next block is reserved, asynchronously and ahead of any
// record that could use it, when half of the current block is gone.
func (s *Store) NewID() uint64 {
	id := s.nextID.Add(1) - 1
	s.reserveMu.Lock()
	end := s.reservedEnd
	s.reserveMu.Unlock()
	if id+idBlock/2 >= end {
		_ = s.reserve(end, false)
	}
	return id
}

// Commit implements store.Store. Address and queue operations go to the
// bindings journal, synchronously and first, so a message reference never
// reaches the disk before the queue it names.
func (s *Store) Commit(b *store.Batch, sync bool, done func(error)) {
	var bops, mops []journal.Op
	var be, me encoder
	// Size the message ops and their encoding up front: growing them op by
	// op cost several allocations and copies of every body per send.
	need := 0
	for i := range b.Ops {
		switch op := &b.Ops[i]; op.Kind {
		case store.OpAddMessage:
			need += op.Message.Size() + 16
		case store.OpAddDuplicateID:
			need += 24 + len(op.Dup.Address) + len(op.Dup.ID)
		case store.OpAddAddress, store.OpAddQueue, store.OpDeleteAddress, store.OpDeleteQueue:
		default:
			need += 24
		}
	}
	var cb *commitBuf
	if need > 0 {
		cb = getCommitBuf(len(b.Ops), need)
		mops, me.b = cb.ops, cb.b
	}
	for i := range b.Ops {
		op := &b.Ops[i]
		switch op.Kind {
		case store.OpAddAddress:
			start := len(be.b)
			encodeAddress(&be, op.Address)
			bops = append(bops, journal.Op{Kind: journal.OpAdd, ID: op.ID, Type: recAddress, Data: be.b[start:len(be.b):len(be.b)]})
		case store.OpAddQueue:
			start := len(be.b)
			encodeQueue(&be, op.Queue)
			bops = append(bops, journal.Op{Kind: journal.OpAdd, ID: op.ID, Type: recQueue, Data: be.b[start:len(be.b):len(be.b)]})
		case store.OpDeleteAddress, store.OpDeleteQueue:
			bops = append(bops, journal.Op{Kind: journal.OpDelete, ID: op.ID})
		case store.OpAddMessage:
			start := len(me.b)
			encodeMessage(&me, op.Message)
			mops = append(mops, journal.Op{Kind: journal.OpAdd, ID: op.ID, Type: recMessage, Data: me.b[start:]})
		case store.OpAddRef, store.OpAck:
			typ := recAddRef
			if op.Kind == store.OpAck {
				typ = recAck
			}
			start := len(me.b)
			me.uvarint(op.QueueID)
			mops = append(mops, journal.Op{Kind: journal.OpUpdate, ID: op.ID, Type: typ, Data: me.b[start:]})
		case store.OpDeliveryCount:
			start := len(me.b)
			me.uvarint(op.QueueID)
			me.uvarint(uint64(op.Count))
			mops = append(mops, journal.Op{Kind: journal.OpUpdate, ID: op.ID, Type: recDeliveryCount, Data: me.b[start:]})
		case store.OpAddPageCursor:
			start := len(me.b)
			me.str(op.Cursor.Address)
			me.uvarint(op.Cursor.Page)
			me.uvarint(op.Cursor.Offset)
			mops = append(mops, journal.Op{Kind: journal.OpAdd, ID: op.ID, Type: recPageCursor, Data: me.b[start:]})
		case store.OpDeleteMessage, store.OpDeleteDuplicateID, store.OpDeletePageCursor:
			mops = append(mops, journal.Op{Kind: journal.OpDelete, ID: op.ID})
		case store.OpAddDuplicateID:
			start := len(me.b)
			me.str(op.Dup.Address)
			me.str(op.Dup.ID)
			mops = append(mops, journal.Op{Kind: journal.OpAdd, ID: op.ID, Type: recDuplicateID, Data: me.b[start:]})
		}
	}
	// The encoder may have grown (and moved) while ops were appended, so
	// re-slice every payload from the final buffer.
	reslice(mops, me.b)
	reslice(bops, be.b)
	if len(bops) > 0 {
		if err := s.bindings.Write(bops, true); err != nil {
			if cb != nil {
				cb.put()
			}
			done(fmt.Errorf("write bindings: %w", err))
			return
		}
	}
	if len(mops) == 0 {
		if cb != nil {
			cb.put()
		}
		done(nil)
		return
	}
	cb.ops, cb.b, cb.done = mops, me.b, done
	if b.Inline {
		s.msgs.WriteInline(mops, sync, cb.release)
		return
	}
	s.msgs.WriteAsync(mops, sync, cb.release)
}

// reslice points each op's Data into buf. While encoding, Data holds a
// slice of an earlier version of buf whose offsets are still valid; the
// capacity-limited slices carry the start and length.
func reslice(ops []journal.Op, buf []byte) {
	off := 0
	for i := range ops {
		if ops[i].Kind == journal.OpDelete {
			continue
		}
		n := len(ops[i].Data)
		ops[i].Data = buf[off : off+n : off+n]
		off += n
	}
}

// Fence stops all writing at once: every later Commit fails with
// store.ErrFenced (wrapped with cause), and no batch is confirmed once it
// returns. A broker with page or large-message files fences through
// Options.Fence instead, which stops them all together.
func (s *Store) Fence(cause error) {
	s.fenceJournals(fmt.Errorf("%w: %w", store.ErrFenced, cause))
}

// fenceJournals fences both journals with err.
func (s *Store) fenceJournals(err error) {
	s.msgs.Fence(err)
	s.bindings.Fence(err)
}

// OnFailure calls fn, on a goroutine of its own, if either journal stops
// writing after an I/O error before the store is closed (see
// journal.Journal.Failed): from then on the store refuses every write until
// it is reopened. fn gets the journal's error.
func (s *Store) OnFailure(fn func(err error)) {
	go func() {
		select {
		case <-s.msgs.Failed():
			fn(s.msgs.Failure())
		case <-s.bindings.Failed():
			fn(s.bindings.Failure())
		case <-s.msgs.Exited():
		}
	}()
}

// MaxEpoch returns the highest fencing epoch found in either journal.
func (s *Store) MaxEpoch() uint64 { return max(s.msgs.MaxEpoch(), s.bindings.MaxEpoch()) }

// Stats returns the message journal's statistics.
func (s *Store) Stats() journal.Stats { return s.msgs.Stats() }

// Close implements store.Store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.msgs != nil {
			errs = append(errs, s.msgs.Close())
		}
		if s.bindings != nil {
			errs = append(errs, s.bindings.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
