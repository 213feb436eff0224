package dblease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/ha"
	"tandem/internal/pgdb"
)

// node runs one Wait call.
type node struct {
	o      Options
	st     statements
	log    *slog.Logger
	rep    *reporter
	holder string // this activation's token in the row
	start  time.Time
}

// Wait waits until this node holds the lease and returns it as a Live,
// already renewing. A primary takes the lease whenever it is free (after
// asking a live backup to hand it back); a backup takes it when the live's
// lease lapsed or its process is gone, but not from a store that is new
// (N) or paused (P), nor from a primary that asked for failback. Errors the
// node can wait out (the database unreachable, a connection lost) are
// logged and retried with back-off; Wait returns early only for invalid
// options, a schema newer than this build and a cancelled ctx.
func Wait(ctx context.Context, opts Options) (*Live, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	n := &node{
		o: o, st: newStatements(o.Tables),
		log:    o.Logger.With("store", o.where(), "role", o.Role.String()),
		rep:    &reporter{onState: o.OnState, cur: ha.State{Role: o.Role}},
		holder: newHolder(o.Name),
		start:  o.Clock.Now(),
	}
	backoff, last, repeats := o.retryMin, "", 0
	for {
		l, err := n.attempt(ctx)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, pgdb.ErrNewerSchema) {
			n.log.Error("cannot run on this store: "+err.Error(), "event", "ha_error", "err", err)
			n.rep.set(ha.StateStarting, "", 0, "", err.Error())
			return nil, err
		}
		if msg := err.Error(); msg != last {
			last, repeats, backoff = msg, 0, o.retryMin
		}
		if repeats%10 == 0 {
			n.log.Error(err.Error()+"; retrying", "event", "ha_error", "err", err, "retry_in", backoff, "attempts", repeats+1)
		}
		repeats++
		n.rep.set(ha.StateStarting, "", 0, "", fmt.Sprintf("%v; retrying in %v", err, backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, o.retryMax)
	}
}

// newHolder returns a token unique to one activation of one process.
func newHolder(name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", name, os.Getpid(), hex.EncodeToString(b[:]))
}

// newNodeID returns a random version 4 UUID for a new store.
func newNodeID() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// checkRow is what a waiting node reads every poll.
type checkRow struct {
	takeable       bool
	state          string
	epoch          uint64
	nodeID         string
	holder         string
	holderName     string
	holderRole     string
	failbackFresh  bool
	failbackIsMine bool
}

// attempt connects, prepares the schema and waits on the row until this
// node holds the lease. On error it closes what it opened.
func (n *node) attempt(ctx context.Context) (*Live, error) {
	o := n.o
	n.rep.set(ha.StateStarting, "", 0, "", "")
	conn, err := connectLease(ctx, o, "lease")
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			conn.Close(context.Background())
		}
	}()
	if err := Ensure(ctx, conn, o.Tables); err != nil {
		return nil, err
	}
	if tag, err := conn.Exec(ctx, n.st.init, newNodeID()); err != nil {
		return nil, fmt.Errorf("initialise the lease row: %w", err)
	} else if tag.RowsAffected() == 1 {
		n.log.Info("initialised the lease row of a new store in "+o.where(), "event", "ha_store_init")
	}
	wake := make(chan struct{}, 1)
	wctx, stopWaker := context.WithCancel(ctx)
	defer stopWaker()
	go n.waker(wctx, wake)

	poll := time.NewTicker(o.Poll)
	defer poll.Stop()
	var reported string
	var lastRequest time.Time
	for {
		var r checkRow
		err := conn.QueryRow(ctx, n.st.check, roleLetter(o.Role), n.holder).Scan(&r.takeable, &r.state, &r.epoch, &r.nodeID,
			&r.holder, &r.holderName, &r.holderRole, &r.failbackFresh, &r.failbackIsMine)
		if err != nil {
			return nil, fmt.Errorf("read the lease row: %w", err)
		}
		if r.takeable {
			l, err := n.acquire(ctx, conn, r)
			if err != nil {
				return nil, err
			}
			if l != nil {
				keep = true
				return l, nil
			}
			continue // another node won the race; read again
		}
		if o.Role == ha.Primary && r.holder != "" && r.holderRole == "B" &&
			(!r.failbackIsMine || !r.failbackFresh || n.o.Clock.Now().Sub(lastRequest) >= o.Renew) {
			if err := n.requestFailback(ctx, conn, &r); err != nil {
				return nil, err
			}
			lastRequest = n.o.Clock.Now()
		}
		if msg, state := n.describeWait(r); msg != reported {
			reported = msg
			n.log.Info(msg, "event", waitEvent(state), "node_id", r.nodeID, "epoch", r.epoch, "live", r.holderName, "state", r.state)
			n.rep.set(state, r.nodeID, r.epoch, r.holderName, msg)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-poll.C:
		case <-wake:
		}
	}
}

// describeWait says what a waiting node waits for.
func (n *node) describeWait(r checkRow) (string, string) {
	where := n.o.where()
	switch {
	case r.holder != "" && r.state == "F" && n.o.Role == ha.Primary:
		return fmt.Sprintf("node %s is live on %s; requested failback (state F) and waiting for the live lease", r.holderName, where), ha.StateWaiting
	case r.holder != "":
		return fmt.Sprintf("waiting for the live lease on %s (live node id %s, live node %s, epoch %d)", where, r.nodeID, r.holderName, r.epoch), ha.StateWaiting
	case r.state == "N":
		return "the store in " + where + " has never been live; waiting for a primary", ha.StateStorePaused
	case r.state == "P":
		return "the store in " + where + " is paused (live stopped without failover-on-shutdown); waiting for a primary", ha.StateStorePaused
	case r.state == "F":
		return "the primary is failing back on " + where + "; waiting until it is live", ha.StateYielding
	}
	return "waiting for the live lease on " + where, ha.StateWaiting
}

