package lockfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
)

// ErrLocked is returned by TryLock when another open file description — in
// this process or any other — holds a conflicting lock.
var ErrLocked = errors.New("lockfile: locked by another holder")

// ErrLost is returned by Verify when the lock this Lock believes it holds is
// no longer held in the kernel, or no longer protects the file the path
// names. The wrapping error says which.
var ErrLost = errors.New("lockfile: lock lost")

// ErrClosed is returned by operations on a Lock after Close, and by a Lock
// call that Close cancelled.
var ErrClosed = errors.New("lockfile: lock closed")

// ErrNotHeld is returned by Verify on a Lock that does not hold its lock.
var ErrNotHeld = errors.New("lockfile: lock not held")

// ErrBusy is returned when TryLock or Lock is called while another
// acquisition on the same Lock is still in progress.
var ErrBusy = errors.New("lockfile: another acquisition on this lock is in progress")

// maxReopens bounds how often one acquisition follows a lock file that keeps
// being replaced under it, so that a misbehaving script cannot livelock us.
const maxReopens = 8

// span is the locked byte range; length 0 means "from start to the end of
// the file, however far it grows", as in fcntl.
type span struct {
	start, length int64
}

// Lock is one exclusive advisory lock on a file, or on a byte range of it.
// Each Lock has its own open file description, so two Locks on the same
// path conflict even within one process.
//
// All methods are safe for concurrent use. Close may be called while Lock
// is blocked, and cancels it.
type Lock struct {
	path string
	span span
	held atomic.Bool

	// mu guards the fields below. It is held across Verify's system calls
	// so that Close or Unlock cannot pull the descriptor from under them,
	// but never across a blocking wait.
	mu sync.Mutex
	// f is the open file description the lock belongs to. It is replaced
	// only by an acquisition that found the path naming a new file, and
	// only while no lock is held on it.
	f *os.File
	// fi identifies f's file, for comparing with what the path names.
	fi     os.FileInfo
	closed bool
	// busy is set while an acquisition runs; stop cancels it if it is a
	// blocking Lock, and idle is closed when it ends.
	busy bool
	stop context.CancelFunc
	idle chan struct{}
}

// Open opens the lock file at path, creating it with mode 0644 if needed,
// for locking the whole file. It does not lock.
func Open(path string) (*Lock, error) {
	return OpenRange(path, 0, 0)
}

// OpenRange is like Open but the Lock covers only length bytes from offset.
// A length of 0 means from offset to the end of the file, however far it
// grows. Locks on disjoint ranges of one file do not conflict, which lets
// one file carry several independent locks, as Artemis' server.lock does.
// Byte ranges may lie beyond the end of the file; the file is never
// extended by locking.
func OpenRange(path string, offset, length int64) (*Lock, error) {
	sp := span{start: offset, length: length}
	if offset < 0 || length < 0 || offset > maxInt64-length {
		return nil, fmt.Errorf("lockfile: %s: byte range at %d of length %d: %w", path, offset, length, fs.ErrInvalid)
	}
	if err := checkSpan(sp); err != nil {
		return nil, fmt.Errorf("lockfile: %s: byte range at %d of length %d: %w", path, offset, length, err)
	}
	f, fi, err := openFile(path)
	if err != nil {
		return nil, err
	}
	return &Lock{path: path, span: sp, f: f, fi: fi}, nil
}

// maxInt64 bounds offset+length, which fcntl takes as a signed 64-bit end.
const maxInt64 = 1<<63 - 1

// openFile opens path read-write, creating it, and returns its identity.
// O_CLOEXEC (which os.OpenFile always sets) matters: a child that inherited
// the descriptor would keep the lock alive after our death.
func openFile(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("lockfile: open lock file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("lockfile: open lock file: %w", err)
	}
	return f, fi, nil
}

// Path returns the path the Lock was opened with.
func (l *Lock) Path() string { return l.path }

// Held reports whether this Lock believes it holds its lock: a successful
// TryLock or Lock that was not followed by Unlock or Close. Only Verify
// asks the kernel.
func (l *Lock) Held() bool { return l.held.Load() }

// File returns the open file the lock is on, for reading and writing its
// content. The caller must not close it: closing it releases the lock. The
// file changes only when an acquisition found the lock file replaced and
// reopened the path, so fetch it again after TryLock or Lock.
func (l *Lock) File() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}

// TryLock takes the lock exclusively without blocking. It returns nil if
// the lock is now held by this Lock (also when it already was), and an
// error wrapping ErrLocked if another open file description holds a
// conflicting lock.
func (l *Lock) TryLock() error {
	return l.acquire(context.Background(), false)
}

// Lock takes the lock exclusively, blocking until it is granted or ctx is
// done. On Linux the wait sleeps in the kernel (F_OFD_SETLKW), so it ends
// the instant the holder unlocks, closes or dies; see the package comment
// for how the wait is cancelled. It returns ctx.Err() when ctx ends the
// wait and ErrClosed when Close does; in both cases the lock is not held.
func (l *Lock) Lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.acquire(ctx, true)
}

