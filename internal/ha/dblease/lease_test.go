package dblease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tandem/internal/ha"
	"tandem/internal/pgdb"
	"tandem/internal/store/pgstore/pgtest"
)

// TestPrimaryStartsAndStops checks the life of a primary on a new store:
// it takes the lease with epoch 1, keeps it valid by renewing, and a
// graceful stop leaves state P, on which a backup does not take over but
// a primary does, with the next epoch.
func TestPrimaryStartsAndStops(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := mustLive(t, waitAsync(ctx, options(t, url, ha.Primary, "p1")), 10*time.Second).live
	if first.Epoch() != 1 || first.NodeID() == "" {
		t.Fatalf("first activation: epoch %d, node id %q", first.Epoch(), first.NodeID())
	}
	first.Monitor()
	// A lease and a half later it is still valid: the renewals work.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if !first.Valid() {
			t.Fatal("the live's lease became invalid while it renewed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := readRow(t, url)
	if r.State != "L" || r.Epoch != 1 || r.HolderName != "p1" || !r.ExpiresAt.After(r.Now) {
		t.Fatalf("row while live: %+v", r)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if r := readRow(t, url); r.State != "P" || r.Holder != "" {
		t.Fatalf("row after a graceful stop: %+v", r)
	}
	backup := waitAsync(ctx, options(t, url, ha.Backup, "b1"))
	time.Sleep(500 * time.Millisecond)
	notLive(t, backup, "a backup on a paused store")
	second := mustLive(t, waitAsync(ctx, options(t, url, ha.Primary, "p2")), 10*time.Second).live
	if second.Epoch() != 2 || second.NodeID() != first.NodeID() {
		t.Fatalf("second activation: epoch %d node %s, want 2 and %s", second.Epoch(), second.NodeID(), first.NodeID())
	}
	notLive(t, backup, "a backup while a primary is live")
}

// TestBackupWaitsForANewStore: a backup never activates a store no
// primary was ever live on.
func TestBackupWaitsForANewStore(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var states []string
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(states) == 0 {
			return ""
		}
		return states[len(states)-1]
	}
	o := options(t, url, ha.Backup, "b1")
	o.OnState = func(s ha.State) { mu.Lock(); states = append(states, s.Name); mu.Unlock() }
	ch := waitAsync(ctx, o)
	for end := time.Now().Add(10 * time.Second); last() != ha.StateStorePaused; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("state %q, want to reach %s", last(), ha.StateStorePaused)
		}
	}
	time.Sleep(500 * time.Millisecond)
	notLive(t, ch, "a backup on a new store")
	cancel()
	if r := <-ch; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled Wait returned %v", r.err)
	}
	if last() != ha.StateStorePaused {
		t.Fatalf("state %q, want %s", last(), ha.StateStorePaused)
	}
}

// TestStalledLiveStepsDownBeforeTakeover stalls the live's renewals (a
// stopped process, a hung network): it must stop confirming and be fenced
// before its lease expires in the database, and the backup takes over only
// once it has expired there.
func TestStalledLiveStepsDownBeforeTakeover(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStall(t)
	var fenced fenceRecorder
	po := options(t, url, ha.Primary, "p")
	po.renewHook, po.Fence = st.hook, fenced.fence
	live := mustLive(t, waitAsync(ctx, po), 10*time.Second).live
	live.Monitor()
	backup := waitAsync(ctx, options(t, url, ha.Backup, "b"))
	time.Sleep(time.Second)
	notLive(t, backup, "a backup while the live renews")

	last := st.stop()
	took := mustLive(t, backup, 10*time.Second)
	select {
	case <-live.Lost():
	default:
		t.Fatal("the backup took over while the stalled live had not stepped down")
	}
	if live.Valid() {
		t.Fatal("the stalled live still reports its lease valid")
	}
	lease := po.Lease
	if early := took.at.Sub(last); early < lease {
		t.Fatalf("the backup took over %v after the live's last renewal, before the lease of %v", early, lease)
	}
	if f := fenced.when(); f.IsZero() || !f.Before(took.at) || !f.Before(last.Add(lease)) {
		t.Fatalf("fenced at %v; last renewal %v, lease %v, takeover %v", f, last, lease, took.at)
	}
	if !errors.Is(live.Err(), ErrLeaseLost) {
		t.Fatalf("Err = %v", live.Err())
	}
	if took.live.Epoch() != live.Epoch()+1 {
		t.Fatalf("takeover epoch %d after %d", took.live.Epoch(), live.Epoch())
	}
	// The stalled node wakes up: its renewal finds the lease taken, and
	// nothing makes it valid again.
	st.resume()
	time.Sleep(3 * po.Renew)
	if live.Valid() {
		t.Fatal("the old live's lease became valid again after it woke up")
	}
	if r := readRow(t, url); r.HolderName != "b" || r.Epoch != took.live.Epoch() {
		t.Fatalf("row after the old live woke: %+v", r)
	}
}

