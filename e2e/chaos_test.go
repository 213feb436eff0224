package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/client"
)

// The chaos run attacks the promise that nothing confirmed is lost: a
// live/backup pair on a shared store serves producers and consumers with
// failover URLs while a controller kills, stops, restarts and fails back
// the nodes at random moments. docs/reliability.md records its figures.
//
// TANDEM_CHAOS_DURATION (a Go duration, default 20s) sets how long the
// controller keeps attacking; TANDEM_CHAOS_SEED replays a run's choices.

const (
	chaosProducers = 3
	// chaosQueues are consumed all along, except the last one, which only
	// collects every chaosKeepEvery-th message until the attack is over: its
	// messages stay live in old journal files, so compaction has work to do.
	// Queue chaosPagedQueue is consumed slowly and its address pages beyond
	// a few dozen KiB, so paged messages are in the mix too.
	chaosQueues     = 4
	chaosPagedQueue = 2
	chaosKeepEvery  = 16
	chaosBodySize   = 300
	// Every chaosLargeEvery-th message has a body of chaosLargeSize, over
	// the min-large-message-size chaosConfig sets: a large message, whose
	// body lives in a file of its own (and which may be paged too).
	chaosLargeEvery = 20
	chaosLargeSize  = 24 << 10
	// chaosBacklog bounds the messages sent to the drained queues and not
	// consumed yet, so the final drain takes seconds, not minutes.
	chaosBacklog = 4000
)

// chaosTally is what the clients saw, shared by producers, consumers and
// the final check.
type chaosTally struct {
	mu         sync.Mutex
	confirmed  map[string]bool            // bodies (p<w>-<seq>) the broker confirmed
	sentAt     map[string]time.Time       // when each was handed to Send
	flushedAt  map[string]time.Time       // when the Flush that confirmed it returned
	attempted  map[string]bool            // bodies a producer tried to send
	pagedQueue map[string]bool            // bodies sent to the paged queue
	stored     map[string]map[string]bool // body -> message ids it was delivered as
	deliveries int                        // MESSAGE frames received, redeliveries included
	backlog    int                        // sent to a drained queue and not consumed yet
	lastSeq    [chaosQueues][chaosProducers]int
	orderErrs  []string
}

func newChaosTally() *chaosTally {
	t := &chaosTally{confirmed: map[string]bool{}, attempted: map[string]bool{}, stored: map[string]map[string]bool{}, pagedQueue: map[string]bool{},
		sentAt: map[string]time.Time{}, flushedAt: map[string]time.Time{}}
	for q := range t.lastSeq {
		for p := range t.lastSeq[q] {
			t.lastSeq[q][p] = -1
		}
	}
	return t
}

// chaosBody is the body of producer w's message seq: its key, then padding
// so that the small journal files fill, roll and compact often; every
// chaosLargeEvery-th is a large message.
func chaosBody(w, seq int) []byte {
	key := fmt.Sprintf("p%d-%d ", w, seq)
	size := chaosBodySize
	if chaosLarge(seq) {
		size = chaosLargeSize
	}
	return []byte(key + strings.Repeat("x", size-len(key)))
}

func chaosLarge(seq int) bool { return seq%chaosLargeEvery == 3 }

// parseChaosKey splits a body back into its key, producer and sequence.
func parseChaosKey(body []byte) (key string, w, seq int, err error) {
	key, _, _ = strings.Cut(string(body), " ")
	ws, ss, ok := strings.Cut(strings.TrimPrefix(key, "p"), "-")
	if !ok {
		return key, 0, 0, fmt.Errorf("body %.40q is not a chaos message", body)
	}
	if w, err = strconv.Atoi(ws); err != nil || w < 0 || w >= chaosProducers {
		return key, 0, 0, fmt.Errorf("body %.40q names no producer", body)
	}
	if seq, err = strconv.Atoi(ss); err != nil {
		return key, 0, 0, fmt.Errorf("body %.40q has no sequence number", body)
	}
	return key, w, seq, nil
}

