package lockfile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// promptly bounds how long a woken or cancelled waiter may take to return.
// The real latencies are milliseconds and are logged; this is only the
// failure threshold, generous for a loaded 2-core CI machine.
const promptly = time.Second

func lockPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "live.lock")
}

// mustOpen opens a Lock and closes it when the test ends.
func mustOpen(t *testing.T, path string) *Lock {
	t.Helper()
	l, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// startLock runs l.Lock(ctx) in a goroutine and returns its result channel.
func startLock(ctx context.Context, l *Lock) <-chan error {
	res := make(chan error, 1)
	go func() { res <- l.Lock(ctx) }()
	return res
}

// await waits up to limit for a result of startLock and returns it with how
// long it took.
func await(t *testing.T, res <-chan error, limit time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-res:
		return time.Since(start), err
	case <-time.After(limit):
		t.Fatalf("Lock did not return within %v", limit)
		return 0, nil
	}
}

// eventually polls cond every millisecond until it holds or the deadline
// passes. It is the only way these tests wait for something to happen.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOpenCreatesFileWithoutLocking(t *testing.T) {
	path := lockPath(t)
	a := mustOpen(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("lock file not created: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&^0o644 != 0 {
		t.Errorf("lock file mode %v, want a regular file with at most 0644", fi.Mode())
	}
	if a.Held() {
		t.Error("Held() after Open, want false")
	}
	if a.Path() != path {
		t.Errorf("Path() = %q, want %q", a.Path(), path)
	}
	// Nobody holds it: another Lock can take it.
	if err := mustOpen(t, path).TryLock(); err != nil {
		t.Errorf("TryLock after a bare Open: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing", "live.lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open in a missing directory: %v, want fs.ErrNotExist", err)
	}
	for _, r := range [][2]int64{{-1, 1}, {0, -1}, {1, 1<<63 - 1}} {
		if _, err := OpenRange(filepath.Join(dir, "x.lock"), r[0], r[1]); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("OpenRange(%d, %d): %v, want fs.ErrInvalid", r[0], r[1], err)
		}
	}
}

func TestTryLockConflict(t *testing.T) {
	path := lockPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	if err := a.TryLock(); err != nil {
		t.Fatalf("a.TryLock: %v", err)
	}
	if err := a.TryLock(); err != nil {
		t.Errorf("a.TryLock again while holding: %v, want nil", err)
	}
	if err := b.TryLock(); !errors.Is(err, ErrLocked) {
		t.Fatalf("b.TryLock while a holds: %v, want ErrLocked", err)
	}
	if !a.Held() || b.Held() {
		t.Errorf("Held: a=%v b=%v, want true false", a.Held(), b.Held())
	}
	if err := a.Unlock(); err != nil {
		t.Fatalf("a.Unlock: %v", err)
	}
	if err := a.Unlock(); err != nil {
		t.Errorf("a.Unlock while not holding: %v, want nil", err)
	}
	if err := b.TryLock(); err != nil {
		t.Fatalf("b.TryLock after a.Unlock: %v", err)
	}
	if err := a.TryLock(); !errors.Is(err, ErrLocked) {
		t.Errorf("a.TryLock while b holds: %v, want ErrLocked", err)
	}
}

func TestLockWakesWhenHolderReleases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release func(*Lock) error
	}{
		{"Unlock", (*Lock).Unlock},
		{"Close", (*Lock).Close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := lockPath(t)
			a, b := mustOpen(t, path), mustOpen(t, path)
			if err := a.TryLock(); err != nil {
				t.Fatal(err)
			}
			res := startLock(context.Background(), b)
			waitBlocked(t, b)
			select {
			case err := <-res:
				t.Fatalf("Lock returned %v while the lock was held", err)
			default:
			}
			start := time.Now()
			if err := tc.release(a); err != nil {
				t.Fatal(err)
			}
			_, err := await(t, res, promptly)
			if err != nil {
				t.Fatalf("b.Lock: %v", err)
			}
			t.Logf("waiter woke %v after %s", time.Since(start), tc.name)
			if !b.Held() {
				t.Error("b.Held() = false after Lock returned nil")
			}
			if err := b.Verify(); err != nil {
				t.Errorf("b.Verify: %v", err)
			}
		})
	}
}

