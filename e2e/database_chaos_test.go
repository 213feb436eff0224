package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tandem/client"
	"tandem/internal/store/pgstore/pgtest"
	wire "tandem/internal/wire/stomp"
)

// TestDatabaseKillLoop runs 16 producers, each waiting for the broker's
// confirmation of every send, on a database pair whose live node is killed
// with SIGKILL every round, 20 rounds (TANDEM_PG_KILL_ROUNDS for more). The
// killed node is restarted at once and waits as the backup. At the end
// every confirmed message is consumed, and none was stored twice.
func TestDatabaseKillLoop(t *testing.T) {
	rounds := 20
	if v := os.Getenv("TANDEM_PG_KILL_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	const producers = 16
	url := pgtest.Start(t).NewDatabase(t)
	p := newDBPair(t, url, nil, []string{"--no-failback"})
	nodes := []instance{p.master, p.slave}
	procs := []*proc{start(t, p.master), nil}
	waitListening(t, p.master.addr(), 20*time.Second)
	procs[1] = start(t, p.slave)
	procs[1].waitLog("waiting for the live lease", 20*time.Second)
	failover := fmt.Sprintf("failover:(%s,%s)?initialReconnectDelay=10&maxReconnectDelay=100", p.master.url(), p.slave.url())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		confirmed = map[string]bool{}
		refused   atomic.Int64
		sent      atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(ctx, failover, client.WithCredentials("admin", "admin"))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("p%d-%d", w, i)
				err := c.Send(ctx, "queue://killloop", []byte(body))
				var be *client.BrokerError
				switch {
				case err == nil:
					mu.Lock()
					confirmed[body] = true
					mu.Unlock()
					sent.Add(1)
				case errors.As(err, &be):
					// Refused (the store stepping down, say): not
					// confirmed, so not expected; try the next one.
					refused.Add(1)
				default:
					t.Errorf("producer %d send %d: %v", w, i, err)
					return
				}
			}
		}()
	}

	live := 0
	begin := time.Now()
	for r := range rounds {
		before := sent.Load()
		for deadline := time.Now().Add(30 * time.Second); sent.Load() < before+producers*10; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: producers made no progress", r)
			}
		}
		procs[live].kill()
		other := 1 - live
		waitListening(t, nodes[other].addr(), 30*time.Second)
		procs[live] = start(t, nodes[live])
		procs[live].waitLog("waiting for the live lease", 30*time.Second)
		live = other
	}
	close(stop)
	wg.Wait()
	t.Logf("%d rounds in %v; %d sends confirmed, %d refused", rounds, time.Since(begin).Round(time.Second), sent.Load(), refused.Load())
	if t.Failed() {
		return
	}

	consumed := map[string]map[string]bool{} // body -> message ids it was stored as
	c := dialAdmin(t, ctx, failover)
	sub, err := c.Subscribe(ctx, "queue://killloop", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(200))
	if err != nil {
		t.Fatal(err)
	}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := sub.Receive(rctx)
		rcancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if consumed[string(m.Body)] == nil {
			consumed[string(m.Body)] = map[string]bool{}
		}
		consumed[string(m.Body)][m.MessageID] = true
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	missing, twice := 0, 0
	for body := range confirmed {
		if len(consumed[body]) == 0 {
			if missing++; missing <= 5 {
				t.Errorf("confirmed %s was never consumed", body)
			}
		}
	}
	for body, ids := range consumed {
		if len(ids) > 1 {
			if twice++; twice <= 5 {
				t.Errorf("%s was stored %d times (%v)", body, len(ids), ids)
			}
		}
	}
	t.Logf("%d confirmed, %d distinct consumed; %d missing, %d stored twice", len(confirmed), len(consumed), missing, twice)
}

// readUntilClosed reads frames from c until the connection closes or within
// passes, and returns them.
func (c *rawConn) readUntilClosed(within time.Duration) []*wire.Frame {
	var out []*wire.Frame
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return out
		}
		if !f.IsHeartBeat() {
			out = append(out, f)
		}
	}
}

