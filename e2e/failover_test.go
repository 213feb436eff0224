package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"tandem/client"
)

func dialAdmin(t *testing.T, ctx context.Context, url string) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctx, url, client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startAnnounced starts p's master, then its slave, and waits until the
// slave waits for the lock and the master has its announcement. It returns
// the master's process.
func startAnnounced(t *testing.T, p pair) *proc {
	t.Helper()
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	master.waitLog("backup announced", 20*time.Second)
	return master
}

// dialLearnsBackup connects a failover client given only p's master and
// checks that the CONNECTED frame taught it the slave's address.
func dialLearnsBackup(t *testing.T, ctx context.Context, p pair) *client.Conn {
	t.Helper()
	c := dialAdmin(t, ctx, "failover:("+p.master.url()+")")
	slaveURL := fmt.Sprintf("tcp://localhost:%d", 61616+p.slave.offset)
	var known []string
	for _, ep := range c.Endpoints() {
		known = append(known, ep.String())
	}
	if !slices.Contains(known, slaveURL) {
		t.Fatalf("client endpoints %v do not include the announced backup %s", known, slaveURL)
	}
	return c
}

// TestClientFailsOverThroughTopology gives a client only the live's URL; it
// learns the backup from the live's CONNECTED frame and fails over to it.
func TestClientFailsOverThroughTopology(t *testing.T) {
	p := newPair(t, nil, nil)
	master := startAnnounced(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialLearnsBackup(t, ctx, p)
	if err := c.Send(ctx, "queue://topo", []byte("before")); err != nil {
		t.Fatal(err)
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
		m, err := sub.Receive(ctx)
		if err != nil || string(m.Body) != want {
			t.Fatalf("received %v %v, want %q", m, err, want)
		}
		m.Ack(ctx)
	}
}

// TestTopologyWithRequiredLogin is the topology test on a pair that
// requires login: the backup announces itself with the cluster credentials
// create wrote, which the live accepts, so a client given only the live's
// URL still learns the backup.
func TestTopologyWithRequiredLogin(t *testing.T) {
	flags := []string{"--require-login", "--cluster-user", "cluster", "--cluster-password", "s3cret"}
	p := newPair(t, flags, flags)
	for _, in := range []instance{p.master, p.slave} {
		fi, err := os.Stat(filepath.Join(in.dir, "etc", "broker.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s/etc/broker.yaml holds the cluster password but has mode %v, want 0600", in.dir, perm)
		}
	}
	startAnnounced(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dialLearnsBackup(t, ctx, p)
	// The cluster user may log in (to announce) but not use queues.
	cu, err := client.Dial(ctx, p.master.url(), client.WithCredentials("cluster", "s3cret"))
	if err != nil {
		t.Fatalf("the cluster user cannot log in: %v", err)
	}
	defer cu.Close()
	if err := cu.Send(ctx, "queue://topo", []byte("x")); err == nil {
		t.Fatal("the cluster user could send to a queue; it should only be able to announce")
	}
}

// TestFailoverSoak runs producers and consumers with failover URLs while the
// live node is killed and restarted again and again, alternating which node
// is live. At the end every confirmed message was consumed and no message
// was stored twice. TANDEM_SOAK_CYCLES sets the number of kills (default 4).
func TestFailoverSoak(t *testing.T) {
	cycles := 4
	if v := os.Getenv("TANDEM_SOAK_CYCLES"); v != "" {
		cycles, _ = strconv.Atoi(v)
	}
	p := newPair(t, nil, nil)
	nodes := []instance{p.master, p.slave}
	procs := []*proc{start(t, p.master), nil}
	waitListening(t, p.master.addr(), 20*time.Second)
	procs[1] = start(t, p.slave)
	procs[1].waitLog("waiting for the live lock", 20*time.Second)
	url := fmt.Sprintf("failover:(%s,%s)?initialReconnectDelay=10&maxReconnectDelay=200", p.master.url(), p.slave.url())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		confirmed = map[string]bool{}
		consumed  = map[string]map[string]bool{} // body -> message ids it was stored as
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := client.Dial(ctx, url, client.WithCredentials("admin", "admin"), client.WithSendWindow(8))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					if err := c.Flush(ctx); err != nil {
						t.Errorf("producer %d flush: %v", w, err)
					}
					return
				default:
				}
				body := fmt.Sprintf("p%d-%d", w, i)
				if err := c.Send(ctx, "queue://soak", []byte(body)); err != nil {
					t.Errorf("producer %d send %d: %v", w, i, err)
					return
				}
				// With a window, Send returning means queued; the final Flush
				// succeeding confirms every send.
				mu.Lock()
				confirmed[body] = true
				mu.Unlock()
			}
		}(w)
	}
	consume := func(quiet time.Duration) {
		c, err := client.Dial(ctx, url, client.WithCredentials("admin", "admin"))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		sub, err := c.Subscribe(ctx, "queue://soak", client.WithAckMode(client.AckClientIndividual))
		if err != nil {
			t.Error(err)
			return
		}
		for {
			rctx, rcancel := context.WithTimeout(ctx, quiet)
			m, err := sub.Receive(rctx)
			rcancel()
			if errors.Is(err, context.DeadlineExceeded) {
				select {
				case <-stop:
					return
				default:
					continue
				}
			}
			if err != nil {
				t.Errorf("consumer: %v", err)
				return
			}
			mu.Lock()
			if consumed[string(m.Body)] == nil {
				consumed[string(m.Body)] = map[string]bool{}
			}
			consumed[string(m.Body)][m.MessageID] = true
			mu.Unlock()
			m.Ack(ctx)
		}
	}
	var cwg sync.WaitGroup
	for i := 0; i < 2; i++ {
		cwg.Add(1)
		go func() { defer cwg.Done(); consume(3 * time.Second) }()
	}

	for cycle := 0; cycle < cycles; cycle++ {
		time.Sleep(700 * time.Millisecond)
		procs[0].kill()
		waitListening(t, nodes[1].addr(), 30*time.Second)
		time.Sleep(300 * time.Millisecond)
		if cycle%2 == 1 {
			// Kill the slave while it is live too, then bring both back.
			procs[1].kill()
			procs[0] = start(t, nodes[0])
			waitListening(t, nodes[0].addr(), 30*time.Second)
			procs[1] = start(t, nodes[1])
			procs[1].waitLog("waiting for the live lock", 30*time.Second)
			continue
		}
		// Restart the master: it fails back and the slave waits again.
		procs[0] = start(t, nodes[0])
		waitListening(t, nodes[0].addr(), 30*time.Second)
		waitClosed(t, nodes[1].addr(), 30*time.Second)
	}
	close(stop)
	wg.Wait()
	cwg.Wait()
	if t.Failed() {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	missing, twice := 0, 0
	for body := range confirmed {
		ids := consumed[body]
		if len(ids) == 0 {
			missing++
			if missing < 5 {
				t.Errorf("sent and flushed %s was never consumed", body)
			}
		}
	}
	for body, ids := range consumed {
		if len(ids) > 1 {
			twice++
			if twice < 5 {
				t.Errorf("%s was stored %d times (%v)", body, len(ids), ids)
			}
		}
	}
	t.Logf("%d failovers; %d messages sent, %d distinct consumed; %d missing, %d stored twice",
		cycles, len(confirmed), len(consumed), missing, twice)
}
