//go:build linux

package lockfile

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// checkSpan accepts every range: OFD locks are byte-range locks.
func checkSpan(span) error { return nil }

// flockT builds the fcntl argument for sp. l_pid must be zero for the OFD
// commands, which the zero value gives.
func flockT(typ int16, sp span) unix.Flock_t {
	return unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: sp.start, Len: sp.length}
}

// fcntlLock runs one fcntl lock command on f, retrying EINTR. Only
// F_OFD_SETLKW sleeps, and it is not run through here.
func fcntlLock(f *os.File, cmd int, lk *unix.Flock_t) error {
	return withFD(f, func(fd uintptr) error {
		for {
			err := unix.FcntlFlock(fd, cmd, lk)
			if err != unix.EINTR {
				return err
			}
		}
	})
}

// tryLock takes a write lock on sp without waiting.
func tryLock(f *os.File, sp span) error {
	lk := flockT(unix.F_WRLCK, sp)
	err := fcntlLock(f, unix.F_OFD_SETLK, &lk)
	switch err {
	case nil:
		return nil
	case unix.EAGAIN, unix.EACCES:
		// POSIX allows either for "held by someone else".
		return ErrLocked
	}
	return fcntlError("F_OFD_SETLK", f.Name(), err)
}

// unlock releases sp. Releasing a range that is not locked is not an error.
func unlock(f *os.File, sp span) error {
	lk := flockT(unix.F_UNLCK, sp)
	if err := fcntlLock(f, unix.F_OFD_SETLK, &lk); err != nil {
		return fcntlError("F_OFD_SETLK unlock", f.Name(), err)
	}
	return nil
}

// fcntlError explains the errors a lock command can meet in practice, so
// that a broker refusing to start tells the operator what to fix.
func fcntlError(op, path string, err error) error {
	hint := ""
	switch err {
	case unix.EINVAL:
		hint = "; open file description locks need Linux 3.15 or later"
	case unix.ENOLCK:
		hint = "; the file system refused to record the lock (on NFS: is the mount using 'nolock', or is the lock service down?)"
	case unix.EBADF:
		hint = "; the lock file must be opened for writing"
	case unix.EDEADLK:
		hint = "; the kernel reported a lock deadlock"
	}
	return fmt.Errorf("lockfile: fcntl %s on %s: %w%s", op, path, err, hint)
}

// waitLock blocks in F_OFD_SETLKW until the lock on f's open file
// description is granted, or ctx is done (then it returns errCanceled and
// the lock is not held). The package comment explains the cancellation; in
// short: the wait runs on a duplicate descriptor on a locked OS thread, and
// cancelling re-points that descriptor number at a read-only pipe and
// signals the thread, so the kernel's restart of the call fails with EBADF.
func waitLock(ctx context.Context, f *os.File, sp span) error {
	var dup int
	err := withFD(f, func(fd uintptr) error {
		var err error
		dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("lockfile: duplicate descriptor of %s: %w", f.Name(), err)
	}
	// The duplicate is closed only after the waiting goroutine has
	// finished with it: closing it earlier would let the number be reused
	// by an unrelated open, which the restarted fcntl would then lock.
	defer unix.Close(dup)
	// Create the pipe up front, so that cancelling cannot fail for lack
	// of descriptors and leave the wait uninterruptible.
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("lockfile: pipe for cancelling the wait on %s: %w", f.Name(), err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])

	var canceled atomic.Bool
	tids := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		// The thread must stay the same from Gettid to the end of the
		// wait so the signal reaches the thread inside the syscall.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		lk := flockT(unix.F_WRLCK, sp)
		for {
			err := unix.FcntlFlock(uintptr(dup), unix.F_OFD_SETLKW, &lk)
			// EINTR only appears if some handler lacks SA_RESTART (a
			// C library's, say); keep waiting unless we were canceled.
			if err == unix.EINTR && !canceled.Load() {
				continue
			}
			done <- err
			return
		}
	}()
	tid := <-tids

	select {
	case err := <-done:
		if err != nil {
			return fcntlError("F_OFD_SETLKW", f.Name(), err)
		}
		return nil
	case <-ctx.Done():
	}

	canceled.Store(true)
	if err := dup3(pipe[0], dup); err != nil {
		// Cannot happen with two valid descriptors; if it does, the wait
		// cannot be interrupted and we must not return while it may still
		// take the lock on f's description behind our back.
		panic(fmt.Sprintf("lockfile: dup3 to cancel lock wait: %v", err))
	}
	// ESRCH would mean the thread is gone, which it cannot be while the
	// goroutine has not sent on done; the restarted or fresh fcntl fails
	// either way, so the result does not matter.
	_ = unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
	if err := <-done; err == nil {
		// Granted just before the swap: the lock is on f's description.
		// A canceled Lock must not hold it.
		_ = unlock(f, sp)
	}
	return errCanceled
}

