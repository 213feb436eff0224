package memstore

import (
	"sync"

	"tandem/internal/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.Mutex
	closed bool
	nextID uint64
	seq    uint64

	addresses map[uint64]entry[store.Address]
	queues    map[uint64]entry[store.Queue]
	messages  map[uint64]*storedMessage
	dups      map[uint64]entry[store.DuplicateID]
	cursors   map[uint64]entry[store.PageCursor]
}

type entry[T any] struct {
	seq uint64
	v   T
}

type storedMessage struct {
	seq uint64
	sm  store.StoredMessage
}

var _ store.Store = (*Store)(nil)

// New returns an empty in-memory store.
func New() *Store {
	return &Store{
		nextID:    1,
		addresses: map[uint64]entry[store.Address]{},
		queues:    map[uint64]entry[store.Queue]{},
		messages:  map[uint64]*storedMessage{},
		dups:      map[uint64]entry[store.DuplicateID]{},
		cursors:   map[uint64]entry[store.PageCursor]{},
	}
}

// Reopen marks a closed store usable again, as a restarted process would find
// a disk store; tests use it to restart a broker on the same state.
func (s *Store) Reopen() {
	s.mu.Lock()
	s.closed = false
	s.mu.Unlock()
}

// Load implements store.Store.
func (s *Store) Load() (*store.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	st := &store.State{NextID: s.nextID}
	st.Addresses = sortedValues(s.addresses)
	st.Queues = sortedValues(s.queues)
	st.DuplicateIDs = sortedValues(s.dups)
	st.PageCursors = sortedValues(s.cursors)
	msgs := make([]*storedMessage, 0, len(s.messages))
	for _, m := range s.messages {
		msgs = append(msgs, m)
	}
	sortBySeq(msgs, func(m *storedMessage) uint64 { return m.seq })
	for _, m := range msgs {
		sm := m.sm
		sm.Message = sm.Message.Clone()
		sm.Refs = append([]store.Ref(nil), sm.Refs...)
		st.Messages = append(st.Messages, sm)
	}
	return st, nil
}

// NewID implements store.Store.
func (s *Store) NewID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	return id
}

// Commit implements store.Store. It applies the batch at once and calls done
// before returning.
func (s *Store) Commit(b *store.Batch, _ bool, done func(error)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		done(store.ErrClosed)
		return
	}
	for i := range b.Ops {
		s.apply(&b.Ops[i])
	}
	s.mu.Unlock()
	done(nil)
}

func (s *Store) apply(op *store.Op) {
	s.seq++
	switch op.Kind {
	case store.OpAddAddress:
		s.addresses[op.ID] = entry[store.Address]{s.seq, *op.Address}
	case store.OpDeleteAddress:
		delete(s.addresses, op.ID)
	case store.OpAddQueue:
		s.queues[op.ID] = entry[store.Queue]{s.seq, *op.Queue}
	case store.OpDeleteQueue:
		delete(s.queues, op.ID)
	case store.OpAddMessage:
		s.messages[op.ID] = &storedMessage{seq: s.seq, sm: store.StoredMessage{Message: op.Message.Clone()}}
	case store.OpAddRef:
		if m := s.messages[op.ID]; m != nil {
			m.sm.Refs = append(m.sm.Refs, store.Ref{QueueID: op.QueueID})
		}
	case store.OpAck:
		if m := s.messages[op.ID]; m != nil {
			m.sm.Refs = removeRef(m.sm.Refs, op.QueueID)
			if len(m.sm.Refs) == 0 {
				delete(s.messages, op.ID)
			}
		}
	case store.OpDeleteMessage:
		delete(s.messages, op.ID)
	case store.OpDeliveryCount:
		if m := s.messages[op.ID]; m != nil {
			for i := range m.sm.Refs {
				if m.sm.Refs[i].QueueID == op.QueueID {
					m.sm.Refs[i].DeliveryCount = op.Count
				}
			}
		}
	case store.OpAddDuplicateID:
		s.dups[op.ID] = entry[store.DuplicateID]{s.seq, *op.Dup}
	case store.OpDeleteDuplicateID:
		delete(s.dups, op.ID)
	case store.OpAddPageCursor:
		s.cursors[op.ID] = entry[store.PageCursor]{s.seq, *op.Cursor}
	case store.OpDeletePageCursor:
		delete(s.cursors, op.ID)
	}
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func removeRef(refs []store.Ref, queueID uint64) []store.Ref {
	for i := range refs {
		if refs[i].QueueID == queueID {
			return append(refs[:i], refs[i+1:]...)
		}
	}
	return refs
}
