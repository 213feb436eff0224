package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/store"
)

// ChunkSize is the size of a large body's chunks: big enough that a body
// of gigabytes is thousands of rows, not millions; small enough that a
// chunk is a modest part of one group commit.
const ChunkSize = 256 << 10

// chunksInFlight bounds the chunks of one body written but not yet
// committed, which bounds a producer's memory and paces it to the
// database.
const chunksInFlight = 8

// LargeStore keeps the bodies of large messages in the large-message table
// and its chunks table. It implements store.LargeStore; get it from
// Store.Large.
type LargeStore struct{ s *Store }

var _ store.LargeStore = (*LargeStore)(nil)

// largeState tracks the bodies this process reads: a body deleted while a
// delivery streams it is deleted once the last reader closes. A crash in
// between leaves the body behind, and the broker's start collects it.
type largeState struct {
	mu       sync.Mutex
	readers  map[uint64]int
	deferred map[uint64]bool
}

func (l *largeState) init() {
	l.readers, l.deferred = map[uint64]int{}, map[uint64]bool{}
}

// Large returns the store's large-message bodies.
func (s *Store) Large() *LargeStore { return &LargeStore{s} }

// Create implements store.LargeStore.
func (l *LargeStore) Create() (store.LargeWriter, error) {
	w := &largeWriter{s: l.s, id: l.s.NewID(), slots: make(chan struct{}, chunksInFlight)}
	w.buf = make([]byte, 0, ChunkSize)
	return w, nil
}

// largeWriter writes one body as chunks through the store's writer, up to
// chunksInFlight of them ahead of their commits.
type largeWriter struct {
	s     *Store
	id    uint64
	buf   []byte
	n     int32
	size  int64
	slots chan struct{}
	ended bool

	mu  sync.Mutex
	err error
}

func (w *largeWriter) ID() uint64 { return w.id }

func (w *largeWriter) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *largeWriter) Write(p []byte) (int, error) {
	if w.ended {
		return 0, errors.New("pgstore: write to a finished large body")
	}
	written := 0
	for len(p) > 0 {
		if err := w.failure(); err != nil {
			return written, err
		}
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(w.buf) == ChunkSize {
			w.flush()
		}
	}
	return written, nil
}

// flush sends the buffered chunk, waiting for a free slot first.
func (w *largeWriter) flush() {
	w.slots <- struct{}{}
	data := w.buf
	w.buf = make([]byte, 0, ChunkSize)
	w.size += int64(len(data))
	u := &unit{kind: unitChunk, chunk: chunkRecord{content: int64(w.id), n: w.n, data: data}, done: func(err error) {
		if err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = fmt.Errorf("pgstore: write chunk of large body %d: %w", w.id, err)
			}
			w.mu.Unlock()
		}
		<-w.slots
	}}
	w.n++
	w.s.w.enqueue(u)
}

// Commit writes the last chunk, waits for every chunk, then records the
// body, durably: only then may a message name it.
func (w *largeWriter) Commit() error {
	if w.ended {
		return errors.New("pgstore: large body already finished")
	}
	if len(w.buf) > 0 {
		w.flush()
	}
	for range chunksInFlight {
		w.slots <- struct{}{}
	}
	w.ended = true
	if err := w.failure(); err != nil {
		w.abort()
		return err
	}
	ch := make(chan error, 1)
	w.s.w.enqueue(&unit{kind: unitBody, body: bodyRecord{id: int64(w.id), size: w.size}, sync: true,
		done: func(err error) { ch <- err }})
	if err := <-ch; err != nil {
		w.abort()
		return fmt.Errorf("pgstore: record large body %d: %w", w.id, err)
	}
	return nil
}

// Abort implements store.LargeWriter.
func (w *largeWriter) Abort() {
	if w.ended {
		return
	}
	w.ended = true
	for range chunksInFlight {
		w.slots <- struct{}{}
	}
	w.abort()
}

// abort drops the chunks written so far, once they are all done.
func (w *largeWriter) abort() {
	if w.n == 0 {
		return
	}
	w.s.w.enqueue(&unit{kind: unitAbort, content: int64(w.id), done: w.s.logFailure("drop an unfinished large body")})
}

// logFailure returns a completion that logs a failed background write.
func (s *Store) logFailure(what string) func(error) {
	return func(err error) {
		if err != nil && !errors.Is(err, store.ErrFenced) && !errors.Is(err, store.ErrClosed) {
			s.log.Warn("could not "+what, "event", "large_message_error", "err", err)
		}
	}
}