// TestHolderSessionGoneIsTheFastPath: when the live's lease session ends
// (its process died), the waiting node wakes on the advisory lock and takes
// over without waiting for the lease to expire, because the database
// confirms that the holder's session is gone.
func TestHolderSessionGoneIsTheFastPath(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStall(t)
	po := options(t, url, ha.Primary, "p")
	po.Lease, po.Renew = 30*time.Second, time.Second
	po.renewHook = st.hook
	live := mustLive(t, waitAsync(ctx, po), 10*time.Second).live
	bo := options(t, url, ha.Backup, "b")
	bo.Lease, bo.Renew = 30*time.Second, time.Second
	backup := waitAsync(ctx, bo)
	time.Sleep(2 * time.Second) // the live's renewals take the advisory lock
	notLive(t, backup, "a backup while the live renews")
	st.stop()
	killed := time.Now()
	conn := pgtest.Conn(t, url)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend(holder_pid) FROM "+pgdb.DefaultNodeManager).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the live's lease session: %v %v", ok, err)
	}
	took := mustLive(t, backup, 10*time.Second)
	if d := took.at.Sub(killed); d >= bo.Lease/2 {
		t.Fatalf("takeover took %v after the holder's session ended; the lease is %v", d, bo.Lease)
	}
	var how string
	if err := conn.QueryRow(ctx, "SELECT how FROM "+pgdb.DefaultNodeManager+"_history WHERE epoch = $1", took.live.Epoch()).Scan(&how); err != nil || how != "holder gone" {
		t.Fatalf("history says %q (%v), want \"holder gone\"", how, err)
	}
	_ = live
}

// TestFailback: a backup that became live hands the store back to the
// primary when it returns, and then waits again.
func TestFailback(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStall(t)
	po := options(t, url, ha.Primary, "p")
	po.renewHook = st.hook
	old := mustLive(t, waitAsync(ctx, po), 10*time.Second).live
	bo := options(t, url, ha.Backup, "b")
	bo.AllowFailback = true
	backup := mustLive(t, func() <-chan waitResult { st.stop(); return waitAsync(ctx, bo) }(), 10*time.Second).live
	backup.Monitor()
	<-old.Lost()

	primary := waitAsync(ctx, options(t, url, ha.Primary, "p"))
	select {
	case <-backup.FailbackRequested():
	case <-time.After(10 * time.Second):
		t.Fatal("the live backup saw no failback request")
	}
	notLive(t, primary, "the primary before the backup handed back")
	if err := backup.HandBack(); err != nil {
		t.Fatal(err)
	}
	back := mustLive(t, primary, 10*time.Second).live
	if back.Epoch() != backup.Epoch()+1 {
		t.Fatalf("failback epoch %d after %d", back.Epoch(), backup.Epoch())
	}
	// The backup waits again and does not take the store from the primary.
	again := waitAsync(ctx, bo)
	time.Sleep(time.Second)
	notLive(t, again, "the backup after failback")
	if err := backup.Stop(); err != nil {
		t.Fatalf("Stop after HandBack: %v", err)
	}
}