// received records a delivery on queue q. A message seen for the first
// time must come after every earlier first delivery from its producer on
// that queue; a redelivery of a message already seen may come at any time.
func (c *chaosTally) received(q int, m *client.Message) error {
	key, w, seq, err := parseChaosKey(m.Body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deliveries++
	if want := len(chaosBody(w, seq)); len(m.Body) != want {
		c.orderErrs = append(c.orderErrs, fmt.Sprintf("queue %d: %s arrived with %d bytes of body, sent with %d", q, key, len(m.Body), want))
	}
	ids := c.stored[key]
	if ids == nil {
		ids = map[string]bool{}
		c.stored[key] = ids
		if seq <= c.lastSeq[q][w] {
			c.orderErrs = append(c.orderErrs, fmt.Sprintf("queue %d: %s arrived after p%d-%d", q, key, w, c.lastSeq[q][w]))
		}
		c.lastSeq[q][w] = max(c.lastSeq[q][w], seq)
		if q != chaosQueues-1 {
			c.backlog--
		}
	}
	ids[m.MessageID] = true
	return nil
}

// unconsumed counts confirmed messages not consumed yet.
func (c *chaosTally) unconsumed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for key := range c.confirmed {
		if len(c.stored[key]) == 0 {
			n++
		}
	}
	return n
}

func (c *chaosTally) deliveryCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deliveries
}

// chaosTimeline records, with times, what the controller did and what the
// clients saw (connections lost and regained), so that a loss can be
// placed among the events around the moment its message was confirmed.
type chaosTimeline struct {
	mu     sync.Mutex
	events []chaosEvent
}

type chaosEvent struct {
	at   time.Time
	what string
}

func (tl *chaosTimeline) add(format string, args ...any) {
	if tl == nil {
		return
	}
	e := chaosEvent{at: time.Now(), what: fmt.Sprintf(format, args...)}
	tl.mu.Lock()
	tl.events = append(tl.events, e)
	tl.mu.Unlock()
}

// around returns the events from before-from to after-to, one per line.
func (tl *chaosTimeline) around(from, to time.Time, margin time.Duration) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	for _, e := range tl.events {
		if e.at.After(from.Add(-margin)) && e.at.Before(to.Add(margin)) {
			fmt.Fprintf(&b, "  %s %s\n", e.at.Format("15:04:05.000"), e.what)
		}
	}
	return b.String()
}

// chaosNodes is the controller's view of the pair: which process runs
// which instance and which node is live.
type chaosNodes struct {
	t     *testing.T
	tl    *chaosTimeline
	in    [2]instance // master, slave
	procs [2]*proc
	live  int // index of the live node
	// compactions counts the journal compactions the nodes logged as
	// finished, gathered from each process when it goes; pagingEnded the
	// times an address left paging mode, pagingResumed the times a node
	// took over (or restarted) with an address still paging.
	compactions, pagingEnded, pagingResumed int
	// followed counts takeovers that replayed only the tail the waiting
	// node had not read, verified those checked against a full replay
	// (TANDEM_VERIFY_FOLLOWER), and fullReplays those that replayed the
	// whole journal although a follower was there.
	followed, verified, fullReplays int
}

// gone gathers what the logs of node i's process tell before it is dropped.
func (n *chaosNodes) gone(i int) {
	out := n.procs[i].output()
	n.compactions += strings.Count(out, "journal: compacted")
	n.pagingEnded += strings.Count(out, "event=paging_stopped")
	n.pagingResumed += strings.Count(out, "event=paging_recovered")
	n.followed += strings.Count(out, "event=ha_followed")
	n.verified += strings.Count(out, "event=ha_follow_verified")
	n.fullReplays += strings.Count(out, "event=ha_follow_unused")
	n.procs[i] = nil
}

func (n *chaosNodes) start(i int) {
	n.tl.add("controller: start %s", chaosNodeName[i])
	n.procs[i] = start(n.t, n.in[i])
}