// acquire implements TryLock (wait false) and Lock (wait true, until ctx
// ends).
func (l *Lock) acquire(ctx context.Context, wait bool) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.busy:
		l.mu.Unlock()
		return ErrBusy
	case l.held.Load():
		l.mu.Unlock()
		return nil
	}
	wctx := ctx
	if wait {
		wctx, l.stop = context.WithCancel(ctx)
	}
	l.busy = true
	l.idle = make(chan struct{})
	f := l.f
	l.mu.Unlock()

	err := l.acquireLoop(wctx, wait, f)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
	l.busy = false
	close(l.idle)
	if err == nil && l.closed {
		// Close raced with a successful acquisition; Close is waiting for
		// us and will close the file, which releases the lock anyway, but
		// say so explicitly rather than leave a window where it is held.
		_ = unlock(l.f, l.span)
		return ErrClosed
	}
	if errors.Is(err, errCanceled) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrClosed
	}
	if err == nil {
		l.held.Store(true)
	}
	return err
}

// acquireLoop takes the lock on f and checks that f is still the file the
// path names. If it is not — the lock file was deleted or replaced between
// Open and now — the lock would protect nothing, so it is released, the path
// is reopened and the acquisition starts over.
func (l *Lock) acquireLoop(ctx context.Context, wait bool, f *os.File) error {
	for reopens := 0; ; reopens++ {
		err := tryLock(f, l.span)
		if errors.Is(err, ErrLocked) && wait {
			err = waitLock(ctx, f, l.span)
		}
		if err != nil {
			if errors.Is(err, ErrLocked) {
				return fmt.Errorf("lockfile: %s: %w", l.path, err)
			}
			return err
		}
		if l.namesFile(f) {
			return nil
		}
		if err := unlock(f, l.span); err != nil {
			return err
		}
		if reopens == maxReopens {
			return fmt.Errorf("lockfile: %s: the lock file was replaced %d times while being locked; is something deleting files in this directory?", l.path, reopens)
		}
		nf, nfi, err := openFile(l.path)
		if err != nil {
			return err
		}
		l.mu.Lock()
		old := l.f
		l.f, l.fi = nf, nfi
		l.mu.Unlock()
		old.Close()
		f = nf
	}
}

// namesFile reports whether l.path currently names the file open as f.
func (l *Lock) namesFile(f *os.File) bool {
	pfi, err := os.Stat(l.path)
	if err != nil {
		return false
	}
	ffi, err := f.Stat()
	return err == nil && os.SameFile(pfi, ffi)
}

// HeldElsewhere reports whether another open file description holds a
// lock conflicting with this Lock, without taking it: on Linux a query
// (F_OFD_GETLK) that never changes lock state, so a process that only
// looks cannot make the holder-to-be fail its TryLock. A Lock that holds
// its lock itself reports false.
func (l *Lock) HeldElsewhere() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, ErrClosed
	}
	if l.held.Load() {
		return false, nil
	}
	return held(l.f, l.span)
}

// Unlock releases the lock. Unlocking a Lock that does not hold its lock is
// a no-op. The file stays open, so the Lock can be taken again.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held.Load() {
		return nil
	}
	// Whatever unlock reports, this Lock no longer claims the lock: a
	// failed unlock leaves the kernel state unknown, and Verify is the
	// way to learn it.
	l.held.Store(false)
	return unlock(l.f, l.span)
}

// Verify checks with the kernel that this Lock still holds its lock and
// that the path still names the locked file. It returns nil if so, an error
// wrapping ErrLost with the reason if the lock is gone or protects a file
// that was deleted or replaced, ErrNotHeld or ErrClosed if the Lock does
// not claim the lock, and another error if the check itself failed (for
// example an I/O error on a network file system). A caller guarding a
// shared store must treat every non-nil result as a lost lock.
func (l *Lock) Verify() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if !l.held.Load() {
		return fmt.Errorf("lockfile: verify %s: %w", l.path, ErrNotHeld)
	}
	// A separate description, opened by path: it sees what another node
	// opening the path would see.
	other, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s was deleted; the lock protects a file nobody else can open", ErrLost, l.path)
	}
	if err != nil {
		return fmt.Errorf("lockfile: verify: %w", err)
	}
	defer other.Close()
	ofi, err := other.Stat()
	if err != nil {
		return fmt.Errorf("lockfile: verify: %w", err)
	}
	if !os.SameFile(l.fi, ofi) {
		return fmt.Errorf("%w: %s now names a different file than the one locked (deleted and recreated, or replaced)", ErrLost, l.path)
	}
	lost, err := probe(l.f, other, l.span)
	if err != nil {
		return fmt.Errorf("lockfile: verify: %w", err)
	}
	if lost != "" {
		return fmt.Errorf("%w: %s: %s", ErrLost, l.path, lost)
	}
	return nil
}

// Close releases the lock, if held, and closes the file. A Lock blocked in
// Lock is cancelled first. Closing twice is a no-op.
func (l *Lock) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	busy, stop, idle := l.busy, l.stop, l.idle
	l.mu.Unlock()
	if busy {
		if stop != nil {
			stop()
		}
		<-idle
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held.Store(false)
	// Closing the only descriptor of the description releases the lock
	// in the kernel; no explicit unlock is needed.
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("lockfile: close %s: %w", l.path, err)
	}
	return nil
}

// errCanceled is what waitLock returns when its context ended the wait;
// acquire turns it into ctx.Err() or ErrClosed.
var errCanceled = errors.New("lockfile: wait canceled")

// withFD runs fn with f's descriptor. SyscallConn keeps the descriptor
// valid for the duration and, unlike Fd, leaves the file's mode alone.
func withFD(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}
