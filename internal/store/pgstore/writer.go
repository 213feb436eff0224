package pgstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tandem/internal/pgdb"
	"tandem/internal/store"
)

// The bounds of one group commit: a transaction of a few MiB keeps the
// latency of the small writes in it down.
const (
	maxGroupBytes = 8 << 20
	maxGroupUnits = 8192
)

// closeGrace is how long Close lets the writer finish what is pending
// before it cuts the connection.
const closeGrace = 5 * time.Second

// Stats are the writer's counters.
type Stats struct {
	// Groups is the number of transactions committed, Units the writes in
	// them (batches, page records, chunks...).
	Groups, Units uint64
	// CommitTime is the time spent waiting for committed transactions.
	CommitTime time.Duration
	// Reconnects counts connections opened again after one broke.
	Reconnects uint64
}

// writer is the one goroutine that writes to the database: it turns
// everything pending into one pipelined transaction at a time.
type writer struct {
	s *Store

	mu       sync.Mutex
	pending  []*unit
	kick     chan struct{}
	closing  bool
	fenceErr error
	st       Stats

	// runMu is held while completions run; Fence takes it, so that no
	// completion confirms a write after Fence returns.
	runMu sync.Mutex
	// procMu is held by whoever writes a group: the writer goroutine, or a
	// caller writing inline (see inline). It guards the fields below.
	procMu sync.Mutex

	ctx    context.Context
	cancel context.CancelFunc
	exited chan struct{}

	// Guarded by procMu.
	conn  *pgx.Conn
	group int64
	seq   int64
	// What gather learns from the last group (see gather).
	released, waitingAtRelease int
	releasedAt                 time.Time
	lastCommit, returnAvg      time.Duration
	gatherTimer                *time.Timer
}

func newWriter(s *Store, conn *pgx.Conn, lastGroup, maxSeq int64) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	return &writer{s: s, conn: conn, group: lastGroup, seq: maxSeq, kick: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, exited: make(chan struct{})}
}

