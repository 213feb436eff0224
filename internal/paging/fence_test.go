package paging

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/store"
)

// dirState is every file under dir with its size.
func dirState(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			out[path] = fi.Size()
		} else {
			out[path+"/"] = 0
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameState(t *testing.T, before, after map[string]int64) {
	t.Helper()
	for p, n := range after {
		if m, ok := before[p]; !ok || m != n {
			t.Errorf("%s changed after the fence: %d bytes, was %d (present before: %v)", p, n, m, ok)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s was removed after the fence", p)
		}
	}
}

// heldSync holds the next fdatasync of s until released.
type heldSync struct {
	armed   atomic.Bool
	waiting chan struct{}
	release chan struct{}
}

func holdSyncs(s *PageStore) *heldSync {
	h := &heldSync{waiting: make(chan struct{}, 1), release: make(chan struct{})}
	s.beforeSync = func() {
		if h.armed.CompareAndSwap(true, false) {
			h.waiting <- struct{}{}
			<-h.release
		}
	}
	return h
}

func (h *heldSync) hold(t *testing.T, start func()) {
	t.Helper()
	h.armed.Store(true)
	start()
	select {
	case <-h.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("no fdatasync was held")
	}
}

func appendAsync(s *PageStore, i int) <-chan error {
	ch := make(chan error, 1)
	s.Append(testMessage(i), []uint64{1}, true, func(err error) { ch <- err })
	return ch
}

func await(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("an append never completed")
		return nil
	}
}

// TestFencedPageStoreConfirmsNothing covers the three ways a page store
// could confirm or write across the fence: an append whose sync is in
// flight when the fence falls, an append accepted before the fence and
// written after it, and an append made after it.
func TestFencedPageStoreConfirmsNothing(t *testing.T) {
	dir := t.TempDir()
	fence := store.NewFence()
	// One page: the only fdatasync of a round is the one after its write.
	s, err := openPageStore(dir, 1<<20, true, fence)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const confirmed = 4
	for i := range confirmed {
		appendWait(t, s, testMessage(i), []uint64{1})
	}
	held := holdSyncs(s)
	var inFlight, queued <-chan error
	held.hold(t, func() { inFlight = appendAsync(s, confirmed) })
	// Accepted while the writer is busy; written, if at all, after the fence.
	queued = appendAsync(s, confirmed+1)
	fence.Fence(errors.New("lock lost"))
	before := dirState(t, dir)
	close(held.release)
	if err := await(t, inFlight); !errors.Is(err, store.ErrFenced) {
		t.Errorf("append synced across the fence completed with %v, want ErrFenced", err)
	}
	if err := await(t, queued); !errors.Is(err, store.ErrFenced) {
		t.Errorf("append queued before the fence completed with %v, want ErrFenced", err)
	}
	if err := await(t, appendAsync(s, confirmed+2)); !errors.Is(err, store.ErrFenced) {
		t.Errorf("append after the fence completed with %v, want ErrFenced", err)
	}
	if got := readAll(t, s, s.Start()); len(got) != confirmed {
		t.Errorf("%d records readable, want the %d confirmed before the fence", len(got), confirmed)
	}
	s.Close()
	sameState(t, before, dirState(t, dir))
}

// TestFencedPageStoreDeletesNothing: consumed pages stay once the fence
// has fallen; the next live node releases them.
func TestFencedPageStoreDeletesNothing(t *testing.T) {
	dir := t.TempDir()
	fence := store.NewFence()
	s, err := openPageStore(dir, 300, true, fence) // a record or two per page
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 6 {
		appendWait(t, s, testMessage(i), []uint64{1})
	}
	if s.End().Page < 2 {
		t.Fatalf("only %d pages written; the test needs pages to release", s.End().Page)
	}
	fence.Fence(nil)
	before := dirState(t, dir)
	if err := s.Release(s.End()); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Release after the fence = %v, want ErrFenced", err)
	}
	sameState(t, before, dirState(t, dir))
}

// TestFencedPagerCreatesNothing: a pager whose fence fell opens no new
// address directory.
func TestFencedPagerCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	fence := store.NewFence()
	p, err := New(Options{Dir: dir, Fence: fence})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Open("before"); err != nil {
		t.Fatal(err)
	}
	fence.Fence(nil)
	before := dirState(t, dir)
	if _, err := p.Open("after"); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Open after the fence = %v, want ErrFenced", err)
	}
	sameState(t, before, dirState(t, dir))
}