// chaosNodeName names the nodes in the timeline.
var chaosNodeName = [2]string{"master", "slave"}

func (n *chaosNodes) kill(i int) {
	n.tl.add("controller: SIGKILL %s", chaosNodeName[i])
	if n.procs[i] != nil {
		n.procs[i].kill()
		n.gone(i)
	}
}

func (n *chaosNodes) stop(i int) {
	n.tl.add("controller: graceful stop of %s", chaosNodeName[i])
	if n.procs[i] != nil {
		n.procs[i].stop()
		n.gone(i)
	}
}

func (n *chaosNodes) waitLive(i int) {
	n.t.Helper()
	waitListening(n.t, n.in[i].addr(), 30*time.Second)
	n.tl.add("controller: %s is live", chaosNodeName[i])
	n.live = i
}

// waitBackup waits until node i logs that it waits for the live lock once
// more than it had when seen counted them.
func (n *chaosNodes) waitBackup(i, seen int) {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.waits(i) <= seen {
		if time.Now().After(deadline) || !n.procs[i].alive() {
			n.t.Fatalf("node %d is not waiting as a backup:\n%s", i, n.procs[i].output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waits counts how often node i has started waiting for the live lock.
func (n *chaosNodes) waits(i int) int {
	return strings.Count(n.procs[i].output(), "waiting for the live lock")
}

// aimAtCompaction waits up to a few seconds for the live node to start a
// compaction, so the kill that follows has a fair chance to land inside it.
func (n *chaosNodes) aimAtCompaction() {
	p := n.procs[n.live]
	const started = "journal: compaction started"
	before := strings.Count(p.output(), started)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if strings.Count(p.output(), started) > before {
			return
		}
	}
}

// compacting reports whether the live node's log shows a compaction that
// started and has not finished: a kill now lands mid-compaction.
func (n *chaosNodes) compacting() bool {
	p := n.procs[n.live]
	if p == nil {
		return false
	}
	out := p.output()
	started := strings.LastIndex(out, "journal: compaction started")
	return started >= 0 && started > strings.LastIndex(out, "journal: compacted") &&
		started > strings.LastIndex(out, "journal: compaction abandoned")
}

// chaosConfig makes the journal roll and compact often, logs compaction
// starts so the controller knows when it kills mid-compaction, makes
// bodies of 16 KiB and more large messages, and makes the paged queue's
// address page beyond 48 KiB.
func chaosConfig(t *testing.T, in instance) {
	t.Helper()
	replaceInConfig(t, in,
		[2]string{"journal-file-size: 10MiB", "journal-file-size: 64KiB"},
		[2]string{"journal-compact-min-files: 10", "journal-compact-min-files: 2"},
		[2]string{"journal-compact-percentage: 30", "journal-compact-percentage: 60"},
		[2]string{"level: info", "level: debug"},
		[2]string{"address-settings:\n  \"#\":\n", fmt.Sprintf("address-settings:\n  chaos.%d:\n    max-size-bytes: 48KiB\n    page-size-bytes: 32KiB\n    address-full-policy: PAGE\n  \"#\":\n    min-large-message-size: 16KiB\n", chaosPagedQueue)},
	)
}

func chaosDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("TANDEM_CHAOS_DURATION")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("TANDEM_CHAOS_DURATION=%q: want a positive Go duration such as 90s or 10m", v)
	}
	return d
}

func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("TANDEM_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TANDEM_CHAOS_SEED=%q: want an unsigned integer", v)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

// TestChaos runs producers and consumers against a shared-store pair while
// the controller attacks it, then checks that every confirmed message was
// consumed, none was stored twice, each producer's order held on each
// queue, and the journal verifies offline.
func TestChaos(t *testing.T) {
	duration, seed := chaosDuration(t), chaosSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	t.Logf("chaos: %v, seed %d (TANDEM_CHAOS_SEED=%d replays the controller's choices)", duration, seed, seed)

	p := newPair(t, nil, nil)
	chaosConfig(t, p.master)
	chaosConfig(t, p.slave)
	tl := &chaosTimeline{}
	nodes := &chaosNodes{t: t, tl: tl, in: [2]instance{p.master, p.slave}}
	nodes.start(0)
	nodes.waitLive(0)
	nodes.start(1)
	nodes.waitBackup(1, 0)

	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()
	classic := fmt.Sprintf("failover:(%s,%s)?initialReconnectDelay=10&maxReconnectDelay=200", p.master.url(), p.slave.url())
	artemis := fmt.Sprintf("(%s,%s)?ha=true&reconnectAttempts=-1&initialConnectAttempts=-1&retryInterval=20&maxRetryInterval=200",
		p.master.url(), p.slave.url())
	tally := newChaosTally()
	var reconnects atomic.Int64
	// The attack starts once the producers and the first consumers are
	// connected, so that it tests failover rather than the first dial.
	var dialled sync.WaitGroup
	dialled.Add(chaosProducers + chaosQueues - 1)
	dial := func(who string, url string, opts ...client.Option) (*client.Conn, error) {
		opts = append(opts, client.WithCredentials("admin", "admin"), client.WithEventHandler(func(ev client.Event) {
			switch ev.Kind {
			case client.EventReconnected:
				reconnects.Add(1)
				tl.add("%s: reconnected to %s", who, ev.Endpoint)
			case client.EventConnectionLost:
				tl.add("%s: lost %s (%v)", who, ev.Endpoint, ev.Err)
			}
		}))
		return client.Dial(ctx, url, opts...)
	}

	stopProducing := make(chan struct{})
	var prodWG sync.WaitGroup
	for w := 0; w < chaosProducers; w++ {
		// Producer 0 waits for each confirmation; the others pipeline
		// sends in a window and count them confirmed at each Flush.
		window := []int{1, 8, 32}[w%3]
		url := []string{classic, artemis}[w%2]
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			chaosProduce(ctx, t, tally, dial, url, w, window, stopProducing, dialled.Done)
		}()
	}
	now, attackOver, stopConsuming := make(chan struct{}), make(chan struct{}), make(chan struct{})
	close(now)
	var consWG sync.WaitGroup
	for q := 0; q < chaosQueues; q++ {
		begin, connected := now, dialled.Done
		if q == chaosQueues-1 {
			begin, connected = attackOver, func() {}
		}
		consWG.Add(1)
		go func() {
			defer consWG.Done()
			chaosConsume(ctx, t, tally, dial, []string{artemis, classic}[q%2], q, begin, stopConsuming, connected)
		}()
	}

	dialledCh := make(chan struct{})
	go func() { dialled.Wait(); close(dialledCh) }()
	select {
	case <-dialledCh:
	case <-time.After(30 * time.Second):
		t.Fatal("the clients did not connect within 30 s")
	}
	counts := chaosControl(t, nodes, rng, duration)

	close(stopProducing)
	prodWG.Wait()
	close(attackOver)
	// Wait for the consumers to drain every confirmed message, then for a
	// quiet spell in which a message stored twice would show up.
	deadline := time.Now().Add(time.Minute)
	for tally.unconsumed() > 0 && time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(50 * time.Millisecond)
	}
	for last := -1; last != tally.deliveryCount(); {
		last = tally.deliveryCount()
		time.Sleep(1500 * time.Millisecond)
	}
	close(stopConsuming)
	consWG.Wait()

	// A message missing from the queues may have been moved: look in the
	// dead-letter and expiry queues, so a report can tell moved from lost.
	moved := chaosMoved(ctx, t, dial, classic)

	// Stop the live node and then the backup, and read the journal offline.
	nodes.stop(nodes.live)
	nodes.stop(1 - nodes.live)
	verify := mustTandem(t, "data", "verify", "--instance", p.master.dir)

	tally.mu.Lock()
	defer tally.mu.Unlock()
	missing, twice := 0, 0
	for key := range tally.confirmed {
		if len(tally.stored[key]) == 0 {
			if missing++; missing <= 5 {
				chaosPostMortem(t, p, key)
				t.Logf("%s was sent at %s and confirmed by a Flush that returned at %s; around then:\n%s", key,
					tally.sentAt[key].Format("15:04:05.000"), tally.flushedAt[key].Format("15:04:05.000"),
					tl.around(tally.sentAt[key], tally.flushedAt[key], 3*time.Second))
				if where, ok := moved[key]; ok {
					t.Errorf("confirmed %s was not consumed: the broker moved it to %s", key, where)
				} else {
					t.Errorf("confirmed %s was never consumed, and is in no dead-letter or expiry queue", key)
				}
			}
		}
	}
	for key, ids := range tally.stored {
		if len(ids) > 1 {
			if twice++; twice <= 5 {
				t.Errorf("%s was stored %d times (message ids %v)", key, len(ids), ids)
			}
		}
		if !tally.attempted[key] {
			t.Errorf("consumed %s, which no producer sent", key)
		}
	}
	for i, e := range tally.orderErrs {
		if i < 5 {
			t.Errorf("order broken: %s", e)
		}
	}
	large, paged := 0, 0
	for key := range tally.confirmed {
		_, _, seq, _ := parseChaosKey([]byte(key))
		if chaosLarge(seq) {
			large++
		}
	}
	for key := range tally.pagedQueue {
		if tally.confirmed[key] {
			paged++
		}
	}
	t.Logf("chaos figures: %s; %d journal compactions; %d times an address left paging mode, %d starts with an address still paging; %d client reconnects; %d chaos messages in DLQ/ExpiryQueue; %d messages confirmed (%d large, %d to the paged queue), %d distinct consumed (%d deliveries with redeliveries); "+
		"%d takeovers replayed only the tail the backup had followed (%d checked against a full replay), %d replayed the whole journal; "+
		"%d lost, %d stored twice, %d out of order; data verify: %s",
		counts, nodes.compactions, nodes.pagingEnded, nodes.pagingResumed, reconnects.Load(), len(moved), len(tally.confirmed), large, paged, len(tally.stored), tally.deliveries,
		nodes.followed, nodes.verified, nodes.fullReplays,
		missing, twice, len(tally.orderErrs), strings.Join(strings.Split(strings.TrimSpace(verify.stdout), "\n"), "; "))
	if os.Getenv("TANDEM_VERIFY_FOLLOWER") == "1" && nodes.verified < nodes.followed {
		t.Errorf("%d followed takeovers, but only %d were checked against a full replay", nodes.followed, nodes.verified)
	}
}

