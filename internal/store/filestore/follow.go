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
// Open delivers records in the order of their adds' positions.
type ordered[T any] struct {
	items []orderedItem[T]
	index map[uint64]int32
	dead  int
}

type orderedItem[T any] struct {
	id   uint64
	live bool
	v    T
}

func (o *ordered[T]) add(id uint64, v T) {
	if o.index == nil {
		o.index = make(map[uint64]int32)
	}
	o.index[id] = int32(len(o.items))
	o.items = append(o.items, orderedItem[T]{id: id, live: true, v: v})
}

func (o *ordered[T]) get(id uint64) *T {
	i, ok := o.index[id]
	if !ok {
		return nil
	}
	return &o.items[i].v
}

// remove drops id and reports whether it was there. Dropped items leave a
// hole that is closed once holes are the majority.
func (o *ordered[T]) remove(id uint64) bool {
	i, ok := o.index[id]
	if !ok {
		return false
	}
	delete(o.index, id)
	o.items[i] = orderedItem[T]{}
	o.dead++
	if o.dead > 1024 && o.dead > len(o.items)/2 {
		n := 0
		for _, it := range o.items {
			if it.live {
				o.items[n] = it
				o.index[it.id] = int32(n)
				n++
			}
		}
		clear(o.items[n:])
		o.items, o.dead = o.items[:n], 0
	}
	return true
}

func (o *ordered[T]) len() int { return len(o.index) }

// each calls fn for the live items in order.
func (o *ordered[T]) each(fn func(id uint64, v *T) error) error {
	for i := range o.items {
		if it := &o.items[i]; it.live {
			if err := fn(it.id, &it.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o *ordered[T]) reset() { *o = ordered[T]{} }

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
		s.addresses.add(rec.ID, a)
	case recQueue:
		q, err := decodeQueue(rec.ID, rec.Data)
		if err != nil {
			return err
		}
		s.queues.add(rec.ID, q)
	default:
		return fmt.Errorf("bindings journal: unknown record type %d for id %d", rec.Type, rec.ID)
	}
	return nil
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
		s.msgs.add(rec.ID, store.StoredMessage{Message: m})
	case recDuplicateID:
		dup, err := decodeDuplicateID(rec)
		if err != nil {
			return err
		}
		s.dups.add(rec.ID, dup)
	case recPageCursor:
		c, err := decodePageCursor(rec)
		if err != nil {
			return err
		}
		s.cursors.add(rec.ID, c)
	case recIDCounter:
		end, err := decodeCounter(rec)
		if err != nil {
			return err
		}
		s.counters.add(rec.ID, end)
	default:
		return fmt.Errorf("message journal: unknown record type %d for id %d", rec.Type, rec.ID)
	}
	return nil
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
