package dblease

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"

	"tandem/internal/pgdb"
)

// FenceSQLState is the SQLSTATE the fence function raises.
const FenceSQLState = "TF001"

// component names the lease's schema in pgdb.VersionTable.
func component(t pgdb.Tables) string { return "lease:" + t.NodeManager }

// migrations are the versions of the lease's schema (docs/database-format.md).
func migrations(t pgdb.Tables) []pgdb.Migration {
	r := strings.NewReplacer("NM_HISTORY", t.History(), "NM_FENCE", t.Fence(), "NM", t.NodeManager)
	return []pgdb.Migration{{
		Note: "lease row, activation history and fence function",
		SQL: r.Replace(`
CREATE TABLE NM (
	id             smallint PRIMARY KEY CHECK (id = 1),
	node_id        text NOT NULL,
	state          text NOT NULL CHECK (state IN ('N', 'L', 'P', 'F')),
	epoch          bigint NOT NULL,
	holder         text NOT NULL DEFAULT '',
	holder_name    text NOT NULL DEFAULT '',
	holder_role    text NOT NULL DEFAULT '',
	holder_pid     integer,
	holder_server  timestamptz,
	acquired_at    timestamptz,
	expires_at     timestamptz,
	failback_by    text NOT NULL DEFAULT '',
	failback_until timestamptz,
	updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE NM_HISTORY (
	epoch           bigint PRIMARY KEY,
	holder          text NOT NULL,
	holder_name     text NOT NULL,
	holder_role     text NOT NULL,
	previous_holder text NOT NULL,
	how             text NOT NULL,
	acquired_at     timestamptz NOT NULL
);
CREATE FUNCTION NM_FENCE(p_epoch bigint) RETURNS void LANGUAGE plpgsql AS $fence$
BEGIN
	PERFORM 1 FROM NM WHERE id = 1 AND epoch = p_epoch AND holder <> '' FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tandem: epoch % is no longer live on this store: another node took over, or this node let its lease go', p_epoch
			USING ERRCODE = 'TF001', HINT = 'the node that wrote this must stop writing; it is fenced';
	END IF;
END
$fence$;`),
	}}
}

// statements are the lease's SQL, with the table names filled in.
type statements struct {
	check, acquire, renew, request, release, init, read, current string
}

// takeable is the condition under which a node of role $1 may take the
// lease now: nobody holds it, or the holder's lease expired on the
// database's clock, or (the fast path) the database itself says the
// holder's lease session is gone while the server kept running; and a
// backup takes over only from a live (L) store, or from a failback request
// (F) whose primary stopped renewing it.
const takeable = `(holder = '' OR expires_at < clock_timestamp()
	OR (holder_server = pg_postmaster_start_time()
		AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = holder_pid)))
	AND ($1 = 'P' OR state = 'L' OR (state = 'F' AND (failback_until IS NULL OR failback_until < clock_timestamp())))`

// how says why the lease could be taken, for the history table and logs.
const how = `CASE WHEN holder = '' THEN 'free' WHEN expires_at < clock_timestamp() THEN 'expired' ELSE 'holder gone' END`

func newStatements(t pgdb.Tables) statements {
	r := strings.NewReplacer("NM_HISTORY", t.History(), "NM", t.NodeManager, "TAKEABLE", takeable, "HOW", how)
	return statements{
		init: r.Replace(`INSERT INTO NM (id, node_id, state, epoch) VALUES (1, $1, 'N', 0) ON CONFLICT (id) DO NOTHING`),
		// $1 role letter, $2 holder token.
		check: r.Replace(`SELECT TAKEABLE, state, epoch, node_id, holder, holder_name, holder_role,
			coalesce(failback_until > clock_timestamp(), false), failback_by = $2
			FROM NM WHERE id = 1`),
		// $1 role, $2 holder, $3 name, $4 lease in seconds.
		acquire: r.Replace(`WITH locked AS (SELECT id FROM NM WHERE id = 1 AND TAKEABLE FOR UPDATE),
			prev AS (SELECT holder_name, state, HOW AS how FROM NM WHERE id = 1),
			up AS (UPDATE NM SET epoch = NM.epoch + 1, state = 'L', holder = $2, holder_name = $3, holder_role = $1,
				holder_pid = pg_backend_pid(), holder_server = pg_postmaster_start_time(),
				acquired_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => $4),
				failback_by = CASE WHEN $1 = 'P' THEN '' ELSE NM.failback_by END,
				failback_until = CASE WHEN $1 = 'P' THEN NULL ELSE NM.failback_until END,
				updated_at = clock_timestamp()
				FROM locked WHERE NM.id = locked.id RETURNING NM.epoch, NM.node_id, NM.acquired_at),
			hist AS (INSERT INTO NM_HISTORY (epoch, holder, holder_name, holder_role, previous_holder, how, acquired_at)
				SELECT up.epoch, $2, $3, $1, prev.holder_name, prev.how, up.acquired_at FROM up, prev RETURNING epoch)
			SELECT up.epoch, up.node_id, prev.holder_name, prev.state, prev.how FROM up, prev, hist`),
		// $1 holder, $2 epoch, $3 lease in seconds.
		renew: r.Replace(`UPDATE NM SET expires_at = clock_timestamp() + make_interval(secs => $3),
			holder_pid = pg_backend_pid(), holder_server = pg_postmaster_start_time(), updated_at = clock_timestamp(),
			state = CASE WHEN state = 'F' AND (failback_until IS NULL OR failback_until < clock_timestamp()) THEN 'L' ELSE state END
			WHERE id = 1 AND holder = $1 AND epoch = $2
			RETURNING state, failback_by, coalesce(failback_until > clock_timestamp(), false)`),
		// $1 requesting primary's holder token, $2 lease in seconds.
		request: r.Replace(`UPDATE NM SET state = 'F', failback_by = $1,
			failback_until = clock_timestamp() + make_interval(secs => $2), updated_at = clock_timestamp()
			WHERE id = 1 AND holder <> '' AND holder <> $1 AND holder_role = 'B' AND state IN ('L', 'F')
			RETURNING holder_name, epoch`),
		// $1 holder, $2 epoch, $3 new state ('' keeps it).
		release: r.Replace(`UPDATE NM SET holder = '', holder_pid = NULL, holder_server = NULL, expires_at = NULL,
			state = CASE WHEN $3 = '' THEN state ELSE $3 END, updated_at = clock_timestamp()
			WHERE id = 1 AND holder = $1 AND epoch = $2`),
		read: r.Replace(`SELECT node_id, state, epoch, holder, holder_name, holder_role, holder_pid,
			acquired_at, expires_at, failback_by, failback_until, updated_at, clock_timestamp()
			FROM NM WHERE id = 1`),
		current: r.Replace(`SELECT epoch, holder_name FROM NM WHERE id = 1`),
	}
}

// Ensure creates or migrates the lease's tables and fence function.
func Ensure(ctx context.Context, conn *pgx.Conn, t pgdb.Tables) error {
	_, _, err := pgdb.Migrate(ctx, conn, component(t), migrations(t))
	return err
}

// advisoryKey is the advisory lock of the lease in t, the fast path's
// wake-up: derived from the table name, so that pairs sharing a database
// with tables of their own do not wake each other.
func advisoryKey(t pgdb.Tables) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "tandem lease %s", t.NodeManager)
	return int64(h.Sum64())
}
