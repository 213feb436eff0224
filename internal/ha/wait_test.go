package ha

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// promptly bounds how long a woken node may take to become live or a
// cancelled Wait to return. The real latencies are milliseconds and are
// logged; this is only the failure threshold, generous for a loaded 2-core
// machine running -race.
const promptly = 2 * time.Second

func TestPrimaryAloneBecomesLive(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	p.opts.FailoverOnShutdown = true
	l := p.live(t)
	if l.Epoch() != 1 {
		t.Errorf("first activation has epoch %d, want 1", l.Epoch())
	}
	rec := mustRecord(t, dir)
	if rec.State != StoreLive || rec.Epoch != 1 || rec.NodeID != l.NodeID() || rec.Role != Primary || rec.Name != "master" || rec.PID != os.Getpid() {
		t.Errorf("record after activation: %+v", rec)
	}
	if want := []string{StateStarting, StateActivating, StateLive}; !slices.Equal(p.states.names(), want) {
		t.Errorf("states %v, want %v", p.states.names(), want)
	}
	if s := p.states.current(); s.NodeID != l.NodeID() || s.Epoch != 1 || s.LiveName != "master" || s.Role != Primary {
		t.Errorf("live state %+v", s)
	}
	if p.log.waitEvent(t, "ha_store_init").attrs["node_id"] != l.NodeID() {
		t.Error("ha_store_init does not name the node id")
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if rec := mustRecord(t, dir); rec.State != StoreLive {
		t.Errorf("state after Stop with failover-on-shutdown: %v, want L", rec.State)
	}

	// A second start: same store, next epoch.
	l2 := p.live(t)
	if l2.Epoch() != 2 || l2.NodeID() != l.NodeID() {
		t.Errorf("second activation: epoch %d node id %s, want 2 and %s", l2.Epoch(), l2.NodeID(), l.NodeID())
	}
	if len(p.log.find("ha_store_init")) != 1 {
		t.Error("the store was initialised twice")
	}
	// Without failover-on-shutdown the record says P, and a primary still
	// activates on it.
	p.opts.FailoverOnShutdown = false
	l2.opts.FailoverOnShutdown = false
	if err := l2.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if rec := mustRecord(t, dir); rec.State != StorePaused || rec.Epoch != 2 {
		t.Errorf("record after Stop without failover-on-shutdown: %v epoch %d, want P epoch 2", rec.State, rec.Epoch)
	}
	if err := l2.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if l3 := p.live(t); l3.Epoch() != 3 {
		t.Errorf("activation on a paused store: epoch %d, want 3", l3.Epoch())
	}
	p.log.checkEvents(t)
}

func TestEpochAboveJournal(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	calls := 0
	p.opts.MaxEpochOnDisk = func() (uint64, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("header scan failed")
		}
		return 7, nil
	}
	l := p.live(t)
	if l.Epoch() != 8 {
		t.Errorf("epoch %d with 7 on disk, want 8", l.Epoch())
	}
	if e := p.log.waitEvent(t, "ha_error"); e.level != slog.LevelError {
		t.Errorf("scan error logged at %v", e.level)
	}
}

func TestBackupTakesOverFromKilledPrimary(t *testing.T) {
	const rounds = 3
	var took []time.Duration
	for range rounds {
		dir := t.TempDir()
		primary := startLiveChild(t, dir, Primary)
		if primary.epoch != 1 {
			t.Fatalf("child primary live with epoch %d, want 1", primary.epoch)
		}
		b := newNode(t, dir, Backup, "slave")
		res := b.start(t, context.Background())
		b.states.waitFor(t, StateWaiting)
		waitBlocked(t, filepath.Join(dir, liveFileName))
		if s := b.states.current(); s.LiveName != "primary" || s.Epoch != 1 {
			t.Errorf("waiting state does not name the live: %+v", s)
		}
		killed := time.Now()
		primary.kill(t)
		r := await(t, res, promptly)
		if r.err != nil {
			t.Fatalf("backup Wait: %v", r.err)
		}
		took = append(took, r.at.Sub(killed))
		if r.live.Epoch() != 2 {
			t.Errorf("backup live with epoch %d, want 2", r.live.Epoch())
		}
		if rec := mustRecord(t, dir); rec.State != StoreLive || rec.Role != Backup || rec.Epoch != 2 || rec.Name != "slave" {
			t.Errorf("record after takeover: %+v", rec)
		}
		// The backup gave up its place in line.
		if err := openLock(t, filepath.Join(dir, backupFileName)).TryLock(); err != nil {
			t.Errorf("backup.lock still held by the live backup: %v", err)
		}
		r.live.Stop()
	}
	slices.Sort(took)
	t.Logf("takeover after SIGKILL of the live process (kill to Wait returning, L written): min %v, median %v, max %v over %d rounds",
		took[0], took[len(took)/2], took[len(took)-1], rounds)
}

