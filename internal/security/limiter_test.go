package security

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFailedLoginsAreThrottledPerSource(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	calls := countVerify(users)
	a := NewAuthenticator(false, "", users)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }

	for i := 0; i < DefaultFreeFailures; i++ {
		if _, err := a.AuthenticateFrom("10.0.0.1", "admin", "guess"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v, want bad credentials", i+1, err)
		}
	}
	before := calls.Load()
	_, err := a.AuthenticateFrom("10.0.0.1", "admin", "admin")
	if !errors.Is(err, ErrLoginThrottled) || !strings.Contains(err.Error(), "from 10.0.0.1: try again in 1s") {
		t.Fatalf("after %d failures: %v; want a throttle naming the source and the wait", DefaultFreeFailures, err)
	}
	if calls.Load() != before {
		t.Fatal("a throttled login still cost a password verification")
	}
	var th interface{ Throttled() bool }
	if !errors.As(err, &th) || !th.Throttled() {
		t.Fatal("the throttle error does not say it is one, so callers would log every attempt")
	}
	// Another source is not affected.
	if _, err := a.AuthenticateFrom("10.0.0.2", "admin", "admin"); err != nil {
		t.Fatalf("another source: %v", err)
	}
	// After the wait the right password works and clears the source.
	now = now.Add(DefaultFirstLockout)
	if _, err := a.AuthenticateFrom("10.0.0.1", "admin", "admin"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	if _, err := a.AuthenticateFrom("10.0.0.1", "admin", "bad"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a success must clear the source's failures: %v", err)
	}
}

func TestLockoutDoublesUpToTheMaximum(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLoginLimiter(func() time.Time { return now })
	var waits []time.Duration
	for i := 0; i < DefaultFreeFailures+10; i++ {
		l.failed("s")
		if err := l.check("s"); err != nil {
			var te *throttledError
			errors.As(err, &te)
			waits = append(waits, te.wait)
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		time.Minute, time.Minute, time.Minute, time.Minute, time.Minute}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("lockouts %v, want %v", waits, want)
	}
	now = now.Add(forgetAfter + time.Second)
	if err := l.check("s"); err != nil {
		t.Fatalf("failures not forgotten after a quiet %v: %v", forgetAfter, err)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLoginLimiter(func() time.Time { return now })
	for i := 0; i < 3*maxSources; i++ {
		l.failed(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
	}
	if n := len(l.sources); n > maxSources {
		t.Fatalf("limiter tracks %d sources, bound is %d", n, maxSources)
	}
}

func TestAnonymousLoginsAreNotCounted(t *testing.T) {
	a := NewAuthenticator(false, "", newTestUsers(t, "admin", "admin", "amq"))
	for i := 0; i < 2*DefaultFreeFailures; i++ {
		if _, err := a.AuthenticateFrom("10.0.0.1", "", ""); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("anonymous attempt %d: %v", i, err)
		}
	}
	if _, err := a.AuthenticateFrom("10.0.0.1", "admin", "admin"); err != nil {
		t.Fatalf("anonymous attempts locked the source out: %v", err)
	}
}
