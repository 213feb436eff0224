package dblease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/ha"
)

// ErrLeaseLost is wrapped by Live.Err once the lease is lost, and says why.
var ErrLeaseLost = errors.New("dblease: lost the live lease")

// ErrNoFailback is returned by HandBack when no failback was requested.
var ErrNoFailback = errors.New("dblease: no failback was requested")

// ErrStopped is returned by HandBack after Stop or HandBack.
var ErrStopped = errors.New("dblease: the live node was already stopped")

// Live is a node that holds the lease. Wait returns it renewing; the caller
// opens the store with Epoch, calls Monitor once it serves, and ends with
// Stop (or HandBack on a failback request). Its methods are safe for
// concurrent use.
type Live struct {
	o        Options
	st       statements
	log      *slog.Logger
	rep      *reporter
	holder   string
	epoch    uint64
	nodeID   string
	acquired time.Time // on the broker's clock, when the takeover began

	// base anchors valid on the broker's clock: valid is the end of the
	// confirming lease as an offset from base.
	base  time.Time
	valid atomic.Int64
	// dead is set once the lease is lost: no renewal revives it.
	dead atomic.Bool

	lost     chan struct{}
	failback chan struct{}

	mu           sync.Mutex
	err          error
	isLost       bool
	stopped      bool
	monitoring   bool
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	loggedIgnore bool
	loggedRefuse bool

	// Only the renewing goroutine touches conn and locked until finish
	// has waited for it; then Stop and HandBack do.
	conn   *pgx.Conn
	locked bool // conn holds the advisory lock
}

func newLive(n *node, conn *pgx.Conn, epoch uint64, nodeID string, sent, granted time.Time) *Live {
	l := &Live{
		o: n.o, st: n.st, log: n.log, rep: n.rep, holder: n.holder, epoch: epoch, nodeID: nodeID,
		acquired: sent, base: granted, lost: make(chan struct{}), failback: make(chan struct{}), conn: conn,
	}
	l.extend(sent)
	return l
}

// Epoch returns this activation's epoch, which the store passes to the
// fence function in every write transaction.
func (l *Live) Epoch() uint64 { return l.epoch }

// NodeID returns the store's node id.
func (l *Live) NodeID() string { return l.nodeID }

// AcquiredAt returns when the takeover began, for logging the takeover
// time once the node serves.
func (l *Live) AcquiredAt() time.Time { return l.acquired }

// Lost returns a channel closed once the lease is lost (or about to expire
// unrenewed), after Fence has returned. Err says why.
func (l *Live) Lost() <-chan struct{} { return l.lost }

// Err returns why the lease was lost (wrapping ErrLeaseLost), or nil.
func (l *Live) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// FailbackRequested returns a channel closed when the primary asks for the
// store back and this node, a backup, has AllowFailback. The caller then
// stops serving, closes the store and calls HandBack.
func (l *Live) FailbackRequested() <-chan struct{} { return l.failback }

// Valid reports whether a write committed now may still be confirmed: the
// lease, counted on this node's clock from when its last successful
// renewal was sent, is more than the safety margin away from expiring.
func (l *Live) Valid() bool {
	return !l.dead.Load() && l.o.Clock.Now().Sub(l.base) < time.Duration(l.valid.Load())
}

// extend moves the end of the confirming lease to sent + lease - margin.
func (l *Live) extend(sent time.Time) {
	end := int64(sent.Sub(l.base) + l.o.Lease - l.o.margin())
	for !l.dead.Load() {
		cur := l.valid.Load()
		if end <= cur || l.valid.CompareAndSwap(cur, end) {
			return
		}
	}
}

// remaining is how long the confirming lease lasts from now.
func (l *Live) remaining() time.Duration {
	return time.Duration(l.valid.Load()) - l.o.Clock.Now().Sub(l.base)
}

// start runs the renewing goroutine and its watchdog. Wait calls it at
// activation: the lease must be renewed while the store loads, long
// before Monitor.
func (l *Live) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	l.cancel = cancel
	l.mu.Unlock()
	l.lockAdvisory(ctx)
	l.wg.Add(2)
	go l.renewLoop(ctx)
	go l.watchdog(ctx)
}

// Monitor reports the node live. The lease is renewed and watched from
// activation on; Monitor only marks the start of serving.
func (l *Live) Monitor() {
	l.mu.Lock()
	if l.monitoring || l.stopped || l.isLost {
		l.mu.Unlock()
		return
	}
	l.monitoring = true
	l.mu.Unlock()
	l.rep.set(ha.StateLive, l.nodeID, l.epoch, l.o.Name, "")
	l.log.Debug("lease renewing", "event", "ha_monitor", "renew", l.o.Renew, "lease", l.o.Lease, "epoch", l.epoch)
}