// Open implements store.LargeStore. The body is read a chunk at a time as
// the reader is read; it stays readable until Close even if it is deleted
// meanwhile.
func (l *LargeStore) Open(id uint64) (io.ReadCloser, error) {
	ls := &l.s.large
	ls.mu.Lock()
	ls.readers[id]++
	ls.mu.Unlock()
	return &largeReader{s: l.s, id: id, content: -1}, nil
}

// largeReader streams one body.
type largeReader struct {
	s       *Store
	id      uint64
	content int64 // -1 until looked up
	size    int64
	n       int32
	buf     []byte
	read    int64
	closed  bool
}

func (r *largeReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("pgstore: read from a closed large body")
	}
	for len(r.buf) == 0 {
		if r.content >= 0 && r.read >= r.size {
			return 0, io.EOF
		}
		if err := r.fetch(); err != nil {
			return 0, err
		}
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	r.read += int64(k)
	return k, nil
}

// readTimeout bounds one read of a chunk, a page or a list, so that a
// database that stopped answering fails the read instead of hanging it.
const readTimeout = 30 * time.Second

// fetch looks the body up (the first time) and reads its next chunk.
func (r *largeReader) fetch() error {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, err := r.s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: read large body %d: %w", r.id, err)
	}
	defer func() { r.s.pool.Release(conn, err) }()
	if r.content < 0 {
		err = conn.QueryRow(ctx, r.s.st.bodyInfo, int64(r.id)).Scan(&r.content, &r.size)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
			return fmt.Errorf("pgstore: large body %d does not exist", r.id)
		}
		if err != nil {
			return fmt.Errorf("pgstore: read large body %d: %w", r.id, err)
		}
		if r.size == 0 {
			return nil
		}
	}
	err = conn.QueryRow(ctx, r.s.st.chunk, r.content, r.n).Scan(&r.buf)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
		return fmt.Errorf("pgstore: large body %d lacks chunk %d (%d of %d bytes read)", r.id, r.n, r.read, r.size)
	}
	if err != nil {
		return fmt.Errorf("pgstore: read chunk %d of large body %d: %w", r.n, r.id, err)
	}
	if len(r.buf) == 0 || r.read+int64(len(r.buf)) > r.size {
		return fmt.Errorf("pgstore: chunk %d of large body %d holds %d bytes, past its size %d", r.n, r.id, len(r.buf), r.size)
	}
	r.n++
	return nil
}

// Close releases the body; a delete that waited for this reader happens
// now.
func (r *largeReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	ls := &r.s.large
	ls.mu.Lock()
	ls.readers[r.id]--
	del := ls.readers[r.id] == 0 && ls.deferred[r.id]
	if ls.readers[r.id] == 0 {
		delete(ls.readers, r.id)
		delete(ls.deferred, r.id)
	}
	ls.mu.Unlock()
	if del {
		r.s.deleteBodies([]int64{int64(r.id)})
	}
	return nil
}

// Link implements store.LargeStore: the copy gets a row of its own naming
// the same content, so the chunks are not copied.
func (l *LargeStore) Link(id uint64) (uint64, error) {
	n := l.s.NewID()
	l.s.w.enqueue(&unit{kind: unitLink, body: bodyRecord{id: int64(n), old: int64(id)}, sync: l.s.o.Sync,
		done: l.s.logFailure(fmt.Sprintf("give large body %d a second name", id))})
	return n, nil
}

// Delete implements store.LargeStore. It returns at once; the row goes
// with the next group commit (or when the last reader of this process
// closes).
func (l *LargeStore) Delete(id uint64) error {
	ls := &l.s.large
	ls.mu.Lock()
	if ls.readers[id] > 0 {
		ls.deferred[id] = true
		ls.mu.Unlock()
		return nil
	}
	ls.mu.Unlock()
	l.s.deleteBodies([]int64{int64(id)})
	return nil
}

func (s *Store) deleteBodies(ids []int64) {
	s.w.enqueue(&unit{kind: unitDelBody, ids: ids, done: s.logFailure("delete large bodies")})
}

// IDs implements store.LargeStore.
func (l *LargeStore) IDs() ([]uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, err := l.s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list large bodies: %w", err)
	}
	defer func() { l.s.pool.Release(conn, err) }()
	rows, _ := conn.Query(ctx, l.s.st.bodyIDs)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("pgstore: list large bodies: %w", err)
	}
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out, nil
}
