package security

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLoginRequired is returned for a login without a user name when the
// broker does not allow anonymous access.
var ErrLoginRequired = errors.New("login required: this broker does not allow anonymous access; connect with a user name and password")

// AnonymousUser is the user name of the principal of an anonymous login.
const AnonymousUser = "anonymous"

// Cache bounds. A cached login stays valid for cacheTTL unless the user's
// password hash changes or the user is removed, which invalidates it at once.
const (
	defaultCacheTTL     = 10 * time.Minute
	defaultCacheEntries = 4096
)

// cacheKey is a keyed MAC of a (user, password) pair. The key is random per
// Authenticator, so a memory dump of the cache does not allow a fast offline
// guess of the passwords the way a plain SHA-256 would.
type cacheKey [sha256.Size]byte

// cacheEntry remembers one successful verification.
type cacheEntry struct {
	user    string
	hash    string // the PHC hash the password was verified against
	expires time.Time
}

// flight is one argon2 verification in progress; concurrent logins with the
// same credentials wait for it instead of starting their own.
type flight struct {
	done chan struct{}
	usr  User
	err  error
}

// Authenticator decides who a login is: anonymous access when allowed, a
// user from the users file otherwise. It is safe for concurrent use.
//
// Successful verifications are cached, and concurrent logins with the same
// credentials share one verification, because after a failover every client
// reconnects at once and argon2 is deliberately expensive: a thousand clients
// would otherwise cost a thousand derivations.
type Authenticator struct {
	allowAnonymous bool
	anonymousRole  string
	users          *Users

	macKey     [32]byte
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu       sync.Mutex
	cache    map[cacheKey]cacheEntry
	inflight map[cacheKey]*flight

	// limiter throttles sources that fail logins (AuthenticateFrom).
	limiter *loginLimiter
}

// NewAuthenticator returns an Authenticator. users may be nil when the broker
// has no users file; then only anonymous logins can succeed.
func NewAuthenticator(allowAnonymous bool, anonymousRole string, users *Users) *Authenticator {
	a := &Authenticator{
		allowAnonymous: allowAnonymous,
		anonymousRole:  anonymousRole,
		users:          users,
		ttl:            defaultCacheTTL,
		maxEntries:     defaultCacheEntries,
		now:            time.Now,
		cache:          make(map[cacheKey]cacheEntry),
		inflight:       make(map[cacheKey]*flight),
	}
	a.limiter = newLoginLimiter(func() time.Time { return a.now() })
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(a.macKey[:])
	return a
}

// Authenticate returns the principal for a login. An empty user name means
// an anonymous login: it succeeds with the anonymous role when anonymous
// access is allowed and fails with ErrLoginRequired otherwise. A wrong
// password and an unknown user both fail with ErrBadCredentials.
func (a *Authenticator) Authenticate(user, pass string) (Principal, error) {
	if user == "" {
		if !a.allowAnonymous {
			return Principal{}, ErrLoginRequired
		}
		var roles []string
		if a.anonymousRole != "" {
			roles = []string{a.anonymousRole}
		}
		return Principal{User: AnonymousUser, Roles: roles}, nil
	}
	if a.users == nil {
		return Principal{}, ErrBadCredentials
	}
	a.users.refresh()
	key := a.key(user, pass)
	if p, ok := a.cached(key, user); ok {
		return p, nil
	}
	usr, err := a.verifyOnce(key, user, pass)
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: usr.Name, Roles: usr.Roles}, nil
}

// AuthenticateCertified returns the principal of a user whom the caller
// identified by other means than a password, such as a TLS client
// certificate signed by a trusted CA whose common name is the user's name
// (AMQP's SASL EXTERNAL): the user must exist in the users file, and gets
// its roles there.
func (a *Authenticator) AuthenticateCertified(user string) (Principal, error) {
	if a.users == nil || user == "" {
		return Principal{}, fmt.Errorf("%w: no user %q in the users file for this certificate", ErrBadCredentials, user)
	}
	a.users.refresh()
	usr, ok := a.users.Lookup(user)
	if !ok {
		return Principal{}, fmt.Errorf("%w: no user %q in the users file for this certificate (its common name names the user)", ErrBadCredentials, user)
	}
	return Principal{User: usr.Name, Roles: usr.Roles}, nil
}

// key computes the cache key of a login. The user name's length is mixed in
// so that ("ab", "c") and ("a", "bc") never collide.
func (a *Authenticator) key(user, pass string) cacheKey {
	m := hmac.New(sha256.New, a.macKey[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(user)))
	m.Write(n[:])
	m.Write([]byte(user))
	m.Write([]byte(pass))
	var k cacheKey
	m.Sum(k[:0])
	return k
}

