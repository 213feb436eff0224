package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/pgdb"
	"tandem/internal/store"
	"tandem/internal/store/pgstore/pgtest"
)

// send builds the batch of a persistent send of body to queue 1.
func send(s *Store, body string) (*store.Batch, uint64) {
	m := &message.Message{ID: s.NewID(), Address: "orders", Durable: true, Body: []byte(body)}
	b := &store.Batch{}
	b.AddMessage(m)
	b.AddRef(m.ID, 1)
	return b, m.ID
}

func (e *env) hasMessage(t *testing.T, id uint64) bool {
	t.Helper()
	return e.count(t, "SELECT count(*) FROM "+pgdb.DefaultMessages+" WHERE id = $1", int64(id)) == 1
}

// TestGroupCommitGathersConcurrentWrites: writes from many goroutines share
// transactions, and every confirmed one is stored.
func TestGroupCommitGathersConcurrentWrites(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	const writers, each = 32, 40
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b, _ := send(s, fmt.Sprintf("w%d-%d", w, i))
				if err := commit(t, s, b); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d commits failed", n)
	}
	st := s.Stats()
	if st.Units < writers*each || st.Groups >= st.Units {
		t.Fatalf("stats %+v: %d writes should share fewer transactions", st, writers*each)
	}
	if n := e.count(t, "SELECT count(*) FROM "+pgdb.DefaultMessages); n != writers*each {
		t.Fatalf("%d messages stored, want %d", n, writers*each)
	}
	t.Logf("%d writes in %d transactions", st.Units, st.Groups)
}

// TestTakeoverFencesTheStore: once another node holds the store (the
// epoch moved in the lease row), a write fails with store.ErrFenced, leaves
// nothing behind, the store reports its failure, and every later write
// fails at once.
func TestTakeoverFencesTheStore(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	failed := make(chan error, 1)
	s.OnFailure(func(err error) { failed <- err })
	b, id := send(s, "before")
	if err := commit(t, s, b); err != nil {
		t.Fatal(err)
	}
	if _, err := pgtest.Conn(t, e.url).Exec(context.Background(), "UPDATE "+pgdb.DefaultNodeManager+" SET epoch = epoch + 1"); err != nil {
		t.Fatal(err)
	}
	b, fenced := send(s, "after")
	if err := commit(t, s, b); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a write after the takeover: %v, want ErrFenced", err)
	}
	if e.hasMessage(t, fenced) || !e.hasMessage(t, id) {
		t.Fatal("the fenced write was stored, or the one before it lost")
	}
	select {
	case err := <-failed:
		if !errors.Is(err, store.ErrFenced) {
			t.Fatalf("OnFailure got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnFailure was not called")
	}
	b, _ = send(s, "later")
	if err := commit(t, s, b); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a later write: %v, want ErrFenced", err)
	}
}

// TestFenceConfirmsNothingAfterItReturns fences a busy store: writes in
// flight are either confirmed before Fence returns or fail, and nothing is
// confirmed after.
func TestFenceConfirmsNothingAfterItReturns(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var fencedAt atomic.Bool
	var late, ok, failedN atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b, _ := send(s, fmt.Sprintf("w%d-%d", w, i))
				done := make(chan struct{})
				s.Commit(b, true, func(err error) {
					switch {
					case err == nil && fencedAt.Load():
						late.Add(1)
					case err == nil:
						ok.Add(1)
					default:
						failedN.Add(1)
					}
					close(done)
				})
				<-done
			}
		}()
	}
	for ok.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Fence(errors.New("test fence"))
	fencedAt.Store(true)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := late.Load(); n > 0 {
		t.Fatalf("%d writes confirmed after Fence returned", n)
	}
	if failedN.Load() == 0 {
		t.Fatal("no write failed after the fence")
	}
	b, _ := send(s, "after")
	if err := commit(t, s, b); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a write after Fence: %v", err)
	}
}

// proxied opens a store whose connections go through a proxy.
func proxied(t *testing.T) (*env, *pgtest.Proxy, *Store) {
	t.Helper()
	c := pgtest.Shared(t)
	e := newEnv(t)
	p := pgtest.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", c.Port()))
	cfg, err := pgdb.ParseURL(p.URL(e.url), "", "")
	if err != nil {
		t.Fatal(err)
	}
	o := e.options(t)
	o.Conn = cfg
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Warm the writer up, so that the next request is a whole
	// transaction and not the preparation of its statements.
	b, _ := send(s, "warm-up")
	if err := commit(t, s, b); err != nil {
		t.Fatal(err)
	}
	return e, p, s
}

