package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/config"
	"tandem/internal/ha/dblease"
	"tandem/internal/pgdb"
	"tandem/internal/store/pgstore"
)

// databaseConfig returns the configuration when its store is a database.
func databaseConfig(o dataOptions) (*config.Config, bool) {
	cfg, err := loadConfig(o.instance, o.config)
	if err != nil || !cfg.Database() {
		return nil, false
	}
	return cfg, true
}

func storeTables(cfg *config.Config) pgdb.Tables {
	s := cfg.Store
	return pgdb.Tables{Messages: s.MessageTable, Bindings: s.BindingsTable, LargeMessages: s.LargeMessageTable,
		PageStore: s.PageStoreTable, NodeManager: s.NodeManagerTable}.WithDefaults()
}

// connectStore connects to a database store for reading.
func connectStore(ctx context.Context, cfg *config.Config) (*pgx.Conn, error) {
	cc, err := pgdb.ParseURL(cfg.Store.URL, cfg.Store.User, cfg.Store.Password)
	if err != nil {
		return nil, err
	}
	conn, err := pgdb.Connect(ctx, cc, "tandem data", map[string]string{"default_transaction_read_only": "on"})
	if err != nil {
		return nil, fmt.Errorf("%w (check store.url in %s and that the database is up)", err, cfg.File)
	}
	return conn, nil
}

// runDataPrintDatabase prints the lease, the activations and every row of
// a database store.
func runDataPrintDatabase(ctx context.Context, cfg *config.Config, out io.Writer) error {
	conn, err := connectStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	t := storeTables(cfg)
	fmt.Fprintf(out, "== database %s\n", pgdb.Redact(cfg.Store.URL))
	fmt.Fprintf(out, "== lease (%s)\n", t.NodeManager)
	row, err := dblease.Read(ctx, conn, t)
	switch {
	case errors.Is(err, dblease.ErrNoRow):
		fmt.Fprintf(out, "no lease row: %v\n", err)
	case err != nil:
		return err
	default:
		fmt.Fprintln(out, describeLease(row))
		fmt.Fprintf(out, "== activations (%s)\n", t.History())
		rows, _ := conn.Query(ctx, "SELECT epoch, holder_name, holder_role, how, previous_holder, acquired_at FROM "+t.History()+" ORDER BY epoch")
		var epoch int64
		var name, role, how, prev string
		var at time.Time
		if _, err := pgx.ForEachRow(rows, []any{&epoch, &name, &role, &how, &prev, &at}, func() error {
			fmt.Fprintf(out, "epoch=%d holder=%s role=%s how=%q previous=%s at=%s\n", epoch, name, role, how, prev, at.UTC().Format(time.RFC3339Nano))
			return nil
		}); err != nil {
			return fmt.Errorf("read %s: %w", t.History(), err)
		}
	}
	r, err := pgstore.Inspect(ctx, conn, t, func(line string) { fmt.Fprintln(out, line) })
	if err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintln(out, "note: "+n)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("the store has problems:\n  %s", strings.Join(r.Problems, "\n  "))
	}
	return nil
}

// describeLease renders the lease row as one line.
func describeLease(r dblease.Row) string {
	s := fmt.Sprintf("node-id=%s state=%s epoch=%d", r.NodeID, r.State, r.Epoch)
	if r.Holder == "" {
		return s + " holder=none"
	}
	s += fmt.Sprintf(" holder=%s role=%s session-pid=%d", r.HolderName, r.HolderRole, r.HolderPID)
	if left := r.ExpiresAt.Sub(r.Now); left >= 0 {
		s += fmt.Sprintf(" expires-in=%v", left.Round(time.Millisecond))
	} else {
		s += fmt.Sprintf(" expired-for=%v", (-left).Round(time.Millisecond))
	}
	if r.State == "F" && r.FailbackUntil.After(r.Now) {
		s += " failback-requested"
	}
	return s
}

// runDataVerifyDatabase checks a database store: every message and paged
// message decodes, every large body's chunks add up, every body a message
// names exists.
func runDataVerifyDatabase(ctx context.Context, cfg *config.Config, out io.Writer) error {
	conn, err := connectStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	t := storeTables(cfg)
	if row, err := dblease.Read(ctx, conn, t); err == nil {
		fmt.Fprintf(out, "lease: %s\n", describeLease(row))
	} else if !errors.Is(err, dblease.ErrNoRow) {
		return err
	}
	r, err := pgstore.Inspect(ctx, conn, t, nil)
	if err != nil {
		return err
	}
	parts := make([]string, len(r.Counts))
	for i, c := range r.Counts {
		parts[i] = fmt.Sprintf("%d %s", c.N, c.What)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(out, "note: "+n)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(out, "database store %s (schema %d): %s\n", pgdb.Redact(cfg.Store.URL), r.Schema, strings.Join(parts, ", "))
		return fmt.Errorf("the store has %d problems:\n  %s", len(r.Problems), strings.Join(r.Problems, "\n  "))
	}
	fmt.Fprintf(out, "database store %s (schema %d): %s, OK\n", pgdb.Redact(cfg.Store.URL), r.Schema, strings.Join(parts, ", "))
	return nil
}
