package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pair is a master and a slave instance on one shared store, at adjacent
// port offsets so the connectors create writes line up (as in lab A).
type pair struct {
	master, slave instance
	shared        string
}

func newPair(t *testing.T, masterFlags, slaveFlags []string) pair {
	t.Helper()
	root := t.TempDir()
	shared := filepath.Join(root, "shared")
	off := freePortOffset(t)
	m := createAt(t, filepath.Join(root, "brokers", "master"), off,
		append([]string{"--shared-store", "--data", shared}, masterFlags...)...)
	s := createAt(t, filepath.Join(root, "brokers", "slave"), off+1,
		append([]string{"--shared-store", "--backup", "--data", shared}, slaveFlags...)...)
	return pair{master: m, slave: s, shared: shared}
}

var admin = []string{"--user", "admin", "--password", "admin"}

func cli(args ...string) []string { return append(args, admin...) }

// TestLabA is SCENARIOS.md lab A, command for command: a master and a slave
// on a shared store, 100 messages to the master, the master killed, all 100
// consumed from the slave, then failback to the restarted master.
func TestLabA(t *testing.T) {
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	if listening(p.slave.addr()) {
		t.Fatal("the waiting slave accepts clients")
	}

	r := mustTandem(t, cli("producer", "--verbose", "--message-count", "100", "--url", p.master.url())...)
	if !strings.Contains(r.stdout, "Produced: 100 messages") {
		t.Fatalf("producer printed:\n%s", r.stdout)
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
}

// TestLabB is SCENARIOS.md lab B: clients with a failover URL listing the
// backup first find whichever node holds the lock; after the live is killed
// the same message is browsed from the other node; the restarted node stays
// a backup (no failback).
func TestLabB(t *testing.T) {
	p := newPair(t, nil, []string{"--no-failback"})
	first := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	second := start(t, p.slave)
	second.waitLog("waiting for the live lock", 20*time.Second)

	url := "failover:(" + p.slave.url() + "," + p.master.url() + ")"
	mustTandem(t, cli("producer", "--destination", "test", "--message-count", "1", "--url", url)...)
	before := mustTandem(t, cli("browse", "--verbose", "--destination", "test", "--url", url)...)
	if !strings.Contains(before.stdout, "Browsed: 1 messages") {
		t.Fatalf("browse before the kill printed:\n%s", before.stdout)
	}
	first.kill()
	waitListening(t, p.slave.addr(), 20*time.Second)
	// The same browse in Artemis' URL form must find the same message.
	artemisURL := "(" + p.slave.url() + "," + p.master.url() + ")?ha=true&reconnectAttempts=-1&retryInterval=100"
	after := mustTandem(t, cli("browse", "--verbose", "--destination", "test", "--url", artemisURL)...)
	if !strings.Contains(after.stdout, "Browsed: 1 messages") || browsedIDs(before.stdout) != browsedIDs(after.stdout) {
		t.Fatalf("browse after the kill differs:\nbefore:\n%s\nafter:\n%s", before.stdout, after.stdout)
	}

	// The restarted node waits as a backup: the slave does not fail back.
	restarted := start(t, p.master)
	restarted.waitLog("waiting for the live lock", 20*time.Second)
	if listening(p.master.addr()) || !listening(p.slave.addr()) {
		t.Fatal("the restarted node took over although failback is off")
	}
}

// browsedIDs extracts the message ids a verbose browse printed.
func browsedIDs(out string) string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(line, "Browser") {
			ids = append(ids, f[4])
		}
	}
	return strings.Join(ids, ",")
}

// TestGracefulStopFollowsFailoverOnShutdown checks Artemis' semantics: a
// graceful stop of the live hands over only with failover-on-shutdown.
func TestGracefulStopFollowsFailoverOnShutdown(t *testing.T) {
	t.Run("without", func(t *testing.T) {
		p := newPair(t, nil, nil)
		master := start(t, p.master)
		waitListening(t, p.master.addr(), 20*time.Second)
		slave := start(t, p.slave)
		slave.waitLog("waiting for the live lock", 20*time.Second)
		master.stop()
		slave.waitLog("paused", 10*time.Second)
		if listening(p.slave.addr()) {
			t.Fatal("the slave took over after a graceful stop without failover-on-shutdown")
		}
		// The master comes back and serves again; the slave keeps waiting.
		start(t, p.master)
		waitListening(t, p.master.addr(), 20*time.Second)
	})
	t.Run("with", func(t *testing.T) {
		p := newPair(t, []string{"--failover-on-shutdown"}, nil)
		master := start(t, p.master)
		waitListening(t, p.master.addr(), 20*time.Second)
		slave := start(t, p.slave)
		slave.waitLog("waiting for the live lock", 20*time.Second)
		mustTandem(t, cli("producer", "--message-count", "10", "--url", p.master.url())...)
		master.stop()
		waitListening(t, p.slave.addr(), 20*time.Second)
		r := mustTandem(t, cli("consumer", "--message-count", "10", "--url", p.slave.url())...)
		if !strings.Contains(r.stdout, "Consumed: 10 messages") {
			t.Fatalf("consumer printed:\n%s", r.stdout)
		}
	})
}

// TestSecondBackupQueues starts two backups: the second queues behind the
// first, and takes over when the first (by then live) dies too.
func TestSecondBackupQueues(t *testing.T) {
	p := newPair(t, nil, nil)
	third := createAt(t, filepath.Join(filepath.Dir(p.slave.dir), "slave2"), freePortOffset(t),
		"--shared-store", "--backup", "--data", p.shared)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	slave2 := start(t, third)
	slave2.waitLog("queueing behind it", 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "5", "--url", p.master.url())...)

	master.kill()
	waitListening(t, p.slave.addr(), 20*time.Second)
	slave2.waitLog("waiting for the live lock", 20*time.Second)
	slave.kill()
	waitListening(t, third.addr(), 20*time.Second)
	r := mustTandem(t, cli("consumer", "--message-count", "5", "--url", third.url())...)
	if !strings.Contains(r.stdout, "Consumed: 5 messages") {
		t.Fatalf("consumer on the third node printed:\n%s", r.stdout)
	}
}

// TestStaleLiveIsFenced takes the live lock file away from a running live
// node (as a broken shared file system might) and checks that the node
// stops writing and exits with status 3, and that the journal it leaves
// stays readable.
func TestStaleLiveIsFenced(t *testing.T) {
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "5", "--url", p.master.url())...)
	lock := filepath.Join(p.shared, "journal", "live.lock")
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := master.exitCode(10 * time.Second); code != 3 {
		t.Fatalf("fenced live exited with %d, want 3:\n%s", code, master.output())
	}
	if !strings.Contains(master.output(), "lost the shared store") {
		t.Fatalf("no fencing line in the log:\n%s", master.output())
	}
	mustTandem(t, "data", "verify", "--instance", p.master.dir)
}
