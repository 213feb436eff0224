package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"tandem/internal/fsutil"
	"tandem/internal/lockfile"
)

// ErrInvalidOptions is wrapped by Wait's error about options it cannot run
// with.
var ErrInvalidOptions = errors.New("ha: invalid options")

// The lock-check-period bounds (docs/ha.md, 3).
const (
	DefaultLockCheckPeriod = 500 * time.Millisecond
	MaxLockCheckPeriod     = time.Second
)

// The lock-stall-timeout default and bounds (docs/ha.md, 3.3): how long the
// lock monitor may go without starting a good round before the watchdog
// counts the lock as lost. At least MinStallPeriods lock check periods,
// so that one slow round never fences; at most MaxStallTimeout, so that a
// hung live still fences itself well inside an NFS lease.
const (
	DefaultStallTimeout = 5 * time.Second
	MinStallPeriods     = 4
	MaxStallTimeout     = 30 * time.Second
)

// The node states of docs/ha.md section 2, as reported in State.Name.
const (
	StateStarting    = "starting"
	StateQueued      = "queued"
	StateWaiting     = "waiting"
	StateStorePaused = "store-paused"
	StateYielding    = "yielding"
	StateActivating  = "activating"
	StateLive        = "live"
	StateFailingBack = "failing-back"
	StateStopping    = "stopping"
	StateFenced      = "fenced"
)

// Options configure a node of a shared-store pair. internal/server fills
// them from ha-policy in broker.yaml.
type Options struct {
	// Dir is the journal directory, where the lock files live. A missing
	// Dir is created only if its parent exists (see the package comment).
	Dir string
	// Role is the configured role; it never changes at run time.
	Role Role
	// FailoverOnShutdown makes a graceful Stop leave state L, so that a
	// waiting backup takes over; without it Stop writes P and the
	// backups wait for a primary (Artemis semantics).
	FailoverOnShutdown bool
	// AllowFailback lets a live backup hand the store back to a returning
	// primary. Primaries ignore it.
	AllowFailback bool
	// LockCheckPeriod is how often the live node checks its lock;
	// DefaultLockCheckPeriod if zero, capped at MaxLockCheckPeriod.
	LockCheckPeriod time.Duration
	// StallTimeout is how long the lock monitor may go without starting a
	// good round before its watchdog declares the lock lost (the monitor
	// is then stuck, typically on a hung file system). DefaultStallTimeout
	// if zero; it must lie between MinStallPeriods lock check periods and
	// MaxStallTimeout.
	StallTimeout time.Duration
	// Name is the instance name, written in the record for the console.
	Name string
	// NodeIDFile, if set, is a local file (data/ha-node-id) in which the
	// instance remembers the store's node id after its first activation.
	// An instance that remembers a store refuses to create a new one,
	// which catches an unmounted shared file system.
	NodeIDFile string
	// MaxEpochOnDisk scans the journal's file headers for the highest
	// epoch (docs/ha.md 2.3 step 1). Nil means 0.
	MaxEpochOnDisk func() (uint64, error)
	// Fence is called synchronously by the lock monitor when the lock is
	// lost, before Lost is closed. It must stop every store write at once.
	Fence func(cause error)
	// Logger receives the node's log lines; nil discards them.
	Logger *slog.Logger
	// OnState, if set, is called on every node state change, in order and
	// never concurrently. It must not block.
	OnState func(State)

	// The timings below are fixed by docs/ha.md; tests shorten them.
	pausedPoll    time.Duration // polling the record in store-paused
	retryMin      time.Duration // first back-off after an error
	retryMax      time.Duration // longest back-off
	recordTimeout time.Duration // record lock deadline while starting or waiting
}