func TestLockReturnsAtOnceWhenFreeOrHeld(t *testing.T) {
	a := mustOpen(t, lockPath(t))
	ctx := context.Background()
	if err := a.Lock(ctx); err != nil {
		t.Fatalf("Lock on a free file: %v", err)
	}
	if err := a.Lock(ctx); err != nil {
		t.Fatalf("Lock while already holding: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	b := mustOpen(t, a.Path())
	if err := b.Lock(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a done context: %v, want context.Canceled", err)
	}
}

func TestLockCancellation(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stop ends the wait and returns the error Lock must return.
		stop func(cancel context.CancelFunc, b *Lock) error
	}{
		{"cancel", func(cancel context.CancelFunc, _ *Lock) error { cancel(); return context.Canceled }},
		{"Close", func(_ context.CancelFunc, b *Lock) error { b.Close(); return ErrClosed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := lockPath(t)
			a, b := mustOpen(t, path), mustOpen(t, path)
			if err := a.TryLock(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := startLock(ctx, b)
			waitBlocked(t, b)
			start := time.Now()
			want := tc.stop(cancel, b)
			_, err := await(t, res, promptly)
			took := time.Since(start)
			if !errors.Is(err, want) {
				t.Fatalf("Lock after %s: %v, want %v", tc.name, err, want)
			}
			t.Logf("Lock returned %v after %s", took, tc.name)
			if b.Held() {
				t.Error("b.Held() = true after a cancelled Lock")
			}
			// The waiter must not have taken the lock behind our back,
			// neither now nor once a releases it.
			if err := a.Verify(); err != nil {
				t.Errorf("a.Verify after the cancelled wait: %v", err)
			}
			if err := a.Unlock(); err != nil {
				t.Fatal(err)
			}
			c := mustOpen(t, path)
			if err := c.TryLock(); err != nil {
				t.Fatalf("third Lock after a released: %v; the cancelled waiter kept the lock", err)
			}
			if tc.name == "cancel" {
				// b stays usable after a cancelled wait.
				if err := c.Unlock(); err != nil {
					t.Fatal(err)
				}
				if err := b.TryLock(); err != nil {
					t.Errorf("b.TryLock after its cancelled Lock: %v", err)
				}
			}
		})
	}
}

func TestLockDeadline(t *testing.T) {
	path := lockPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	took, err := await(t, startLock(ctx, b), promptly+50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with a 50ms deadline: %v, want context.DeadlineExceeded", err)
	}
	t.Logf("Lock with a 50ms deadline returned after %v", took)
}

func TestConcurrentAcquisitionIsBusy(t *testing.T) {
	path := lockPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := startLock(ctx, b)
	waitBlocked(t, b)
	if err := b.TryLock(); !errors.Is(err, ErrBusy) {
		t.Errorf("TryLock during a blocked Lock on the same Lock: %v, want ErrBusy", err)
	}
	if err := b.Verify(); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Verify during a blocked Lock: %v, want ErrNotHeld", err)
	}
	cancel()
	if _, err := await(t, res, promptly); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock: %v, want context.Canceled", err)
	}
}

