package dblease

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"tandem/internal/ha"
	"tandem/internal/pgdb"
	"tandem/internal/store/pgstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testLog writes a node's log lines to the test's log.
type testLog struct {
	t    *testing.T
	name string
}

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s: %s", w.name, p)
	return len(p), nil
}

// newDB returns the URL of a fresh database.
func newDB(t *testing.T) string {
	t.Helper()
	return pgtest.Shared(t).NewDatabase(t)
}

// options returns a node's options with short timings for tests: a 4 s
// lease renewed every 500 ms, polled every 50 ms. (A shorter lease fails
// on a loaded machine: with the race detector and a dozen runnable
// processes on two cores, a takeover's round trips took over a second.)
func options(t *testing.T, url string, role ha.Role, name string) Options {
	t.Helper()
	cfg, err := pgdb.ParseURL(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Conn: cfg, Role: role, Name: name, Lease: 4 * time.Second, Renew: 500 * time.Millisecond, Poll: 50 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(testLog{t, name}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		retryMin: 50 * time.Millisecond, retryMax: 200 * time.Millisecond,
	}
}

// waitResult is what a Wait running in the background returned, and when.
type waitResult struct {
	live *Live
	err  error
	at   time.Time
}

// waitAsync runs Wait on its own goroutine until ctx ends.
func waitAsync(ctx context.Context, o Options) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		l, err := Wait(ctx, o)
		ch <- waitResult{l, err, time.Now()}
	}()
	return ch
}

// mustLive waits for a background Wait to return a Live.
func mustLive(t *testing.T, ch <-chan waitResult, within time.Duration) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Wait: %v", r.err)
		}
		t.Cleanup(func() { r.live.Stop() })
		return r
	case <-time.After(within):
		t.Fatalf("no Live within %v", within)
		return waitResult{}
	}
}

// notLive checks that a background Wait has not returned yet.
func notLive(t *testing.T, ch <-chan waitResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: Wait returned (%v, %v)", what, r.live, r.err)
	default:
	}
}

// stall is a renew hook that records when renewals are sent and, once
// stalled, blocks them as a stopped process would.
type stall struct {
	mu       sync.Mutex
	stalled  bool
	gate     chan struct{}
	lastSent time.Time
}

func newStall(t *testing.T) *stall {
	s := &stall{gate: make(chan struct{})}
	t.Cleanup(s.resume)
	return s
}

func (s *stall) hook(ctx context.Context) {
	s.mu.Lock()
	if s.stalled {
		g := s.gate
		s.mu.Unlock()
		select {
		case <-g:
		case <-ctx.Done():
		}
		return
	}
	s.lastSent = time.Now()
	s.mu.Unlock()
}

// stop blocks every later renewal and returns when the last one was sent.
func (s *stall) stop() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = true
	return s.lastSent
}

func (s *stall) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled {
		s.stalled = false
		close(s.gate)
		s.gate = make(chan struct{})
	}
}

// fenceRecorder records when and why a node was fenced.
type fenceRecorder struct {
	mu    sync.Mutex
	at    time.Time
	cause error
}

func (f *fenceRecorder) fence(cause error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at.IsZero() {
		f.at, f.cause = time.Now(), cause
	}
}

func (f *fenceRecorder) when() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at
}

// skewedClock is the system clock off by a fixed amount, as a broker whose
// clock is wrong sees time.
type skewedClock struct{ by time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.by) }

// readRow reads the lease row of url.
func readRow(t *testing.T, url string) Row {
	t.Helper()
	conn := pgtest.Conn(t, url)
	r, err := Read(context.Background(), conn, pgdb.Tables{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
