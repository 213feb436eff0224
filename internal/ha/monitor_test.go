package ha

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/lockfile"
)

// fenceProbe records Fence calls, standing in for the journal that must
// stop writing.
type fenceProbe struct {
	calls atomic.Int32
	at    atomic.Int64 // UnixNano of the first call
	cause atomic.Pointer[error]
}

func (f *fenceProbe) fence(cause error) {
	if f.calls.Add(1) == 1 {
		f.at.Store(time.Now().UnixNano())
		f.cause.Store(&cause)
	}
}

// fencedLive starts a primary on a fresh store with a fence probe.
func fencedLive(t *testing.T) (dir string, n *testNode, l *Live, f *fenceProbe) {
	t.Helper()
	dir = t.TempDir()
	n = newNode(t, dir, Primary, "master")
	f = &fenceProbe{}
	n.opts.Fence = f.fence
	return dir, n, n.live(t), f
}

// lossDeadline bounds the wait for a loss the monitor must find. It is a
// deadline, not a measure: the wait ends as soon as the loss is reported,
// and only a loaded machine comes near it.
const lossDeadline = 10 * time.Second

// awaitLost waits for l to report a lost lock, checks that Fence was called
// before and exactly once, and returns how long after since that took.
func awaitLost(t *testing.T, l *Live, f *fenceProbe, since time.Time) time.Duration {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(lossDeadline):
		t.Fatal("Lost not closed")
	}
	if f.calls.Load() != 1 {
		t.Fatalf("Fence called %d times before Lost closed, want 1", f.calls.Load())
	}
	if !errors.Is(l.Err(), ErrLockLost) {
		t.Errorf("Err() = %v, want ErrLockLost", l.Err())
	}
	if c := f.cause.Load(); c == nil || *c != l.Err() {
		t.Errorf("Fence got a different cause than Err(): %v", c)
	}
	return time.Unix(0, f.at.Load()).Sub(since)
}

// editRecord rewrites the record of dir the way another writer would: under
// the record lock, bypassing every check.
func editRecord(t *testing.T, dir string, edit func(*Record)) {
	t.Helper()
	rl, err := lockfile.OpenRange(filepath.Join(dir, stateFileName), recordLockStart, recordLockLen)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	if err := rl.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, _, err := readRecordAt(rl.File())
	if err != nil {
		t.Fatal(err)
	}
	edit(&rec)
	if err := writeRecord(rl.File(), rec); err != nil {
		t.Fatal(err)
	}
}

func TestFenceWhenLiveLockReplaced(t *testing.T) {
	dir, n, l, f := fencedLive(t)
	path := filepath.Join(dir, liveFileName)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	replaced := time.Now()
	took := awaitLost(t, l, f, replaced)
	// Measured, not asserted: timing belongs to benchmarks (docs/ha.md 6).
	t.Logf("fenced %v after live.lock was replaced (period %v)", took, n.opts.LockCheckPeriod)
	if !errors.Is(l.Err(), lockfile.ErrLost) || !strings.Contains(l.Err().Error(), "different file") {
		t.Errorf("Err() = %v, want lockfile.ErrLost naming the replaced file", l.Err())
	}
	if e := n.log.waitEvent(t, "ha_lock_lost"); e.level != slog.LevelError || !strings.Contains(e.msg, "the store is fenced") {
		t.Errorf("loss logged as %v %q", e.level, e.msg)
	}
	n.states.waitFor(t, StateFenced)
	// Stop after a loss releases without writing P.
	if err := l.Stop(); err != nil {
		t.Errorf("Stop after loss: %v", err)
	}
	if rec := mustRecord(t, dir); rec.State != StoreLive {
		t.Errorf("record after Stop of a fenced node: %v, want L untouched", rec.State)
	}
	if f.calls.Load() != 1 {
		t.Errorf("Fence called %d times", f.calls.Load())
	}
}

func TestFenceWhenRecordChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Record)
		want string
	}{
		{"newer epoch", func(r *Record) { r.Epoch++; r.Name = "intruder" }, "another node activated"},
		{"older epoch", func(r *Record) { r.Epoch-- }, "someone rewrote the record"},
		{"paused", func(r *Record) { r.State = StorePaused }, "wrote state P"},
		{"new", func(r *Record) { r.State = StoreNew }, "wrote state N"},
		{"node id", func(r *Record) { r.NodeID, _ = newNodeID() }, "node id changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, n, l, f := fencedLive(t)
			editRecord(t, dir, tc.edit)
			edited := time.Now()
			took := awaitLost(t, l, f, edited)
			t.Logf("fenced %v after the record was edited (period %v)", took, n.opts.LockCheckPeriod)
			if !strings.Contains(l.Err().Error(), tc.want) {
				t.Errorf("Err() = %v, want it to say %q", l.Err(), tc.want)
			}
			after := mustRecord(t, dir)
			l.Stop()
			if rec := mustRecord(t, dir); rec != after {
				t.Errorf("Stop of a fenced node changed the record from %+v to %+v", after, rec)
			}
		})
	}
}

