package web

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/largemsg"
	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// serveLocal starts the server with LocalAnonymous on a loopback test
// server.
func serveLocal(t *testing.T, node Node) *httptest.Server {
	t.Helper()
	s, err := New(Options{Node: node, Auth: fakeAuth{}, LocalAnonymous: true, AnonymousRoles: []string{"guest"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// do sends one request with extra headers and returns the status.
func do(t *testing.T, ts *httptest.Server, method, path string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLocalAnonymousManagement checks the development broker's access:
// a caller without credentials on this machine reads and manages, but not
// through a proxy, not under a foreign Host name (DNS rebinding), and not
// for a change another web site asks a browser to make.
func TestLocalAnonymousManagement(t *testing.T) {
	node, b := liveNode(t)
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
		t.Fatal(err)
	}
	ts := serveLocal(t, node)
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"read", "GET", "/api/node", nil, 200},
		{"read queues", "GET", "/api/queues", nil, 200},
		{"manage", "POST", "/api/queues/orders/purge", nil, 200},
		{"same-origin browser change", "POST", "/api/queues/orders/purge", map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}, 200},
		{"cross-site change", "POST", "/api/queues/orders/purge", map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-site fetch", "POST", "/api/queues/orders/purge", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"rebound host name", "GET", "/api/queues", map[string]string{"Host": "evil.example:8161"}, 401},
		{"through a proxy", "GET", "/api/queues", map[string]string{"X-Forwarded-For": "203.0.113.9"}, 401},
		{"forwarded", "GET", "/api/queues", map[string]string{"Forwarded": "for=203.0.113.9"}, 401},
		{"localhost by name", "GET", "/api/queues", map[string]string{"Host": "localhost:8161"}, 200},
		{"console page", "GET", "/queues", nil, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, ts, tc.method, tc.path, tc.header); got != tc.want {
				t.Fatalf("%s %s with %v: %d, want %d", tc.method, tc.path, tc.header, got, tc.want)
			}
		})
	}
	// Wrong credentials are refused, not downgraded to anonymous.
	if status, _ := call(t, ts, "GET", "/api/node", "admin:wrong", ""); status != http.StatusUnauthorized {
		t.Fatalf("wrong credentials on a local-anonymous broker: %d, want 401", status)
	}
	// Without LocalAnonymous nothing changes: 401.
	plain := serve(t, node)
	if status, _ := call(t, plain, "GET", "/api/node", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("anonymous call without LocalAnonymous: %d, want 401", status)
	}
}

// TestLocalAnonymousOffOnNetworkPort checks that a port reachable from the
// network never serves anonymous callers, whatever the options say.
func TestLocalAnonymousOffOnNetworkPort(t *testing.T) {
	node, _ := liveNode(t)
	s, err := New(Options{Node: node, Auth: fakeAuth{}, LocalAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("0.0.0.0:0"); err != nil {
		t.Skipf("cannot listen on all addresses here: %v", err)
	}
	defer s.Close(context.Background())
	_, port, _ := strings.Cut(s.Addr().String(), "]:")
	if port == "" {
		_, port, _ = strings.Cut(s.Addr().String(), ":")
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/api/node")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous call to a port on all addresses: %d, want 401", resp.StatusCode)
	}
}

// lookupAuth is fakeAuth whose users can be changed: the stamp of a user
// changes with its password.
type lookupAuth struct {
	mu    sync.Mutex
	users map[string]string // user -> password
	roles map[string][]string
}

func (a *lookupAuth) Authenticate(user, pass string) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pw, ok := a.users[user]; !ok || pw != pass {
		return nil, errBadLogin
	}
	return a.roles[user], nil
}

func (a *lookupAuth) Lookup(user string) ([]string, string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pw, ok := a.users[user]
	return a.roles[user], "stamp-of-" + pw, ok
}

func (a *lookupAuth) set(user, pass string, roles ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pass == "" {
		delete(a.users, user)
		return
	}
	a.users[user], a.roles[user] = pass, roles
}

// TestSessionsFollowTheUsers checks that a console session ends when its
// user's password changes or the user is removed, and that a role taken
// away applies at once.
func TestSessionsFollowTheUsers(t *testing.T) {
	node, b := liveNode(t)
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
		t.Fatal(err)
	}
	auth := &lookupAuth{users: map[string]string{}, roles: map[string][]string{}}
	auth.set("admin", "secret", "amq", ManageRole)
	s, err := New(Options{Node: node, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	c := browserClient(t)
	csrf := login(t, c, ts.URL, "admin", "secret")
	auth.set("admin", "secret", "amq") // manage taken away
	if status, _, _ := postForm(t, c, ts.URL+"/queue/purge?name=orders", url.Values{"csrf": {csrf}}); status != http.StatusForbidden {
		t.Fatalf("purge after the manage role was taken away: %d, want 403", status)
	}
	auth.set("admin", "changed", "amq", ManageRole)
	if status, loc, _ := get(t, c, ts.URL+"/queues"); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("the session survived a password change: %d to %q", status, loc)
	}

	csrf = login(t, c, ts.URL, "admin", "changed")
	auth.set("admin", "")
	if status, _, _ := postForm(t, c, ts.URL+"/queue/purge?name=orders", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("a removed user's purge: %d, want a redirect to the login page", status)
	}
	if status, _ := call(t, ts, "GET", "/api/queues", "admin:changed", ""); status != http.StatusUnauthorized {
		t.Fatalf("a removed user's basic credentials: %d, want 401", status)
	}
}

