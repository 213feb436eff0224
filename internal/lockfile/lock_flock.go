//go:build unix && !linux

package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// This is the fallback for Unix systems without open file description
// locks. flock(2) locks also belong to the open file description, so the
// in-process semantics match Linux, but: only whole files can be locked,
// Lock polls instead of sleeping in the kernel (cancelling a blocked flock
// needs per-thread signals that these systems do not offer without cgo),
// Verify cannot tell our lock from another holder's, and flock on network
// file systems may be local to one client. Fine for development, not for a
// production shared store.

// pollInterval is how often the fallback Lock retries. It bounds the extra
// takeover latency on these systems.
const pollInterval = 25 * time.Millisecond

// checkSpan refuses byte ranges, which flock cannot lock.
func checkSpan(sp span) error {
	if sp.start != 0 || sp.length != 0 {
		return fmt.Errorf("byte-range locks need Linux open file description locks: %w", errors.ErrUnsupported)
	}
	return nil
}

// flock runs flock(2) on f, retrying EINTR.
func flock(f *os.File, how int) error {
	return withFD(f, func(fd uintptr) error {
		for {
			err := syscall.Flock(int(fd), how)
			if err != syscall.EINTR {
				return err
			}
		}
	})
}

// tryLock takes the whole-file lock without waiting.
func tryLock(f *os.File, _ span) error {
	err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return ErrLocked
	}
	if err != nil {
		return fmt.Errorf("lockfile: flock %s: %w", f.Name(), err)
	}
	return nil
}

// unlock releases the whole-file lock.
func unlock(f *os.File, _ span) error {
	if err := flock(f, syscall.LOCK_UN); err != nil {
		return fmt.Errorf("lockfile: flock unlock %s: %w", f.Name(), err)
	}
	return nil
}

// waitLock polls tryLock until it succeeds or ctx is done.
func waitLock(ctx context.Context, f *os.File, sp span) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return errCanceled
		case <-t.C:
		}
		err := tryLock(f, sp)
		if err == nil || !errors.Is(err, ErrLocked) {
			return err
		}
	}
}

// probe checks that somebody holds the lock by trying to take it from
// other. If that succeeds nobody held it, so ours is lost. flock has no
// query that names the holder, so a lock that passed to another holder
// goes unnoticed here.
func probe(_, other *os.File, sp span) (lost string, err error) {
	err = tryLock(other, sp)
	if errors.Is(err, ErrLocked) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	_ = unlock(other, sp)
	return "nobody holds a lock on it", nil
}

// held cannot ask flock without locking: it takes the lock for an instant
// and gives it back, which a concurrent TryLock may see as held.
func held(f *os.File, sp span) (bool, error) {
	err := tryLock(f, sp)
	if errors.Is(err, ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, unlock(f, sp)
}
