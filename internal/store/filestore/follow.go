package filestore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"tandem/internal/journal"
	"tandem/internal/store"
)

// Follower keeps, on a waiting node of a shared-store pair, the state a
// replay of the live node's store would recover: it follows both journals
// as they are written (journal.Follower) and decodes every record as it
// comes, so that Open with Options.Follower, at takeover, only replays and
// decodes what was written since. See docs/ha.md, "Following the live's
// journal". Poll and Reset must not be called concurrently; Stats may be.
type Follower struct {
	bindings *journal.Follower
	msgs     *journal.Follower
	b        *bindingSink
	m        *messageSink
	used     atomic.Bool
}

// FollowOptions configures NewFollower.
type FollowOptions struct {
	JournalDir  string
	BindingsDir string
	FS          journal.FS // nil means the operating system's
	Logger      *slog.Logger
}

// FollowerStats is a snapshot of a Follower.
type FollowerStats struct {
	Messages journal.FollowStats
	Bindings journal.FollowStats
}

// NewFollower returns a follower of the file store in opts' directories.
// It reads nothing before Poll.
func NewFollower(opts FollowOptions) (*Follower, error) {
	f := &Follower{b: &bindingSink{}, m: newMessageSink()}
	var err error
	f.bindings, err = journal.NewFollower(journal.FollowOptions{Dir: opts.BindingsDir, Prefix: BindingsPrefix,
		FS: opts.FS, Sink: f.b, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	f.msgs, err = journal.NewFollower(journal.FollowOptions{Dir: opts.JournalDir, Prefix: MessagesPrefix,
		FS: opts.FS, Sink: f.m, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Poll reads both journals as far as they are known durable and applies
// what it read. It returns the number of operations applied, and stops
// early when stop is closed. A journal the follower cannot follow
// (journal.ErrFollowerBroken) stays unfollowed until Reset; Open then
// replays it in full.
func (f *Follower) Poll(stop <-chan struct{}) (int, error) {
	n, err := f.bindings.Poll(stop)
	m, merr := f.msgs.Poll(stop)
	return n + m, errors.Join(err, merr)
}

// Reset drops what the follower knows: the next Poll starts from the
// beginning of both journals.
func (f *Follower) Reset() {
	f.bindings.Reset()
	f.msgs.Reset()
}

// Stats returns a snapshot of both journal followers.
func (f *Follower) Stats() FollowerStats {
	return FollowerStats{Messages: f.msgs.Stats(), Bindings: f.bindings.Stats()}
}

// ordered holds live records in the order of their adds, which is the order
// a replay delivers them in: a follower sees adds in journal order, and
// Open delivers records in the order of their adds' positions. A removed
// record leaves a hole (id 0; no record of a store has id 0) until holes
// are the majority.
type ordered[T any] struct {
	ids   []uint64
	vals  []T
	index map[uint64]int32
	holes int
}

var errZeroID = errors.New("a record with id 0, which no store writes")

func (o *ordered[T]) add(id uint64, v T) error {
	if id == 0 {
		return errZeroID
	}
	if o.index == nil {
		o.index = make(map[uint64]int32)
	}
	o.index[id] = int32(len(o.ids))
	o.ids = append(o.ids, id)
	o.vals = append(o.vals, v)
	return nil
}

func (o *ordered[T]) get(id uint64) *T {
	i, ok := o.index[id]
	if !ok {
		return nil
	}
	return &o.vals[i]
}

// remove drops id and reports whether it was there.
func (o *ordered[T]) remove(id uint64) bool {
	i, ok := o.index[id]
	if !ok {
		return false
	}
	delete(o.index, id)
	var zero T
	o.ids[i], o.vals[i] = 0, zero
	o.holes++
	if o.holes > 1024 && o.holes > len(o.ids)/2 {
		o.compact(func(uint64, *T) bool { return true })
		for i, id := range o.ids {
			o.index[id] = int32(i)
		}
	}
	return true
}

// compact closes the holes, keeping in order the items keep returns true
// for, and returns them. It leaves the index stale.
func (o *ordered[T]) compact(keep func(id uint64, v *T) bool) []T {
	n := 0
	for i, id := range o.ids {
		if id == 0 || !keep(id, &o.vals[i]) {
			continue
		}
		if n != i {
			o.ids[n], o.vals[n] = id, o.vals[i]
		}
		n++
	}
	clear(o.vals[n:])
	o.ids, o.vals, o.holes = o.ids[:n], o.vals[:n], 0
	return o.vals
}

// take returns the items keep returns true for, in order, without copying
// them when it can; the ordered is not usable afterwards.
func (o *ordered[T]) take(keep func(id uint64, v *T) bool) []T {
	vals := o.compact(keep)
	*o = ordered[T]{}
	return vals
}

func (o *ordered[T]) len() int { return len(o.index) }

// bindingSink keeps the bindings journal's records: addresses and queues.
type bindingSink struct {
	addresses ordered[store.Address]
	queues    ordered[store.Queue]
}

func (s *bindingSink) Add(rec journal.Record) error {
	switch rec.Type {
	case recAddress:
		a, err := decodeAddress(rec.ID, rec.Data)
		if err != nil {
			return err
		}
		return s.addresses.add(rec.ID, a)
	case recQueue:
		q, err := decodeQueue(rec.ID, rec.Data)
		if err != nil {
			return err
		}
		return s.queues.add(rec.ID, q)
	default:
		return fmt.Errorf("bindings journal: unknown record type %d for id %d", rec.Type, rec.ID)
	}
}

// Update ignores updates, as replay does: binding records have none.
func (s *bindingSink) Update(uint64, journal.Update) error { return nil }

func (s *bindingSink) Delete(id uint64) error {
	if !s.addresses.remove(id) {
		s.queues.remove(id)
	}
	return nil
}

func (s *bindingSink) Reset() { *s = bindingSink{} }

// messageSink keeps the message journal's records, messages decoded.
type messageSink struct {
	names    interner
	msgs     ordered[store.StoredMessage]
	dups     ordered[store.DuplicateID]
	cursors  ordered[store.PageCursor]
	counters ordered[uint64] // end of each reserved id block
}

func newMessageSink() *messageSink { return &messageSink{names: interner{}} }

func (s *messageSink) Add(rec journal.Record) error {
	switch rec.Type {
	case recMessage:
		m, err := decodeMessage(rec.Data, s.names)
		if err != nil {
			return fmt.Errorf("message %d: %w", rec.ID, err)
		}
		return s.msgs.add(rec.ID, store.StoredMessage{Message: m})
	case recDuplicateID:
		dup, err := decodeDuplicateID(rec)
		if err != nil {
			return err
		}
		return s.dups.add(rec.ID, dup)
	case recPageCursor:
		c, err := decodePageCursor(rec)
		if err != nil {
			return err
		}
		return s.cursors.add(rec.ID, c)
	case recIDCounter:
		end, err := decodeCounter(rec)
		if err != nil {
			return err
		}
		return s.counters.add(rec.ID, end)
	default:
		return fmt.Errorf("message journal: unknown record type %d for id %d", rec.Type, rec.ID)
	}
}

// Update applies an update of a message; replay ignores updates of the
// other records, and so does this.
func (s *messageSink) Update(id uint64, u journal.Update) error {
	if sm := s.msgs.get(id); sm != nil {
		return applyRefUpdate(sm, id, u)
	}
	return nil
}

func (s *messageSink) Delete(id uint64) error {
	_ = s.msgs.remove(id) || s.dups.remove(id) || s.cursors.remove(id) || s.counters.remove(id)
	return nil
}

func (s *messageSink) Reset() { *s = messageSink{names: interner{}} }

// journals hands over the two journal followers, once; both are nil for a
// nil Follower or one used before.
func (f *Follower) journals() (bindings, msgs *journal.Follower) {
	if f == nil || f.used.Swap(true) {
		return nil, nil
	}
	return f.bindings, f.msgs
}