// TestDatabaseStaleLive stops the live with SIGSTOP past its lease (a
// frozen VM, a long GC pause), lets the backup take over, and wakes it up
// with SIGCONT: the old live confirms nothing more (a SEND waiting in its
// socket gets no RECEIPT), writes no row after the new epoch began (checked
// in the tables, by commit time), and steps down to wait as a backup. The
// producers, on failover URLs, lose nothing confirmed and store nothing
// twice.
func TestDatabaseStaleLive(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	lease := []string{"--jdbc-lock-expiration", "3s", "--jdbc-lock-renew-period", "500ms"}
	p := newDBPair(t, url, lease, append(lease, "--no-failback"))
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lease", 20*time.Second)
	failover := fmt.Sprintf("failover:(%s,%s)?initialReconnectDelay=10&maxReconnectDelay=100", p.master.url(), p.slave.url())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		confirmed = map[string]bool{}
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		sent      atomic.Int64
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(ctx, failover, client.WithCredentials("admin", "admin"), client.WithHeartBeat(time.Second, time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("p%d-%d", w, i)
				var be *client.BrokerError
				switch err := c.Send(ctx, "queue://stale", []byte(body)); {
				case err == nil:
					mu.Lock()
					confirmed[body] = true
					mu.Unlock()
					sent.Add(1)
				case errors.As(err, &be):
				default:
					t.Errorf("producer %d: %v", w, err)
					return
				}
			}
		}()
	}
	for sent.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	raw := dialRaw(t, p.master.addr())
	master.freeze()
	stalled := time.Now()
	t.Cleanup(func() { master.cmd.Process.Signal(syscall.SIGCONT) })
	// A send the frozen live will read when it wakes up.
	raw.write(&wire.Frame{Command: wire.CmdSend, Headers: wire.Headers{{Key: "destination", Value: "/queue/stale"},
		{Key: "persistent", Value: "true"}, {Key: "receipt", Value: "stale-1"}}, Body: []byte("sent-to-the-frozen-live")})
	waitListening(t, p.slave.addr(), 30*time.Second)
	t.Logf("the backup served %v after the live froze (lease 3s)", time.Since(stalled).Round(time.Millisecond))
	newEpoch := query(t, url, "SELECT epoch FROM tandem_node_manager")
	time.Sleep(time.Second)
	if err := master.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, f := range raw.readUntilClosed(10 * time.Second) {
		if f.Command == wire.CmdReceipt {
			t.Fatalf("the old live confirmed a send after it woke up: %v", f.Headers)
		}
	}
	// It steps down (its lease watchdog or its store, whichever notices
	// first) and waits again; the slave has no failback, so it stays live.
	master.waitLog("waiting to become live again", 10*time.Second)
	master.waitLog("requested failback (state F) and waiting for the live lease", 10*time.Second)
	if !master.alive() {
		t.Fatal("the old live exited instead of stepping down")
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	late := query(t, url, `SELECT count(*) FROM tandem_messages m WHERE m.epoch < $1
		AND pg_xact_commit_timestamp(m.xmin) > (SELECT pg_xact_commit_timestamp(h.xmin) FROM tandem_node_manager_history h WHERE h.epoch = $1)`, newEpoch)
	if late != 0 {
		t.Fatalf("%d rows of the old epoch were committed after the new epoch %d began", late, newEpoch)
	}
	if n := query(t, url, `SELECT count(*) FROM tandem_messages WHERE position('sent-to-the-frozen-live'::bytea IN data) > 0`); n != 0 {
		t.Fatal("the send made to the frozen live was stored")
	}
	if n := query(t, url, "SELECT count(*) FROM tandem_messages WHERE epoch = $1", newEpoch); n == 0 {
		t.Fatal("the new live stored nothing; the check above proves nothing")
	}
	if n := query(t, url, "SELECT count(*) FROM tandem_messages WHERE epoch < $1", newEpoch); n == 0 {
		t.Fatal("no row of the old epoch is left; the check above proves nothing")
	}
	consumed := map[string]int{}
	c := dialAdmin(t, ctx, p.slave.url())
	sub, err := c.Subscribe(ctx, "queue://stale", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(200))
	if err != nil {
		t.Fatal(err)
	}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := sub.Receive(rctx)
		rcancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		consumed[string(m.Body)]++
		m.Ack(ctx)
	}
	for body := range confirmed {
		if consumed[body] == 0 {
			t.Errorf("confirmed %s was not consumed", body)
		}
	}
	for body, n := range consumed {
		if n > 1 {
			t.Errorf("%s consumed %d times", body, n)
		}
	}
	t.Logf("%d confirmed, %d consumed", len(confirmed), len(consumed))
}