// cached returns the principal of a still valid cache entry. The entry is
// valid only while the user exists with the very hash it was verified
// against; roles are read fresh so a role change applies at the next login.
func (a *Authenticator) cached(key cacheKey, user string) (Principal, bool) {
	a.mu.Lock()
	e, ok := a.cache[key]
	if ok && (!a.now().Before(e.expires) || e.user != user) {
		delete(a.cache, key)
		ok = false
	}
	a.mu.Unlock()
	if !ok {
		return Principal{}, false
	}
	usr, exists := a.users.Lookup(user)
	if !exists || usr.PasswordHash != e.hash {
		a.mu.Lock()
		delete(a.cache, key)
		a.mu.Unlock()
		return Principal{}, false
	}
	return Principal{User: usr.Name, Roles: usr.Roles}, true
}

// verifyOnce verifies a login, sharing the work with concurrent identical
// logins, and caches a success.
func (a *Authenticator) verifyOnce(key cacheKey, user, pass string) (User, error) {
	a.mu.Lock()
	if f, ok := a.inflight[key]; ok {
		a.mu.Unlock()
		<-f.done
		return f.usr, f.err
	}
	if _, ok := a.cache[key]; ok {
		// An identical login was verified and cached between the caller's
		// look at the cache and now: use it rather than verify again (a
		// reconnect storm would otherwise pay for a second derivation).
		a.mu.Unlock()
		if p, ok := a.cached(key, user); ok {
			return User{Name: p.User, Roles: p.Roles}, nil
		}
		return a.verifyOnce(key, user, pass) // the entry was stale and is gone
	}
	f := &flight{done: make(chan struct{})}
	a.inflight[key] = f
	a.mu.Unlock()

	f.usr, f.err = a.users.authenticateUser(user, pass)

	a.mu.Lock()
	delete(a.inflight, key)
	if f.err == nil {
		a.storeLocked(key, cacheEntry{user: user, hash: f.usr.PasswordHash, expires: a.now().Add(a.ttl)})
	}
	a.mu.Unlock()
	close(f.done)
	return f.usr, f.err
}

// storeLocked adds an entry, evicting expired entries first and an arbitrary
// one if the cache is still full. The caller holds a.mu.
func (a *Authenticator) storeLocked(key cacheKey, e cacheEntry) {
	if len(a.cache) >= a.maxEntries {
		now := a.now()
		for k, old := range a.cache {
			if !now.Before(old.expires) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.maxEntries {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = e
}

// authenticateUser is Authenticate returning the whole user record, so the
// caller can cache the exact hash that was verified.
func (u *Users) authenticateUser(user, pass string) (User, error) {
	usr, ok := u.Lookup(user)
	hash := usr.PasswordHash
	if !ok {
		hash = u.dummyHash()
	}
	match, err := u.verifyLimited(hash, pass)
	if err != nil || !match || !ok {
		return User{}, ErrBadCredentials
	}
	return usr, nil
}

// Lookup returns a user as the users file says now (reloading it when it
// is watched and changed) and a stamp of the user's password hash: a
// keyed MAC, so that it can be kept and compared without revealing the
// hash. The stamp changes whenever the password does. ok is false when
// there is no such user. The web console keeps the stamp of each session
// and ends the session when the stamp changes or the user goes.
func (a *Authenticator) Lookup(user string) (p Principal, stamp string, ok bool) {
	if a.users == nil || user == "" {
		return Principal{}, "", false
	}
	a.users.refresh()
	usr, ok := a.users.Lookup(user)
	if !ok {
		return Principal{}, "", false
	}
	m := hmac.New(sha256.New, a.macKey[:])
	m.Write([]byte(usr.Name))
	m.Write([]byte{0})
	m.Write([]byte(usr.PasswordHash))
	return Principal{User: usr.Name, Roles: usr.Roles}, hex.EncodeToString(m.Sum(nil)[:16]), true
}

// Generation returns a number that changes whenever the users change
// (reloading the users file first when it is watched and the look is due),
// so that a decision taken about a user can be kept until it does: the
// broker keeps a session's last permitted send this way rather than
// checking every message.
func (a *Authenticator) Generation() uint64 {
	if a.users == nil {
		return 0
	}
	a.users.refresh()
	return a.users.gen.Load()
}

// Exists reports whether user is in the users file as it is now (reloading
// it when it is watched and changed). The broker asks it on every
// permission check, so that a removed user's open connections can do
// nothing more either; it takes no lock between two looks at the file.
func (a *Authenticator) Exists(user string) bool {
	if a.users == nil {
		return false
	}
	a.users.refresh()
	a.users.mu.RLock()
	_, ok := a.users.users[user]
	a.users.mu.RUnlock()
	return ok
}