// enqueue hands u to the writer. It never blocks; on a fenced or closed
// store u fails at once.
func (w *writer) enqueue(u *unit) {
	w.mu.Lock()
	if err := w.fenceErr; err != nil {
		w.mu.Unlock()
		u.done(err)
		return
	}
	if w.closing {
		w.mu.Unlock()
		u.done(store.ErrClosed)
		return
	}
	w.pending = append(w.pending, u)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// wait blocks until units are pending or the writer is closing.
func (w *writer) wait() {
	for {
		w.mu.Lock()
		ready := len(w.pending) > 0 || w.closing
		w.mu.Unlock()
		if ready {
			return
		}
		<-w.kick
	}
}

// cut returns a group's worth of pending units, after gathering; nil when
// nothing is pending. It requires procMu.
func (w *writer) cut() []*unit {
	w.mu.Lock()
	n, closing := len(w.pending), w.closing
	w.mu.Unlock()
	if n == 0 {
		return nil
	}
	if !closing {
		w.gather()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n = len(w.pending)
	end, bytes := 0, 0
	for end < n && end < maxGroupUnits && (end == 0 || bytes < maxGroupBytes) {
		bytes += w.pending[end].size()
		end++
	}
	units := w.pending[:end:end]
	if end == n {
		w.pending = nil
	} else {
		w.pending = append([]*unit(nil), w.pending[end:]...)
	}
	return units
}

// inline writes u on the calling goroutine when the writer is idle: nothing
// pending, nothing being written, and the last group released at most one
// writer (a lone producer, which would only wait for the writer goroutine
// to wake up and hand the result back). It reports false, having done
// nothing, otherwise.
func (w *writer) inline(u *unit) bool {
	if !w.procMu.TryLock() {
		return false
	}
	w.mu.Lock()
	idle := len(w.pending) == 0 && !w.closing && w.fenceErr == nil
	w.mu.Unlock()
	if !idle || w.released+w.waitingAtRelease > 1 {
		w.procMu.Unlock()
		return false
	}
	units := []*unit{u}
	w.process(units)
	w.release(units)
	w.procMu.Unlock()
	// Units enqueued meanwhile found the writer goroutine asleep or
	// waiting for procMu; make sure it looks.
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return true
}

// release records what gather needs to know of a group just completed.
// It requires procMu.
func (w *writer) release(units []*unit) {
	w.mu.Lock()
	w.waitingAtRelease = len(w.pending)
	w.mu.Unlock()
	w.released, w.releasedAt = len(units), time.Now()
}

// run is the writer goroutine.
func (w *writer) run() {
	defer close(w.exited)
	for {
		w.wait()
		w.procMu.Lock()
		units := w.cut()
		if units == nil {
			w.procMu.Unlock()
			if w.isClosing() {
				return
			}
			continue
		}
		w.process(units)
		w.release(units)
		w.procMu.Unlock()
	}
}

// gather waits, briefly, for the writers the last commit released to come
// back, so that they share the next commit instead of splitting into two
// cohorts that take turns (the journal's writer does the same, see
// journal.gather). It waits for as many units as the last group completed
// plus those already waiting then, at most twice the time they recently
// took to come back (at least half a commit, at most 2 ms). A lone writer
// never waits: it is its own target.
func (w *writer) gather() {
	target, since := w.released+w.waitingAtRelease, w.releasedAt
	window := max(2*w.returnAvg, w.lastCommit/2)
	w.released, w.waitingAtRelease, w.lastCommit = 0, 0, 0
	if target <= 1 || window < 20*time.Microsecond {
		return
	}
	deadline := since.Add(min(window, 2*time.Millisecond))
	for {
		w.mu.Lock()
		n, closing := len(w.pending), w.closing
		w.mu.Unlock()
		if n >= target {
			back := time.Since(since)
			if w.returnAvg == 0 {
				w.returnAvg = back
			} else {
				w.returnAvg = (7*w.returnAvg + back) / 8
			}
			return
		}
		left := time.Until(deadline)
		if left <= 0 || closing {
			return
		}
		if w.gatherTimer == nil {
			w.gatherTimer = time.NewTimer(left)
		} else {
			w.gatherTimer.Reset(left)
		}
		select {
		case <-w.kick:
			if !w.gatherTimer.Stop() {
				<-w.gatherTimer.C
			}
		case <-w.gatherTimer.C:
			return
		}
	}
}

// fenced returns the fence's error, or nil.
func (w *writer) fenced() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fenceErr
}

// process writes one group and completes its units.
func (w *writer) process(units []*unit) {
	if err := w.fenced(); err != nil {
		complete(units, err)
		return
	}
	if !w.s.o.Valid() {
		complete(units, ErrLeaseExpired)
		return
	}
	conn, err := w.connection()
	if err != nil {
		complete(units, fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	w.group++
	grp := w.group
	g := newGroup(units, &w.seq)
	start := time.Now()
	err = w.send(conn, g, grp)
	switch {
	case err == nil:
		took := time.Since(start)
		w.lastCommit = took
		w.mu.Lock()
		w.st.Groups++
		w.st.Units += uint64(len(units))
		w.st.CommitTime += took
		w.mu.Unlock()
		w.confirm(units)
	case pgdb.SQLState(err) == fenceState:
		ferr := fmt.Errorf("%w: %w", store.ErrFenced, err)
		w.fence(ferr)
		w.s.fail(ferr)
		complete(units, ferr)
	case pgconn.SafeToRetry(err):
		// Nothing reached the server: the connection was found dead.
		w.dropConn()
		complete(units, fmt.Errorf("%w: %v", ErrUnavailable, err))
	case pgdb.RolledBack(err):
		if len(units) > 1 {
			// One bad write must not fail the others: write each alone.
			for _, u := range units {
				w.process([]*unit{u})
			}
			return
		}
		complete(units, fmt.Errorf("pgstore: %w", err))
	default:
		w.dropConn()
		w.resolve(units, grp, err)
	}
}

// send queues g as one pipelined transaction and waits for its result. A
// transaction the server refused is rolled back so the session is ready
// for the next.
func (w *writer) send(conn *pgx.Conn, g *group, grp int64) error {
	b := &pgx.Batch{}
	g.queue(b, &w.s.st, int64(w.s.o.Epoch), grp, w.s.o.Sync)
	err := conn.SendBatch(w.ctx, b).Close()
	if err != nil && !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
		if _, rerr := conn.Exec(w.ctx, "ROLLBACK"); rerr != nil {
			w.dropConn()
		}
	}
	return err
}

// confirm completes the units of a committed group, unless the store was
// fenced meanwhile or the lease no longer allows confirming: then the
// store fails, since the database holds writes this node did not confirm.
func (w *writer) confirm(units []*unit) {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	if err := w.fenced(); err != nil {
		complete(units, err)
		return
	}
	if !w.s.o.Valid() {
		err := fmt.Errorf("%w (it was committed, and the next live node will have it)", ErrLeaseExpired)
		w.s.fail(err)
		complete(units, err)
		return
	}
	complete(units, nil)
}

// resolve learns the outcome of a group whose connection broke during the
// commit: it reconnects and reads the progress row, which the group's
// transaction updated with its number. Meanwhile new writes fail at once
// (the database is away). If this node must stop first (fenced, lease
// running out, store closing), the outcome stays unknown and the store
// fails: the next live node reads what was committed.
func (w *writer) resolve(units []*unit, grp int64, cause error) {
	w.s.log.Warn("the database connection broke during a commit; reconnecting to learn whether it committed",
		"event", "store_reconnecting", "err", cause, "writes", len(units))
	backoff := 50 * time.Millisecond
	for {
		w.failPending(fmt.Errorf("%w: %v", ErrUnavailable, cause))
		stop := w.fenced()
		if stop == nil && !w.s.o.Valid() {
			stop = ErrLeaseExpired
		}
		if stop == nil && w.isClosing() {
			stop = store.ErrClosed
		}
		if stop != nil {
			err := fmt.Errorf("%w (%v): %w", ErrUnknownOutcome, cause, stop)
			w.s.fail(err)
			complete(units, err)
			return
		}
		conn, err := w.connection()
		if err == nil {
			var last, epoch int64
			err = conn.QueryRow(w.ctx, w.s.st.resolve).Scan(&last, &epoch)
			if err == nil {
				w.mu.Lock()
				w.st.Reconnects++
				w.mu.Unlock()
				switch {
				case epoch == int64(w.s.o.Epoch) && last >= grp:
					w.s.log.Info("reconnected to the database; the commit in flight had committed", "event", "store_reconnected", "group", grp)
					w.confirm(units)
				case epoch == int64(w.s.o.Epoch):
					w.s.log.Info("reconnected to the database; the commit in flight had not committed", "event", "store_reconnected", "group", grp)
					complete(units, fmt.Errorf("%w: %v", ErrUnavailable, cause))
				default:
					ferr := fmt.Errorf("%w: the database was written with epoch %d since (ours %d)", store.ErrFenced, epoch, w.s.o.Epoch)
					w.fence(ferr)
					w.s.fail(ferr)
					complete(units, fmt.Errorf("%w: %w", ErrUnknownOutcome, ferr))
				}
				return
			}
			w.dropConn()
		}
		t := time.NewTimer(backoff)
		select {
		case <-w.ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, time.Second)
	}
}

// failPending fails every unit waiting for the writer.
func (w *writer) failPending(err error) {
	w.mu.Lock()
	units := w.pending
	w.pending = nil
	w.mu.Unlock()
	complete(units, err)
}

func (w *writer) isClosing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closing
}

// connection returns the writer's connection, opening a new one if the
// last broke.
func (w *writer) connection() (*pgx.Conn, error) {
	if w.conn != nil && !w.conn.IsClosed() {
		return w.conn, nil
	}
	w.conn = nil
	ctx, cancel := context.WithTimeout(w.ctx, pgdb.ConnectTimeout)
	defer cancel()
	conn, err := w.s.connect(ctx, "writer")
	if err != nil {
		return nil, err
	}
	w.conn = conn
	return conn, nil
}

func (w *writer) dropConn() {
	if w.conn != nil {
		w.conn.Close(context.Background())
		w.conn = nil
	}
}

// fence stops the writer: pending units fail, the transaction in flight is
// cut off, and no completion confirms anything after fence returns.
func (w *writer) fence(err error) {
	w.runMu.Lock()
	w.mu.Lock()
	if w.fenceErr == nil {
		w.fenceErr = err
	}
	units := w.pending
	w.pending = nil
	w.mu.Unlock()
	w.runMu.Unlock()
	w.cancel()
	complete(units, err)
}

// close writes what is pending, then stops the writer and closes its
// connection. After closeGrace it cuts the connection instead.
func (w *writer) close() error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	t := time.NewTimer(closeGrace)
	select {
	case <-w.exited:
	case <-t.C:
		w.cancel()
		<-w.exited
	}
	t.Stop()
	w.cancel()
	w.dropConn()
	return nil
}

// stats returns a copy of the counters.
func (w *writer) stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// complete runs the units' completions in order.
func complete(units []*unit, err error) {
	for _, u := range units {
		if u.done != nil {
			u.done(err)
		}
	}
}
