package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/lockfile"
)

// ErrLockLost is wrapped by Live.Err once the lock monitor has found the
// live lock lost, and says why.
var ErrLockLost = errors.New("ha: lost the live lock")

// ErrNoFailback is returned by HandBack when no failback was requested.
var ErrNoFailback = errors.New("ha: no failback was requested")

// ErrStopped is returned by HandBack after Stop or HandBack.
var ErrStopped = errors.New("ha: the live node was already stopped")

// unreadableRounds is how many monitor rounds in a row may fail to read
// the record before the lock counts as lost. The kernel's answer (Verify)
// is the authority and is never tolerated; the record is the second line
// of defence, and a slow file server may delay it for a round or two.
const unreadableRounds = 3

// Live is a node that holds the live lock. It was returned by Wait after
// writing L with a new epoch; the caller opens the store with Epoch, then
// calls Monitor, and ends with Stop (or HandBack on a failback request).
// Its methods are safe for concurrent use.
type Live struct {
	st       *store
	opts     Options
	log      *slog.Logger
	rep      *reporter
	rec      Record    // as written at activation
	acquired time.Time // when live.lock was granted

	lost     chan struct{}
	failback chan struct{}
	// base anchors lastGood on the monotonic clock: lastGood is the start
	// of the last good round as an offset from base.
	base     time.Time
	lastGood atomic.Int64

	mu         sync.Mutex
	err        error // why the lock was lost
	isLost     bool
	stopped    bool // Stop or HandBack began; the monitor's findings no longer count
	monitoring bool
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	// Only the monitor goroutine touches these.
	unreadable   int
	loggedIgnore bool
	loggedRefuse bool

	// roundHook, set by tests before Monitor, runs at the start of every
	// round; a hook that blocks simulates a hung file system.
	roundHook func()
}

// newLive wraps the store of a node that has just activated.
func newLive(n *node, st *store, rec Record, granted time.Time) *Live {
	return &Live{
		st: st, opts: n.opts, log: n.log, rep: n.rep, rec: rec, acquired: granted,
		lost: make(chan struct{}), failback: make(chan struct{}), base: time.Now(),
	}
}

// Epoch returns this activation's epoch, which the store stamps on every
// journal file it creates.
func (l *Live) Epoch() uint64 { return l.rec.Epoch }

// NodeID returns the store's node id. Both nodes of a pair report the same
// id, so clients see it unchanged across a failover.
func (l *Live) NodeID() string { return l.rec.NodeID }

// AcquiredAt returns when the kernel granted the live lock, for logging the
// takeover time once the store is open and the acceptor listens.
func (l *Live) AcquiredAt() time.Time { return l.acquired }

// Lost returns a channel that is closed when the lock monitor has found the
// live lock lost, after Fence has returned. Err says why.
func (l *Live) Lost() <-chan struct{} { return l.lost }

// Err returns why the lock was lost (wrapping ErrLockLost), or nil.
func (l *Live) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// FailbackRequested returns a channel that is closed when the primary asks
// for the store back and this node, a backup, has allow-failback on. The
// caller then stops serving, closes the store and calls HandBack. It is
// never closed on a primary.
func (l *Live) FailbackRequested() <-chan struct{} { return l.failback }

// LeaseDeadline returns until when a store write may still be confirmed
// (docs/ha.md 3.2): the start of the last good monitor round plus two lock
// check periods. A store that fails batches synced after it cannot confirm
// a write after another node may have taken over. Before Monitor it is
// two periods after activation.
func (l *Live) LeaseDeadline() time.Time {
	return l.base.Add(time.Duration(l.lastGood.Load()) + 2*l.opts.LockCheckPeriod)
}

// Monitor starts the lock monitor of docs/ha.md section 3 and returns at
// once. Every LockCheckPeriod it asks the kernel whether this node still
// holds live.lock and rereads the record; a watchdog declares the lock lost
// if no good round has started for StallTimeout. On loss it calls Fence, then
// closes Lost. Calling Monitor again, or after Stop, does nothing.
func (l *Live) Monitor() {
	l.mu.Lock()
	if l.monitoring || l.stopped || l.isLost {
		l.mu.Unlock()
		return
	}
	l.monitoring = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.markGood(time.Now())
	l.wg.Add(2)
	l.mu.Unlock()
	l.rep.set(StateLive, l.rec, "")
	l.log.Debug("lock monitor running", "event", "ha_monitor", "period", l.opts.LockCheckPeriod, "epoch", l.rec.Epoch)
	go l.run(ctx)
	go l.watchdog(ctx)
}