// messageIDRecord finds the id in a data print line of a message record.
var messageIDRecord = regexp.MustCompile(`message id=(\d+) `)

// chaosPostMortem keeps the shared store and the instances of a run that
// lost key, and shows what the journal still holds about it, so the loss
// can be studied after the test's directories are gone.
func chaosPostMortem(t *testing.T, p pair, key string) {
	t.Helper()
	keep, err := os.MkdirTemp("", "tandem-chaos-loss-")
	if err != nil {
		t.Logf("post-mortem: %v", err)
		return
	}
	if out, err := exec.Command("cp", "-a", filepath.Dir(p.shared), keep).CombinedOutput(); err != nil {
		t.Logf("post-mortem: copy the store: %v\n%s", err, out)
	}
	printed := tandem(t, "data", "print", "--instance", p.master.dir)
	all := strings.Split(printed.stdout, "\n")
	dup := "chaos-" + key
	ids := map[string]bool{}
	for _, l := range all {
		if strings.HasSuffix(l, dup) || strings.Contains(l, dup+",") || strings.Contains(l, dup+"]") {
			if m := messageIDRecord.FindStringSubmatch(l); m != nil {
				ids[m[1]] = true
			}
		}
	}
	var lines []string
	for _, l := range all {
		match := strings.HasSuffix(l, dup) || strings.Contains(l, dup+",") || strings.Contains(l, dup+"]")
		for id := range ids {
			match = match || strings.Contains(l, "message="+id+" ") || strings.Contains(l, "id="+id+" ")
		}
		if match {
			lines = append(lines, l)
		}
	}
	t.Logf("post-mortem of %s: store and instances kept in %s; journal records naming its duplicate id:\n%s",
		key, keep, strings.Join(lines, "\n"))
}