// TestNoFailbackWithoutAllowFailback: a live backup with allow-failback off
// keeps the store; the waiting primary takes over only when it dies.
func TestNoFailbackWithoutAllowFailback(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStall(t)
	po := options(t, url, ha.Primary, "p")
	po.renewHook = st.hook
	mustLive(t, waitAsync(ctx, po), 10*time.Second)
	bst := newStall(t)
	bo := options(t, url, ha.Backup, "b")
	bo.renewHook = bst.hook
	st.stop()
	backup := mustLive(t, waitAsync(ctx, bo), 10*time.Second).live
	backup.Monitor()
	primary := waitAsync(ctx, options(t, url, ha.Primary, "p2"))
	time.Sleep(1500 * time.Millisecond)
	notLive(t, primary, "the primary while the backup refuses failback")
	select {
	case <-backup.FailbackRequested():
		t.Fatal("failback requested on a backup without allow-failback")
	default:
	}
	bst.stop()
	mustLive(t, primary, 10*time.Second)
}

// TestClockSkewChangesNothing runs the live and the backup with their
// clocks 30 s ahead or behind: the lease counts only on the database's
// clock and on differences of each broker's own clock, so the backup takes
// over neither early nor late, and the live neither steps down while it
// renews nor keeps confirming once it cannot.
func TestClockSkewChangesNothing(t *testing.T) {
	for _, tc := range []struct{ live, backup time.Duration }{
		{30 * time.Second, 0}, {-30 * time.Second, 0}, {0, 30 * time.Second}, {0, -30 * time.Second},
		{30 * time.Second, -30 * time.Second},
	} {
		t.Run(fmt.Sprintf("live%+v/backup%+v", tc.live, tc.backup), func(t *testing.T) {
			url := newDB(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st := newStall(t)
			var fenced fenceRecorder
			po := options(t, url, ha.Primary, "p")
			po.Clock, po.renewHook, po.Fence = skewedClock{tc.live}, st.hook, fenced.fence
			live := mustLive(t, waitAsync(ctx, po), 10*time.Second).live
			live.Monitor()
			bo := options(t, url, ha.Backup, "b")
			bo.Clock = skewedClock{tc.backup}
			backup := waitAsync(ctx, bo)
			for end := time.Now().Add(po.Lease + po.Lease/2); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if !live.Valid() {
					t.Fatal("the renewing live's lease became invalid")
				}
				notLive(t, backup, "a backup while the live renews")
			}
			last := st.stop()
			took := mustLive(t, backup, 10*time.Second)
			after := took.at.Sub(last)
			if after < po.Lease {
				t.Fatalf("early takeover: %v after the last renewal, lease %v", after, po.Lease)
			}
			// On time is the lease plus a poll and the takeover's round
			// trips; 2 s covers a loaded machine, 30 s of skew would not
			// fit.
			if limit := po.Lease + bo.Poll + 2*time.Second; after > limit {
				t.Fatalf("late takeover: %v after the last renewal, limit %v", after, limit)
			}
			if f := fenced.when(); f.IsZero() || f.After(last.Add(po.Lease)) {
				t.Fatalf("the live was fenced at %v, last renewal %v, lease %v", f, last, po.Lease)
			}
		})
	}
}

// TestInvalidOptions checks what Wait refuses before connecting.
func TestInvalidOptions(t *testing.T) {
	cfg, err := pgdb.ParseURL("postgres://127.0.0.1:1/none", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{Role: ha.Primary},
		{Conn: cfg},
		{Conn: cfg, Role: ha.Primary, Lease: 100 * time.Millisecond},
		{Conn: cfg, Role: ha.Primary, Lease: time.Second, Renew: 800 * time.Millisecond},
		{Conn: cfg, Role: ha.Primary, Tables: pgdb.Tables{Messages: "bad name"}},
	} {
		if _, err := Wait(context.Background(), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Wait(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}
