package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/journal"
	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// fakeNode is a Node whose role the test sets; its broker is a real
// broker on an in-memory store, or nil for a backup.
type fakeNode struct {
	mu        sync.Mutex
	status    NodeStatus
	b         Broker
	failovers int
}

func (n *fakeNode) Status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

func (n *fakeNode) Broker() Broker {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b
}

func (n *fakeNode) ForceFailover() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.status.HAPolicy == "none" {
		return fmt.Errorf("%w: this broker has no ha-policy", ErrNoFailover)
	}
	if n.b == nil {
		return fmt.Errorf("%w: this node is not live", ErrNoFailover)
	}
	n.failovers++
	return nil
}

// fakeAuth knows three users: admin (manage), viewer (no manage), and
// nobody else.
type fakeAuth struct{}

var errBadLogin = errors.New("bad credentials")

func (fakeAuth) Authenticate(user, pass string) ([]string, error) {
	switch {
	case user == "admin" && pass == "secret":
		return []string{"amq", ManageRole}, nil
	case user == "viewer" && pass == "look":
		return []string{"amq"}, nil
	}
	return nil, errBadLogin
}

// liveNode returns a live node with a started broker.
func liveNode(t *testing.T) (*fakeNode, *broker.Broker) {
	t.Helper()
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st := NodeStatus{Name: "master", Version: "test", NodeID: "node-1", Role: RoleLive, HAPolicy: "shared-store primary",
		State: "live", StateSince: time.Now(), Epoch: 7, Started: time.Now().Add(-time.Minute), ServingSince: time.Now(),
		JournalDirectory: t.TempDir(), Activations: 1,
		Journal:     &journal.Stats{Files: 2, Syncs: 5, BytesWritten: 4096, Compactions: 1},
		SyncLatency: &journal.SyncLatency{Counts: make([]uint64, len(journal.SyncBuckets)), Count: 5, Sum: 5 * time.Millisecond}}
	for i := range st.SyncLatency.Counts {
		if i >= 5 {
			st.SyncLatency.Counts[i] = 5
		}
	}
	return &fakeNode{status: st, b: b}, b
}

// backupNode returns a backup waiting for the lock.
func backupNode(t *testing.T) *fakeNode {
	t.Helper()
	return &fakeNode{status: NodeStatus{Name: "slave", Version: "test", NodeID: "node-1", Role: RoleBackup,
		HAPolicy: "shared-store backup", State: "waiting", StateSince: time.Now().Add(-time.Hour), Epoch: 7,
		LiveName: "master", Started: time.Now(), JournalDirectory: "/mnt/shared/tandem/journal",
		StateDetail: "waiting for the live lock"}}
}

// serve starts the web server for node on a test HTTP server.
func serve(t *testing.T, node Node) *httptest.Server {
	t.Helper()
	s, err := New(Options{Node: node, Auth: fakeAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// call makes one request with optional basic credentials ("user:pass")
// and returns the status and body.
func call(t *testing.T, ts *httptest.Server, method, path, creds, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if creds != "" {
		u, p, _ := strings.Cut(creds, ":")
		req.SetBasicAuth(u, p)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mustCall is call that fails the test on an unexpected status and
// decodes the JSON answer into out (when out is not nil).
func mustCall(t *testing.T, ts *httptest.Server, method, path, creds, body string, want int, out any) {
	t.Helper()
	status, got := call(t, ts, method, path, creds, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, got)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(got), out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, got, err)
		}
	}
}

// send puts n durable messages on the queue through the broker, as a
// producer would.
func send(t *testing.T, b *broker.Broker, queue string, n int, body string) {
	t.Helper()
	for i := 0; i < n; i++ {
		m := &message.Message{Address: queue, Durable: true, Priority: 4, Body: []byte(body),
			Properties: []message.Property{{Key: "seq", Value: string(rune('0' + i%10))}}}
		if err := b.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
}

// browserClient is an HTTP client with a cookie jar that does not follow
// redirects, so a test sees each 303 the console answers.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// postForm posts a console form and returns the status, Location and body.
func postForm(t *testing.T, c *http.Client, u string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// get fetches a console page and returns the status, Location and body.
func get(t *testing.T, c *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}
