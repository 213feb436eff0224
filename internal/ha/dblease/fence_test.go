package dblease

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/ha"
	"tandem/internal/pgdb"
	"tandem/internal/store/pgstore/pgtest"
)

// pipelined sends a fenced insert as one pipelined batch (BEGIN, fence,
// INSERT, COMMIT), as the store's writer does, and rolls back on error.
func pipelined(ctx context.Context, conn *pgx.Conn, epoch uint64, v int) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT "+pgdb.Tables{}.WithDefaults().Fence()+"($1)", int64(epoch))
	b.Queue("INSERT INTO fenced (v, epoch) VALUES ($1, $2)", v, int64(epoch))
	b.Queue("COMMIT")
	err := conn.SendBatch(ctx, b).Close()
	if err != nil && conn.PgConn().TxStatus() != 'I' {
		_, _ = conn.Exec(ctx, "ROLLBACK")
	}
	return err
}

func count(t *testing.T, conn *pgx.Conn, epoch uint64) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM fenced WHERE epoch = $1", int64(epoch)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFenceRaisesAndAbortsThePipeline: once another node took over, a
// pipelined write transaction of the old epoch fails with TF001 and leaves
// nothing behind; one of the new epoch commits.
func TestFenceRaisesAndAbortsThePipeline(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStall(t)
	po := options(t, url, ha.Primary, "p")
	po.renewHook = st.hook
	old := mustLive(t, waitAsync(ctx, po), 10*time.Second).live
	conn := pgtest.Conn(t, url)
	if _, err := conn.Exec(ctx, "CREATE TABLE fenced (v int, epoch bigint)"); err != nil {
		t.Fatal(err)
	}
	if err := pipelined(ctx, conn, old.Epoch(), 1); err != nil {
		t.Fatalf("a write of the live epoch: %v", err)
	}
	st.stop()
	backup := mustLive(t, waitAsync(ctx, options(t, url, ha.Backup, "b")), 20*time.Second).live
	err := pipelined(ctx, conn, old.Epoch(), 2)
	if got := pgdb.SQLState(err); got != FenceSQLState {
		t.Fatalf("a write of the old epoch after the takeover: %v (SQLSTATE %q), want %s", err, got, FenceSQLState)
	}
	if !pgdb.RolledBack(err) {
		t.Fatalf("RolledBack(%v) = false; the fence's error must count as a definite rollback", err)
	}
	if n := count(t, conn, old.Epoch()); n != 1 {
		t.Fatalf("%d rows of the old epoch, want only the one written before the takeover", n)
	}
	if err := pipelined(ctx, conn, backup.Epoch(), 3); err != nil {
		t.Fatalf("a write of the new epoch: %v", err)
	}
	// After a graceful stop nobody holds the epoch: its writes fail too.
	if err := backup.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pipelined(ctx, conn, backup.Epoch(), 4); pgdb.SQLState(err) != FenceSQLState {
		t.Fatalf("a write after the holder stopped: %v", err)
	}
}

// TestTakeoverWaitsForTheOldEpochInFlight: a write transaction of the old
// epoch that passed the fence holds the row FOR KEY SHARE; a takeover must
// wait for it, so that it commits before the new epoch begins, never after.
func TestTakeoverWaitsForTheOldEpochInFlight(t *testing.T) {
	url := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStall(t)
	po := options(t, url, ha.Primary, "p")
	po.renewHook = st.hook
	old := mustLive(t, waitAsync(ctx, po), 10*time.Second).live
	conn := pgtest.Conn(t, url)
	if _, err := conn.Exec(ctx, "CREATE TABLE fenced (v int, epoch bigint)"); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT "+pgdb.Tables{}.WithDefaults().Fence()+"($1)", int64(old.Epoch())); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO fenced VALUES (1, $1)", int64(old.Epoch())); err != nil {
		t.Fatal(err)
	}
	st.stop()
	backup := waitAsync(ctx, options(t, url, ha.Backup, "b"))
	// Well past the expiry the takeover still waits for the transaction.
	time.Sleep(po.Lease + 2*time.Second)
	notLive(t, backup, "a takeover while an old-epoch write is in flight")
	committed := time.Now()
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the in-flight write of the old epoch: %v", err)
	}
	took := mustLive(t, backup, 20*time.Second)
	if !took.at.After(committed) {
		t.Fatalf("the takeover returned at %v, before the old write committed at %v", took.at, committed)
	}
	// The row of the old epoch committed before the takeover did.
	var before bool
	if err := conn.QueryRow(ctx, `SELECT pg_xact_commit_timestamp(f.xmin) < pg_xact_commit_timestamp(h.xmin)
		FROM fenced f, `+pgdb.DefaultNodeManager+`_history h WHERE h.epoch = $1`, int64(took.live.Epoch())).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if !before {
		t.Fatal("the old epoch's row committed after the takeover")
	}
}
