package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// webURL is the instance's HTTP port: 8161 plus its port offset.
func (i instance) webURL() string { return fmt.Sprintf("http://127.0.0.1:%d", 8161+i.offset) }

// httpGet fetches url with optional admin credentials and returns the
// status and body; a connection error is status 0.
func httpGet(t *testing.T, url string, auth bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth("admin", "admin")
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers want, or fails the test.
func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var status int
	var body string
	for time.Now().Before(deadline) {
		if status, body = httpGet(t, url, false); status == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s answered %d %s, not %d, within %v", url, status, body, want, within)
}

// queueStat runs tandem queue stat --json against url and returns the
// named queue's row.
func queueStat(t *testing.T, url, queue string) map[string]any {
	t.Helper()
	r := mustTandem(t, cli("queue", "stat", "--json", "--url", url)...)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("queue stat --json printed %q: %v", r.stdout, err)
	}
	for _, row := range rows {
		if row["name"] == queue {
			return row
		}
	}
	t.Fatalf("queue stat shows no queue %s:\n%s", queue, r.stdout)
	return nil
}

// TestWebOnLiveAndBackup runs a shared-store pair from the real binary and
// checks the HTTP port of both nodes: health and readiness, the backup's
// read-only answers, metrics, and the operator commands, before and after
// the live is killed.
func TestWebOnLiveAndBackup(t *testing.T) {
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	pairURL := fmt.Sprintf("failover:(%s,%s)", p.master.url(), p.slave.url())

	waitStatus(t, p.master.webURL()+"/readyz", http.StatusOK, 10*time.Second)
	waitStatus(t, p.slave.webURL()+"/healthz", http.StatusOK, 10*time.Second)
	if status, body := httpGet(t, p.slave.webURL()+"/readyz", false); status != http.StatusServiceUnavailable {
		t.Fatalf("the waiting backup's /readyz: %d %s, want 503", status, body)
	}
	// The pair allows anonymous messaging and its HTTP ports listen on
	// loopback: a caller on this machine is served without credentials,
	// but never one that comes through a proxy (docs/management.md).
	if status, _ := httpGet(t, p.master.webURL()+"/api/queues", false); status != http.StatusOK {
		t.Fatalf("anonymous /api/queues from this machine: %d, want 200 with allow-anonymous messaging", status)
	}
	req, err := http.NewRequest(http.MethodGet, p.master.webURL()+"/api/queues", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous /api/queues through a proxy: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	_, body := httpGet(t, p.slave.webURL()+"/api/node", true)
	var node struct {
		Role, State, JournalDirectory string
	}
	if err := json.Unmarshal([]byte(body), &node); err != nil {
		t.Fatal(err)
	}
	if node.Role != "backup" || node.State != "waiting" || !strings.HasPrefix(node.JournalDirectory, p.shared) {
		t.Fatalf("the backup's /api/node = %+v (%s)", node, body)
	}

	mustTandem(t, cli("producer", "--message-count", "10", "--destination", "queue://orders", "--url", p.master.url())...)
	if row := queueStat(t, pairURL, "orders"); row["messageCount"] != 10.0 || row["messagesAdded"] != 10.0 {
		t.Fatalf("queue stat on the live: %v", row)
	}
	r := mustTandem(t, cli("queue", "stat", "--url", pairURL)...)
	if !strings.Contains(r.stdout, "|NAME ") || !strings.Contains(r.stdout, "MESSAGE_COUNT") || !strings.Contains(r.stdout, "|orders ") {
		t.Fatalf("queue stat table:\n%s", r.stdout)
	}
	_, metrics := httpGet(t, p.master.webURL()+"/metrics", false)
	for _, want := range []string{
		`tandem_queue_messages{address="orders",queue="orders",routing_type="ANYCAST"} 10`,
		`tandem_queue_messages_added_total{address="orders",queue="orders",routing_type="ANYCAST"} 10`,
		"tandem_ha_live 1",
		"tandem_journal_syncs_total ",
		"tandem_journal_sync_duration_seconds_count ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the live's /metrics lacks %q", want)
		}
	}
	status, body := httpPost(t, p.slave.webURL()+"/api/queues/orders/purge")
	if status != http.StatusConflict || !strings.Contains(body, "not live") {
		t.Fatalf("purge on the backup: %d %s, want 409", status, body)
	}

	r = mustTandem(t, cli("node", "status", "--url", pairURL)...)
	if !nodeRow(r.stdout, p.master.webURL(), "live") || !nodeRow(r.stdout, p.slave.webURL(), "backup") {
		t.Fatalf("node status before the kill:\n%s", r.stdout)
	}

	master.kill()
	waitStatus(t, p.slave.webURL()+"/readyz", http.StatusOK, 20*time.Second)
	r = mustTandem(t, cli("node", "status", "--url", pairURL)...)
	if !nodeRow(r.stdout, p.master.webURL(), "down") || !nodeRow(r.stdout, p.slave.webURL(), "live") {
		t.Fatalf("node status after the kill:\n%s", r.stdout)
	}
	if row := queueStat(t, pairURL, "orders"); row["messageCount"] != 10.0 {
		t.Fatalf("queue stat after failover: %v", row)
	}
	r = mustTandem(t, cli("queue", "purge", "--name", "orders", "--url", pairURL)...)
	if !strings.Contains(r.stdout, "Purged 10 messages") {
		t.Fatalf("queue purge printed %q", r.stdout)
	}
	if row := queueStat(t, pairURL, "orders"); row["messageCount"] != 0.0 {
		t.Fatalf("queue stat after purge: %v", row)
	}
}

// nodeRow reports whether node status printed a row for url with status.
// The CLI derives the URL from the connector's host name, localhost.
func nodeRow(out, url, status string) bool {
	url = strings.Replace(url, "127.0.0.1", "localhost", 1)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "|"+url+" ") && strings.Contains(line, "|"+status+" ") {
			return true
		}
	}
	return false
}

// httpPost posts an empty body with admin credentials.
func httpPost(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "admin")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNoWeb checks that create --no-web leaves the HTTP port closed.
func TestNoWeb(t *testing.T) {
	in := create(t, "quiet", "--no-web")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	if status, _ := httpGet(t, in.webURL()+"/healthz", false); status != 0 {
		t.Fatalf("an instance created with --no-web answers HTTP (%d)", status)
	}
}

// TestForceFailover asks the live node to fail over through the API: it
// stops with a non-zero status so a supervisor restarts it, and the backup
// takes over without waiting for failover-on-shutdown.
func TestForceFailover(t *testing.T) {
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "3", "--destination", "queue://kept", "--url", p.master.url())...)

	if status, body := httpPost(t, p.slave.webURL()+"/api/node/force-failover"); status != http.StatusConflict {
		t.Fatalf("force-failover on the backup: %d %s, want 409", status, body)
	}
	if status, body := httpPost(t, p.master.webURL()+"/api/node/force-failover"); status != http.StatusAccepted {
		t.Fatalf("force-failover on the live: %d %s, want 202", status, body)
	}
	if code := master.exitCode(15 * time.Second); code == 0 {
		t.Fatal("the forced-out live exited 0; a supervisor would not restart it")
	}
	waitStatus(t, p.slave.webURL()+"/readyz", http.StatusOK, 20*time.Second)
	if row := queueStat(t, p.slave.url(), "kept"); row["messageCount"] != 3.0 {
		t.Fatalf("after force-failover the backup holds %v", row)
	}
}
