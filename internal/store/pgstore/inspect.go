package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"tandem/internal/message"
	"tandem/internal/pgdb"
)

// Report is what Inspect found: how many rows of each kind, and what is
// wrong. Notes are worth knowing but harmless (the next start tidies them).
type Report struct {
	Schema   int
	Counts   []Count
	Problems []string
	Notes    []string
}

// Count is the number of rows of one kind.
type Count struct {
	What string
	N    int
}

// Inspect reads a database store without changing it, for `tandem data
// print` and `verify`, in one consistent snapshot (it may run beside a
// live broker). When line is not nil it gets every row as a line of text,
// under section headings. Every message and page record is decoded, and
// every large body's chunks are checked against its size.
func Inspect(ctx context.Context, conn *pgx.Conn, t pgdb.Tables, line func(string)) (Report, error) {
	t = t.WithDefaults()
	if line == nil {
		line = func(string) {}
	}
	var r Report
	v, err := pgdb.Version(ctx, conn, component(t))
	if err != nil {
		return r, fmt.Errorf("pgstore: read the schema version: %w", err)
	}
	r.Schema = v
	switch {
	case v == 0:
		return r, fmt.Errorf("pgstore: this database holds no tandem store with table %s (no schema version for %s)", t.Messages, component(t))
	case v > len(migrations(t)):
		return r, fmt.Errorf("%w: %s is at version %d, this build reads up to %d", pgdb.ErrNewerSchema, component(t), v, len(migrations(t)))
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return r, fmt.Errorf("pgstore: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read only
	in := &inspector{ctx: ctx, tx: tx, st: newStatements(t), t: t, line: line, r: &r, queues: map[int64]bool{}, bodies: map[int64]bool{}}
	for _, step := range []func() error{in.meta, in.bindings, in.messages, in.dups, in.cursors, in.pages, in.large} {
		if err := step(); err != nil {
			return r, err
		}
	}
	return r, nil
}

type inspector struct {
	ctx    context.Context
	tx     pgx.Tx
	st     statements
	t      pgdb.Tables
	line   func(string)
	r      *Report
	queues map[int64]bool
	bodies map[int64]bool // large bodies named by messages
}

func (in *inspector) section(title, table string) { in.line(fmt.Sprintf("== %s (%s)", title, table)) }

func (in *inspector) count(what string, n int) {
	in.r.Counts = append(in.r.Counts, Count{what, n})
}

func (in *inspector) problem(format string, args ...any) {
	in.r.Problems = append(in.r.Problems, fmt.Sprintf(format, args...))
}

func (in *inspector) meta() error {
	var next, group, epoch int64
	err := in.tx.QueryRow(in.ctx, "SELECT next_id, last_group, last_epoch FROM "+in.t.Meta()+" WHERE id = 1").Scan(&next, &group, &epoch)
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.Meta(), err)
	}
	in.section("counters", in.t.Meta())
	in.line(fmt.Sprintf("ids-reserved-below=%d last-group=%d last-writer-epoch=%d schema=%d", next, group, epoch, in.r.Schema))
	return nil
}

