package journal

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hookFS is the OS file system with test hooks on fdatasync and writes of
// data files, for holding the writer at a chosen point while a test fences
// the journal. It does not offer direct I/O, so every frame is a WriteAt.
type hookFS struct {
	FS      // an interface, so that OSFS's OpenDirect is not promoted
	onSync  atomic.Pointer[func(name string)]
	onWrite atomic.Pointer[func(name string, off int64, n int)]
}

func (h *hookFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, fs: h, name: name}, nil
}

type hookFile struct {
	File
	fs   *hookFS
	name string
}

func (f *hookFile) Datasync() error {
	if fn := f.fs.onSync.Load(); fn != nil {
		(*fn)(f.name)
	}
	return f.File.Datasync()
}

func (f *hookFile) WriteAt(p []byte, off int64) (int, error) {
	if fn := f.fs.onWrite.Load(); fn != nil {
		(*fn)(f.name, off, len(p))
	}
	return f.File.WriteAt(p, off)
}

// syncGate makes the next fdatasync of a data file wait until it is
// opened, and reports when one is waiting.
type syncGate struct {
	armed   atomic.Bool
	waiting chan string
	open    chan struct{}
}

func newSyncGate(h *hookFS) *syncGate {
	g := &syncGate{waiting: make(chan string, 1), open: make(chan struct{})}
	fn := func(name string) {
		if !strings.Contains(name, ".tj") || !g.armed.CompareAndSwap(true, false) {
			return
		}
		g.waiting <- name
		<-g.open
	}
	h.onSync.Store(&fn)
	return g
}

// hold arms the gate and waits for a sync to be held at it.
func (g *syncGate) hold(t *testing.T, arm func()) {
	t.Helper()
	g.armed.Store(true)
	arm()
	select {
	case <-g.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("no fdatasync reached the gate")
	}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("a batch never completed")
		return nil
	}
}

// TestFenceDuringSync: a batch whose fdatasync is in progress when the
// fence falls must never be confirmed, although its bytes reach the disk.
func TestFenceDuringSync(t *testing.T) {
	h := &hookFS{FS: OSFS{}}
	o := testOptions(t.TempDir())
	o.FS = h
	j, _ := open(t, o)
	mustWrite(t, j, nil, add(1, 1, "before"))
	gate := newSyncGate(h)
	done := make(chan error, 1)
	gate.hold(t, func() { j.WriteAsync([]Op{add(2, 1, "in flight")}, true, func(err error) { done <- err }) })
	lost := errors.New("lock lost")
	j.Fence(lost)
	close(gate.open)
	if err := waitErr(t, done); !errors.Is(err, lost) {
		t.Fatalf("a batch synced across the fence completed with %v, want the fencing error", err)
	}
}

// TestNoWriteAfterFence: once Fence has returned, nothing reaches the
// files, not even a batch whose group was already being written: here the
// writer is held in the sync of a rollover, between deciding to write the
// batch and writing its frame into the next file.
func TestNoWriteAfterFence(t *testing.T) {
	h := &hookFS{FS: OSFS{}}
	o := testOptions(t.TempDir())
	o.FS, o.MinFiles = h, 3
	j, _ := open(t, o)
	big := strings.Repeat("x", 2500) // two do not fit in one 4 KiB file
	// Not durable: the file is left unsynced, so the rollover syncs it.
	if err := j.Write([]Op{add(1, 1, big)}, false); err != nil {
		t.Fatal(err)
	}
	settle(t, j) // ready files prepared, so the rollover does not wait for one
	var fenced atomic.Bool
	var late atomic.Int32
	onWrite := func(name string, off int64, n int) {
		if fenced.Load() {
			late.Add(1)
			t.Errorf("%d bytes written to %s at offset %d after Fence returned", n, name, off)
		}
	}
	h.onWrite.Store(&onWrite)
	gate := newSyncGate(h)
	done := make(chan error, 1)
	gate.hold(t, func() { j.WriteAsync([]Op{add(2, 1, big)}, true, func(err error) { done <- err }) })
	j.Fence(nil)
	fenced.Store(true)
	close(gate.open)
	if err := waitErr(t, done); !errors.Is(err, ErrFenced) {
		t.Fatalf("the batch held in the rollover completed with %v, want ErrFenced", err)
	}
	// A batch queued after the fence is refused too, and nothing else
	// (preparation, reclaim) writes meanwhile.
	if err := j.Write([]Op{add(3, 1, "after")}, true); !errors.Is(err, ErrFenced) {
		t.Fatalf("Write after Fence = %v", err)
	}
	if err := j.settle(); err != nil && !errors.Is(err, ErrFenced) {
		t.Fatal(err)
	}
	if late.Load() > 0 {
		t.Fatalf("%d writes after the fence", late.Load())
	}
}

// TestFenceWaitsForConfirmations: callbacks of a group run in order, and a
// fence that falls while one runs must not let a later one confirm its
// batch after Fence has returned. Fence therefore waits for the run.
func TestFenceWaitsForConfirmations(t *testing.T) {
	h := &hookFS{FS: OSFS{}}
	o := testOptions(t.TempDir())
	o.FS = h
	j, _ := open(t, o)
	// Hold the writer in a sync so that A and B queue up and share the
	// next group.
	gate := newSyncGate(h)
	first := make(chan error, 1)
	gate.hold(t, func() { j.WriteAsync([]Op{add(1, 1, "c")}, true, func(err error) { first <- err }) })
	var mu sync.Mutex
	var events []string
	note := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	inA, releaseA := make(chan struct{}), make(chan struct{})
	doneB := make(chan error, 1)
	j.WriteAsync([]Op{add(2, 1, "a")}, true, func(err error) {
		close(inA)
		<-releaseA // a slow callback (they must not block; this one only stalls)
	})
	j.WriteAsync([]Op{add(3, 1, "b")}, true, func(err error) {
		if err == nil {
			note("B confirmed")
		} else {
			note("B failed")
		}
		doneB <- err
	})
	close(gate.open)
	if err := waitErr(t, first); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inA:
	case <-time.After(10 * time.Second):
		t.Fatal("A's callback did not run")
	}
	fenceReturned := make(chan struct{})
	go func() {
		j.Fence(nil)
		note("Fence returned")
		close(fenceReturned)
	}()
	// Give Fence the chance to return early, which it must not take.
	select {
	case <-fenceReturned:
	case <-time.After(50 * time.Millisecond):
	}
	close(releaseA)
	waitErr(t, doneB)
	<-fenceReturned
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0] == "Fence returned" && events[1] == "B confirmed" {
		t.Fatalf("events %v: B was confirmed after Fence returned", events)
	}
}