// dup3 makes newfd refer to what oldfd refers to, atomically, retrying
// EINTR (which closing the old file may cause on some file systems).
func dup3(oldfd, newfd int) error {
	for {
		err := unix.Dup3(oldfd, newfd, unix.O_CLOEXEC)
		if err != unix.EINTR {
			return err
		}
	}
}

// probe checks in the kernel that own's description holds the write lock on
// sp, using other, a separate description of the same file. It returns why
// the lock is lost, or "" if it is held, and an error if it could not ask.
// Both queries are F_OFD_GETLK, which change nothing: a lost lock is
// reported, never quietly re-taken.
func probe(own, other *os.File, sp span) (lost string, err error) {
	// From our own description, our own lock never conflicts, so any lock
	// reported belongs to someone else.
	lk := flockT(unix.F_WRLCK, sp)
	if err := fcntlLock(own, unix.F_OFD_GETLK, &lk); err != nil {
		return "", fcntlError("F_OFD_GETLK", own.Name(), err)
	}
	if lk.Type != unix.F_UNLCK {
		return describeHolder(lk), nil
	}
	// From the other description, our lock must be visible. If nothing
	// is, the lock was released behind this Lock's back (someone unlocked
	// the descriptor returned by File) or dropped by the file system (an
	// NFS client that lost its lease).
	lk = flockT(unix.F_WRLCK, sp)
	if err := fcntlLock(other, unix.F_OFD_GETLK, &lk); err != nil {
		return "", fcntlError("F_OFD_GETLK", other.Name(), err)
	}
	if lk.Type == unix.F_UNLCK {
		return "the kernel reports no lock on it", nil
	}
	return "", nil
}

// describeHolder says who holds the conflicting lock lk. OFD locks report
// l_pid -1, classic POSIX locks the owning process.
func describeHolder(lk unix.Flock_t) string {
	kind := "write"
	if lk.Type == unix.F_RDLCK {
		kind = "read"
	}
	where := fmt.Sprintf("bytes %d..", lk.Start)
	if lk.Len > 0 {
		where += fmt.Sprint(lk.Start + lk.Len - 1)
	} else {
		where += "EOF"
	}
	if lk.Pid > 0 {
		return fmt.Sprintf("process %d holds a classic POSIX %s lock on %s", lk.Pid, kind, where)
	}
	return fmt.Sprintf("another open file description holds a %s lock on %s", kind, where)
}

// held reports whether another open file description holds a lock that
// conflicts with a write lock on sp, without taking one (F_OFD_GETLK).
func held(f *os.File, sp span) (bool, error) {
	lk := flockT(unix.F_WRLCK, sp)
	if err := fcntlLock(f, unix.F_OFD_GETLK, &lk); err != nil {
		return false, fcntlError("F_OFD_GETLK", f.Name(), err)
	}
	return lk.Type != unix.F_UNLCK, nil
}