// TestUnknownOutcomeIsResolved breaks the writer's connection around a
// commit: when the COMMIT reached the database the write is confirmed
// after reconnecting (the progress row says so); when it did not, the
// write fails and nothing is stored. Either way the writer carries on.
func TestUnknownOutcomeIsResolved(t *testing.T) {
	t.Run("committed", func(t *testing.T) {
		e, p, s := proxied(t)
		p.CutAfterNextRequest(300 * time.Millisecond)
		b, id := send(s, "in flight")
		if err := commit(t, s, b); err != nil {
			t.Fatalf("a commit that reached the database: %v", err)
		}
		if !e.hasMessage(t, id) {
			t.Fatal("confirmed but not stored")
		}
		if s.Stats().Reconnects == 0 {
			t.Fatal("the writer did not reconnect")
		}
		b, id = send(s, "next")
		if err := commit(t, s, b); err != nil || !e.hasMessage(t, id) {
			t.Fatalf("the writer did not carry on: %v", err)
		}
	})
	t.Run("not committed", func(t *testing.T) {
		e, p, s := proxied(t)
		p.CutBeforeNextRequest()
		b, id := send(s, "lost on the way")
		if err := commit(t, s, b); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("a commit that never reached the database: %v, want ErrUnavailable", err)
		}
		if e.hasMessage(t, id) {
			t.Fatal("a failed write was stored")
		}
		b, id = send(s, "next")
		if err := commit(t, s, b); err != nil || !e.hasMessage(t, id) {
			t.Fatalf("the writer did not carry on: %v", err)
		}
	})
}

// TestLeaseRunningOutStopsConfirming: a write that commits after the
// lease stopped allowing confirmations is not confirmed, and the store
// fails so the node steps down; the database keeps the write for the next
// live node.
func TestLeaseRunningOutStopsConfirming(t *testing.T) {
	e := newEnv(t)
	var calls, armedAt atomic.Int64
	o := e.options(t)
	o.Valid = func() bool {
		n := calls.Add(1)
		at := armedAt.Load()
		return at == 0 || n <= at
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	failed := make(chan error, 1)
	s.OnFailure(func(err error) { failed <- err })
	b, _ := send(s, "fine")
	if err := commit(t, s, b); err != nil {
		t.Fatal(err)
	}
	// The check before sending passes, the one before confirming fails.
	armedAt.Store(calls.Load() + 1)
	b, id := send(s, "too late")
	if err := commit(t, s, b); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("a write confirmed after the lease ran out: %v", err)
	}
	if !e.hasMessage(t, id) {
		t.Fatal("the committed write is not in the database")
	}
	select {
	case <-failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the store did not report its failure")
	}
}

