package pgtest

import (
	"context"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestSharedServerGivesEachTestADatabase(t *testing.T) {
	c := Shared(t)
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests got the same database %s", a)
	}
	conn := Conn(t, a)
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT 1 + 1").Scan(&n); err != nil || n != 2 {
		t.Fatalf("SELECT 1 + 1 = %d, %v", n, err)
	}
}

func TestStopImmediateKeepsCommittedRows(t *testing.T) {
	c := Start(t)
	url := c.URL("postgres")
	c.Exec(t, url, "CREATE TABLE t (v int)")
	c.Exec(t, url, "INSERT INTO t VALUES (42)")
	c.Stop(t, "immediate")
	c.Restart(t)
	conn := Conn(t, url)
	var v int
	if err := conn.QueryRow(context.Background(), "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after an immediate stop: v = %d, %v", v, err)
	}
}
