//go:build !linux

package lockfile

import (
	"testing"
	"time"
)

// waitBlocked waits until l's Lock call has started waiting. The fallback
// has no kernel view of blocked requests, so this only sees the Lock's own
// bookkeeping.
func waitBlocked(t *testing.T, l *Lock) {
	t.Helper()
	eventually(t, 5*time.Second, "the waiter starts waiting", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.busy
	})
}
