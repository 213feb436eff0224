package security

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countVerify wraps the users' verify function with a call counter.
func countVerify(u *Users) *atomic.Int64 {
	var n atomic.Int64
	inner := u.verify
	u.verify = func(hash, pw string) (bool, error) {
		n.Add(1)
		return inner(hash, pw)
	}
	return &n
}

func TestAuthenticatorAnonymous(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	tests := []struct {
		name      string
		allow     bool
		user, pw  string
		wantUser  string
		wantRoles []string
		wantErr   error
	}{
		{"anonymous allowed", true, "", "", AnonymousUser, []string{"guest"}, nil},
		{"anonymous allowed ignores password", true, "", "x", AnonymousUser, []string{"guest"}, nil},
		{"anonymous refused", false, "", "", "", nil, ErrLoginRequired},
		{"user with anonymous allowed", true, "admin", "admin", "admin", []string{"amq"}, nil},
		{"wrong password", true, "admin", "nope", "", nil, ErrBadCredentials},
		{"unknown user", false, "ghost", "admin", "", nil, ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAuthenticator(tc.allow, "guest", users)
			p, err := a.Authenticate(tc.user, tc.pw)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if p.User != tc.wantUser || !slices.Equal(p.Roles, tc.wantRoles) {
				t.Fatalf("principal = %+v, want %s %v", p, tc.wantUser, tc.wantRoles)
			}
		})
	}
}

func TestAuthenticatorNilUsers(t *testing.T) {
	a := NewAuthenticator(true, "guest", nil)
	if _, err := a.Authenticate("admin", "admin"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v, want ErrBadCredentials", err)
	}
}

func TestAuthenticatorCachesSuccess(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	calls := countVerify(users)
	a := NewAuthenticator(false, "", users)
	for range 5 {
		if _, err := a.Authenticate("admin", "admin"); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("argon2 verifications = %d, want 1 (the rest from the cache)", got)
	}
	// Failures are not cached: each one is verified again.
	for range 2 {
		if _, err := a.Authenticate("admin", "bad"); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("verifications = %d, want 3", got)
	}
	// The cache must not turn a different password for the same user into
	// a hit.
	if _, err := a.Authenticate("admin", "admin2"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v", err)
	}
}

func TestAuthenticatorCacheInvalidation(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	calls := countVerify(users)
	a := NewAuthenticator(false, "", users)
	if _, err := a.Authenticate("admin", "admin"); err != nil {
		t.Fatal(err)
	}

	// A role change applies to cached logins without a new verification.
	if err := users.SetRoles("admin", []string{"amq", "manage"}); err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate("admin", "admin")
	if err != nil || !p.HasRole("manage") || calls.Load() != 1 {
		t.Fatalf("after SetRoles: %+v, %v, calls %d", p, err, calls.Load())
	}

	// A password change invalidates the cached login at once.
	if err := users.SetPassword("admin", "changed"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate("admin", "admin"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after SetPassword: err = %v", err)
	}

	// Removing the user invalidates it too.
	if _, err := a.Authenticate("admin", "changed"); err != nil {
		t.Fatal(err)
	}
	if err := users.RemoveUser("admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate("admin", "changed"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("removed user: err = %v", err)
	}
}

func TestAuthenticatorCacheExpiry(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	calls := countVerify(users)
	a := NewAuthenticator(false, "", users)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	if _, err := a.Authenticate("admin", "admin"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(a.ttl)
	if _, err := a.Authenticate("admin", "admin"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("verifications = %d, want 2 after the entry expired", calls.Load())
	}
}

func TestAuthenticatorCacheBounded(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	a := NewAuthenticator(false, "", users)
	a.maxEntries = 3
	for i := range 10 {
		a.mu.Lock()
		a.storeLocked(a.key("admin", string(rune('a'+i))), cacheEntry{user: "admin", expires: a.now().Add(time.Hour)})
		n := len(a.cache)
		a.mu.Unlock()
		if n > 3 {
			t.Fatalf("cache holds %d entries, bound is 3", n)
		}
	}
}

func TestAuthenticatorKeyDoesNotCollide(t *testing.T) {
	a := NewAuthenticator(false, "", nil)
	if a.key("ab", "c") == a.key("a", "bc") {
		t.Fatal("cache keys of (ab, c) and (a, bc) collide")
	}
	b := NewAuthenticator(false, "", nil)
	if a.key("a", "b") == b.key("a", "b") {
		t.Fatal("two authenticators share a MAC key")
	}
}

// TestAuthenticatorReconnectStorm checks that many concurrent logins with the
// same credentials, as after a failover, share one argon2 verification.
func TestAuthenticatorReconnectStorm(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	release := make(chan struct{})
	var calls atomic.Int64
	inner := users.verify
	users.verify = func(hash, pw string) (bool, error) {
		calls.Add(1)
		<-release
		return inner(hash, pw)
	}
	a := NewAuthenticator(false, "", users)
	const clients = 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			_, err := a.Authenticate("admin", "admin")
			errs <- err
		})
	}
	// Wait until the first verification is in flight and every other
	// client is either waiting on it or about to.
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Clients that arrived after the first verification finished hit the
	// cache; clients that arrived during it joined it. Either way only the
	// very first one verified.
	if calls.Load() != 1 {
		t.Fatalf("verifications = %d, want 1", calls.Load())
	}
}