// chaosMoved browses the dead-letter and expiry queues and returns the
// chaos messages found there, with where and why.
// chaosDialer connects a client, named who in the timeline.
type chaosDialer func(who, url string, opts ...client.Option) (*client.Conn, error)

func chaosMoved(ctx context.Context, t *testing.T, dial chaosDialer, url string) map[string]string {
	t.Helper()
	c, err := dial("browser", url)
	if err != nil {
		t.Errorf("browse the dead-letter queue: %v", err)
		return nil
	}
	defer c.Close()
	out := map[string]string{}
	for _, q := range []string{"DLQ", "ExpiryQueue"} {
		ms, err := c.Browse(ctx, "queue://"+q)
		if err != nil {
			t.Errorf("browse %s: %v", q, err)
			continue
		}
		for _, m := range ms {
			if key, _, _, err := parseChaosKey(m.Body); err == nil {
				out[key] = fmt.Sprintf("%s (from %s, reason %q)", q, m.Header("_AMQ_ORIG_ADDRESS"), m.Header("_AMQ_DLQ_REASON"))
			}
		}
	}
	return out
}

// chaosProduce sends persistent messages to the chaos queues in turn, each
// with a duplicate id derived from its key, until stop is closed.
func chaosProduce(ctx context.Context, t *testing.T, tally *chaosTally, dial chaosDialer,
	url string, w, window int, stop <-chan struct{}, connected func()) {
	c, err := dial(fmt.Sprintf("p%d", w), url, client.WithSendWindow(window))
	connected()
	if err != nil {
		t.Errorf("producer %d: %v", w, err)
		return
	}
	defer c.Close()
	var unflushed []string
	flush := func() bool {
		if err := c.Flush(ctx); err != nil {
			t.Errorf("producer %d: flush: %v", w, err)
			return false
		}
		now := time.Now()
		tally.mu.Lock()
		for _, k := range unflushed {
			tally.confirmed[k] = true
			tally.flushedAt[k] = now
		}
		tally.mu.Unlock()
		unflushed = unflushed[:0]
		return true
	}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			flush()
			return
		default:
		}
		body := chaosBody(w, seq)
		key, _, _ := strings.Cut(string(body), " ")
		q := seq % (chaosQueues - 1)
		if seq%chaosKeepEvery == chaosKeepEvery-1 {
			q = chaosQueues - 1
		} else if !chaosWaitBacklog(tally, stop) {
			flush()
			return
		}
		tally.mu.Lock()
		tally.attempted[key] = true
		tally.sentAt[key] = time.Now()
		if q == chaosPagedQueue {
			tally.pagedQueue[key] = true
		}
		if q != chaosQueues-1 {
			tally.backlog++
		}
		tally.mu.Unlock()
		dest := fmt.Sprintf("queue://chaos.%d", q)
		if err := c.Send(ctx, dest, body, client.WithDuplicateID("chaos-"+key)); err != nil {
			t.Errorf("producer %d: send %s: %v", w, key, err)
			return
		}
		unflushed = append(unflushed, key)
		if window == 1 || len(unflushed) >= 4*window {
			if !flush() {
				return
			}
		}
	}
}

