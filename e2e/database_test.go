package e2e

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/store/pgstore/pgtest"
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
