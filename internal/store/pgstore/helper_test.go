package pgstore

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/ha"
	"tandem/internal/ha/dblease"
	"tandem/internal/pgdb"
	"tandem/internal/store"
	"tandem/internal/store/pgstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testLog writes log lines to the test's log.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", p)
	return len(p), nil
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is a database with a node holding its lease.
type env struct {
	conn  *pgx.Conn // for the test's own queries
	url   string
	cfg   *pgx.ConnConfig
	live  *dblease.Live
	fence chan error // what the lease reported when lost
}

// newEnv makes a fresh database and takes its lease as a primary. The
// lease is long: these tests are not about it.
func newEnv(t testing.TB) *env {
	t.Helper()
	url := pgtest.Shared(t).NewDatabase(t)
	return leaseOn(t, url)
}

func leaseOn(t testing.TB, url string) *env {
	t.Helper()
	cfg, err := pgdb.ParseURL(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{url: url, cfg: cfg, fence: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.live, err = dblease.Wait(ctx, dblease.Options{Conn: cfg, Role: ha.Primary, Name: "test", Lease: 30 * time.Second,
		Renew: time.Second, Logger: logger(t), Fence: func(err error) {
			select {
			case e.fence <- err:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.live.Stop() })
	return e
}

// options are the store's options under the env's lease.
func (e *env) options(t testing.TB) Options {
	return Options{Conn: e.cfg, Epoch: e.live.Epoch(), Valid: e.live.Valid, Sync: true, Name: "test", Logger: logger(t)}
}

// open opens the store, closed when the test ends.
func (e *env) open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), e.options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// commit commits b and waits for it.
func commit(t testing.TB, s store.Store, b *store.Batch) error {
	t.Helper()
	ch := make(chan error, 1)
	s.Commit(b, true, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("commit did not complete within a minute")
		return nil
	}
}

// count runs a count(*) query on the env's database.
func (e *env) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	if e.conn == nil {
		e.conn = pgtest.Conn(t, e.url)
	}
	var n int
	if err := e.conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