// TestDatabaseStoppedMidStream stops PostgreSQL (pg_ctl stop -m immediate,
// a crash) while producers send to a broker on it, and starts it again:
// no send is confirmed while the database is down, and every confirmed
// message is there afterwards. Shorter than the lease, the broker carries
// on; longer, it steps down and takes the lease again once the database is
// back, and the producers fail over to it.
func TestDatabaseStoppedMidStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		down time.Duration
	}{{"shorter than the lease", 2 * time.Second}, {"longer than the lease", 7 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			c := pgtest.Start(t)
			url := c.NewDatabase(t)
			in := create(t, "solo", append([]string{"--jdbc", "--jdbc-connection-url", url}, dbLease...)...)
			node := start(t, in)
			waitListening(t, in.addr(), 20*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			type result struct {
				body string
				err  error
				at   time.Time
			}
			var (
				mu      sync.Mutex
				results []result
				stop    = make(chan struct{})
				wg      sync.WaitGroup
			)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := client.Dial(ctx, "failover:("+in.url()+")?initialReconnectDelay=10&maxReconnectDelay=200",
						client.WithCredentials("admin", "admin"), client.WithHeartBeat(time.Second, time.Second))
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						body := fmt.Sprintf("p%d-%d", w, i)
						err := c.Send(ctx, "queue://midstream", []byte(body))
						mu.Lock()
						results = append(results, result{body, err, time.Now()})
						mu.Unlock()
						var be *client.BrokerError
						if err != nil && !errors.As(err, &be) {
							t.Errorf("producer %d: %v", w, err)
							return
						}
						if err != nil {
							time.Sleep(20 * time.Millisecond)
						}
					}
				}()
			}
			count := func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(results)
			}
			for count() < 100 {
				time.Sleep(10 * time.Millisecond)
			}
			c.Stop(t, "immediate")
			down := time.Now()
			time.Sleep(tc.down)
			up := time.Now()
			c.Restart(t)
			// The producers carry on once the database is back.
			mark := count()
			for deadline := time.Now().Add(60 * time.Second); count() < mark+100; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no progress within 60 s of the database's restart:\n%s", node.output())
				}
			}
			close(stop)
			wg.Wait()
			confirmed := map[string]bool{}
			failed := 0
			for _, r := range results {
				if r.err != nil {
					failed++
					continue
				}
				confirmed[r.body] = true
				// A receipt a few milliseconds after the stop can belong to
				// a commit made before it.
				if r.at.After(down.Add(100*time.Millisecond)) && r.at.Before(up) {
					t.Errorf("%s was confirmed at %v while the database was down (%v to %v)", r.body, r.at.Format(time.StampMilli),
						down.Format(time.StampMilli), up.Format(time.StampMilli))
				}
			}
			consumed := map[string]int{}
			// The check reconnects too: on a loaded machine the node may
			// stall past its lease once more while it is read, and step
			// down and back up as it should; what is asserted is that
			// nothing confirmed is lost.
			cons := dialAdmin(t, ctx, "failover:("+in.url()+")?initialReconnectDelay=10&maxReconnectDelay=200")
			sub, err := cons.Subscribe(ctx, "queue://midstream", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(200))
			if err != nil {
				t.Fatal(err)
			}
			// Read until every confirmed message has come (or a minute has
			// passed), then until the queue stays quiet for 3 s.
			found := 0
			for deadline := time.Now().Add(time.Minute); ; {
				rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
				m, err := sub.Receive(rctx)
				rcancel()
				if errors.Is(err, context.DeadlineExceeded) {
					if found == len(confirmed) || time.Now().After(deadline) {
						break
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				body := string(m.Body)
				if consumed[body] == 0 && confirmed[body] {
					found++
				}
				consumed[body]++
				m.Ack(ctx)
			}
			for body := range confirmed {
				if consumed[body] == 0 {
					t.Errorf("confirmed %s is missing after the database came back", body)
				}
			}
			t.Logf("database down %v: %d sends confirmed, %d refused; %d consumed", tc.down, len(confirmed), failed, len(consumed))
		})
	}
}

