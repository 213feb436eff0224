package security

import (
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// usersWatch remembers which file a Users came from and what it looked
// like when last read, so that a changed file is read again.
type usersWatch struct {
	path  string
	every time.Duration
	log   *slog.Logger

	// due is when the file may be looked at again (unix nanoseconds):
	// read without the lock, so that the permission checks of every send
	// cost no lock between two looks.
	due atomic.Int64

	mu   sync.Mutex
	next time.Time // no look at the file before then
	mod  time.Time
	size int64
}

// Watch makes u follow the users file at path: at most once per every, a
// login looks at the file's modification time and size, and a changed file
// is read again and replaces the users in place (`tandem user` edits the
// file of a running broker this way). A file that no longer loads is
// logged and ignored; the users read before stay in force. There is no
// goroutine: a broker nobody logs in to does not look at the file.
func (u *Users) Watch(path string, every time.Duration, log *slog.Logger) {
	w := &usersWatch{path: path, every: every, log: log, next: time.Now().Add(every)}
	w.due.Store(w.next.UnixNano())
	if fi, err := os.Stat(path); err == nil {
		w.mod, w.size = fi.ModTime(), fi.Size()
	}
	u.watch.Store(w)
}

// refresh reloads the users file if it is being watched, the check is due
// and the file changed.
func (u *Users) refresh() {
	w := u.watch.Load()
	if w == nil {
		return
	}
	now := time.Now()
	if now.UnixNano() < w.due.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Before(w.next) {
		return
	}
	w.next = now.Add(w.every)
	w.due.Store(w.next.UnixNano())
	fi, err := os.Stat(w.path)
	if err != nil || fi.ModTime().Equal(w.mod) && fi.Size() == w.size {
		return
	}
	w.mod, w.size = fi.ModTime(), fi.Size()
	fresh, err := LoadUsers(w.path)
	if err != nil {
		w.log.Warn("the users file changed but does not load; the users read before stay in force", "event", "users_reload_failed", "err", err)
		return
	}
	fresh.mu.RLock()
	users := fresh.users
	fresh.mu.RUnlock()
	u.mu.Lock()
	u.users = users
	u.gen.Add(1)
	u.mu.Unlock()
	w.log.Info("users file reloaded", "event", "users_reloaded", "file", w.path, "users", len(users))
}

// watchPtr is embedded in Users to hold the optional watch.
type watchPtr = atomic.Pointer[usersWatch]
