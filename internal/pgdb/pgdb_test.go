package pgdb

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"tandem/internal/store/pgstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"tandem_messages", true}, {"MESSAGES", true}, {"_x1", true},
		{"", false}, {"1abc", false}, {"a-b", false}, {"a b", false}, {"a;drop", false},
		{`a"b`, false}, {strings.Repeat("a", MaxNameLength+1), false}, {"café", false},
	} {
		if err := CheckName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestTablesDefaultsAndDuplicates(t *testing.T) {
	tb := Tables{Messages: "MESSAGES"}.WithDefaults()
	if tb.Messages != "messages" || tb.Bindings != DefaultBindings || tb.Refs() != "messages_refs" {
		t.Fatalf("WithDefaults = %+v", tb)
	}
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	tb.PageStore = tb.Bindings
	if err := tb.Validate(); !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "page-store-table-name") {
		t.Fatalf("Validate with a repeated name = %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db":                 "postgres://u:xxxxx@h:5432/db",
		"jdbc:postgresql://h/db?user=u&password=secret": "postgresql://h/db?password=xxxxx&user=u",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"host=h password=secret":                        "(a connection string that may hold a password)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURLTakesJDBCFormAndOverrides(t *testing.T) {
	cfg, err := ParseURL("jdbc:postgresql://db.example:6543/art?user=a&password=b", "tandem", "s3")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "db.example" || cfg.Port != 6543 || cfg.Database != "art" || cfg.User != "tandem" || cfg.Password != "s3" {
		t.Fatalf("parsed %s:%d/%s as %s/%s", cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password)
	}
	if _, err := ParseURL("postgres://h:notaport/db", "", ""); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestMigrateAppliesOnceAndRefusesNewer(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	cfg, err := ParseURL(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := Connect(ctx, cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	steps := []Migration{
		{Note: "create t", SQL: "CREATE TABLE t (a int); INSERT INTO t VALUES (1)"},
		{Note: "add b", SQL: "ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 2"},
	}
	if before, after, err := Migrate(ctx, conn, "test:t", steps[:1]); err != nil || before != 0 || after != 1 {
		t.Fatalf("first migration: %d -> %d, %v", before, after, err)
	}
	if before, after, err := Migrate(ctx, conn, "test:t", steps); err != nil || before != 1 || after != 2 {
		t.Fatalf("second migration: %d -> %d, %v", before, after, err)
	}
	if before, after, err := Migrate(ctx, conn, "test:t", steps); err != nil || before != 2 || after != 2 {
		t.Fatalf("repeated migration: %d -> %d, %v", before, after, err)
	}
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t WHERE b = 2").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("rows after migrations: %d, %v", rows, err)
	}
	if _, _, err := Migrate(ctx, conn, "test:t", steps[:1]); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("older build on a newer schema: %v, want ErrNewerSchema", err)
	}
	if v, err := Version(ctx, conn, "test:t"); err != nil || v != 2 {
		t.Fatalf("Version = %d, %v", v, err)
	}
	bad := append(steps, Migration{Note: "broken", SQL: "ALTER TABLE nope ADD COLUMN c int"})
	if _, _, err := Migrate(ctx, conn, "test:t", bad); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("a failing step: %v", err)
	}
	if v, _ := Version(ctx, conn, "test:t"); v != 2 {
		t.Fatalf("a failed migration changed the version to %d", v)
	}
}