// TestDatabaseTakeoverTimes measures, for docs/benchmarks.md, how long a
// database pair takes to serve again after SIGKILL of the live and after
// the live froze (SIGSTOP), with the default lease (3 s, renewed every
// 500 ms) and 10 000 queued messages to replay. It runs only with
// TANDEM_BENCH_TAKEOVER=ROUNDS:
//
//	TANDEM_BENCH_TAKEOVER=5 go test -run TestDatabaseTakeoverTimes -v ./e2e/
func TestDatabaseTakeoverTimes(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("TANDEM_BENCH_TAKEOVER"))
	if rounds <= 0 {
		t.Skip("a measurement; set TANDEM_BENCH_TAKEOVER=ROUNDS to run it")
	}
	url := pgtest.Start(t).NewDatabase(t)
	root := t.TempDir()
	off := freePortOffset(t)
	db := []string{"--shared-store", "--jdbc", "--jdbc-connection-url", url}
	nodes := []instance{
		createAt(t, root+"/brokers/master", off, db...),
		createAt(t, root+"/brokers/slave", off+1, append(db, "--backup", "--no-failback")...),
	}
	procs := []*proc{start(t, nodes[0]), nil}
	waitListening(t, nodes[0].addr(), 20*time.Second)
	procs[1] = start(t, nodes[1])
	procs[1].waitLog("waiting for the live lease", 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "10000", "--message-size", "1024", "--destination", "queue://replay",
		"--url", nodes[0].url())...)
	serving := func(addr string, from time.Time) time.Duration {
		for deadline := from.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
				c.Close()
				return time.Since(from)
			}
		}
		t.Fatalf("%s not serving within 60 s", addr)
		return 0
	}
	live := 0
	var kills, stalls []time.Duration
	for r := range 2 * rounds {
		other := 1 - live
		stall := r%2 == 1
		var took time.Duration
		if stall {
			procs[live].cmd.Process.Signal(syscall.SIGSTOP)
			took = serving(nodes[other].addr(), time.Now())
			stalls = append(stalls, took)
			procs[live].cmd.Process.Signal(syscall.SIGCONT)
			procs[live].waitLog("waiting to become live again", 20*time.Second)
			procs[live].kill()
		} else {
			at := time.Now()
			procs[live].kill()
			took = serving(nodes[other].addr(), at)
			kills = append(kills, took)
		}
		procs[other].waitLog("became live", 10*time.Second)
		t.Logf("round %d (%s): the other node served %v later; %s", r, map[bool]string{true: "SIGSTOP", false: "SIGKILL"}[stall],
			took.Round(time.Millisecond), lastLogLine(procs[other].output(), "became live"))
		procs[live] = start(t, nodes[live])
		procs[live].waitLog("waiting for the live lease", 30*time.Second)
		live = other
	}
	summary := func(d []time.Duration) string {
		slices.Sort(d)
		return fmt.Sprintf("min %v, median %v, max %v", d[0].Round(time.Millisecond), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	t.Logf("with 10 000 queued messages: after SIGKILL %s; after SIGSTOP (lease 3 s) %s", summary(kills), summary(stalls))
}

// lastLogLine returns the message of the last log line containing s.
func lastLogLine(out, s string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			if _, msg, ok := strings.Cut(lines[i], "msg="); ok {
				return msg
			}
			return lines[i]
		}
	}
	return ""
}
