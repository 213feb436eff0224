//go:build linux

package lockfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The helper process: the test binary re-executed with helperEnv set runs
// holdLock instead of the tests, so a lock can be held by another process
// and that process killed with SIGKILL.
const (
	helperEnv     = "TANDEM_LOCKFILE_HELPER"
	helperPathEnv = "TANDEM_LOCKFILE_PATH"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(holdLock(mode, os.Getenv(helperPathEnv)))
	}
	os.Exit(m.Run())
}

// holdLock takes the lock on path, optionally opens and closes another
// descriptor of the file (mode "touch"), reports "locked" on stdout and
// then holds the lock until stdin closes or the process is killed.
func holdLock(mode, path string) int {
	l, err := Open(path)
	if err == nil {
		err = l.TryLock()
	}
	if err == nil && mode == "touch" {
		// With classic POSIX locks this would release the lock.
		var f *os.File
		if f, err = os.Open(path); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startHolder starts a helper process holding the lock on path and returns
// once it reports the lock is held. The process is killed at the end of the
// test if it is still running.
func startHolder(t *testing.T, path, mode string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "locked" {
			t.Fatalf("helper process said %q instead of locked", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("helper process did not report the lock within 10s")
	}
	return cmd
}

// waitBlocked waits until l's Lock call is asleep in the kernel, shown in
// /proc/locks as a blocked request ("->") on l's inode. Without this a test
// could release the lock before the waiter even asked, and prove nothing.
func waitBlocked(t *testing.T, l *Lock) {
	t.Helper()
	eventually(t, 5*time.Second, "the waiter blocks in F_OFD_SETLKW", func() bool {
		return blockedRequests(t, l.Path()) > 0
	})
}

func TestChildHolderKilledWakesWaiter(t *testing.T) {
	const rounds = 5
	var took []time.Duration
	for range rounds {
		path := lockPath(t)
		holder := startHolder(t, path, "hold")
		b := mustOpen(t, path)
		if err := b.TryLock(); !errors.Is(err, ErrLocked) {
			t.Fatalf("TryLock while a child process holds the lock: %v, want ErrLocked", err)
		}
		res := startLock(context.Background(), b)
		waitBlocked(t, b)
		start := time.Now()
		if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_, err := await(t, res, 2*time.Second)
		took = append(took, time.Since(start))
		if err != nil {
			t.Fatalf("Lock after the holder was killed: %v", err)
		}
		if err := b.Verify(); err != nil {
			t.Errorf("Verify after taking over: %v", err)
		}
	}
	slices.Sort(took)
	t.Logf("waiter woke after SIGKILL of the holder: min %v, median %v, max %v over %d rounds",
		took[0], took[len(took)/2], took[len(took)-1], rounds)
}

func TestClosingAnotherDescriptorKeepsLock(t *testing.T) {
	t.Run("same process", func(t *testing.T) {
		path := lockPath(t)
		a := mustOpen(t, path)
		if err := a.TryLock(); err != nil {
			t.Fatal(err)
		}
		// What a state-file reader, a backup tool or a stray library
		// does: open the file, read, close.
		for range 3 {
			if _, err := os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Verify(); err != nil {
			t.Fatalf("Verify after another descriptor was closed: %v", err)
		}
		if err := mustOpen(t, path).TryLock(); !errors.Is(err, ErrLocked) {
			t.Fatalf("TryLock: %v, want ErrLocked", err)
		}
	})
	t.Run("child process", func(t *testing.T) {
		// The child opens and closes a second descriptor of the file
		// after locking it; with classic POSIX locks its lock would be
		// gone.
		path := lockPath(t)
		startHolder(t, path, "touch")
		if err := mustOpen(t, path).TryLock(); !errors.Is(err, ErrLocked) {
			t.Fatalf("TryLock while the child holds the lock: %v, want ErrLocked", err)
		}
	})
}

func TestVerifyAsksTheKernel(t *testing.T) {
	path := lockPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	// Release the lock behind a's back, through its own descriptor: a
	// still believes it holds the lock, the kernel knows better.
	lk := flockT(unix.F_UNLCK, span{})
	if err := fcntlLock(a.File(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if !a.Held() {
		t.Fatal("Held() changed without a call on the Lock")
	}
	err := a.Verify()
	if !errors.Is(err, ErrLost) {
		t.Fatalf("Verify with the lock released in the kernel: %v, want ErrLost", err)
	}
	t.Logf("released: %v", err)
	// Verify must not have re-taken it.
	if err := b.TryLock(); err != nil {
		t.Fatalf("b.TryLock: %v; Verify re-took the lock", err)
	}
	err = a.Verify()
	if !errors.Is(err, ErrLost) {
		t.Fatalf("Verify with the lock held by another description: %v, want ErrLost", err)
	}
	t.Logf("taken by another: %v", err)
}

func TestVerifyReportsClassicPOSIXHolder(t *testing.T) {
	path := lockPath(t)
	a := mustOpen(t, path)
	// A classic POSIX lock, as an older tool or another broker might take:
	// it excludes OFD locks, and the holder is named by its process.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := fcntlLock(f, unix.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if err := a.TryLock(); !errors.Is(err, ErrLocked) {
		t.Errorf("TryLock against a classic POSIX lock: %v, want ErrLocked", err)
	}
	q := flockT(unix.F_WRLCK, span{})
	if err := fcntlLock(a.File(), unix.F_OFD_GETLK, &q); err != nil {
		t.Fatal(err)
	}
	desc := describeHolder(q)
	if !strings.Contains(desc, fmt.Sprintf("process %d", os.Getpid())) {
		t.Errorf("describeHolder = %q, want it to name this process", desc)
	}
}

func TestRangeLocks(t *testing.T) {
	path := lockPath(t)
	open := func(off, n int64) *Lock {
		l, err := OpenRange(path, off, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	// Artemis' layout: a state byte, a live byte, a backup byte.
	state, live, backup := open(0, 1), open(1, 1), open(2, 1)
	for name, l := range map[string]*Lock{"state": state, "live": live, "backup": backup} {
		if err := l.TryLock(); err != nil {
			t.Fatalf("%s.TryLock: %v; disjoint ranges must not conflict", name, err)
		}
		if err := l.Verify(); err != nil {
			t.Errorf("%s.Verify: %v", name, err)
		}
	}
	if err := open(1, 1).TryLock(); !errors.Is(err, ErrLocked) {
		t.Errorf("second live-range lock: %v, want ErrLocked", err)
	}
	if err := open(2, 0).TryLock(); !errors.Is(err, ErrLocked) {
		t.Errorf("lock from byte 2 to EOF overlapping backup: %v, want ErrLocked", err)
	}
	if err := open(3, 0).TryLock(); err != nil {
		t.Errorf("lock from byte 3 to EOF: %v, want nil", err)
	}
	// A blocked range waiter wakes when its range is released, while the
	// other ranges stay held.
	waiter := open(1, 1)
	res := startLock(context.Background(), waiter)
	waitBlocked(t, waiter)
	if err := live.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := await(t, res, promptly); err != nil {
		t.Fatalf("range waiter: %v", err)
	}
	if err := state.Verify(); err != nil {
		t.Errorf("state.Verify after the live range moved: %v", err)
	}
}

func TestCancelPipeFailsWriteLock(t *testing.T) {
	// The cancellation relies on F_OFD_SETLKW failing at once on the read
	// end of a pipe. Check that premise directly.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	lk := flockT(unix.F_WRLCK, span{})
	if err := unix.FcntlFlock(uintptr(p[0]), unix.F_OFD_SETLKW, &lk); err != unix.EBADF {
		t.Fatalf("F_OFD_SETLKW on a pipe's read end: %v, want EBADF", err)
	}
}

// blockedRequests counts the blocked lock requests on path's inode in
// /proc/locks.
func blockedRequests(t *testing.T, path string) int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	ino := fmt.Sprintf(":%d", st.Ino)
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatalf("/proc/locks: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if slices.Contains(f, "->") && slices.ContainsFunc(f, func(s string) bool { return strings.HasSuffix(s, ino) }) {
			n++
		}
	}
	return n
}

func TestCancelLeavesNoWaiterInKernel(t *testing.T) {
	path := lockPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		res := startLock(ctx, b)
		waitBlocked(t, b)
		cancel()
		if _, err := await(t, res, promptly); !errors.Is(err, context.Canceled) {
			t.Fatalf("Lock: %v, want context.Canceled", err)
		}
		// The thread left the kernel: no request is queued behind a.
		if n := blockedRequests(t, path); n != 0 {
			t.Fatalf("%d blocked requests left in /proc/locks after cancelling", n)
		}
	}
}

// TestWaitGrantedDuringCancel drives waitLock on a free lock with a context
// that is already done, so the grant and the cancellation race on every
// call. Whichever wins, the result must match the kernel: nil means held,
// errCanceled means not held (the grant was undone).
func TestWaitGrantedDuringCancel(t *testing.T) {
	path := lockPath(t)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other := mustOpen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	outcomes := map[string]int{}
	for i := range 200 {
		err := waitLock(ctx, f, span{})
		held := other.TryLock() != nil
		switch {
		case err == nil && held:
			outcomes["granted"]++
			if err := unlock(f, span{}); err != nil {
				t.Fatal(err)
			}
		case errors.Is(err, errCanceled) && !held:
			outcomes["canceled"]++
			if err := other.Unlock(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("call %d: waitLock returned %v but the lock is held=%v", i, err, held)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}
