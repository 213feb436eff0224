package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/client"
	"tandem/internal/store/pgstore/pgtest"
	wire "tandem/internal/wire/stomp"
)

// dbLease are the lease flags of the database pairs of these tests: a
// lease longer than the default, so that a machine loaded by the rest of
// the test suite does not make a live miss its renewals; the tests about
// the lease's timing set their own.
var dbLease = []string{"--jdbc-lock-expiration", "5s", "--jdbc-lock-renew-period", "500ms"}

// newDBPair is a master and a slave created with --jdbc on one database,
// at adjacent port offsets as in lab A.
func newDBPair(t *testing.T, url string, masterFlags, slaveFlags []string) pair {
	t.Helper()
	root := t.TempDir()
	off := freePortOffset(t)
	db := append([]string{"--shared-store", "--jdbc", "--jdbc-connection-url", url}, dbLease...)
	m := createAt(t, filepath.Join(root, "brokers", "master"), off, append(db, masterFlags...)...)
	s := createAt(t, filepath.Join(root, "brokers", "slave"), off+1, append(append(db, "--backup"), slaveFlags...)...)
	return pair{master: m, slave: s}
}

// query runs a query returning one integer on url.
func query(t *testing.T, url, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestLabADatabase is lab A on PostgreSQL: a master and a slave created
// with --jdbc, 100 messages to the master, the master killed, all 100
// consumed from the slave, then failback to the restarted master.
func TestLabADatabase(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	p := newDBPair(t, url, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lease", 20*time.Second)
	if listening(p.slave.addr()) {
		t.Fatal("the waiting slave accepts clients")
	}
	master.waitLog("backup announced", 20*time.Second)

	r := mustTandem(t, cli("producer", "--verbose", "--message-count", "100", "--url", p.master.url())...)
	if !strings.Contains(r.stdout, "Produced: 100 messages") {
		t.Fatalf("producer printed:\n%s", r.stdout)
	}
	if n := query(t, url, "SELECT count(*) FROM tandem_messages"); n != 100 {
		t.Fatalf("%d messages in the database, want 100", n)
	}
	killed := time.Now()
	master.kill()
	waitListening(t, p.slave.addr(), 20*time.Second)
	t.Logf("slave accepted clients %v after SIGKILL of the master", time.Since(killed).Round(time.Millisecond))
	slave.waitLog("became live", 5*time.Second)

	r = mustTandem(t, cli("consumer", "--verbose", "--message-count", "100", "--url", p.slave.url())...)
	if !strings.Contains(r.stdout, "Consumed: 100 messages") {
		t.Fatalf("consumer on the slave printed:\n%s", r.stdout)
	}
	for i := 0; i < 100; i += 33 {
		if !strings.Contains(r.stdout, "Received test message: "+strconv.Itoa(i)+"\n") {
			t.Fatalf("message %d missing:\n%s", i, r.stdout)
		}
	}

	// Failback: the restarted master takes over, the slave waits again.
	start(t, p.master)
	waitListening(t, p.master.addr(), 30*time.Second)
	waitClosed(t, p.slave.addr(), 10*time.Second)
	slave.waitLog("handing the store back", 5*time.Second)
	if !slave.alive() {
		t.Fatal("the slave exited instead of going back to waiting")
	}
	if n := query(t, url, "SELECT count(*) FROM tandem_messages"); n != 0 {
		t.Fatalf("%d messages left in the database after all were consumed", n)
	}
}

// TestDatabasePairFeatures checks that the live/backup features work over
// the database as over files: the console's roles, node status, the
// topology that teaches a failover client the backup, the failover itself,
// and tandem data print/verify on the database while the pair runs.
func TestDatabasePairFeatures(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	p := newDBPair(t, url, nil, nil)
	master := startAnnouncedDB(t, p)
	pairURL := fmt.Sprintf("failover:(%s,%s)", p.master.url(), p.slave.url())

	waitStatus(t, p.master.webURL()+"/readyz", http.StatusOK, 10*time.Second)
	if status, body := httpGet(t, p.slave.webURL()+"/readyz", false); status != http.StatusServiceUnavailable {
		t.Fatalf("the waiting backup's /readyz: %d %s, want 503", status, body)
	}
	_, body := httpGet(t, p.slave.webURL()+"/api/node", true)
	var node struct{ Role, State, JournalDirectory string }
	if err := json.Unmarshal([]byte(body), &node); err != nil {
		t.Fatal(err)
	}
	if node.Role != "backup" || node.State != "waiting" || !strings.HasPrefix(node.JournalDirectory, "database ") {
		t.Fatalf("the backup's /api/node = %+v (%s)", node, body)
	}
	r := mustTandem(t, cli("node", "status", "--url", pairURL)...)
	if !nodeRow(r.stdout, p.master.webURL(), "live") || !nodeRow(r.stdout, p.slave.webURL(), "backup") {
		t.Fatalf("node status:\n%s", r.stdout)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialLearnsBackup(t, ctx, p)
	if err := c.Send(ctx, "queue://topo", []byte("before")); err != nil {
		t.Fatal(err)
	}
	r = mustTandem(t, "data", "verify", "--instance", p.master.dir)
	if !strings.Contains(r.stdout, "1 messages") || !strings.Contains(r.stdout, "OK") || !strings.Contains(r.stdout, "state=L epoch=1 holder=master") {
		t.Fatalf("data verify on the running pair:\n%s", r.stdout)
	}
	r = mustTandem(t, "data", "print", "--instance", p.slave.dir)
	for _, want := range []string{"== lease", "epoch=1 holder=master role=P how=\"free\"", "queue id=", "address=topo", "body=6B"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("data print lacks %q:\n%s", want, r.stdout)
		}
	}

	master.kill()
	if err := c.Send(ctx, "queue://topo", []byte("after")); err != nil {
		t.Fatalf("send after the live died: %v", err)
	}
	sub, err := c.Subscribe(ctx, "queue://topo", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before", "after"} {
		m := receive(t, sub, 20*time.Second)
		if string(m.Body) != want {
			t.Fatalf("received %q, want %q", m.Body, want)
		}
		m.Ack(ctx)
	}
	r = mustTandem(t, cli("node", "status", "--url", pairURL)...)
	if !nodeRow(r.stdout, p.master.webURL(), "down") || !nodeRow(r.stdout, p.slave.webURL(), "live") {
		t.Fatalf("node status after the kill:\n%s", r.stdout)
	}
}

// startAnnouncedDB starts a database pair's master, then its slave, and
// waits until the slave waits and the master has its announcement.
func startAnnouncedDB(t *testing.T, p pair) *proc {
	t.Helper()
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lease", 20*time.Second)
	master.waitLog("backup announced", 20*time.Second)
	return master
}

// TestDatabasePagedAndLargeSurviveFailover is the paging and large-message
// failover test on a database pair: the page store and the bodies are
// tables, so the backup finds them without any shared file system.
func TestDatabasePagedAndLargeSurviveFailover(t *testing.T) {
	const msgSize, n, half = 16 << 10, 400, 150
	const largeSize = 8 << 20
	url := pgtest.Start(t).NewDatabase(t)
	p := newDBPair(t, url, nil, nil)
	for _, in := range []instance{p.master, p.slave} {
		editConfig(t, in, func(s string) string {
			return strings.Replace(s, "address-settings:\n", `address-settings:
  "paged.#":
    max-size-bytes: 256KiB
    address-full-policy: PAGE
`, 1)
		})
	}
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lease", 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	prod, err := client.Dial(ctx, p.master.url(), client.WithCredentials("admin", "admin"), client.WithSendWindow(32))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := prod.Send(ctx, "queue://paged.failover", pagedBody(i, msgSize)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	if paged := query(t, url, "SELECT count(*) FROM tandem_page_store"); paged == 0 {
		t.Fatal("nothing was paged into the page-store table")
	}
	dialRaw(t, p.master.addr()).sendLarge("/queue/large.failover", largeSize)
	if chunks := query(t, url, "SELECT count(*) FROM tandem_large_messages_chunks"); chunks != largeSize/(256<<10) {
		t.Fatalf("%d chunks for an %d MiB body", chunks, largeSize>>20)
	}

	consume := func(url string, first, last int) {
		t.Helper()
		c := dialAdmin(t, ctx, url)
		sub, err := c.Subscribe(ctx, "queue://paged.failover", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(50))
		if err != nil {
			t.Fatal(err)
		}
		for i := first; i < last; i++ {
			m := receive(t, sub, 30*time.Second)
			if !bytes.Equal(m.Body, pagedBody(i, msgSize)) {
				t.Fatalf("message %d: got %.9q", i, m.Body)
			}
			if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	consume(p.master.url(), 0, half)
	master.kill()
	waitListening(t, p.slave.addr(), 30*time.Second)
	consume(p.slave.url(), half, n)

	cons := dialRaw(t, p.slave.addr())
	cons.write(&wire.Frame{Command: wire.CmdSubscribe, Headers: wire.Headers{{Key: "destination", Value: "/queue/large.failover"},
		{Key: "id", Value: "s1"}, {Key: "ack", Value: "client-individual"}}})
	h := sha256.New()
	m := cons.next(h)
	if m.Command != wire.CmdMessage {
		t.Fatalf("expected the large MESSAGE from the backup, got %s %q", m.Command, m.Body)
	}
	if !bytes.Equal(h.Sum(nil), patternSum(largeSize)) {
		t.Fatal("the large body read from the backup differs from the one sent to the live")
	}
	id, _ := m.Headers.Get("ack")
	cons.write(&wire.Frame{Command: wire.CmdAck, Headers: wire.Headers{{Key: "id", Value: id}}})
	deadline := time.Now().Add(20 * time.Second)
	for query(t, url, "SELECT count(*) FROM tandem_large_messages_chunks")+query(t, url, "SELECT count(*) FROM tandem_page_store") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("chunks or paged rows left after everything was consumed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustTandem(t, "data", "verify", "--instance", p.slave.dir)
}

// TestTwoStandaloneBrokersOnOneDatabase: a broker without ha-policy takes
// the lease too, so a second broker pointed at the same database waits
// instead of serving it at the same time, and serves it once the first one
// is gone, with its messages.
func TestTwoStandaloneBrokersOnOneDatabase(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	db := append([]string{"--jdbc", "--jdbc-connection-url", url}, dbLease...)
	first, second := create(t, "first", db...), create(t, "second", db...)
	a := start(t, first)
	waitListening(t, first.addr(), 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "10", "--url", first.url())...)
	b := start(t, second)
	b.waitLog("waiting for the live lease", 20*time.Second)
	if listening(second.addr()) {
		t.Fatal("a second broker serves a database the first one serves")
	}
	a.kill()
	waitListening(t, second.addr(), 20*time.Second)
	r := mustTandem(t, cli("consumer", "--message-count", "10", "--url", second.url())...)
	if !strings.Contains(r.stdout, "Consumed: 10 messages") {
		t.Fatalf("consumer on the second broker printed:\n%s", r.stdout)
	}
}
