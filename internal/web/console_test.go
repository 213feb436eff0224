package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tandem/internal/broker"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// login logs c in through the console's form and returns the page's form
// token.
func login(t *testing.T, c *http.Client, base, user, pass string) string {
	t.Helper()
	status, loc, body := postForm(t, c, base+"/login", url.Values{"user": {user}, "password": {pass}, "next": {"/queues"}})
	if status != http.StatusSeeOther || loc != "/queues" {
		t.Fatalf("login as %s: %d to %q\n%s", user, status, loc, body)
	}
	_, _, page := get(t, c, base+"/queues")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form token on the queues page:\n%s", page)
	}
	return m[1]
}

func TestConsoleNeedsLogin(t *testing.T) {
	node, _ := liveNode(t)
	ts := serve(t, node)
	c := browserClient(t)
	for _, path := range []string{"/", "/queues", "/queue?name=x", "/addresses", "/consumers", "/connections"} {
		status, loc, _ := get(t, c, ts.URL+path)
		if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("GET %s without login: %d to %q, want a redirect to the login page", path, status, loc)
		}
	}
	status, _, body := postForm(t, c, ts.URL+"/login", url.Values{"user": {"admin"}, "password": {"nope"}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "Login failed") {
		t.Fatalf("bad login: %d\n%s", status, body)
	}
	status, loc, _ := postForm(t, c, ts.URL+"/login", url.Values{"user": {"admin"}, "password": {"secret"}, "next": {"//evil.example"}})
	if status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("login with a foreign next: %d to %q, want a redirect to /", status, loc)
	}
}

func TestConsoleShowsRoleQueuesAndPurges(t *testing.T) {
	node, b := liveNode(t)
	ts := serve(t, node)
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
		t.Fatal(err)
	}
	send(t, b, "orders", 3, "<b>not markup</b>")
	c := browserClient(t)
	csrf := login(t, c, ts.URL, "admin", "secret")

	_, _, home := get(t, c, ts.URL+"/")
	if !strings.Contains(home, `id="role" class="role role-live">live<`) || !strings.Contains(home, "node-1") {
		t.Fatalf("the node page does not show the live role and node id:\n%s", home)
	}
	_, _, list := get(t, c, ts.URL+"/queues")
	if !strings.Contains(list, `data-queue="orders"`) || !strings.Contains(list, `<td class="n depth">3</td>`) {
		t.Fatalf("the queues page does not show orders with depth 3:\n%s", list)
	}
	_, _, detail := get(t, c, ts.URL+"/queue?name=orders")
	if !strings.Contains(detail, "&lt;b&gt;not markup&lt;/b&gt;") || strings.Contains(detail, "<b>not markup</b>") {
		t.Fatal("a message body is not escaped on the queue page")
	}
	if !strings.Contains(detail, `<dt>seq</dt><dd>0</dd>`) {
		t.Fatalf("the queue page does not show message headers:\n%s", detail)
	}

	// The confirmation page comes first; the POST needs the form token.
	status, _, confirm := get(t, c, ts.URL+"/queue/purge?name=orders")
	if status != http.StatusOK || !strings.Contains(confirm, `action="/queue/purge?name=orders"`) {
		t.Fatalf("purge confirmation: %d\n%s", status, confirm)
	}
	if status, _, _ := postForm(t, c, ts.URL+"/queue/purge?name=orders", url.Values{}); status != http.StatusForbidden {
		t.Fatalf("purge without the form token: %d, want 403", status)
	}
	if q, _ := b.Queue("orders"); q.Messages != 3 {
		t.Fatalf("a refused purge removed messages: depth %d", q.Messages)
	}
	status, loc, _ := postForm(t, c, ts.URL+"/queue/purge?name=orders", url.Values{"csrf": {csrf}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/queue?name=orders&flash=") {
		t.Fatalf("purge: %d to %q", status, loc)
	}
	if q, _ := b.Queue("orders"); q.Messages != 0 {
		t.Fatalf("depth after a console purge = %d", q.Messages)
	}

	status, _, _ = postForm(t, c, ts.URL+"/queue/send?name=orders", url.Values{"csrf": {csrf}, "body": {"test"},
		"headers": {"color: red"}, "durable": {"on"}})
	if status != http.StatusSeeOther {
		t.Fatalf("send a test message: %d", status)
	}
	items, _ := b.BrowseQueue("orders", 0)
	if len(items) != 1 || string(items[0].Message.Body) != "test" {
		t.Fatalf("after the console's send the queue holds %d messages", len(items))
	}
	if v, _ := items[0].Message.Property("color"); v != "red" {
		t.Fatalf("the console's send lost its header: color=%q", v)
	}

	if status, _, _ := postForm(t, c, ts.URL+"/queue/delete?name=orders", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("delete: %d", status)
	}
	if _, err := b.Queue("orders"); err == nil {
		t.Fatal("the queue survived a console delete")
	}

	status, loc, _ = postForm(t, c, ts.URL+"/logout", url.Values{"csrf": {csrf}})
	if status != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("logout: %d to %q", status, loc)
	}
	if status, _, _ := get(t, c, ts.URL+"/queues"); status != http.StatusSeeOther {
		t.Fatalf("after logout /queues answered %d, want a redirect to login", status)
	}
}

func TestConsoleViewerCannotChange(t *testing.T) {
	node, b := liveNode(t)
	ts := serve(t, node)
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
		t.Fatal(err)
	}
	c := browserClient(t)
	csrf := login(t, c, ts.URL, "viewer", "look")
	_, _, detail := get(t, c, ts.URL+"/queue?name=orders")
	if strings.Contains(detail, `id="purge"`) {
		t.Fatal("a viewer is offered the purge button")
	}
	for _, path := range []string{"/queue/purge?name=orders", "/queue/delete?name=orders", "/force-failover"} {
		if status, _, _ := get(t, c, ts.URL+path); status != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403", path, status)
		}
		if status, _, _ := postForm(t, c, ts.URL+path, url.Values{"csrf": {csrf}}); status != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, status)
		}
	}
	if _, err := b.Queue("orders"); err != nil {
		t.Fatal("a viewer deleted a queue")
	}
}

func TestConsoleOnBackup(t *testing.T) {
	ts := serve(t, backupNode(t))
	c := browserClient(t)
	login(t, c, ts.URL, "admin", "secret")
	_, _, home := get(t, c, ts.URL+"/")
	if !strings.Contains(home, `role-backup">backup<`) || !strings.Contains(home, "/mnt/shared/tandem/journal") {
		t.Fatalf("the backup's node page does not show its role and directory:\n%s", home)
	}
	_, _, list := get(t, c, ts.URL+"/queues")
	if !strings.Contains(list, `id="notlive"`) || !strings.Contains(list, "waiting for the lock on") {
		t.Fatalf("the backup's queues page does not explain it is a backup:\n%s", list)
	}
}