// TestConsoleLinksCarryAnyName follows the console's links to queues
// whose names hold a slash, a '#', a '?', spaces, other scripts or only
// dots: each must reach that queue's page.
func TestConsoleLinksCarryAnyName(t *testing.T) {
	node, b := liveNode(t)
	names := []string{"a/b", "c#d", "..", ".", "e?f=g&h", "with space", "注文", "%2F"}
	for _, n := range names {
		if err := b.CreateQueue(broker.QueueConfig{Name: n, Durable: true}); err != nil {
			t.Fatalf("create %q: %v", n, err)
		}
	}
	ts := serve(t, node)
	c := browserClient(t)
	login(t, c, ts.URL, "admin", "secret")
	_, _, list := get(t, c, ts.URL+"/queues")
	for _, n := range names {
		href := "/queue?name=" + url.QueryEscape(n)
		if !strings.Contains(html.UnescapeString(list), `href="`+href+`"`) {
			t.Errorf("the queues page has no link %q for %q", href, n)
			continue
		}
		status, _, page := get(t, c, ts.URL+href)
		if status != http.StatusOK || !strings.Contains(page, `<h1>Queue `+templateEscape(n)+`</h1>`) {
			t.Errorf("GET %s: %d, the page is not queue %q", href, status, n)
		}
	}
	// An old-style link redirects to the new one.
	if status, loc, _ := get(t, c, ts.URL+"/queues/a%2Fb"); status != http.StatusMovedPermanently || loc != "/queue?name=a%2Fb" {
		t.Errorf("GET /queues/a%%2Fb: %d to %q", status, loc)
	}
}

// templateEscape escapes text as html/template does in element content.
func templateEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// TestLargeMessagePreview checks that a large message shows its real size
// and the start of its body in the API, read from its body file.
func TestLargeMessagePreview(t *testing.T) {
	var id atomic.Uint64
	large, err := largemsg.Open(largemsg.Options{Dir: t.TempDir(), NewID: func() uint64 { return id.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{Store: memstore.New(), Large: large})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.CreateQueue(broker.QueueConfig{Name: "big", Durable: true}); err != nil {
		t.Fatal(err)
	}
	const size = 300 << 10
	w, err := large.Create()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("large body starts here " + strings.Repeat("z", size))[:size]
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m := &message.Message{Address: "big", Durable: true, Timestamp: time.Now().UnixMilli()}
	m.SetLarge(&message.Large{ID: w.ID(), Size: size})
	if err := b.SendMessage(m); err != nil {
		t.Fatal(err)
	}
	node, _ := liveNode(t)
	node.b = b
	ts := serve(t, node)
	var msgs []MessageJSON
	mustCall(t, ts, "GET", "/api/queues/big/messages", "admin:secret", "", 200, &msgs)
	if len(msgs) != 1 {
		t.Fatalf("browsed %d messages", len(msgs))
	}
	got := msgs[0]
	if got.BodySize != size || !got.Large || !got.BodyTruncated || len(got.Body) != BodyPreviewBytes ||
		!strings.HasPrefix(got.Body, "large body starts here") || got.BodyError != "" {
		t.Fatalf("large message in the API: size %d large %v truncated %v body %d bytes %q… error %q",
			got.BodySize, got.Large, got.BodyTruncated, len(got.Body), got.Body[:min(30, len(got.Body))], got.BodyError)
	}
}

// TestTwoNodesOnOneHostKeepTheirLogins logs one browser (one cookie jar:
// cookies are per host, not per port) in to the two nodes of a pair on
// one host: each keeps its own session.
func TestTwoNodesOnOneHostKeepTheirLogins(t *testing.T) {
	live, _ := liveNode(t)
	a, b := serve(t, live), serve(t, backupNode(t))
	c := browserClient(t)
	login(t, c, a.URL, "admin", "secret")
	login(t, c, b.URL, "admin", "secret")
	for _, ts := range []*httptest.Server{a, b} {
		if status, loc, _ := get(t, c, ts.URL+"/queues"); status != http.StatusOK {
			t.Errorf("%s after logging in to both nodes: %d to %q", ts.URL, status, loc)
		}
	}
}