// TestOneBadWriteDoesNotFailItsGroup: a write the database refuses fails
// alone; the others of its transaction are written one by one. The bad
// writes come in two places of the transaction, a binding (before the
// messages) and a chunk that exists already (after them), so the second
// also shows that the messages before it in the pipeline were rolled back
// with it: written again alone, they would collide with themselves.
func TestOneBadWriteDoesNotFailItsGroup(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	if _, err := pgtest.Conn(t, e.url).Exec(context.Background(),
		"INSERT INTO "+pgdb.DefaultLargeMessages+"_chunks (content, n, epoch, data) VALUES (999, 0, 0, 'x')"); err != nil {
		t.Fatal(err)
	}
	var results []chan error
	ids := map[int]uint64{}
	badAt := map[int]bool{100: true, 200: true}
	for i := range 301 {
		ch := make(chan error, 1)
		results = append(results, ch)
		switch i {
		case 100:
			b := &store.Batch{}
			b.AddQueue(store.Queue{ID: s.NewID(), Name: "bad\x00name", Address: "a"})
			s.Commit(b, true, func(err error) { ch <- err })
		case 200:
			s.w.enqueue(&unit{kind: unitChunk, chunk: chunkRecord{content: 999, n: 0, data: []byte("y")},
				done: func(err error) { ch <- err }})
		default:
			b, id := send(s, fmt.Sprint(i))
			ids[i] = id
			s.Commit(b, true, func(err error) { ch <- err })
		}
	}
	for i, ch := range results {
		err := <-ch
		if badAt[i] != (err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
		if !badAt[i] && !e.hasMessage(t, ids[i]) {
			t.Errorf("write %d confirmed but not stored", i)
		}
	}
	if s.Stats().Groups < 3 {
		t.Fatalf("stats %+v: the writes went in too few transactions to have been split", s.Stats())
	}
}

// TestDatabaseRestartMidStream stops the database in the middle of a
// stream of writes (a crash: pg_ctl stop -m immediate): no write is
// confirmed while it is down, the writer carries on once it is back, and
// every confirmed write is there.
func TestDatabaseRestartMidStream(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	e := leaseOn(t, url)
	s := e.open(t)
	type result struct {
		id  uint64
		err error
		at  time.Time
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, id := send(s, "x")
				ch := make(chan error, 1)
				s.Commit(b, true, func(err error) { ch <- err })
				err := <-ch
				mu.Lock()
				results = append(results, result{id, err, time.Now()})
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	c.Stop(t, "immediate")
	down := time.Now()
	// Writes sent while the database is down fail; only those in the
	// transaction that was in flight wait to learn its outcome.
	var probes []chan error
	for time.Since(down) < 1500*time.Millisecond {
		ch := make(chan error, 1)
		probes = append(probes, ch)
		b, _ := send(s, "probe")
		s.Commit(b, true, func(err error) { ch <- err })
		time.Sleep(100 * time.Millisecond)
	}
	up := time.Now()
	probeFailed := 0
	for _, ch := range probes {
		select {
		case err := <-ch:
			if err == nil {
				t.Errorf("a write sent while the database was down was confirmed before it came back")
			} else if errors.Is(err, ErrUnavailable) {
				probeFailed++
			}
		default:
		}
	}
	if probeFailed == 0 {
		t.Error("no write sent while the database was down failed with ErrUnavailable before it came back")
	}
	c.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		last := results[len(results)-1]
		mu.Unlock()
		if last.err == nil && last.at.After(up) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write confirmed within 30 s of the restart; last: %v", last.err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	var confirmed []uint64
	failures := 0
	for _, r := range results {
		if r.err == nil {
			confirmed = append(confirmed, r.id)
			// A confirmation a few milliseconds after the stop can
			// belong to a commit made before it.
			if r.at.After(down.Add(100*time.Millisecond)) && r.at.Before(up) {
				t.Errorf("write %d confirmed at %v, while the database was down (%v to %v)", r.id, r.at, down, up)
			}
		} else {
			failures++
		}
	}
	s.Close()
	s2 := e.open(t)
	st, err := s2.Load()
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]bool{}
	for _, m := range st.Messages {
		have[m.Message.ID] = true
	}
	for _, id := range confirmed {
		if !have[id] {
			t.Errorf("confirmed message %d is missing after the restart", id)
		}
	}
	t.Logf("%d writes confirmed, %d failed; %d messages in the store", len(confirmed), failures, len(st.Messages))
}

// TestFenceCoversPagesAndLargeBodies: the page store and the large bodies
// write through the same fenced writer, so after Fence a paged send is not
// confirmed, a body cannot be written or deleted, and nothing reaches the
// tables (issue 14's "fence everything").
func TestFenceCoversPagesAndLargeBodies(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	keep := writeBody(t, s, body(ChunkSize+1), ChunkSize)
	ps, err := s.Pager().Open("paged")
	if err != nil {
		t.Fatal(err)
	}
	chunks := e.chunks(t)
	s.Fence(errors.New("test fence"))

	b, _ := send(s, "paged")
	ch := make(chan error, 1)
	ps.Append(b.Ops[0].Message, []uint64{1}, true, func(err error) { ch <- err })
	if err := <-ch; !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a paged send after the fence: %v, want ErrFenced", err)
	}
	w, err := s.Large().Create()
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(body(3 * ChunkSize))
	if err := w.Commit(); err == nil && werr == nil {
		t.Fatal("a large body was written after the fence")
	}
	if err := s.Large().Delete(keep); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := e.count(t, "SELECT count(*) FROM "+pgdb.DefaultPageStore); n != 0 {
		t.Fatalf("%d paged rows written after the fence", n)
	}
	if n := e.chunks(t); n != chunks {
		t.Fatalf("chunks went from %d to %d after the fence", chunks, n)
	}
	if n := e.count(t, "SELECT count(*) FROM "+pgdb.DefaultLargeMessages+" WHERE id = $1", int64(keep)); n != 1 {
		t.Fatal("a body was deleted after the fence")
	}
}