// renewLoop renews the lease every renew period, reconnecting when the
// connection is lost, until the lease is lost or the node stops.
func (l *Live) renewLoop(ctx context.Context) {
	defer l.wg.Done()
	t := time.NewTicker(l.o.Renew)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.o.renewHook != nil {
			l.o.renewHook(ctx)
		}
		if l.remaining() <= 0 {
			// Stalled past the end of the confirming lease: step down,
			// even if the database would still take a renewal.
			l.lose(l.expiredCause())
			return
		}
		err := l.renew(ctx)
		if ctx.Err() != nil || l.dead.Load() {
			return
		}
		switch {
		case err == nil:
			if failures > 0 {
				l.log.Info("renewed the lease again", "event", "ha_lease_renewed", "after_failures", failures, "epoch", l.epoch)
			}
			failures = 0
		case errors.Is(err, ErrLeaseLost):
			l.lose(err)
			return
		default:
			if failures%10 == 0 {
				l.log.Warn("could not renew the lease: "+err.Error(), "event", "ha_lease_renew_failed", "err", err,
					"remaining", l.remaining().Round(time.Millisecond), "epoch", l.epoch)
			}
			failures++
		}
	}
}

// renew is one renewal. It returns an error wrapping ErrLeaseLost when the
// row shows another holder or epoch.
func (l *Live) renew(ctx context.Context) error {
	wait := max(l.remaining(), 50*time.Millisecond)
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if l.conn == nil || l.conn.IsClosed() {
		conn, err := connectLease(rctx, l.o, "lease")
		if err != nil {
			return err
		}
		l.conn, l.locked = conn, false
	}
	sent := l.o.Clock.Now()
	var state, by string
	var fresh bool
	err := l.conn.QueryRow(rctx, l.st.renew, l.holder, l.epoch, l.o.Lease.Seconds()).Scan(&state, &by, &fresh)
	if errors.Is(err, pgx.ErrNoRows) {
		var epoch uint64
		var name string
		cause := "the lease row is gone"
		if rerr := l.conn.QueryRow(rctx, l.st.current).Scan(&epoch, &name); rerr == nil {
			cause = fmt.Sprintf("the lease is no longer ours: epoch %d, holder %q (ours: epoch %d)", epoch, name, l.epoch)
		}
		return fmt.Errorf("%w: %s", ErrLeaseLost, cause)
	}
	if err != nil {
		l.conn.Close(context.Background())
		return err
	}
	l.extend(sent)
	if took := l.o.Clock.Now().Sub(sent); took > l.o.Renew {
		l.log.Warn(fmt.Sprintf("a lease renewal took %v (renew period %v, lease %v): the database is slow", took.Round(time.Millisecond), l.o.Renew, l.o.Lease),
			"event", "ha_lease_slow", "took", took, "epoch", l.epoch)
	}
	if !l.locked {
		l.lockAdvisory(rctx)
	}
	if state == "F" && fresh {
		l.failbackRequest(by)
	}
	return nil
}

// lockAdvisory takes the advisory lock on the lease session, if it is
// free, so that a waiting node wakes when this process dies. A stalled ex
// live may still hold it; the next renewal tries again.
func (l *Live) lockAdvisory(ctx context.Context) {
	var ok bool
	if err := l.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", advisoryKey(l.o.Tables)).Scan(&ok); err == nil {
		l.locked = ok
	}
}

// failbackRequest handles a fresh state F seen by a renewal.
func (l *Live) failbackRequest(by string) {
	switch {
	case l.o.Role == ha.Primary:
		if !l.loggedIgnore {
			l.loggedIgnore = true
			l.log.Info("another primary is waiting on "+l.o.where()+" (state F); primaries never fail back, staying live", "event", "ha_failback_ignored", "epoch", l.epoch)
		}
	case !l.o.AllowFailback:
		if !l.loggedRefuse {
			l.loggedRefuse = true
			l.log.Info("the primary requested failback on "+l.o.where()+" but allow-failback is off; staying live", "event", "ha_failback_refused", "epoch", l.epoch, "by", by)
		}
	default:
		select {
		case <-l.failback:
		default:
			msg := "the primary is back: handing " + l.o.where() + " back (allow-failback)"
			l.log.Info(msg, "event", "ha_failing_back", "epoch", l.epoch)
			l.rep.set(ha.StateFailingBack, l.nodeID, l.epoch, l.o.Name, msg)
			close(l.failback)
		}
	}
}

