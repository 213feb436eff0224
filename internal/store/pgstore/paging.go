package pgstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Paging on a database: the page-store table holds one row per paged
// message, numbered per address in the order it was paged (seq, from 1). A
// store.PagePosition is (page 1, offset seq): the position of a record is
// its number, and the next record starts at number+1. There are no page
// files and so no page size; Release deletes the rows wholly before a
// position. Appends go through the store's writer, fenced like every other
// write.
const pageNumber = 1

// Pager opens the page stores of addresses in the page-store table. It
// implements store.Pager; get it from Store.Pager.
type Pager struct{ s *Store }

var _ store.Pager = (*Pager)(nil)

type pagerState struct {
	mu     sync.Mutex
	stores map[string]*PageStore
}

func (p *pagerState) init() { p.stores = map[string]*PageStore{} }

// Pager returns the store's pager.
func (s *Store) Pager() *Pager { return &Pager{s} }

// Open implements store.Pager.
func (p *Pager) Open(address string) (store.PageStore, error) {
	ps := &p.s.pager
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if st := ps.stores[address]; st != nil {
		return st, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, err := p.s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open the page store of %q: %w", address, err)
	}
	var lo, hi int64
	err = conn.QueryRow(ctx, p.s.st.pageBounds, address).Scan(&lo, &hi)
	p.s.pool.Release(conn, err)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open the page store of %q: %w", address, err)
	}
	st := &PageStore{s: p.s, address: address, first: 1, next: 1, pending: map[int64]bool{}}
	if hi > 0 {
		st.first, st.next, st.committed = lo, hi+1, hi
	}
	ps.stores[address] = st
	return st, nil
}

// Addresses implements store.Pager: the addresses with paged messages.
func (p *Pager) Addresses() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, err := p.s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list paged addresses: %w", err)
	}
	defer func() { p.s.pool.Release(conn, err) }()
	rows, _ := conn.Query(ctx, p.s.st.pageAddresses)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgstore: list paged addresses: %w", err)
	}
	return out, nil
}

// Close does nothing: page stores write through the store's writer.
func (p *Pager) Close() error { return nil }

// PageStore is one address's paged messages. It implements
// store.PageStore.
type PageStore struct {
	s       *Store
	address string

	mu        sync.Mutex
	first     int64 // the lowest number still held
	next      int64 // the number of the next append
	committed int64 // the highest number committed
	pending   map[int64]bool
}

var _ store.PageStore = (*PageStore)(nil)

func pos(seq int64) store.PagePosition {
	return store.PagePosition{Page: pageNumber, Offset: uint64(seq)}
}

// Append implements store.PageStore.
func (p *PageStore) Append(m *message.Message, queues []uint64, sync bool, done func(error)) {
	p.mu.Lock()
	seq := p.next
	p.next++
	p.pending[seq] = true
	p.mu.Unlock()
	rec := &pageRecord{address: p.address, seq: seq, queues: append([]uint64(nil), queues...), data: message.AppendEncoded(nil, m)}
	p.s.w.enqueue(&unit{kind: unitPage, page: rec, sync: sync && p.s.o.Sync, done: func(err error) {
		p.mu.Lock()
		delete(p.pending, seq)
		if err == nil && seq > p.committed {
			p.committed = seq
		}
		p.mu.Unlock()
		done(err)
	}})
}

// readBatch bounds the rows one Read fetches.
const readBatch = 256

// Read implements store.PageStore. It returns committed records only.
func (p *PageStore) Read(from store.PagePosition, maxBytes int) ([]store.PagedMessage, error) {
	start := int64(from.Offset)
	if from.Page != pageNumber {
		start = 0 // a position of another layout: read from the first record
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, err := p.s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read the page store of %q: %w", p.address, err)
	}
	defer func() { p.s.pool.Release(conn, err) }()
	rows, _ := conn.Query(ctx, p.s.st.pageRead, p.address, start, readBatch)
	var out []store.PagedMessage
	var seq int64
	var queues []int64
	var data []byte
	bytes := 0
	names := interner{}
	for rows.Next() {
		if err = rows.Scan(&seq, &queues, &data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgstore: read the page store of %q: %w", p.address, err)
		}
		m, derr := message.Decode(data, names)
		if derr != nil {
			rows.Close()
			err = nil
			return nil, fmt.Errorf("pgstore: paged message %d of %q does not decode: %w", seq, p.address, derr)
		}
		qs := make([]uint64, len(queues))
		for i, q := range queues {
			qs[i] = uint64(q)
		}
		out = append(out, store.PagedMessage{Message: m, Queues: qs, Pos: pos(seq), Next: pos(seq + 1)})
		bytes += len(data)
		if bytes >= maxBytes {
			break
		}
	}
	rows.Close()
	if err = rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: read the page store of %q: %w", p.address, err)
	}
	return out, nil
}

// Start implements store.PageStore.
func (p *PageStore) Start() store.PagePosition {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pos(p.first)
}

// End implements store.PageStore: after the last record committed or on
// its way. A failed append does not count, so the end comes back to the
// last committed record when nothing after it is pending.
func (p *PageStore) End() store.PagePosition {
	p.mu.Lock()
	defer p.mu.Unlock()
	end := max(p.committed, p.first-1)
	for seq := range p.pending {
		end = max(end, seq)
	}
	return pos(end + 1)
}

// Release implements store.PageStore: the rows before pos are deleted.
func (p *PageStore) Release(at store.PagePosition) error {
	if at.Page != pageNumber {
		return nil
	}
	below := int64(at.Offset)
	p.mu.Lock()
	if below <= p.first {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	ch := make(chan error, 1)
	p.s.w.enqueue(&unit{kind: unitRelease, release: pageRelease{address: p.address, below: below}, done: func(err error) { ch <- err }})
	if err := <-ch; err != nil {
		return fmt.Errorf("pgstore: release paged messages of %q: %w", p.address, err)
	}
	p.mu.Lock()
	p.first = max(p.first, below)
	p.mu.Unlock()
	return nil
}

// Close implements store.PageStore; appends go through the store's
// writer, which Store.Close flushes.
func (p *PageStore) Close() error { return nil }
