package pgstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"tandem/internal/message"
	"tandem/internal/pgdb"
	"tandem/internal/store"
	"tandem/internal/store/pgstore/pgtest"
)

// TestInspectFindsDamage: Inspect reads a healthy store without problems,
// and names each kind of damage: a message that does not decode, a large
// body missing a chunk, a message naming a body that is gone.
func TestInspectFindsDamage(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var b store.Batch
	q := store.Queue{ID: s.NewID(), Name: "q", Address: "q"}
	b.AddQueue(q)
	if err := commit(t, s, &b); err != nil {
		t.Fatal(err)
	}
	big := writeBody(t, s, body(2*ChunkSize+1), ChunkSize)
	msgs := make([]uint64, 3)
	for i := range msgs {
		m := &message.Message{ID: s.NewID(), Address: "q", Durable: true, Body: []byte("x")}
		if i == 2 {
			m.Body = nil
			m.SetLarge(&message.Large{ID: big, Size: 2*ChunkSize + 1})
		}
		b.Reset()
		b.AddMessage(m)
		b.AddRef(m.ID, q.ID)
		if err := commit(t, s, &b); err != nil {
			t.Fatal(err)
		}
		msgs[i] = m.ID
	}
	conn := pgtest.Conn(t, e.url)
	ctx := context.Background()
	var lines []string
	r, err := Inspect(ctx, conn, pgdb.Tables{}, func(l string) { lines = append(lines, l) })
	if err != nil || len(r.Problems) > 0 {
		t.Fatalf("a healthy store: %v %v", r.Problems, err)
	}
	if text := strings.Join(lines, "\n"); !strings.Contains(text, "queue id=") || !strings.Contains(text, "body id=") ||
		!strings.Contains(text, "large:") {
		t.Fatalf("print output lacks rows:\n%s", text)
	}
	for _, damage := range []struct{ sql, want string }{
		{"UPDATE tandem_messages SET data = '\\x0301'::bytea WHERE id = " + itoa(msgs[0]), "does not decode"},
		{"DELETE FROM tandem_large_messages_chunks WHERE n = 1", "chunks (numbered up to 2) hold"},
		{"DELETE FROM tandem_large_messages", "which is missing"},
	} {
		if _, err := conn.Exec(ctx, damage.sql); err != nil {
			t.Fatal(err)
		}
		r, err := Inspect(ctx, conn, pgdb.Tables{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(r.Problems, "\n"), damage.want) {
			t.Fatalf("after %s: problems %v, want one with %q", damage.sql, r.Problems, damage.want)
		}
	}
	if _, err := Inspect(ctx, conn, pgdb.Tables{Messages: "other_messages"}, nil); err == nil {
		t.Fatal("Inspect of tables that do not exist succeeded")
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