// watchdog declares the lease lost when the confirming lease runs out: the
// renewals failed (the database unreachable) or could not run (the process
// was stopped) for that long. It wakes at the end of the lease, not on a
// tick, so it fires on time.
func (l *Live) watchdog(ctx context.Context) {
	defer l.wg.Done()
	for {
		left := l.remaining()
		if left <= 0 {
			l.lose(l.expiredCause())
			return
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// expiredCause says why a lease that ran out unrenewed is lost.
func (l *Live) expiredCause() error {
	return fmt.Errorf("%w: the lease was not renewed for %v (renewals failing, or this process stalled); stopped confirming %v before it could expire",
		ErrLeaseLost, (l.o.Lease - l.o.margin() - l.remaining()).Round(time.Millisecond), l.o.margin())
}

// lose fences the store and reports the loss, once. Findings made after
// Stop or HandBack began are ignored.
func (l *Live) lose(cause error) {
	l.mu.Lock()
	if l.isLost || l.stopped {
		l.mu.Unlock()
		return
	}
	l.isLost = true
	l.err = cause
	l.dead.Store(true)
	l.mu.Unlock()
	// Fence first, synchronously: every later store write must fail
	// before anyone learns of the loss.
	if l.o.Fence != nil {
		l.o.Fence(cause)
	}
	l.log.Error(fmt.Sprintf("lost the live lease on %s: %v; the store is fenced and this node steps down (epoch %d)", l.o.where(), cause, l.epoch),
		"event", "ha_lock_lost", "err", cause, "epoch", l.epoch, "node_id", l.nodeID)
	l.rep.set(ha.StateFenced, l.nodeID, l.epoch, l.o.Name, cause.Error())
	close(l.lost)
}

// begin marks the start of Stop or HandBack; it reports false if one
// already began.
func (l *Live) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.stopped = true
	return true
}

// finish stops the renewing goroutines and waits for them, and reports
// whether the lease had been lost.
func (l *Live) finish() bool {
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

// release gives the lease up, leaving state (or the current state if
// empty), and closes the lease session.
func (l *Live) release(state string) error {
	defer func() {
		if l.conn != nil {
			l.conn.Close(context.Background())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), max(l.o.Lease, 2*time.Second))
	defer cancel()
	if l.conn == nil || l.conn.IsClosed() {
		conn, err := connectLease(ctx, l.o, "lease")
		if err != nil {
			return err
		}
		l.conn = conn
	}
	tag, err := l.conn.Exec(ctx, l.st.release, l.holder, l.epoch, state)
	if err != nil {
		return fmt.Errorf("release the lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("release the lease: %w: it was no longer ours (epoch %d)", ErrLeaseLost, l.epoch)
	}
	return nil
}

// Stop ends a graceful stop of the live node, once the store is closed.
// Without FailoverOnShutdown it writes P, so that a waiting backup does not
// take over; then it gives the lease up. After the lease was lost it only
// closes its session. A second call does nothing.
func (l *Live) Stop() error {
	if !l.begin() {
		return nil
	}
	if l.finish() {
		if l.conn != nil {
			l.conn.Close(context.Background())
		}
		return nil
	}
	l.rep.set(ha.StateStopping, l.nodeID, l.epoch, l.o.Name, "")
	state, written := "", "L"
	if !l.o.FailoverOnShutdown {
		state, written = "P", "P"
	}
	err := l.release(state)
	if err != nil {
		written = "unchanged"
	}
	l.log.Info(fmt.Sprintf("released the live lease on %s, leaving state %s (epoch %d)", l.o.where(), written, l.epoch),
		"event", "ha_stopped", "state", written, "epoch", l.epoch, "failover_on_shutdown", l.o.FailoverOnShutdown)
	return err
}

// HandBack ends a failback on the backup side, once FailbackRequested is
// closed and the store is closed: it gives the lease up leaving state F,
// and the waiting primary takes it at its next poll. It returns
// ErrNoFailback if no failback was requested and ErrStopped after Stop.
func (l *Live) HandBack() error {
	select {
	case <-l.failback:
	default:
		return ErrNoFailback
	}
	if !l.begin() {
		return ErrStopped
	}
	if l.finish() {
		if l.conn != nil {
			l.conn.Close(context.Background())
		}
		return nil
	}
	err := l.release("")
	if err == nil {
		l.log.Info("handed "+l.o.where()+" back to the primary", "event", "ha_handed_back", "epoch", l.epoch)
	}
	return err
}

// Release gives the lease up after the node's store failed, leaving the
// store's state as it is (live), so that the next node to wait for it (a
// backup, or this node again) takes over at once and replays what the
// database holds. After a loss it only closes the lease session.
func (l *Live) Release() error {
	if !l.begin() {
		return nil
	}
	if l.finish() {
		if l.conn != nil {
			l.conn.Close(context.Background())
		}
		return nil
	}
	err := l.release("")
	if err == nil {
		l.log.Info("released the live lease on "+l.o.where()+" after the store failed; the next node to wait takes over", "event", "ha_stepped_down", "epoch", l.epoch)
	}
	return err
}