func TestGracefulStopWithoutFailoverPausesTheStore(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	lp := p.live(t)
	b := newNode(t, dir, Backup, "slave")
	res := b.start(t, context.Background())
	b.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))

	if err := lp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st := b.states.waitFor(t, StateStorePaused)
	if st.Detail == "" || b.log.waitEvent(t, "ha_paused").attrs["state"] != "P" {
		t.Errorf("store-paused without saying why: %+v", st)
	}
	// Many polls later the backup is still not live.
	stillWaiting(t, res, 20*b.opts.pausedPoll, "the store is paused")
	if rec := mustRecord(t, dir); rec.State != StorePaused {
		t.Errorf("record %v, want P", rec.State)
	}

	// The primary comes back: it becomes live, and the backup waits
	// behind it again.
	lp2 := p.live(t)
	if lp2.Epoch() != 2 {
		t.Errorf("primary restart epoch %d, want 2", lp2.Epoch())
	}
	b.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))
	notReturned(t, res, "the primary is live")
	lp2.crashForTest()
	lb := awaitLive(t, res, promptly)
	if lb.Epoch() != 3 {
		t.Errorf("backup epoch %d, want 3", lb.Epoch())
	}
	b.log.checkEvents(t)
	p.log.checkEvents(t)
}

func TestGracefulStopWithFailoverOnShutdown(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	p.opts.FailoverOnShutdown = true
	lp := p.live(t)
	b := newNode(t, dir, Backup, "slave")
	res := b.start(t, context.Background())
	b.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))
	stopped := time.Now()
	if err := lp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	r := await(t, res, promptly)
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("takeover after a graceful stop with failover-on-shutdown: %v", r.at.Sub(stopped))
	if r.live.Epoch() != 2 {
		t.Errorf("backup epoch %d, want 2", r.live.Epoch())
	}
}

func TestFailback(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	lp := p.live(t)
	b := newNode(t, dir, Backup, "slave")
	b.opts.AllowFailback = true
	res := b.start(t, context.Background())
	b.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))
	lp.crashForTest()
	lb := awaitLive(t, res, promptly)

	// The primary restarts: it asks for the store back.
	pres := p.start(t, context.Background())
	st := p.states.waitFor(t, StateWaiting)
	if st.LiveName != "slave" {
		t.Errorf("waiting primary names the live %q, want slave", st.LiveName)
	}
	if rec := mustRecord(t, dir); rec.State != StoreFailingBack || rec.Name != "slave" || rec.Epoch != 2 {
		t.Errorf("record after the failback request: %+v, want F keeping the live's fields", rec)
	}
	p.log.waitEvent(t, "ha_failback_requested")
	select {
	case <-lb.FailbackRequested():
	case <-time.After(promptly):
		t.Fatal("FailbackRequested not closed")
	}
	b.states.waitFor(t, StateFailingBack)
	notReturned(t, pres, "the backup has not handed back yet")
	handed := time.Now()
	if err := lb.HandBack(); err != nil {
		t.Fatalf("HandBack: %v", err)
	}
	lp2 := awaitLive(t, pres, promptly)
	t.Logf("primary live %v after HandBack", time.Since(handed))
	if lp2.Epoch() != 3 {
		t.Errorf("primary epoch after failback %d, want 3", lp2.Epoch())
	}
	if err := lb.HandBack(); !errors.Is(err, ErrStopped) {
		t.Errorf("second HandBack: %v, want ErrStopped", err)
	}

	// The backup waits again, and takes over when the primary dies.
	res = b.start(t, context.Background())
	b.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))
	lp2.crashForTest()
	lb2 := awaitLive(t, res, promptly)
	if lb2.Epoch() != 4 {
		t.Errorf("backup epoch %d, want 4", lb2.Epoch())
	}
	b.log.checkEvents(t)
	p.log.checkEvents(t)
}

func TestNoFailbackWhenDisallowed(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	lp := p.live(t)
	b := newNode(t, dir, Backup, "slave")
	res := b.start(t, context.Background())
	b.states.waitFor(t, StateWaiting)
	lp.crashForTest()
	lb := awaitLive(t, res, promptly)

	pres := p.start(t, context.Background())
	p.states.waitFor(t, StateWaiting)
	b.log.waitEvent(t, "ha_failback_refused")
	// A few more monitor rounds: still no request, and logged only once.
	stillWaiting(t, pres, 4*b.opts.LockCheckPeriod, "the live backup refuses failback")
	select {
	case <-lb.FailbackRequested():
		t.Fatal("FailbackRequested closed with allow-failback off")
	default:
	}
	if n := len(b.log.find("ha_failback_refused")); n != 1 {
		t.Errorf("ha_failback_refused logged %d times, want once", n)
	}
	notReturned(t, pres, "the live backup refuses failback")
	if err := lb.HandBack(); !errors.Is(err, ErrNoFailback) {
		t.Errorf("HandBack without a request: %v, want ErrNoFailback", err)
	}
	// A graceful stop of the backup hands over even without failover:
	// the primary activates whatever the state.
	if err := lb.Stop(); err != nil {
		t.Fatal(err)
	}
	if lp2 := awaitLive(t, pres, promptly); lp2.Epoch() != 3 {
		t.Errorf("primary epoch %d, want 3", lp2.Epoch())
	}
}