// TestAuthenticatorLookupStamp checks the stamp the console keeps per
// session: the same while the password stays, different after a password
// change, gone with the user, and never the password hash itself.
func TestAuthenticatorLookupStamp(t *testing.T) {
	users := newTestUsers(t, "admin", "admin", "amq")
	a := NewAuthenticator(false, "", users)
	p, stamp, ok := a.Lookup("admin")
	if !ok || p.User != "admin" || !p.HasRole("amq") || stamp == "" {
		t.Fatalf("Lookup = %+v, %q, %v", p, stamp, ok)
	}
	if u, _ := users.Lookup("admin"); stamp == u.PasswordHash {
		t.Fatal("the stamp is the password hash")
	}
	if err := users.SetRoles("admin", []string{"manage"}); err != nil {
		t.Fatal(err)
	}
	p, again, _ := a.Lookup("admin")
	if again != stamp || !p.HasRole("manage") {
		t.Fatalf("a role change: stamp %q (was %q), roles %v", again, stamp, p.Roles)
	}
	if err := users.SetPassword("admin", "changed"); err != nil {
		t.Fatal(err)
	}
	if _, after, _ := a.Lookup("admin"); after == stamp {
		t.Fatal("the stamp did not change with the password")
	}
	if err := users.RemoveUser("admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.Lookup("admin"); ok {
		t.Fatal("a removed user is still found")
	}
	if _, _, ok := NewAuthenticator(true, "guest", nil).Lookup("admin"); ok {
		t.Fatal("an authenticator without users found one")
	}
}

// TestExistsFollowsTheUsersFile checks what the permission checks ask for
// every operation: whether the user is (still) in the watched users file.
func TestExistsFollowsTheUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	users := newTestUsers(t, "alice", "pw", "amq")
	if err := WriteUsers(path, users); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Watch(path, time.Millisecond, slog.New(slog.DiscardHandler))
	a := NewAuthenticator(false, "", loaded)
	if !a.Exists("alice") || a.Exists("bob") {
		t.Fatalf("Exists: alice %v, bob %v", a.Exists("alice"), a.Exists("bob"))
	}
	if err := users.RemoveUser("alice"); err != nil {
		t.Fatal(err)
	}
	if err := WriteUsers(path, users); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Exists("alice") {
		if time.Now().After(deadline) {
			t.Fatal("a removed user still exists after the reload period")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuthenticateCertified(t *testing.T) {
	a := NewAuthenticator(true, "guest", newTestUsers(t, "app", "secret", "amq"))
	p, err := a.AuthenticateCertified("app")
	if err != nil || p.User != "app" || !slices.Equal(p.Roles, []string{"amq"}) {
		t.Fatalf("AuthenticateCertified(app) = %+v, %v", p, err)
	}
	for _, name := range []string{"", "ghost"} {
		if _, err := a.AuthenticateCertified(name); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("AuthenticateCertified(%q) = %v, want ErrBadCredentials", name, err)
		}
	}
	if _, err := NewAuthenticator(true, "guest", nil).AuthenticateCertified("app"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("without users: %v", err)
	}
}