func waitEvent(state string) string {
	switch state {
	case ha.StateStorePaused:
		return "ha_paused"
	case ha.StateYielding:
		return "ha_yielding"
	}
	return "ha_waiting"
}

// requestFailback writes F, asking the live backup to hand the store back
// (docs/ha.md 2.4); the primary renews the request while it waits, so a
// backup can tell a waiting primary from one that went away.
func (n *node) requestFailback(ctx context.Context, conn *pgx.Conn, r *checkRow) error {
	var name string
	var epoch uint64
	err := conn.QueryRow(ctx, n.st.request, n.holder, n.o.Lease.Seconds()).Scan(&name, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the live changed meanwhile; the next poll sees how
	}
	if err != nil {
		return fmt.Errorf("request failback: %w", err)
	}
	if !r.failbackIsMine {
		n.log.Info(fmt.Sprintf("node %s is live on %s; requested failback (state F)", name, n.o.where()),
			"event", "ha_failback_requested", "epoch", epoch, "live", name)
	}
	r.state, r.failbackIsMine, r.failbackFresh = "F", true, true
	return nil
}

// acquire runs the takeover transaction. It returns nil, nil when another
// node took the lease first.
func (n *node) acquire(ctx context.Context, conn *pgx.Conn, seen checkRow) (*Live, error) {
	o := n.o
	n.rep.set(ha.StateActivating, "", 0, "", "")
	begin := o.Clock.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin takeover: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op after Commit
	// The takeover waits, FOR UPDATE, for the old epoch's write
	// transactions; those of a stalled node end at its session's
	// idle-in-transaction timeout, which is the lease.
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = "+pgdb.Millis(3*o.Lease)); err != nil {
		return nil, fmt.Errorf("takeover: %w", err)
	}
	var epoch uint64
	var nodeID, prevName, prevState, how string
	// The database starts the lease when it runs the UPDATE, after this:
	// counting from here is on the safe side.
	sent := o.Clock.Now()
	err = tx.QueryRow(ctx, n.st.acquire, roleLetter(o.Role), n.holder, o.Name, o.Lease.Seconds()).Scan(&epoch, &nodeID, &prevName, &prevState, &how)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("take the lease: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit the takeover: %w", err)
	}
	granted := o.Clock.Now()
	l := newLive(n, conn, epoch, nodeID, sent, granted)
	from := "a free lease"
	switch how {
	case "expired":
		from = fmt.Sprintf("the expired lease of %s", prevName)
	case "holder gone":
		from = fmt.Sprintf("%s, whose database session is gone", prevName)
	}
	n.log.Info(fmt.Sprintf("took the live lease on %s from %s (state %s): epoch %d, node id %s (waited %v; takeover transaction %v)",
		o.where(), from, prevState, epoch, nodeID, begin.Sub(n.start).Round(time.Millisecond), granted.Sub(begin).Round(time.Microsecond)),
		"event", "ha_live", "node_id", nodeID, "epoch", epoch, "how", how)
	n.rep.set(ha.StateActivating, nodeID, epoch, o.Name, "")
	l.start()
	return l, nil
}

// waker is the fast path beside the poll: it blocks on the advisory lock
// the live's lease session holds, and signals wake the moment that
// session ends (the live process died), so that the waiting node reads the
// row at once instead of at its next poll. It then lets the lock go at
// once, for the next live to take.
func (n *node) waker(ctx context.Context, wake chan<- struct{}) {
	key := advisoryKey(n.o.Tables)
	for ctx.Err() == nil {
		conn, err := connectLease(ctx, n.o, "wake")
		if err != nil {
			sleep(ctx, n.o.Renew)
			continue
		}
		for ctx.Err() == nil {
			var free bool
			if err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&free); err != nil {
				break
			}
			if free {
				// No live holds it (none yet, or it has not taken it
				// again since a reconnect): let it go, and look again
				// later rather than hold what the live will want.
				if _, err = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
					break
				}
				sleep(ctx, n.o.Renew)
				continue
			}
			if _, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
				break
			}
			select {
			case wake <- struct{}{}:
			default:
			}
			if _, err = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
				break
			}
			sleep(ctx, n.o.Renew)
		}
		conn.Close(context.Background())
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// connectLease opens a connection for lease work. Its session settings
// keep a stalled node from holding the row: a transaction left open is
// ended after the lease.
func connectLease(ctx context.Context, o Options, what string) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, max(o.Lease, pgdb.ConnectTimeout))
	defer cancel()
	conn, err := pgdb.Connect(cctx, o.Conn, "tandem "+o.Name+" "+what, map[string]string{
		"idle_in_transaction_session_timeout": pgdb.Millis(o.Lease),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w (is the database up, and are store.url, jdbc-user and jdbc-password right?)", o.where(), err)
	}
	// A session blocked on a lock does not read its socket; this makes the
	// server notice a client that went away (PostgreSQL 14 and later; an
	// older server keeps its default).
	_, _ = conn.Exec(cctx, "SET client_connection_check_interval = 1000")
	return conn, nil
}
