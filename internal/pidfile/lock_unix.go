//go:build unix

package pidfile

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive (or, to probe, a shared) flock on f without
// waiting. It reports false when another open file holds a conflicting
// lock. A probe's shared lock is dropped when f is closed.
func tryLock(f *os.File, exclusive bool) (bool, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		}
		return false, err
	}
}