func TestFenceWhenRecordDamaged(t *testing.T) {
	dir, _, l, f := fencedLive(t)
	if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte("not a record, just some bytes that are long enough to be read back as one and then some more to pass the length check of one hundred and twenty-eight bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	awaitLost(t, l, f, time.Now())
	if !errors.Is(l.Err(), ErrDamaged) {
		t.Errorf("Err() = %v, want ErrDamaged", l.Err())
	}
}

func TestFenceWhenRecordUnreadable(t *testing.T) {
	dir, n, l, f := fencedLive(t)
	// Another holder of the record lock that never lets go, as a node
	// stuck while writing would.
	rl, err := lockfile.OpenRange(filepath.Join(dir, stateFileName), recordLockStart, recordLockLen)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	if err := rl.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	awaitLost(t, l, f, time.Now())
	if !strings.Contains(l.Err().Error(), "could not be read in 3 rounds") {
		t.Errorf("Err() = %v", l.Err())
	}
	// The first two unreadable rounds were tolerated.
	if got := len(n.log.find("ha_record_unreadable")); got != unreadableRounds {
		t.Errorf("%d unreadable rounds logged, want %d", got, unreadableRounds)
	}
}

func TestWatchdog(t *testing.T) {
	dir := t.TempDir()
	n := newNode(t, dir, Primary, "master")
	f := &fenceProbe{}
	n.opts.Fence = f.fence
	n.opts.StallTimeout = MinStallPeriods * n.opts.LockCheckPeriod
	l, err := Wait(context.Background(), n.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop() })
	hung := make(chan struct{})
	// Runs before the Stop above: the hung round must return for Stop to
	// find the monitor gone.
	t.Cleanup(func() { close(hung) })
	var rounds atomic.Int32
	l.roundHook = func() {
		if rounds.Add(1) == 2 {
			<-hung // the second round hangs, as in a dead NFS server
		}
	}
	l.Monitor()
	eventually(t, promptly, "the second round starts", func() bool { return rounds.Load() == 2 })
	took := awaitLost(t, l, f, time.Now())
	t.Logf("watchdog fired %v after the monitor hung (period %v, stall timeout %v)", took, n.opts.LockCheckPeriod, n.opts.StallTimeout)
	if !strings.Contains(l.Err().Error(), "watchdog") {
		t.Errorf("Err() = %v, want the watchdog named", l.Err())
	}
	// Never before the stall timeout: a bound the clock guarantees, however
	// loaded the machine.
	lastGood := l.base.Add(time.Duration(l.lastGood.Load()))
	if fenced := time.Unix(0, f.at.Load()); fenced.Before(lastGood.Add(n.opts.StallTimeout)) {
		t.Errorf("fenced %v after the last good round began, before the %v stall timeout", fenced.Sub(lastGood), n.opts.StallTimeout)
	}
}

// TestSlowRoundsDoNotFence: rounds slower than several periods, but within
// the stall timeout, never fence: a loaded host keeps its live.
func TestSlowRoundsDoNotFence(t *testing.T) {
	f := &fenceProbe{}
	n2 := newNode(t, t.TempDir(), Primary, "slow")
	n2.opts.Fence = f.fence
	n2.opts.StallTimeout = 2 * time.Second
	l, err := Wait(context.Background(), n2.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop() })
	var rounds atomic.Int32
	l.roundHook = func() {
		rounds.Add(1)
		time.Sleep(6 * n2.opts.LockCheckPeriod) // a round stalled longer than the old 4-period watchdog
	}
	l.Monitor()
	eventually(t, lossDeadline, "three slow rounds complete", func() bool { return rounds.Load() > 3 })
	if f.calls.Load() != 0 {
		t.Fatalf("slow rounds within the stall timeout fenced: %v", l.Err())
	}
}

func TestStopDoesNotFence(t *testing.T) {
	_, n, l, f := fencedLive(t)
	// Let a few rounds pass so the monitor is mid-flight when Stop comes.
	lease := l.LeaseDeadline()
	eventually(t, promptly, "the lease deadline advances", func() bool { return l.LeaseDeadline().After(lease) })
	// Never more than two periods ahead; on a loaded machine it may
	// already have passed, which only makes the store refuse more.
	if d := time.Until(l.LeaseDeadline()); d > 2*n.opts.LockCheckPeriod {
		t.Errorf("lease deadline %v from now, want within two periods", d)
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatal("Lost closed by a graceful Stop")
	default:
	}
	if f.calls.Load() != 0 || l.Err() != nil {
		t.Errorf("Stop fenced: %d calls, Err %v", f.calls.Load(), l.Err())
	}
	n.log.checkEvents(t)
}