// normalize checks o and fills in defaults.
func (o Options) normalize() (Options, error) {
	switch {
	case o.Dir == "":
		return o, fmt.Errorf("%w: no journal directory", ErrInvalidOptions)
	case o.Role != Primary && o.Role != Backup:
		return o, fmt.Errorf("%w: role %v is neither primary nor backup", ErrInvalidOptions, o.Role)
	case o.LockCheckPeriod < 0:
		return o, fmt.Errorf("%w: negative lock check period %v", ErrInvalidOptions, o.LockCheckPeriod)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockCheckPeriod == 0 {
		o.LockCheckPeriod = DefaultLockCheckPeriod
	}
	if o.LockCheckPeriod > MaxLockCheckPeriod {
		o.Logger.Warn("lock check period capped", "event", "ha_config", "dir", o.Dir, "requested", o.LockCheckPeriod, "period", MaxLockCheckPeriod)
		o.LockCheckPeriod = MaxLockCheckPeriod
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = max(DefaultStallTimeout, MinStallPeriods*o.LockCheckPeriod)
	}
	if o.StallTimeout < MinStallPeriods*o.LockCheckPeriod || o.StallTimeout > MaxStallTimeout {
		return o, fmt.Errorf("%w: stall timeout %v is outside [%d × lock check period = %v, %v]", ErrInvalidOptions,
			o.StallTimeout, MinStallPeriods, MinStallPeriods*o.LockCheckPeriod, MaxStallTimeout)
	}
	o.pausedPoll = orDefault(o.pausedPoll, time.Second)
	o.retryMin = orDefault(o.retryMin, time.Second)
	o.retryMax = orDefault(o.retryMax, 30*time.Second)
	o.recordTimeout = orDefault(o.recordTimeout, 2*time.Second)
	return o, nil
}

// orDefault returns d, or def if d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// State is what a node reports about itself to the console, /health and
// metrics.
type State struct {
	Name     string    // one of the State* constants
	Since    time.Time // when the node entered this state
	Role     Role
	NodeID   string // the store's node id, once read
	Epoch    uint64 // this node's epoch when live, the record's otherwise
	LiveName string // the instance name of the live node, as the record tells
	LiveRole Role   // that node's role, as the record tells
	Detail   string // a sentence for humans: why, or the error being retried
}

// reporter delivers state changes to Options.OnState. It serialises the
// calls, so the console never sees states out of order even though the
// waiting path and the lock monitor report from different goroutines.
type reporter struct {
	mu      sync.Mutex
	onState func(State)
	cur     State
}

// set reports a change of state name, record or detail; an identical
// report is dropped.
func (r *reporter) set(name string, rec Record, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.cur
	next.Name, next.Detail = name, detail
	if rec.NodeID != "" {
		next.NodeID, next.Epoch, next.LiveName, next.LiveRole = rec.NodeID, rec.Epoch, rec.Name, rec.Role
	}
	if next.Name != r.cur.Name {
		next.Since = time.Now()
	}
	if next == r.cur {
		return
	}
	r.cur = next
	if r.onState != nil {
		r.onState(next)
	}
}

// detail changes only the detail of the current state.
func (r *reporter) detail(d string) {
	r.mu.Lock()
	name := r.cur.Name
	r.mu.Unlock()
	r.set(name, Record{}, d)
}

// node runs one Wait call.
type node struct {
	opts  Options
	log   *slog.Logger
	rep   *reporter
	start time.Time
}

// Wait runs the waiting path of docs/ha.md (2.1 for a primary, 2.2 for a
// backup) and returns once this node holds the live lock and has written L
// with its new epoch (2.3 steps 1–3). Errors the node can wait out (a
// missing or unwritable directory, I/O errors) are logged and retried with
// back-off from 1 s to 30 s; Wait returns an error only for what waiting
// cannot cure (ErrDamaged, ErrLocalLocking, ErrInvalidOptions, a kernel
// without OFD locks). Cancelling ctx, which is how a waiting node is
// stopped, makes Wait release every lock and return ctx.Err() promptly.
func Wait(ctx context.Context, opts Options) (*Live, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	n := &node{
		opts:  o,
		log:   o.Logger.With("dir", o.Dir, "role", o.Role.String()),
		rep:   &reporter{onState: o.OnState, cur: State{Role: o.Role}},
		start: time.Now(),
	}
	backoff := o.retryMin
	var last string
	repeats := 0
	for {
		l, err := n.attempt(ctx)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isFatal(err) {
			n.log.Error("cannot run on this store: "+err.Error(), "event", "ha_error", "err", err)
			n.rep.detail(err.Error())
			return nil, err
		}
		// docs/ha.md 5: a repeated error is logged every 10th time only,
		// so that a store down for hours does not flood the log.
		if msg := err.Error(); msg != last {
			last, repeats, backoff = msg, 0, o.retryMin
		}
		if repeats%10 == 0 {
			n.log.Error(err.Error()+"; retrying", "event", "ha_error", "err", err, "retry_in", backoff, "attempts", repeats+1)
		}
		repeats++
		n.rep.detail(fmt.Sprintf("%v; retrying in %v", err, backoff))
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

// attempt is one pass through the waiting path, from opening the lock
// files to holding the live lock. On any error it closes every lock file,
// so a retry starts from nothing held.
func (n *node) attempt(ctx context.Context) (l *Live, err error) {
	o := n.opts
	n.rep.set(StateStarting, Record{}, "")
	remembered, err := readNodeIDFile(o.NodeIDFile)
	if err != nil {
		return nil, err
	}
	created, err := prepareDir(o.Dir, remembered, o.NodeIDFile)
	if err != nil {
		return nil, err
	}
	if created {
		n.log.Warn("created journal directory "+o.Dir+" (its parent exists; a missing parent is taken for an unmounted store)", "event", "ha_dir_created")
	}
	if err := checkMount(o.Dir); err != nil {
		return nil, err
	}
	st, err := openStore(o.Dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if l == nil {
			st.close()
		}
	}()
	rec, init, err := st.loadOrInit(ctx, o.recordTimeout, n.record(StoreNew, 0), remembered, o.NodeIDFile)
	if err != nil {
		return nil, err
	}
	if init {
		n.log.Info("initialised the state file of a new store "+o.Dir+": node id "+rec.NodeID, "event", "ha_store_init", "node_id", rec.NodeID)
	}
	n.log.Info(fmt.Sprintf("store %s: node id %s, state %s, epoch %d", o.Dir, rec.NodeID, rec.State, rec.Epoch),
		"event", "ha_store", "node_id", rec.NodeID, "state", rec.State.String(), "epoch", rec.Epoch)
	n.rep.set(StateStarting, rec, "")
	if o.Role == Primary {
		return n.primary(ctx, st)
	}
	return n.backup(ctx, st)
}

// record returns a record as this node writes it.
func (n *node) record(state StoreState, epoch uint64) Record {
	return Record{State: state, Role: n.opts.Role, Epoch: epoch, Time: time.Now(), PID: os.Getpid(), Name: n.opts.Name}
}

// primary is docs/ha.md 2.1: claim, then the live lock, requesting
// failback if a node is live.
func (n *node) primary(ctx context.Context, st *store) (*Live, error) {
	err := st.claim.TryLock()
	if errors.Is(err, lockfile.ErrLocked) {
		// Only a primary on its way to live holds the claim: a second
		// primary is configured on this store and is starting or waiting.
		msg := "another primary is starting or waiting on " + n.opts.Dir + "; queueing behind it"
		n.log.Info(msg, "event", "ha_queued")
		n.rep.set(StateQueued, Record{}, msg)
		err = st.claim.Lock(ctx)
	}
	if err != nil {
		return nil, err
	}
	err = st.live.TryLock()
	if errors.Is(err, lockfile.ErrLocked) {
		// A failback request changes only the state letter: the other
		// fields keep describing the live node, which is what the
		// console shows while this node waits.
		rec, uerr := st.update(ctx, n.opts.recordTimeout, func(r *Record) (bool, error) {
			r.State = StoreFailingBack
			return true, nil
		})
		if uerr != nil {
			return nil, uerr
		}
		msg := failbackWaitMessage(rec, n.opts.Dir)
		n.log.Info(msg, "event", "ha_failback_requested", "node_id", rec.NodeID, "epoch", rec.Epoch, "live", rec.Name)
		n.rep.set(StateWaiting, rec, msg)
		err = st.live.Lock(ctx)
	}
	if err != nil {
		return nil, err
	}
	// A primary activates whatever the state: it is meant to be live
	// whenever it holds the lock.
	l, _, err := n.activate(ctx, st, time.Now())
	return l, err
}

// backup is docs/ha.md 2.2: first in line among backups, then asleep in
// the kernel on the live lock, then a decision on the state letter.
func (n *node) backup(ctx context.Context, st *store) (*Live, error) {
	err := st.backup.TryLock()
	if errors.Is(err, lockfile.ErrLocked) {
		msg := "another backup is first in line on " + n.opts.Dir + "; queueing behind it"
		n.log.Info(msg, "event", "ha_queued")
		n.rep.set(StateQueued, Record{}, msg)
		err = st.backup.Lock(ctx)
	}
	if err != nil {
		return nil, err
	}
	for {
		err := st.live.TryLock()
		if errors.Is(err, lockfile.ErrLocked) {
			rec, _, rerr := st.read(ctx, n.opts.recordTimeout)
			if rerr != nil {
				return nil, rerr
			}
			msg := fmt.Sprintf("waiting for the live lock on %s (live node id %s, live node %s, epoch %d)", n.opts.Dir, rec.NodeID, rec.Who(), rec.Epoch)
			n.log.Info(msg, "event", "ha_waiting", "node_id", rec.NodeID, "epoch", rec.Epoch, "live", rec.Name)
			n.rep.set(StateWaiting, rec, msg)
			// Asleep in the kernel: no poll, no timeout. The live's death
			// wakes us within milliseconds.
			err = st.live.Lock(ctx)
		}
		if err != nil {
			return nil, err
		}
		granted := time.Now()
		rec, _, err := st.read(ctx, n.opts.recordTimeout)
		if err != nil {
			return nil, err
		}
		switch rec.State {
		case StoreLive, StoreFailingBack:
			// activate decides F under the record lock, so a failback
			// request written after this read is not overwritten.
			l, yielded, err := n.activate(ctx, st, granted)
			if !yielded || err != nil {
				return l, err
			}
		default:
			st.live.Unlock()
			if err := n.paused(ctx, st, rec); err != nil {
				return nil, err
			}
		}
	}
}

// paused waits in store-paused until the record leaves N and P. It is the
// only poll of the design, and runs only when no node is live, so it never
// delays a takeover after a crash.
func (n *node) paused(ctx context.Context, st *store, rec Record) error {
	msg := "the store on " + n.opts.Dir + " has never been live; waiting for a primary"
	if rec.State == StorePaused {
		msg = "the store on " + n.opts.Dir + " is paused (live stopped without failover-on-shutdown); waiting for a primary"
	}
	n.log.Info(msg, "event", "ha_paused", "node_id", rec.NodeID, "state", rec.State.String(), "epoch", rec.Epoch)
	n.rep.set(StateStorePaused, rec, msg)
	t := time.NewTicker(n.opts.pausedPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		rec, _, err := st.read(ctx, n.opts.recordTimeout)
		if err != nil {
			return err
		}
		if rec.State != StoreNew && rec.State != StorePaused {
			return nil
		}
	}
}

// activate is docs/ha.md 2.3 steps 1–3, holding live.lock. A backup that
// finds a failback request whose primary is alive does not activate: it
// yields (gives the live lock to the primary and waits until the primary
// has written L) and reports yielded, so that its caller waits again.
func (n *node) activate(ctx context.Context, st *store, granted time.Time) (l *Live, yielded bool, err error) {
	o := n.opts
	n.rep.set(StateActivating, Record{}, "")
	var onDisk uint64
	if o.MaxEpochOnDisk != nil {
		if onDisk, err = o.MaxEpochOnDisk(); err != nil {
			return nil, false, fmt.Errorf("ha: scan the journal for its highest epoch: %w", err)
		}
	}
	orphan := false
	rec, err := st.update(ctx, o.recordTimeout, func(r *Record) (bool, error) {
		if o.Role == Backup && r.State == StoreFailingBack {
			// TryLock only: the record lock is a leaf and never waits
			// for another lock.
			switch err := st.claim.TryLock(); {
			case errors.Is(err, lockfile.ErrLocked):
				yielded = true
				return false, nil
			case err != nil:
				return false, err
			}
			st.claim.Unlock()
			orphan = true
		}
		*r = Record{State: StoreLive, Role: o.Role, NodeID: r.NodeID, Epoch: max(r.Epoch, onDisk) + 1,
			Time: time.Now(), PID: os.Getpid(), Name: o.Name}
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	if yielded {
		return nil, true, n.yield(ctx, st, rec)
	}
	if orphan {
		n.log.Info("the primary that requested failback on "+o.Dir+" is gone; taking over", "event", "ha_failback_orphaned", "node_id", rec.NodeID)
	}
	// Only now, with L on disk: a backup that sees F must keep yielding
	// until then, and the next backup may move up to live.lock.
	if o.Role == Primary {
		st.claim.Unlock()
	} else {
		st.backup.Unlock()
	}
	if err := writeNodeIDFile(o.NodeIDFile, rec.NodeID); err != nil {
		n.log.Warn("could not remember the store's node id: "+err.Error(), "event", "ha_node_id_file", "err", err)
	}
	written := time.Now()
	n.log.Info(fmt.Sprintf("took the live lock on %s: epoch %d, node id %s (waited %v; record written %v after the lock was granted)",
		o.Dir, rec.Epoch, rec.NodeID, granted.Sub(n.start).Round(time.Millisecond), written.Sub(granted).Round(time.Microsecond)),
		"event", "ha_live", "node_id", rec.NodeID, "epoch", rec.Epoch)
	n.rep.set(StateActivating, rec, "")
	return newLive(n, st, rec, granted), false, nil
}

// yield gives live.lock to the primary that is failing back and waits on
// the claim, which the primary releases once it has written L (or by
// dying).
func (n *node) yield(ctx context.Context, st *store, rec Record) error {
	st.live.Unlock()
	msg := "the primary is failing back on " + n.opts.Dir + "; waiting until it is live"
	n.log.Info(msg, "event", "ha_yielding", "node_id", rec.NodeID, "epoch", rec.Epoch)
	n.rep.set(StateYielding, rec, msg)
	if err := st.claim.Lock(ctx); err != nil {
		return err
	}
	return st.claim.Unlock()
}

// readNodeIDFile returns the node id the instance remembers, or "" if it
// remembers none (or keeps no file).
func readNodeIDFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ha: read node id file: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if _, err := parseNodeID(id); err != nil {
		return "", fmt.Errorf("ha: node id file %s: %w", path, err)
	}
	return id, nil
}

// writeNodeIDFile remembers id in path, replacing the file atomically, so
// a crash leaves the old id or the new one, never half.
func writeNodeIDFile(path, id string) error {
	if path == "" {
		return nil
	}
	if old, err := readNodeIDFile(path); err == nil && old == id {
		return nil
	}
	return fsutil.WriteFile(path, []byte(id+"\n"), 0o644)
}

// failbackWaitMessage says what a primary that found another node live
// does, in the words of the pair: a live backup is asked to hand the store
// back; another primary never does, so this one waits for it to stop.
func failbackWaitMessage(rec Record, dir string) string {
	if rec.Role == Primary {
		return fmt.Sprintf("node %s is live on %s; primaries do not hand over, so this node waits for the live lock until that node stops", rec.Who(), dir)
	}
	return fmt.Sprintf("node %s is live on %s; asked it to hand the store back (failback) and waiting for the live lock (a backup with allow-failback: false stays live until it stops)", rec.Who(), dir)
}