// chaosWaitBacklog waits while the drained queues hold chaosBacklog
// messages or more; it returns false if stop closed meanwhile.
func chaosWaitBacklog(tally *chaosTally, stop <-chan struct{}) bool {
	for {
		tally.mu.Lock()
		full := tally.backlog >= chaosBacklog
		tally.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// chaosConsume consumes one chaos queue with individual acks, from the
// moment begin is closed until stop is closed and the queue has been quiet
// for a moment.
func chaosConsume(ctx context.Context, t *testing.T, tally *chaosTally, dial chaosDialer,
	url string, q int, begin, stop <-chan struct{}, connected func()) {
	<-begin
	c, err := dial(fmt.Sprintf("consumer %d", q), url)
	if err != nil {
		connected()
		t.Errorf("consumer %d: %v", q, err)
		return
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, fmt.Sprintf("queue://chaos.%d", q), client.WithAckMode(client.AckClientIndividual))
	connected()
	if err != nil {
		t.Errorf("consumer %d: subscribe: %v", q, err)
		return
	}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
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
			t.Errorf("consumer %d: %v", q, err)
			return
		}
		if err := tally.received(q, m); err != nil {
			t.Errorf("consumer %d: %v", q, err)
		}
		if q == chaosPagedQueue {
			// Lag behind the producers, so that the address pages.
			time.Sleep(2 * time.Millisecond)
		}
		// An ack lost in a failover only means a redelivery, which the
		// tally tolerates; it is not a failure of the run.
		_ = m.Ack(ctx)
	}
}

