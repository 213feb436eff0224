package security

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLoginThrottled is returned for a login from a source that failed too
// often lately; the error says how long to wait.
var ErrLoginThrottled = errors.New("too many failed logins")

// Defaults of the failed-login limiter.
const (
	// DefaultFreeFailures is how many failed logins in a row a source may
	// make before it must wait.
	DefaultFreeFailures = 5
	// DefaultFirstLockout is the first wait; each further failure doubles
	// it, up to DefaultMaxLockout.
	DefaultFirstLockout = time.Second
	DefaultMaxLockout   = time.Minute
	// forgetAfter is the quiet time after which a source's failures are
	// forgotten.
	forgetAfter = 10 * time.Minute
	// maxSources bounds the limiter's memory under a flood of sources.
	maxSources = 10000
)

// throttledError is ErrLoginThrottled with the source and the wait.
type throttledError struct {
	source string
	wait   time.Duration
}

func (e *throttledError) Error() string {
	return fmt.Sprintf("%v from %s: try again in %v", ErrLoginThrottled, e.source, e.wait.Round(100*time.Millisecond))
}

func (e *throttledError) Unwrap() error { return ErrLoginThrottled }

// Throttled marks the error for callers that log failed logins: a
// throttled attempt was refused without a password check, and logging
// each one would let an attacker flood the log.
func (e *throttledError) Throttled() bool { return true }

// loginLimiter slows down password guessing: after a run of failed logins
// from one source, further logins from it are refused without a password
// check until a lockout that doubles with each failure has passed. A
// success clears the source.
type loginLimiter struct {
	free        int
	first, most time.Duration
	now         func() time.Time

	mu      sync.Mutex
	sources map[string]*failures
}

type failures struct {
	n     int
	until time.Time // refuse logins before this
	last  time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{free: DefaultFreeFailures, first: DefaultFirstLockout, most: DefaultMaxLockout,
		now: now, sources: map[string]*failures{}}
}

// check returns a throttledError while source must wait.
func (l *loginLimiter) check(source string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.sources[source]
	if f == nil {
		return nil
	}
	now := l.now()
	if now.Sub(f.last) > forgetAfter {
		delete(l.sources, source)
		return nil
	}
	if now.Before(f.until) {
		return &throttledError{source: source, wait: f.until.Sub(now)}
	}
	return nil
}

// failed records a failed login from source.
func (l *loginLimiter) failed(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.sources[source]
	if f == nil {
		if len(l.sources) >= maxSources {
			l.evictLocked(now)
		}
		f = &failures{}
		l.sources[source] = f
	}
	f.n++
	f.last = now
	if over := f.n - l.free; over >= 0 {
		wait := l.most
		if over < 16 {
			wait = min(l.first<<over, l.most)
		}
		f.until = now.Add(wait)
	}
}

// succeeded forgets source's failures.
func (l *loginLimiter) succeeded(source string) {
	l.mu.Lock()
	delete(l.sources, source)
	l.mu.Unlock()
}

// evictLocked drops forgotten sources, and arbitrary ones if that is not
// enough, so the map stays bounded. The caller holds l.mu.
func (l *loginLimiter) evictLocked(now time.Time) {
	for s, f := range l.sources {
		if now.Sub(f.last) > forgetAfter || !now.Before(f.until) {
			delete(l.sources, s)
		}
	}
	for s := range l.sources {
		if len(l.sources) < maxSources {
			break
		}
		delete(l.sources, s)
	}
}

// AuthenticateFrom is Authenticate for a client at source (its IP
// address): a source that recently failed DefaultFreeFailures logins in a
// row is refused with ErrLoginThrottled, without a password check, for a
// lockout that doubles with each further failure (1 s up to 1 min). A
// successful login clears the source. Anonymous logins are not counted.
func (a *Authenticator) AuthenticateFrom(source, user, pass string) (Principal, error) {
	if source == "" || user == "" {
		return a.Authenticate(user, pass)
	}
	if err := a.limiter.check(source); err != nil {
		return Principal{}, err
	}
	p, err := a.Authenticate(user, pass)
	switch {
	case err == nil:
		a.limiter.succeeded(source)
	case errors.Is(err, ErrBadCredentials):
		a.limiter.failed(source)
	}
	return p, err
}