func TestClosedLock(t *testing.T) {
	path := lockPath(t)
	a := mustOpen(t, path)
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if a.Held() {
		t.Error("Held() after Close")
	}
	if err := a.TryLock(); !errors.Is(err, ErrClosed) {
		t.Errorf("TryLock after Close: %v, want ErrClosed", err)
	}
	if err := a.Lock(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Lock after Close: %v, want ErrClosed", err)
	}
	if err := a.Verify(); !errors.Is(err, ErrClosed) {
		t.Errorf("Verify after Close: %v, want ErrClosed", err)
	}
	if err := a.Unlock(); err != nil {
		t.Errorf("Unlock after Close: %v, want nil", err)
	}
	// Close released the lock.
	if err := mustOpen(t, path).TryLock(); err != nil {
		t.Errorf("TryLock after the holder closed: %v", err)
	}
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		// disturb changes the world after a has taken the lock on path.
		disturb func(t *testing.T, path string)
		lost    bool
	}{
		{"untouched", func(*testing.T, string) {}, false},
		{"content rewritten", func(t *testing.T, path string) {
			// Writing the file through another descriptor and closing it
			// is what the state file's readers do; it must not matter.
			if err := os.WriteFile(path, []byte("L"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"deleted and recreated", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"replaced by rename", func(t *testing.T, path string) {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := lockPath(t)
			a := mustOpen(t, path)
			if err := a.Verify(); !errors.Is(err, ErrNotHeld) {
				t.Errorf("Verify before locking: %v, want ErrNotHeld", err)
			}
			if err := a.TryLock(); err != nil {
				t.Fatal(err)
			}
			tc.disturb(t, path)
			err := a.Verify()
			if tc.lost != errors.Is(err, ErrLost) || (!tc.lost && err != nil) {
				t.Fatalf("Verify: %v, want lost=%v", err, tc.lost)
			}
			t.Logf("Verify: %v", err)
			if tc.lost {
				// The file now at path is unlocked: a second node would
				// take it, which is exactly why Verify must say "lost".
				if err := mustOpen(t, path).TryLock(); err != nil {
					t.Errorf("TryLock on the new file: %v", err)
				}
			}
		})
	}
}

func TestAcquireFollowsReplacedFile(t *testing.T) {
	path := lockPath(t)
	a := mustOpen(t, path)
	old := a.File()
	// Replace the file between Open and TryLock: locking the old inode
	// would protect nothing.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.TryLock(); err != nil {
		t.Fatalf("TryLock after the file was replaced: %v", err)
	}
	if a.File() == old {
		t.Error("File() still returns the replaced file")
	}
	if err := a.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := mustOpen(t, path).TryLock(); !errors.Is(err, ErrLocked) {
		t.Errorf("TryLock on the current file: %v, want ErrLocked (the lock must be on it)", err)
	}
	buf := make([]byte, 3)
	if _, err := a.File().ReadAt(buf, 0); err != nil || string(buf) != "new" {
		t.Errorf("File() reads %q, %v; want the new content", buf, err)
	}
}

// TestCancelRaces cancels waits at arbitrary moments — before the waiter
// reaches the kernel, while it sleeps there, and at the same time as the
// holder releases — and checks the one invariant that matters: Lock
// returns nil exactly when the Lock holds the lock afterwards.
func TestCancelRaces(t *testing.T) {
	const rounds = 200
	path := lockPath(t)
	a, b, c := mustOpen(t, path), mustOpen(t, path), mustOpen(t, path)
	granted := 0
	for i := range rounds {
		if err := a.TryLock(); err != nil {
			t.Fatalf("round %d: a.TryLock: %v", i, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		res := startLock(ctx, b)
		switch i % 4 {
		case 0: // cancel at once, likely before the waiter sleeps
		case 1: // let the waiter run a little
			for range i {
				runtime.Gosched()
			}
		case 2: // release and cancel together
			go a.Unlock()
		case 3: // release first, then cancel: usually granted
			a.Unlock()
		}
		cancel()
		_, err := await(t, res, promptly)
		a.Unlock()
		if err == nil {
			granted++
			if !b.Held() {
				t.Fatalf("round %d: Lock returned nil but Held() is false", i)
			}
			if err := b.Verify(); err != nil {
				t.Fatalf("round %d: Lock returned nil but Verify: %v", i, err)
			}
			if err := b.Unlock(); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: Lock: %v, want nil or context.Canceled", i, err)
		}
		// Whatever happened, nobody holds the lock now.
		if err := c.TryLock(); err != nil {
			t.Fatalf("round %d: the lock is still held after the wait ended: %v", i, err)
		}
		if err := c.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d raced waits were granted, the rest cancelled cleanly", granted, rounds)
}

func TestHeldElsewhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if h, err := b.HeldElsewhere(); err != nil || h {
		t.Fatalf("HeldElsewhere of a free lock = %v, %v", h, err)
	}
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	if h, err := b.HeldElsewhere(); err != nil || !h {
		t.Fatalf("HeldElsewhere while another description holds it = %v, %v", h, err)
	}
	if h, err := a.HeldElsewhere(); err != nil || h {
		t.Fatalf("HeldElsewhere of the holder itself = %v, %v", h, err)
	}
	// Looking never takes the lock: the holder-to-be still gets it.
	a.Unlock()
	if _, err := b.HeldElsewhere(); err != nil {
		t.Fatal(err)
	}
	if err := a.TryLock(); err != nil {
		t.Fatalf("TryLock after another description looked: %v", err)
	}
}
