package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// sessionCookie is the start of the name of the console's login cookie.
const sessionCookie = "tandem_session"

// cookieName is the login cookie's name for the node r reached. Browsers
// keep cookies per host, not per port, so the two nodes of a pair on one
// host would otherwise overwrite each other's login: the port is part of
// the name.
func cookieName(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return sessionCookie + "_" + port
	}
	return sessionCookie
}

// principal is the authenticated caller of a request.
type principal struct {
	User  string
	Roles []string
	// CSRF is the session's form token; empty for HTTP basic callers,
	// who cannot be driven by a third-party page.
	CSRF string
	// viaCookie marks a caller authenticated by the session cookie.
	viaCookie bool
	// local marks an anonymous caller on this machine (LocalAnonymous).
	local bool
	// stamp is the user's credential stamp when the session was opened
	// (UserLookup).
	stamp string
}

// canManage reports whether the caller may change anything.
func (p principal) canManage() bool { return slices.Contains(p.Roles, ManageRole) }

var (
	errNoCredentials  = errors.New("authentication required: log in to the console or send HTTP basic credentials of a broker user")
	errSessionExpired = errors.New("the console session expired or is unknown; log in again")
	errSessionRevoked = errors.New("the console session ended: its user was removed or its password changed; log in again")
	errCrossSite      = errors.New("forbidden: a change from another web site (Origin or Sec-Fetch-Site says so) is refused for an anonymous caller")
	errNeedManage     = errors.New("forbidden: this needs a user with the manage role")
	errBadCSRF        = errors.New("forbidden: the form token is missing or stale; reload the page and try again")
)

// authenticate finds the caller of r: basic credentials first, then the
// session cookie, then, on a development broker, the anonymous caller on
// this machine (localAnonymous). Other anonymous callers are refused even
// when the broker allows anonymous messaging clients.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		if user == "" {
			return principal{}, errNoCredentials
		}
		roles, err := s.opts.Auth.Authenticate(user, pass)
		if err != nil {
			return principal{}, err
		}
		return principal{User: user, Roles: roles}, nil
	}
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		if p, ok := s.localAnonymous(r); ok {
			return p, nil
		}
		return principal{}, errNoCredentials
	}
	p, ok := s.sessions.get(c.Value)
	if ok {
		ok, err = s.current(&p)
		if !ok {
			s.sessions.remove(c.Value)
		}
	} else {
		err = errSessionExpired
	}
	if !ok {
		if p, ok := s.localAnonymous(r); ok {
			return p, nil
		}
		return principal{}, err
	}
	return p, nil
}

// current checks a session's user against the users as they are now:
// the session ends when the user is gone or its password changed, and it
// takes the user's current roles.
func (s *Server) current(p *principal) (bool, error) {
	ul, ok := s.opts.Auth.(UserLookup)
	if !ok {
		return true, nil
	}
	roles, stamp, exists := ul.Lookup(p.User)
	if !exists || stamp != p.stamp {
		return false, errSessionRevoked
	}
	p.Roles = roles
	return true, nil
}

// localAnonymous returns the principal of an anonymous caller when
// LocalAnonymous applies to r: it comes from a loopback address, not
// through a proxy (which would make a remote caller look local), and
// names this machine in Host, so that a web page whose domain resolves to
// 127.0.0.1 (DNS rebinding) gets nothing.
func (s *Server) localAnonymous(r *http.Request) (principal, bool) {
	if !s.localAnon.Load() {
		return principal{}, false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return principal{}, false
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return principal{}, false
		}
	}
	if !loopbackName(r.Host) {
		return principal{}, false
	}
	roles := append(slices.Clone(s.opts.AnonymousRoles), ManageRole)
	return principal{User: AnonymousUser, Roles: roles, local: true}, true
}

// loopbackName reports whether a Host header names this machine.
func loopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameSite refuses a change that a browser says comes from another site.
// An anonymous local caller has no session token to check, so this is
// what keeps a web page from driving a purge through the user's browser.
func sameSite(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCrossSite
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errCrossSite
		}
	}
	return nil
}

// checkCSRF verifies the form token of a state-changing request made with
// the session cookie. The token comes from the form field csrf or the
// X-CSRF-Token header.
func checkCSRF(r *http.Request, p principal) error {
	if !p.viaCookie {
		return nil
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(p.CSRF)) != 1 {
		return errBadCSRF
	}
	return nil
}

// apiHandler is an /api/ handler that runs for an authenticated caller.
type apiHandler func(w http.ResponseWriter, r *http.Request, p principal)

// api wraps h with authentication (401), the manage role for mutating
// calls (403) and the CSRF check for cookie callers.
func (s *Server) api(mutates bool, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="tandem", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if mutates {
			if !p.canManage() {
				writeError(w, http.StatusForbidden, errNeedManage.Error()+"; user "+p.User+" lacks it")
				return
			}
			if err := checkCSRF(r, p); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
			if p.local {
				if err := sameSite(r); err != nil {
					writeError(w, http.StatusForbidden, err.Error())
					return
				}
			}
		}
		h(w, r, p)
	})
}

// sessionStore keeps console logins in memory: a restart logs everyone
// out, which is acceptable for an operator console and keeps no secrets
// on disk.
type sessionStore struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
}

type session struct {
	p       principal
	expires time.Time
}

func newSessionStore(ttl time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{ttl: ttl, now: now, sessions: map[string]*session{}}
}

// randomToken returns 32 random bytes in hex.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// create starts a session for p and returns its cookie value.
func (st *sessionStore) create(p principal) string {
	id := randomToken()
	p.CSRF, p.viaCookie = randomToken(), true
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.sessions { // expired sessions go on the next login
		if now.After(s.expires) {
			delete(st.sessions, k)
		}
	}
	st.sessions[id] = &session{p: p, expires: now.Add(st.ttl)}
	return id
}

// get returns the session's principal and extends its life.
func (st *sessionStore) get(id string) (principal, bool) {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[id]
	if !ok {
		return principal{}, false
	}
	if now.After(s.expires) {
		delete(st.sessions, id)
		return principal{}, false
	}
	s.expires = now.Add(st.ttl)
	return s.p, true
}

// remove ends a session.
func (st *sessionStore) remove(id string) {
	st.mu.Lock()
	delete(st.sessions, id)
	st.mu.Unlock()
}