// markGood records the start of a good round.
func (l *Live) markGood(start time.Time) {
	l.lastGood.Store(int64(start.Sub(l.base)))
}

// run is the monitor goroutine.
func (l *Live) run(ctx context.Context) {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.LockCheckPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.roundHook != nil {
			l.roundHook()
		}
		start := time.Now()
		cause := l.round(ctx)
		if ctx.Err() != nil {
			return // stopping: a failure now is our own doing
		}
		if cause != nil {
			l.lose(cause)
			return
		}
		l.markGood(start)
	}
}

// watchdog declares the lock lost when the monitor stops completing rounds
// for StallTimeout: the monitor is then stuck, typically in a system call on
// a hung network file system, and exclusivity can no longer be shown. It
// runs apart from the monitor precisely because the monitor may be the one
// stuck.
func (l *Live) watchdog(ctx context.Context) {
	defer l.wg.Done()
	limit := l.opts.StallTimeout
	t := time.NewTicker(l.opts.LockCheckPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last := l.base.Add(time.Duration(l.lastGood.Load()))
		if since := time.Since(last); since > limit {
			l.lose(fmt.Errorf("no lock check completed for %v (watchdog; is the file system hung?)", since.Round(time.Millisecond)))
			return
		}
	}
}

// round is one check: the kernel first, then the record. It returns why
// the lock is lost, or nil for a good round.
func (l *Live) round(ctx context.Context) error {
	if err := l.st.live.Verify(); err != nil {
		return fmt.Errorf("live.lock: %w", err)
	}
	var cause error
	_, err := l.st.update(ctx, l.opts.LockCheckPeriod/2, func(r *Record) (bool, error) {
		switch {
		case r.NodeID != l.rec.NodeID:
			cause = fmt.Errorf("the record's node id changed from %s to %s", l.rec.NodeID, r.NodeID)
		case r.Epoch > l.rec.Epoch:
			cause = fmt.Errorf("another node activated: the record's epoch is %d, ours %d (written by %s)", r.Epoch, l.rec.Epoch, r.Who())
		case r.Epoch < l.rec.Epoch:
			cause = fmt.Errorf("someone rewrote the record: its epoch is %d, ours %d", r.Epoch, l.rec.Epoch)
		case r.State == StoreNew || r.State == StorePaused:
			cause = fmt.Errorf("someone wrote state %s while this node is live (written by %s)", r.State, r.Who())
		case r.State == StoreFailingBack:
			return l.failbackRequest(r)
		}
		return false, nil
	})
	switch {
	case cause != nil:
		return cause
	case err == nil:
		l.unreadable = 0
		return nil
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, ErrDamaged):
		return fmt.Errorf("server.lock: %w", err)
	}
	l.unreadable++
	l.log.Warn("could not read the state file: "+err.Error(), "event", "ha_record_unreadable", "err", err, "rounds", l.unreadable)
	if l.unreadable >= unreadableRounds {
		return fmt.Errorf("the record could not be read in %d rounds in a row: %w", l.unreadable, err)
	}
	return nil
}

// failbackRequest handles state F seen by the monitor (docs/ha.md 2.4),
// under the record lock. It returns whether to write r back.
func (l *Live) failbackRequest(r *Record) (bool, error) {
	if l.opts.Role == Primary {
		// Two primaries on one store behave as a pair of equals: whoever
		// holds the lock stays live.
		if !l.loggedIgnore {
			l.loggedIgnore = true
			l.log.Info("another primary is waiting on "+l.opts.Dir+" (state F); primaries never fail back, staying live", "event", "ha_failback_ignored", "epoch", l.rec.Epoch)
		}
		return false, nil
	}
	err := l.st.claim.TryLock()
	if err == nil {
		// The requester died before getting the lock: take the request
		// back so that the next backup to read the record sees L.
		l.st.claim.Unlock()
		r.State, r.Time = StoreLive, time.Now()
		l.log.Info("the primary that requested failback on "+l.opts.Dir+" is gone; rewrote state L", "event", "ha_failback_orphaned", "epoch", l.rec.Epoch)
		return true, nil
	}
	if !errors.Is(err, lockfile.ErrLocked) {
		return false, err
	}
	if !l.opts.AllowFailback {
		if !l.loggedRefuse {
			l.loggedRefuse = true
			l.log.Info("the primary requested failback on "+l.opts.Dir+" but allow-failback is off; staying live", "event", "ha_failback_refused", "epoch", l.rec.Epoch)
		}
		return false, nil
	}
	select {
	case <-l.failback:
	default:
		msg := "the primary is back: handing " + l.opts.Dir + " back (allow-failback)"
		l.log.Info(msg, "event", "ha_failing_back", "epoch", l.rec.Epoch)
		l.rep.set(StateFailingBack, l.rec, msg)
		close(l.failback)
	}
	return false, nil
}