func (in *inspector) bindings() error {
	in.section("bindings", in.t.Bindings)
	rows, _ := in.tx.Query(in.ctx, "SELECT id, kind, name, address, routing_type, anycast, multicast, filter, epoch FROM "+in.t.Bindings+" ORDER BY id")
	var id, epoch int64
	var kind, name, address, filter string
	var routing int16
	var anycast, multicast bool
	n := 0
	_, err := pgx.ForEachRow(rows, []any{&id, &kind, &name, &address, &routing, &anycast, &multicast, &filter, &epoch}, func() error {
		n++
		if kind == "queue" {
			in.queues[id] = true
			in.line(fmt.Sprintf("queue id=%d name=%s address=%s routing=%s filter=%q epoch=%d", id, name, address, message.RoutingType(routing), filter, epoch))
		} else {
			in.line(fmt.Sprintf("address id=%d name=%s anycast=%v multicast=%v epoch=%d", id, name, anycast, multicast, epoch))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.Bindings, err)
	}
	in.count("bindings", n)
	return nil
}

// describe renders a message as one line.
func describe(m *message.Message) string {
	props := make([]string, len(m.Properties))
	for i, p := range m.Properties {
		props[i] = p.Key + "=" + p.Value
	}
	body := fmt.Sprintf("%dB", len(m.Body))
	if l := m.Large(); l != nil {
		body = fmt.Sprintf("large:%d(%dB)", l.ID, l.Size)
	}
	return fmt.Sprintf("id=%d address=%s routing=%s durable=%v priority=%d expires=%d body=%s props=[%s]",
		m.ID, m.Address, m.RoutingType, m.Durable, m.Priority, m.Expiration, body, strings.Join(props, ","))
}

func (in *inspector) messages() error {
	in.section("messages", in.t.Messages+", "+in.t.Refs())
	rows, _ := in.tx.Query(in.ctx, `SELECT m.id, m.seq, m.epoch, m.data,
		coalesce(array_agg(r.queue_id ORDER BY r.queue_id) FILTER (WHERE r.queue_id IS NOT NULL), '{}'),
		coalesce(array_agg(r.delivery_count ORDER BY r.queue_id) FILTER (WHERE r.queue_id IS NOT NULL), '{}')
		FROM `+in.t.Messages+` m LEFT JOIN `+in.t.Refs()+` r ON r.message_id = m.id GROUP BY m.id ORDER BY m.seq, m.id`)
	var id, seq, epoch int64
	var data []byte
	var queues []int64
	var counts []int32
	n, refs := 0, 0
	_, err := pgx.ForEachRow(rows, []any{&id, &seq, &epoch, &data, &queues, &counts}, func() error {
		n++
		refs += len(queues)
		m, derr := message.Decode(data, nil)
		if derr != nil {
			in.problem("message %d (seq %d) does not decode: %v", id, seq, derr)
			in.line(fmt.Sprintf("message id=%d seq=%d epoch=%d (undecodable: %v)", id, seq, epoch, derr))
			return nil
		}
		if m.ID != uint64(id) {
			in.problem("message %d: its encoding says id %d", id, m.ID)
		}
		if l := m.Large(); l != nil {
			in.bodies[int64(l.ID)] = true
		}
		parts := make([]string, len(queues))
		for i, q := range queues {
			parts[i] = fmt.Sprintf("%d:%d", q, counts[i])
			if !in.queues[q] {
				in.r.Notes = append(in.r.Notes, fmt.Sprintf("message %d is referenced by queue %d, which does not exist (dropped at the next start)", id, q))
			}
		}
		if len(queues) == 0 {
			in.r.Notes = append(in.r.Notes, fmt.Sprintf("message %d is held by no queue (deleted at the next start)", id))
		}
		in.line(fmt.Sprintf("message seq=%d epoch=%d %s refs=[%s]", seq, epoch, describe(m), strings.Join(parts, ",")))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.Messages, err)
	}
	in.count("messages", n)
	in.count("references", refs)
	return nil
}

func (in *inspector) dups() error {
	in.section("duplicate ids", in.t.Dups())
	rows, _ := in.tx.Query(in.ctx, in.st.loadDups)
	var rec int64
	var addr string
	var id []byte
	n := 0
	_, err := pgx.ForEachRow(rows, []any{&rec, &addr, &id}, func() error {
		n++
		in.line(fmt.Sprintf("duplicate-id record=%d address=%s id=%q", rec, addr, id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.Dups(), err)
	}
	in.count("duplicate ids", n)
	return nil
}

func (in *inspector) cursors() error {
	in.section("page cursors", in.t.Cursors())
	rows, _ := in.tx.Query(in.ctx, in.st.loadCursors)
	var rec, page, pos int64
	var addr string
	n := 0
	_, err := pgx.ForEachRow(rows, []any{&rec, &addr, &page, &pos}, func() error {
		n++
		in.line(fmt.Sprintf("page-cursor record=%d address=%s page=%d position=%d", rec, addr, page, pos))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.Cursors(), err)
	}
	in.count("page cursors", n)
	return nil
}

func (in *inspector) pages() error {
	in.section("paged messages", in.t.PageStore)
	rows, _ := in.tx.Query(in.ctx, "SELECT address, seq, epoch, queues, data FROM "+in.t.PageStore+" ORDER BY address, seq")
	var addr string
	var seq, epoch int64
	var queues []int64
	var data []byte
	n := 0
	_, err := pgx.ForEachRow(rows, []any{&addr, &seq, &epoch, &queues, &data}, func() error {
		n++
		m, derr := message.Decode(data, nil)
		if derr != nil {
			in.problem("paged message %d of %s does not decode: %v", seq, addr, derr)
			in.line(fmt.Sprintf("page address=%s seq=%d epoch=%d (undecodable: %v)", addr, seq, epoch, derr))
			return nil
		}
		if l := m.Large(); l != nil {
			in.bodies[int64(l.ID)] = true
		}
		in.line(fmt.Sprintf("page address=%s seq=%d epoch=%d queues=%v %s", addr, seq, epoch, queues, describe(m)))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.PageStore, err)
	}
	in.count("paged messages", n)
	return nil
}

func (in *inspector) large() error {
	in.section("large message bodies", in.t.LargeMessages+", "+in.t.Chunks())
	rows, _ := in.tx.Query(in.ctx, `SELECT b.id, b.content, b.size, b.epoch, count(c.n), coalesce(sum(length(c.data)), 0),
		coalesce(max(c.n), -1) FROM `+in.t.LargeMessages+` b LEFT JOIN `+in.t.Chunks()+` c ON c.content = b.content
		GROUP BY b.id ORDER BY b.id`)
	var id, content, size, epoch, chunks, bytes int64
	var last int32
	n := 0
	seen := map[int64]bool{}
	_, err := pgx.ForEachRow(rows, []any{&id, &content, &size, &epoch, &chunks, &bytes, &last}, func() error {
		n++
		seen[id] = true
		in.line(fmt.Sprintf("body id=%d content=%d size=%d epoch=%d chunks=%d bytes=%d", id, content, size, epoch, chunks, bytes))
		if bytes != size || int64(last)+1 != chunks {
			in.problem("large body %d: %d chunks (numbered up to %d) hold %d bytes, its size is %d", id, chunks, last, bytes, size)
		}
		if !in.bodies[id] {
			in.r.Notes = append(in.r.Notes, fmt.Sprintf("large body %d is named by no message (deleted at the next start)", id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.LargeMessages, err)
	}
	in.count("large bodies", n)
	for id := range in.bodies {
		if !seen[id] {
			in.problem("a message names large body %d, which is missing", id)
		}
	}
	var orphans int
	if err := in.tx.QueryRow(in.ctx, `SELECT count(*) FROM `+in.t.Chunks()+` c WHERE NOT EXISTS
		(SELECT 1 FROM `+in.t.LargeMessages+` b WHERE b.content = c.content)`).Scan(&orphans); err != nil {
		return fmt.Errorf("pgstore: read %s: %w", in.t.Chunks(), err)
	}
	if orphans > 0 {
		in.r.Notes = append(in.r.Notes, fmt.Sprintf("%d chunks belong to no body (an upload cut off by a crash; deleted at the next start)", orphans))
	}
	return nil
}
