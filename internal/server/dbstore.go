package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/ha/dblease"
	"tandem/internal/paging"
	"tandem/internal/pgdb"
	"tandem/internal/store"
	"tandem/internal/store/pgstore"
)

// ErrDatabaseFailed is wrapped by the error a node's store reports when it
// stops writing to the database for good: another node took over, the
// lease ran out before a commit could be confirmed, or the outcome of a
// commit could not be learned. The node steps down and waits again.
var ErrDatabaseFailed = errors.New("the database store stopped writing")

// dbState is the server's view of a database store (store: {type:
// database}).
type dbState struct {
	store atomic.Pointer[pgstore.Store]
	live  atomic.Pointer[dblease.Live]
	// failed carries the failure of the store opened last. Each store
	// gets a channel of its own, so that the failure of a store a node
	// already left behind cannot end its next term.
	failed atomic.Pointer[chan error]
}

// databaseTables names the tables broker.yaml configures.
func (s *Server) databaseTables() pgdb.Tables {
	st := s.cfg.Store
	return pgdb.Tables{Messages: st.MessageTable, Bindings: st.BindingsTable, LargeMessages: st.LargeMessageTable,
		PageStore: st.PageStoreTable, NodeManager: st.NodeManagerTable}.WithDefaults()
}

// databaseConn parses the configured URL.
func (s *Server) databaseConn() (*pgx.ConnConfig, error) {
	return pgdb.ParseURL(s.cfg.Store.URL, s.cfg.Store.User, s.cfg.Store.Password)
}

// databaseActivation is the lease of a database store. A broker without
// ha-policy takes it as a primary, so that two brokers never write one
// database.
func (s *Server) databaseActivation() activation {
	conn, err := s.databaseConn()
	role := ha.Primary
	if s.cfg.HA.Mode == config.HABackup {
		role = ha.Backup
	}
	return &dbActivation{s: s, err: err, opts: dblease.Options{
		Conn: conn, Tables: s.databaseTables(), Role: role, Name: s.cfg.Name,
		Lease: s.cfg.Store.LockExpiration, Renew: s.cfg.Store.LockRenewPeriod,
		FailoverOnShutdown: s.cfg.HA.FailoverOnShutdown, AllowFailback: role == ha.Backup && s.cfg.HA.AllowFailback,
		Fence: s.fence, Logger: s.log, OnState: s.setHAState,
	}}
}

// dbActivation is HA on the database lease (docs/ha.md, 10).
type dbActivation struct {
	s    *Server
	err  error
	opts dblease.Options
}

func (d *dbActivation) wait(ctx context.Context) (term, error) {
	if d.err != nil {
		return nil, d.err
	}
	l, err := dblease.Wait(ctx, d.opts)
	if err != nil {
		return nil, err
	}
	d.s.db.live.Store(l)
	return l, nil
}

func (d *dbActivation) where() string {
	if d.opts.Conn == nil {
		return "the database"
	}
	return fmt.Sprintf("database %s:%d/%s", d.opts.Conn.Host, d.opts.Conn.Port, d.opts.Conn.Database)
}

func (d *dbActivation) storeNodeID() string {
	if d.opts.Conn == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgdb.Connect(ctx, d.opts.Conn, "tandem "+d.s.cfg.Name+" announce", nil)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	row, err := dblease.Read(ctx, conn, d.opts.Tables)
	if err != nil {
		return ""
	}
	return row.NodeID
}

func (d *dbActivation) rejoins() bool        { return true }
func (d *dbActivation) standbyReserve() bool { return false }

func (d *dbActivation) stepDown(t term) error {
	if l, ok := t.(*dblease.Live); ok {
		return l.Release()
	}
	return nil
}

// openDatabaseStore opens the database store with the lease's epoch.
func (s *Server) openDatabaseStore(epoch uint64) (store.Store, error) {
	live := s.db.live.Load()
	if epoch == 0 || live == nil || live.Epoch() != epoch {
		return nil, errors.New("a database store is opened by the node holding its lease: run the broker with Run (tandem run), not Start")
	}
	conn, err := s.databaseConn()
	if err != nil {
		return nil, err
	}
	// Loading may take a while; it stops if the lease is lost meanwhile.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-live.Lost():
			cancel()
		case <-ctx.Done():
		}
	}()
	st, err := pgstore.Open(ctx, pgstore.Options{
		Conn: conn, Tables: s.databaseTables(), Epoch: epoch, Valid: live.Valid, Sync: s.cfg.JournalSync,
		IdleTimeout: s.cfg.Store.LockExpiration, Name: s.cfg.Name, Logger: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open the database store: %w", err)
	}
	s.db.store.Store(st)
	failed := make(chan error, 1)
	s.db.failed.Store(&failed)
	st.OnFailure(func(err error) {
		select {
		case failed <- fmt.Errorf("%w: %w", ErrDatabaseFailed, err):
		default:
		}
	})
	return st, nil
}

// databaseFailures returns the channel on which the current database
// store reports its failure, or nil (which never delivers) without one.
func (s *Server) databaseFailures() <-chan error {
	if ch := s.db.failed.Load(); ch != nil && s.cfg.Database() {
		return *ch
	}
	return nil
}

// brokerPager is the pager the broker pages through: the page-store table
// of a database store, the paging directory otherwise.
func (s *Server) brokerPager(p *paging.Pager) store.Pager {
	if s.cfg.Database() {
		if st := s.db.store.Load(); st != nil {
			return st.Pager()
		}
		return nil
	}
	return pagerOrNil(p)
}

// databaseLarge is the large-message table of a database store.
func (s *Server) databaseLarge() store.LargeStore {
	if st := s.db.store.Load(); st != nil {
		return st.Large()
	}
	return nil
}

// storeLocation describes where the store is, for the console.
func (s *Server) storeLocation() string {
	if s.cfg.Database() {
		return "database " + pgdb.Redact(s.cfg.Store.URL)
	}
	return s.cfg.JournalDirectory
}