// lose fences the store and reports the loss, once. It ignores findings
// made after Stop or HandBack began: the store is closed by then, and
// releasing our own locks would look like a loss.
func (l *Live) lose(cause error) {
	l.mu.Lock()
	if l.isLost || l.stopped {
		l.mu.Unlock()
		return
	}
	l.isLost = true
	l.err = fmt.Errorf("%w on %s: %w", ErrLockLost, l.opts.Dir, cause)
	err := l.err
	l.mu.Unlock()
	// Fence first, synchronously: every later store write must fail
	// before anyone learns of the loss.
	if l.opts.Fence != nil {
		l.opts.Fence(err)
	}
	l.log.Error(fmt.Sprintf("lost the live lock on %s: %v; the store is fenced and this node stops to avoid two live brokers (epoch %d)", l.opts.Dir, cause, l.rec.Epoch),
		"event", "ha_lock_lost", "err", cause, "epoch", l.rec.Epoch, "node_id", l.rec.NodeID)
	l.rep.set(StateFenced, l.rec, cause.Error())
	close(l.lost)
}

// begin marks the start of Stop or HandBack; from then on the monitor's
// findings no longer count. It reports false if one already began.
func (l *Live) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.stopped = true
	return true
}

// finish stops the monitor and waits until its goroutines have returned,
// so that nothing touches the lock files behind the caller. It reports
// whether the lock had been lost.
func (l *Live) finish() (lost bool) {
	l.mu.Lock()
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isLost
}

// Stop is the end of a graceful stop of the live node (docs/ha.md 2.5),
// called once the store is closed. Without FailoverOnShutdown it writes P,
// so that a waiting backup does not take over; then it releases live.lock
// and every other lock. After the lock was lost it writes nothing, and it
// never writes P unless the kernel confirms the lock and the record still
// carries this node's epoch. A second call does nothing.
func (l *Live) Stop() error {
	if !l.begin() {
		return nil
	}
	if l.finish() {
		return l.st.close()
	}
	l.rep.set(StateStopping, l.rec, "")
	var err error
	state := StoreLive
	if !l.opts.FailoverOnShutdown {
		if err = l.writePaused(); err == nil {
			state = StorePaused
		} else {
			err = fmt.Errorf("ha: could not write state P, a waiting backup may take over: %w", err)
		}
	}
	// P is on disk before live.lock is released: a backup woken by the
	// release must read it.
	err = errors.Join(err, l.st.close())
	l.log.Info(fmt.Sprintf("released the live lock on %s, leaving state %s (epoch %d)", l.opts.Dir, state, l.rec.Epoch),
		"event", "ha_stopped", "state", state.String(), "epoch", l.rec.Epoch, "failover_on_shutdown", l.opts.FailoverOnShutdown)
	return err
}

// writePaused writes P if this node still provably owns the store.
func (l *Live) writePaused() error {
	if err := l.st.live.Verify(); err != nil {
		return err
	}
	_, err := l.st.update(context.Background(), l.opts.recordTimeout, func(r *Record) (bool, error) {
		if r.NodeID != l.rec.NodeID || r.Epoch != l.rec.Epoch {
			return false, fmt.Errorf("the record (node id %s, epoch %d) is no longer ours (epoch %d)", r.NodeID, r.Epoch, l.rec.Epoch)
		}
		r.State, r.Time = StorePaused, time.Now()
		return true, nil
	})
	return err
}

// HandBack ends a failback on the backup side (docs/ha.md 2.4), called
// once FailbackRequested is closed and the store is closed. It leaves the
// record at F for the primary and releases live.lock, which the primary,
// blocked on it, gets at once; the caller then calls Wait again. It
// returns ErrNoFailback if no failback was requested (nothing is released
// then) and ErrStopped after Stop. After a lost lock it only releases.
func (l *Live) HandBack() error {
	select {
	case <-l.failback:
	default:
		return ErrNoFailback
	}
	if !l.begin() {
		return ErrStopped
	}
	lost := l.finish()
	err := l.st.close()
	if !lost {
		l.log.Info("handed "+l.opts.Dir+" back to the primary", "event", "ha_handed_back", "epoch", l.rec.Epoch)
	}
	return err
}