func TestOrphanedFailbackRequest(t *testing.T) {
	dir := t.TempDir()
	p := newNode(t, dir, Primary, "master")
	p.live(t).crashForTest()
	b := newNode(t, dir, Backup, "slave")
	b.opts.AllowFailback = true
	f := &fenceProbe{}
	b.opts.Fence = f.fence
	lb := b.live(t)
	// A primary wrote F and died before getting the lock: the claim is
	// free.
	editRecord(t, dir, func(r *Record) { r.State = StoreFailingBack })
	b.log.waitEvent(t, "ha_failback_orphaned")
	if rec := mustRecord(t, dir); rec.State != StoreLive || rec.Epoch != lb.Epoch() {
		t.Errorf("record %+v, want L with our epoch", rec)
	}
	select {
	case <-lb.FailbackRequested():
		t.Error("failback requested by a dead primary")
	default:
	}
	if f.calls.Load() != 0 {
		t.Errorf("fenced: %v", lb.Err())
	}
}

func TestBackupYieldsToFailingBackPrimary(t *testing.T) {
	dir := t.TempDir()
	newNode(t, dir, Primary, "master").live(t).crashForTest()
	// A primary on its way to live: it holds the claim and wrote F.
	claim, err := lockfile.OpenRange(filepath.Join(dir, stateFileName), claimLockStart, claimLockLen)
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Close()
	if err := claim.TryLock(); err != nil {
		t.Fatal(err)
	}
	editRecord(t, dir, func(r *Record) { r.State = StoreFailingBack })

	b := newNode(t, dir, Backup, "slave")
	res := b.start(t, context.Background())
	b.states.waitFor(t, StateYielding)
	waitBlocked(t, filepath.Join(dir, stateFileName))
	// It gave live.lock back for the primary.
	live := openLock(t, filepath.Join(dir, liveFileName))
	if err := live.TryLock(); err != nil {
		t.Fatalf("live.lock held by a yielding backup: %v", err)
	}
	live.Unlock()
	if rec := mustRecord(t, dir); rec.State != StoreFailingBack || rec.Epoch != 1 {
		t.Errorf("a yielding backup changed the record: %+v", rec)
	}
	stillWaiting(t, res, 10*b.opts.pausedPoll, "the primary holds the claim")
	// The primary dies without getting the lock: the backup takes over.
	claim.Close()
	lb := awaitLive(t, res, promptly)
	if lb.Epoch() != 2 {
		t.Errorf("epoch %d, want 2", lb.Epoch())
	}
	b.log.waitEvent(t, "ha_failback_orphaned")
}

// TestFailbackRequestDuringActivation covers a primary that writes F after
// the backup read L but before it wrote its own L: the backup must see the
// request in its read-modify-write and yield, not overwrite it.
func TestFailbackRequestDuringActivation(t *testing.T) {
	dir := t.TempDir()
	newNode(t, dir, Primary, "master").live(t).crashForTest()
	claim, err := lockfile.OpenRange(filepath.Join(dir, stateFileName), claimLockStart, claimLockLen)
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Close()
	b := newNode(t, dir, Backup, "slave")
	var scans atomic.Int32
	// The journal scan runs between the backup's read of the record and
	// its write: the moment the primary comes back.
	b.opts.MaxEpochOnDisk = func() (uint64, error) {
		if scans.Add(1) == 1 {
			if err := claim.TryLock(); err != nil {
				return 0, err
			}
			editRecord(t, dir, func(r *Record) { r.State = StoreFailingBack })
		}
		return 0, nil
	}
	res := b.start(t, context.Background())
	b.states.waitFor(t, StateYielding)
	if rec := mustRecord(t, dir); rec.State != StoreFailingBack || rec.Epoch != 1 {
		t.Fatalf("the failback request was overwritten: %+v", rec)
	}
	// The primary gets the lock the backup gave back, activates and
	// releases the claim; the backup then waits behind it.
	live := openLock(t, filepath.Join(dir, liveFileName))
	if err := live.TryLock(); err != nil {
		t.Fatalf("a yielding backup kept live.lock: %v", err)
	}
	editRecord(t, dir, func(r *Record) { r.State, r.Epoch, r.Name = StoreLive, 2, "master" })
	claim.Unlock()
	b.states.waitFor(t, StateWaiting)
	stillWaiting(t, res, 5*b.opts.pausedPoll, "the primary is live")
	live.Unlock()
	if lb := awaitLive(t, res, promptly); lb.Epoch() != 3 {
		t.Errorf("backup epoch %d, want 3", lb.Epoch())
	}
}
