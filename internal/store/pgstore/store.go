package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/pgdb"
	"tandem/internal/store"
)

// idBlock is how many ids one reservation claims. The next block is
// reserved when half of the current one is used, ahead of need, so handing
// out an id never waits for the database.
const idBlock = 1 << 20

// Errors of the store, beside store.ErrClosed and store.ErrFenced.
var (
	// ErrUnavailable is wrapped by the error of a write refused because
	// the database cannot be reached: nothing was stored.
	ErrUnavailable = errors.New("pgstore: the database is unreachable; nothing was stored")
	// ErrUnknownOutcome is wrapped by the error of a write whose commit
	// was in flight when the connection broke and whose outcome could not
	// be learned before this node had to stop: it may or may not be
	// stored, and the next live node's state says which.
	ErrUnknownOutcome = errors.New("pgstore: the connection broke during the commit; the write may or may not be stored")
	// ErrLeaseExpired is wrapped by the error of a write not confirmed
	// because this node's lease could not be renewed in time.
	ErrLeaseExpired = errors.New("pgstore: this node's lease is about to expire; the write is not confirmed")
)

// Options configure a database store.
type Options struct {
	// Conn says how to reach the database.
	Conn *pgx.ConnConfig
	// Tables names the tables (the defaults for empty names).
	Tables pgdb.Tables
	// Epoch is this node's epoch, which every write transaction passes to
	// the fence function. It must be the lease's current epoch.
	Epoch uint64
	// Valid reports whether this node's lease still allows confirming a
	// write (dblease.Live.Valid). A group committed while it is false is
	// not confirmed, and the store fails. Nil means always.
	Valid func() bool
	// Sync makes commits wait for the database's WAL flush
	// (synchronous_commit); false is journal-sync: false.
	Sync bool
	// IdleTimeout ends the writer's session when a transaction stays open
	// that long (idle_in_transaction_session_timeout), so that a stalled
	// node does not hold up a takeover; the lease. Zero means 5 s.
	IdleTimeout time.Duration
	// Name labels the connections in pg_stat_activity.
	Name   string
	Logger *slog.Logger
}

// Store is a store.Store on PostgreSQL; Large and Pager give its
// store.LargeStore and store.Pager, in the same database.
type Store struct {
	o     Options
	st    statements
	log   *slog.Logger
	w     *writer
	pool  *pgdb.Pool
	state *store.State

	nextID      atomic.Uint64
	reserveMu   sync.Mutex
	reservedEnd uint64

	large largeState
	pager pagerState

	failOnce sync.Once
	failed   chan struct{}
	failErr  error
	onFail   []func(error)
	failMu   sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open connects, creates or migrates the schema, recovers the state (which
// Load returns) and reserves the first block of ids, which is the first
// fenced write: a store opened with an epoch that is not live fails here.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Conn == nil {
		return nil, errors.New("pgstore: no database connection configured")
	}
	o.Tables = o.Tables.WithDefaults()
	if err := o.Tables.Validate(); err != nil {
		return nil, err
	}
	if o.Epoch == 0 {
		return nil, errors.New("pgstore: no epoch; a database store is opened by the node holding the lease")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 5 * time.Second
	}
	if o.Valid == nil {
		o.Valid = func() bool { return true }
	}
	s := &Store{o: o, st: newStatements(o.Tables), log: o.Logger, failed: make(chan struct{})}
	s.large.init()
	s.pager.init()
	conn, err := s.connect(ctx, "writer")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close(context.Background())
		}
	}()
	if _, _, err := pgdb.Migrate(ctx, conn, component(o.Tables), migrations(o.Tables)); err != nil {
		return nil, err
	}
	st, rec, err := s.load(ctx, conn)
	if err != nil {
		return nil, err
	}
	s.state = st
	s.nextID.Store(st.NextID)
	s.reservedEnd = st.NextID + idBlock
	// The first write: reserve the first block of ids, drop messages no
	// queue holds any more and the chunks of bodies a crash left
	// unfinished. It proves the epoch is live.
	if err := s.openTx(ctx, conn, rec); err != nil {
		return nil, err
	}
	s.pool = pgdb.NewPool(o.Conn, "tandem "+o.Name+" reader", s.sessionSettings(), 4)
	s.w = newWriter(s, conn, rec.lastGroup, rec.maxSeq)
	ok = true
	go s.w.run()
	return s, nil
}

// sessionSettings are the session parameters of every connection.
func (s *Store) sessionSettings() map[string]string {
	sc := "on"
	if !s.o.Sync {
		sc = "off"
	}
	return map[string]string{
		"idle_in_transaction_session_timeout": pgdb.Millis(s.o.IdleTimeout),
		"synchronous_commit":                  sc,
	}
}

