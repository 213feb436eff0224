package store

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestFenceStopsSections(t *testing.T) {
	f := NewFence()
	if err := f.Enter(); err != nil {
		t.Fatalf("Enter before the fence: %v", err)
	}
	f.Exit()
	var stopped atomic.Pointer[error]
	f.OnFence(func(err error) { stopped.Store(&err) })
	cause := errors.New("lock lost")
	f.Fence(cause)
	if err := f.Enter(); !errors.Is(err, ErrFenced) || !errors.Is(err, cause) {
		t.Fatalf("Enter after the fence = %v, want ErrFenced wrapping the cause", err)
	}
	if err := f.Err(); !errors.Is(err, cause) {
		t.Fatalf("Err = %v", err)
	}
	if p := stopped.Load(); p == nil || !errors.Is(*p, cause) {
		t.Fatal("the registered stop was not called with the fencing error")
	}
	// A stop registered after the fence runs at once.
	late := false
	f.OnFence(func(error) { late = true })
	if !late {
		t.Fatal("a stop registered after the fence did not run")
	}
	f.Fence(errors.New("again")) // no-op
	if err := f.Err(); !errors.Is(err, cause) {
		t.Fatalf("a second Fence changed the error to %v", err)
	}
}

// TestFenceWaitsForSections is the promise every store relies on: a
// section (a write or a confirmation) in progress when the fence falls
// ends before Fence returns, so nothing is confirmed after it.
func TestFenceWaitsForSections(t *testing.T) {
	var f Fence // the zero value works
	if err := f.Enter(); err != nil {
		t.Fatal(err)
	}
	var exited, returned atomic.Int64
	var seq atomic.Int64
	fenced := make(chan struct{})
	go func() {
		f.Fence(nil)
		returned.Store(seq.Add(1))
		close(fenced)
	}()
	// Fence has fallen for new sections while the old one runs.
	deadline := time.Now().Add(10 * time.Second)
	for f.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the fence did not fall")
		}
		time.Sleep(time.Millisecond)
	}
	if err := f.Enter(); !errors.Is(err, ErrFenced) {
		t.Fatalf("Enter while Fence waits = %v, want ErrFenced", err)
	}
	select {
	case <-fenced:
		t.Fatal("Fence returned while a section was in progress")
	case <-time.After(20 * time.Millisecond):
	}
	exited.Store(seq.Add(1))
	f.Exit()
	<-fenced
	if exited.Load() > returned.Load() {
		t.Fatal("Fence returned before the section in progress ended")
	}
}

func TestNilFence(t *testing.T) {
	var f *Fence
	if err := f.Enter(); err != nil {
		t.Fatal(err)
	}
	f.Exit()
	f.OnFence(func(error) { t.Fatal("a nil fence called a stop") })
	f.Fence(nil)
	if f.Err() != nil {
		t.Fatal("a nil fence fell")
	}
}