// chaosCounts is what the controller did.
type chaosCounts struct {
	killLive, killMidCompaction, stopLive, failbacks, killBackup, killBoth, rounds int
}

func (c chaosCounts) failovers() int { return c.killLive + c.stopLive + c.failbacks + c.killBoth }

func (c chaosCounts) String() string {
	return fmt.Sprintf("%d rounds, %d times the serving node changed (%d SIGKILLs of the live, %d of them mid-compaction; "+
		"%d graceful stops; %d failbacks; %d kills of both nodes), %d SIGKILLs of the waiting backup",
		c.rounds, c.failovers(), c.killLive, c.killMidCompaction, c.stopLive, c.failbacks, c.killBoth, c.killBackup)
}

// chaosControl attacks the pair until duration has passed. Each round waits
// a random moment and then takes one action; every action ends with a
// live node serving and, where one is running, a backup waiting, so the
// next round starts from a known state.
func chaosControl(t *testing.T, n *chaosNodes, rng *rand.Rand, duration time.Duration) chaosCounts {
	t.Helper()
	var c chaosCounts
	end := time.Now().Add(duration)
	for time.Now().Before(end) && !t.Failed() {
		c.rounds++
		// Random moments, sometimes right after the previous change while
		// clients are still resending, sometimes after a longer stretch.
		time.Sleep(time.Duration(50+rng.IntN(1200)) * time.Millisecond)
		if n.live == 0 {
			switch r := rng.IntN(10); {
			case r < 6: // SIGKILL the master; the slave takes over.
				if rng.IntN(3) == 0 {
					n.aimAtCompaction()
				}
				if n.compacting() {
					c.killMidCompaction++
				}
				n.kill(0)
				n.waitLive(1)
				c.killLive++
			case r < 8: // Graceful stop: the slave stays paused, the master comes back.
				n.stop(0)
				n.start(0)
				n.waitLive(0)
				c.stopLive++
			default: // SIGKILL the waiting slave and bring it back.
				n.kill(1)
				n.start(1)
				n.waitBackup(1, 0)
				c.killBackup++
			}
			continue
		}
		// The slave is live and the master is down.
		switch r := rng.IntN(10); {
		case r < 6: // Failback: the restarted master asks for the store back.
			seen := n.waits(1)
			n.start(0)
			n.waitLive(0)
			waitClosed(t, n.in[1].addr(), 30*time.Second)
			n.waitBackup(1, seen)
			c.failbacks++
		case r < 8: // SIGKILL the live slave too; the master starts alone.
			if n.compacting() {
				c.killMidCompaction++
			}
			n.kill(1)
			n.start(0)
			n.waitLive(0)
			n.start(1)
			n.waitBackup(1, 0)
			c.killBoth++
		default: // Graceful stop of the live slave, then both come back.
			n.stop(1)
			n.start(0)
			n.waitLive(0)
			n.start(1)
			n.waitBackup(1, 0)
			c.stopLive++
		}
	}
	return c
}
