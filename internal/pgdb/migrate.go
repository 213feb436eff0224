package pgdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrNewerSchema is returned by Migrate for a database written by a newer
// tandem: this build does not know its tables and must not touch them.
var ErrNewerSchema = errors.New("pgdb: the database schema is newer than this tandem knows (written by a newer version?)")

// migrationLock is the advisory lock key that serialises migrations of
// every component in a database ('tndm' 'schm' in ASCII).
const migrationLock int64 = 0x746e646d7363686d

// Migration is one step of a component's schema: statements that take the
// schema from version N-1 to N, where N is its position in the list
// (counted from 1).
type Migration struct {
	// Note says what the step does, for the log and the version table.
	Note string
	// SQL is run as one statement list, inside the migration transaction.
	SQL string
}

// Migrate brings component (for example "store:tandem_messages") to the
// last version of steps, applying in one transaction every step it lacks.
// It returns the version found before and the one reached.
func Migrate(ctx context.Context, conn *pgx.Conn, component string, steps []Migration) (before, after int, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("begin schema migration of %s: %w", component, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return 0, 0, fmt.Errorf("lock for schema migration: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+VersionTable+` (
		component  text PRIMARY KEY,
		version    integer NOT NULL,
		note       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`); err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", VersionTable, err)
	}
	err = tx.QueryRow(ctx, "SELECT version FROM "+VersionTable+" WHERE component = $1", component).Scan(&before)
	if errors.Is(err, pgx.ErrNoRows) {
		before, err = 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read the schema version of %s: %w", component, err)
	}
	if before > len(steps) {
		return before, before, fmt.Errorf("%w: %s is at version %d, this build knows up to %d", ErrNewerSchema, component, before, len(steps))
	}
	if before == len(steps) {
		return before, before, tx.Commit(ctx)
	}
	for v := before + 1; v <= len(steps); v++ {
		if _, err := tx.Exec(ctx, steps[v-1].SQL); err != nil {
			return before, v - 1, fmt.Errorf("schema migration %d of %s (%s): %w", v, component, steps[v-1].Note, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+VersionTable+` (component, version, note) VALUES ($1, $2, $3)
		ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, note = EXCLUDED.note, applied_at = clock_timestamp()`,
		component, len(steps), steps[len(steps)-1].Note); err != nil {
		return before, before, fmt.Errorf("record the schema version of %s: %w", component, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return before, before, fmt.Errorf("commit schema migration of %s: %w", component, err)
	}
	return before, len(steps), nil
}

// Version returns the schema version of component, 0 if it has none.
func Version(ctx context.Context, conn *pgx.Conn, component string) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", VersionTable).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := conn.QueryRow(ctx, "SELECT version FROM "+VersionTable+" WHERE component = $1", component).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
