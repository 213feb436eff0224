package dblease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/pgdb"
)

// ErrNoRow is returned by Read when the store has no lease row yet: no
// node ever started on it.
var ErrNoRow = errors.New("dblease: no lease row yet")

// Row is the lease row as Read finds it, for `tandem data print`, the
// console and the announcement of a waiting node.
type Row struct {
	NodeID        string
	State         string // N, L, P or F
	Epoch         uint64
	Holder        string // the holder's token, "" when nobody holds it
	HolderName    string
	HolderRole    string // P or B
	HolderPID     int    // the holder's lease session on the database server
	AcquiredAt    time.Time
	ExpiresAt     time.Time
	FailbackBy    string
	FailbackUntil time.Time
	UpdatedAt     time.Time
	// Now is the database's clock when the row was read.
	Now time.Time
}

// Read reads the lease row of the store with tables t through conn,
// without changing anything.
func Read(ctx context.Context, conn *pgx.Conn, t pgdb.Tables) (Row, error) {
	t = t.WithDefaults()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t.NodeManager).Scan(&exists); err != nil {
		return Row{}, fmt.Errorf("dblease: %w", err)
	}
	if !exists {
		return Row{}, fmt.Errorf("%w: table %s does not exist", ErrNoRow, t.NodeManager)
	}
	var r Row
	var pid *int32
	var acquired, expires, until *time.Time
	err := conn.QueryRow(ctx, newStatements(t).read).Scan(&r.NodeID, &r.State, &r.Epoch, &r.Holder, &r.HolderName, &r.HolderRole,
		&pid, &acquired, &expires, &r.FailbackBy, &until, &r.UpdatedAt, &r.Now)
	if errors.Is(err, pgx.ErrNoRows) {
		return Row{}, fmt.Errorf("%w: table %s is empty", ErrNoRow, t.NodeManager)
	}
	if err != nil {
		return Row{}, fmt.Errorf("dblease: read %s: %w", t.NodeManager, err)
	}
	if pid != nil {
		r.HolderPID = int(*pid)
	}
	for _, p := range []struct {
		src *time.Time
		dst *time.Time
	}{{acquired, &r.AcquiredAt}, {expires, &r.ExpiresAt}, {until, &r.FailbackUntil}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return r, nil
}