func TestSecondBackupQueues(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	lp := p.live(t)
	b1 := newNode(t, dir, Backup, "slave1")
	res1 := b1.start(t, context.Background())
	b1.states.waitFor(t, StateWaiting)
	b2 := newNode(t, dir, Backup, "slave2")
	res2 := b2.start(t, context.Background())
	b2.states.waitFor(t, StateQueued)
	waitBlocked(t, filepath.Join(dir, backupFileName))
	b2.log.waitEvent(t, "ha_queued")

	lp.crashForTest()
	lb1 := awaitLive(t, res1, promptly)
	b2.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))
	notReturned(t, res2, "the first backup is live")
	lb1.crashForTest()
	lb2 := awaitLive(t, res2, promptly)
	if lb1.Epoch() != 2 || lb2.Epoch() != 3 {
		t.Errorf("epochs %d, %d, want 2, 3", lb1.Epoch(), lb2.Epoch())
	}
}

func TestTwoPrimaries(t *testing.T) {
	dir := t.TempDir()
	p1 := newNode(t, dir, Primary, "one")
	l1 := p1.live(t)
	p2 := newNode(t, dir, Primary, "two")
	res := p2.start(t, context.Background())
	p2.states.waitFor(t, StateWaiting)
	p1.log.waitEvent(t, "ha_failback_ignored")
	p3 := newNode(t, dir, Primary, "three")
	res3 := p3.start(t, context.Background())
	p3.states.waitFor(t, StateQueued)
	notReturned(t, res, "the first primary is live")
	// Even a graceful stop without failover hands over to a primary.
	if err := l1.Stop(); err != nil {
		t.Fatal(err)
	}
	if l2 := awaitLive(t, res, promptly); l2.Epoch() != 2 {
		t.Errorf("second primary epoch %d, want 2", l2.Epoch())
	}
	p3.states.waitFor(t, StateWaiting)
	notReturned(t, res3, "the second primary is live")
}

func TestFreshStoreBackupOnly(t *testing.T) {
	dir := t.TempDir()
	b := newNode(t, dir, Backup, "slave")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := b.start(t, ctx)
	st := b.states.waitFor(t, StateStorePaused)
	if b.log.waitEvent(t, "ha_paused").attrs["state"] != "N" || st.NodeID == "" {
		t.Errorf("store-paused state %+v", st)
	}
	stillWaiting(t, res, 20*b.opts.pausedPoll, "no primary was ever live")
	if rec := mustRecord(t, dir); rec.State != StoreNew || rec.Epoch != 0 {
		t.Errorf("record %+v, want N epoch 0", rec)
	}
	cancel()
	if r := await(t, res, promptly); !errors.Is(r.err, context.Canceled) || r.live != nil {
		t.Fatalf("cancelled Wait: %v", r.err)
	}
	// Everything was released.
	for _, name := range []string{liveFileName, backupFileName} {
		if err := openLock(t, filepath.Join(dir, name)).TryLock(); err != nil {
			t.Errorf("%s held after Wait returned: %v", name, err)
		}
	}
}

func TestCancelWaitingBackup(t *testing.T) {
	dir := t.TempDir()
	newNode(t, dir, Primary, "master").live(t)
	b := newNode(t, dir, Backup, "slave")
	ctx, cancel := context.WithCancel(context.Background())
	res := b.start(t, ctx)
	b.states.waitFor(t, StateWaiting)
	waitBlocked(t, filepath.Join(dir, liveFileName))
	start := time.Now()
	cancel()
	r := await(t, res, promptly)
	if r.err != context.Canceled {
		t.Fatalf("Wait after cancel: %v, want context.Canceled", r.err)
	}
	t.Logf("cancelled Wait returned in %v", time.Since(start))
	if n := blockedRequests(t, filepath.Join(dir, liveFileName)); n != 0 {
		t.Errorf("%d lock requests still blocked after cancel", n)
	}
	if err := openLock(t, filepath.Join(dir, backupFileName)).TryLock(); err != nil {
		t.Errorf("backup.lock held after cancel: %v", err)
	}
}

// TestFailbackWaitMessage checks the line a primary logs (and the console
// shows) when it finds another node live: a live backup is asked to hand
// back; another primary is waited for.
func TestFailbackWaitMessage(t *testing.T) {
	tests := []struct {
		role Role
		want string
	}{
		{Backup, "node slave (backup, pid 7) is live on /s/journal; asked it to hand the store back (failback) and waiting for the live lock"},
		{Primary, "node slave (primary, pid 7) is live on /s/journal; primaries do not hand over, so this node waits for the live lock until that node stops"},
	}
	for _, tc := range tests {
		got := failbackWaitMessage(Record{Name: "slave", Role: tc.role, PID: 7}, "/s/journal")
		if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "state F") {
			t.Errorf("role %v: %q, want it to start %q", tc.role, got, tc.want)
		}
	}
}
