package store

import (
	"fmt"
	"sync"
)

// Fence is the one fencing point of a broker's storage. A live node of a
// shared-store pair that learns another node took the store over calls
// Fence once, and from the moment it returns nothing of this broker's
// storage is written or confirmed any more: not the journals, not the page
// files, not the large-message files, nor any store added later.
//
// Every component that writes to the store, or confirms that something it
// wrote is durable, does so inside a section: Enter, the write(2), rename,
// unlink or the run of confirmation callbacks, then Exit. Enter fails once
// the fence has fallen, and Fence waits for the sections in progress, so a
// write in flight when the fence falls is either confirmed before Fence
// returns or not confirmed at all. A section must therefore hold nothing
// but the I/O call or the callbacks it guards; an fdatasync, which only
// makes earlier writes durable, stays outside, so that a slow disk never
// holds the fence up.
//
// Components with a stop of their own (a journal's Fence) register it
// with OnFence; Fence calls it before waiting for the sections.
//
// A nil *Fence never fences: Enter always succeeds. Fence's methods are
// safe for concurrent use.
type Fence struct {
	mu     sync.Mutex
	idle   sync.Cond // signalled when active drops to zero after the fence
	err    error
	active int
	stops  []func(error)
}

// NewFence returns a fence that has not fallen. The zero Fence is ready to
// use too.
func NewFence() *Fence { return &Fence{} }

// Enter begins a section. It returns nil, and the caller must call Exit
// when the section ends, or, once the fence has fallen, an error wrapping
// ErrFenced and the cause, and the caller must neither write nor confirm.
func (f *Fence) Enter() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.active++
	return nil
}

// Exit ends a section begun by a successful Enter.
func (f *Fence) Exit() {
	if f == nil {
		return
	}
	f.mu.Lock()
	f.active--
	if f.active == 0 && f.err != nil {
		f.idle.Broadcast()
	}
	f.mu.Unlock()
}

// Err returns the fencing error (wrapping ErrFenced), or nil before the
// fence.
func (f *Fence) Err() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// OnFence registers stop, which Fence calls with the fencing error. If the
// fence has already fallen, stop runs at once.
func (f *Fence) OnFence(stop func(error)) {
	if f == nil {
		return
	}
	f.mu.Lock()
	err := f.err
	if err == nil {
		f.stops = append(f.stops, stop)
	}
	f.mu.Unlock()
	if err != nil {
		stop(err)
	}
}

// Fence drops the fence: every later Enter fails with an error wrapping
// ErrFenced and cause. It calls the registered stops, then waits until
// every section in progress has ended, and only then returns. Calling it
// again does nothing. It must not be called from inside a section (a
// confirmation callback), which it would wait for.
func (f *Fence) Fence(cause error) {
	if f == nil {
		return
	}
	f.mu.Lock()
	if f.err != nil {
		f.mu.Unlock()
		return
	}
	if cause == nil {
		f.err = ErrFenced
	} else {
		f.err = fmt.Errorf("%w: %w", ErrFenced, cause)
	}
	err, stops := f.err, f.stops
	f.stops = nil
	f.mu.Unlock()
	for _, stop := range stops {
		stop(err)
	}
	f.mu.Lock()
	if f.idle.L == nil {
		f.idle.L = &f.mu // a zero Fence is usable too
	}
	for f.active > 0 {
		f.idle.Wait()
	}
	f.mu.Unlock()
}
