package pgstore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"tandem/internal/store/pgstore/pgtest"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.golden")

// TestSchemaGolden keeps the tables, columns, indexes and functions a new
// store creates (with the lease's) equal to testdata/schema.golden, which
// docs/database-format.md describes: a change to the schema must change
// both, and come with a migration. Run with -update to rewrite the file
// after a deliberate change.
func TestSchemaGolden(t *testing.T) {
	e := newEnv(t)
	e.open(t)
	conn := pgtest.Conn(t, e.url)
	ctx := context.Background()
	var b strings.Builder
	rows, _ := conn.Query(ctx, `SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name LIKE 'tandem_%'
		ORDER BY table_name, ordinal_position`)
	var table, column, typ, nullable, def string
	last := ""
	if _, err := pgx.ForEachRow(rows, []any{&table, &column, &typ, &nullable, &def}, func() error {
		if table != last {
			fmt.Fprintf(&b, "table %s\n", table)
			last = table
		}
		null := ""
		if nullable == "NO" {
			null = " not null"
		}
		if def != "" {
			def = " default " + def
		}
		fmt.Fprintf(&b, "  %s %s%s%s\n", column, typ, null, def)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, _ = conn.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename LIKE 'tandem_%' ORDER BY indexname`)
	var idx string
	if _, err := pgx.ForEachRow(rows, []any{&idx}, func() error {
		fmt.Fprintf(&b, "%s\n", idx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, _ = conn.Query(ctx, `SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ')' FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname LIKE 'tandem_%' ORDER BY 1`)
	var fn string
	if _, err := pgx.ForEachRow(rows, []any{&fn}, func() error {
		fmt.Fprintf(&b, "function %s\n", fn)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if *update {
		if err := os.WriteFile("testdata/schema.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/schema.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("the schema differs from testdata/schema.golden (run with -update after a deliberate change, and update docs/database-format.md):\n%s", got)
	}
}