// connect opens a connection for this store.
func (s *Store) connect(ctx context.Context, what string) (*pgx.Conn, error) {
	conn, err := pgdb.Connect(ctx, s.o.Conn, "tandem "+s.o.Name+" "+what, s.sessionSettings())
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	// A session blocked on a lock does not read its socket; this makes
	// the server notice a node that went away (PostgreSQL 14 and later).
	_, _ = conn.Exec(ctx, "SET client_connection_check_interval = 1000")
	return conn, nil
}

// openTx is the first write transaction of an activation.
func (s *Store) openTx(ctx context.Context, conn *pgx.Conn, rec recovered) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(s.st.fence, int64(s.o.Epoch))
	b.Queue(s.st.reserve, int64(s.reservedEnd))
	if len(rec.stale) > 0 {
		b.Queue(s.st.delMessageRefs, rec.stale)
		b.Queue(s.st.delMessages, rec.stale)
	}
	b.Queue(s.st.orphanChunks)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if pgdb.SQLState(err) == fenceState {
			return fmt.Errorf("%w: %w", store.ErrFenced, err)
		}
		return fmt.Errorf("pgstore: first write of epoch %d: %w", s.o.Epoch, err)
	}
	return nil
}

// fenceState is the SQLSTATE the fence function raises
// (dblease.FenceSQLState; pgstore does not import the lease).
const fenceState = "TF001"

// Load implements store.Store.
func (s *Store) Load() (*store.State, error) {
	if s.state == nil {
		return nil, errors.New("pgstore: Load called twice")
	}
	st := s.state
	s.state = nil
	return st, nil
}

// NewID implements store.Store. Ids of the reserved block are handed out
// without I/O; the next block is reserved through the writer, ahead of any
// record that could use it, when half of the current one is gone.
func (s *Store) NewID() uint64 {
	id := s.nextID.Add(1) - 1
	s.reserveMu.Lock()
	end := s.reservedEnd
	if id+idBlock/2 >= end {
		s.reservedEnd = end + idBlock
		s.reserveMu.Unlock()
		s.w.enqueue(&unit{kind: unitReserve, reserve: end + idBlock, sync: true, done: func(err error) {
			if err != nil && !errors.Is(err, store.ErrFenced) && !errors.Is(err, store.ErrClosed) {
				s.log.Error("reserving message ids failed", "event", "store_error", "err", err)
			}
		}})
		return id
	}
	s.reserveMu.Unlock()
	return id
}

// Commit implements store.Store. The batch joins the next group commit;
// done runs on the writer goroutine once the group's transaction
// committed, or failed.
func (s *Store) Commit(b *store.Batch, sync bool, done func(error)) {
	if b.Len() == 0 {
		done(nil)
		return
	}
	u := &unit{kind: unitBatch, batch: b, encoded: encodeMessages(b), sync: sync && s.o.Sync, done: done}
	if b.Inline && s.w.inline(u) {
		return
	}
	s.w.enqueue(u)
}

// Fence stops all writing at once: every pending and later write fails
// with store.ErrFenced (wrapping cause), and no write in flight is
// confirmed after Fence returns.
func (s *Store) Fence(cause error) {
	s.w.fence(fmt.Errorf("%w: %v", store.ErrFenced, cause))
}

// OnFailure calls fn, on a goroutine of its own, once the store stops
// writing for good: the database fenced it (another node took over), or a
// commit could not be confirmed because the lease ran out, or the outcome
// of a commit could not be learned. fn gets the cause. The node must then
// stop serving; the state in the database is what the next live replays.
func (s *Store) OnFailure(fn func(err error)) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	select {
	case <-s.failed:
		go fn(s.failErr)
	default:
		s.onFail = append(s.onFail, fn)
	}
}

// fail records the store's failure once and tells OnFailure's callbacks.
func (s *Store) fail(err error) {
	s.failOnce.Do(func() {
		s.failMu.Lock()
		s.failErr = err
		close(s.failed)
		fns := s.onFail
		s.onFail = nil
		s.failMu.Unlock()
		s.log.Error("the database store stopped writing: "+err.Error(), "event", "store_failed", "err", err, "epoch", s.o.Epoch)
		for _, fn := range fns {
			go fn(err)
		}
	})
}

// Epoch returns the epoch the store writes with.
func (s *Store) Epoch() uint64 { return s.o.Epoch }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats { return s.w.stats() }

// Close implements store.Store: it writes what is pending, stops the
// writer and closes the connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.w.close()
		s.pool.Close()
	})
	return s.closeErr
}
