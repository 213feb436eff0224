package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/internal/message"
	"tandem/internal/store"
)

// recovered is what Open learns besides the state.
type recovered struct {
	stale     []int64 // messages no queue holds any more
	lastGroup int64   // the last group commit's number
	maxSeq    int64   // the highest message sequence number
}

// interner shares the strings that repeat across recovered messages.
type interner map[string]string

func (in interner) Intern(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// load reads the whole state, in the order it was written: bindings by id,
// messages by sequence with their references, duplicate ids and page
// cursors by record id.
func (s *Store) load(ctx context.Context, conn *pgx.Conn) (*store.State, recovered, error) {
	st := &store.State{}
	var rec recovered
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, rec, fmt.Errorf("pgstore: begin loading: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read only
	var next int64
	if err := tx.QueryRow(ctx, s.st.loadMeta).Scan(&next, &rec.lastGroup); err != nil {
		return nil, rec, fmt.Errorf("pgstore: read %s: %w", s.o.Tables.Meta(), err)
	}
	st.NextID = uint64(next)
	if err := tx.QueryRow(ctx, s.st.maxSeq).Scan(&rec.maxSeq); err != nil {
		return nil, rec, fmt.Errorf("pgstore: read %s: %w", s.o.Tables.Messages, err)
	}
	if err := s.loadBindings(ctx, tx, st); err != nil {
		return nil, rec, err
	}
	if rec.stale, err = s.loadMessages(ctx, tx, st); err != nil {
		return nil, rec, err
	}
	rows, _ := tx.Query(ctx, s.st.loadDups)
	var d store.DuplicateID
	var id []byte
	_, err = pgx.ForEachRow(rows, []any{&d.RecordID, &d.Address, &id}, func() error {
		d.ID = string(id)
		st.DuplicateIDs = append(st.DuplicateIDs, d)
		return nil
	})
	if err != nil {
		return nil, rec, fmt.Errorf("pgstore: read %s: %w", s.o.Tables.Dups(), err)
	}
	rows, _ = tx.Query(ctx, s.st.loadCursors)
	var c store.PageCursor
	_, err = pgx.ForEachRow(rows, []any{&c.RecordID, &c.Address, &c.Page, &c.Offset}, func() error {
		st.PageCursors = append(st.PageCursors, c)
		return nil
	})
	if err != nil {
		return nil, rec, fmt.Errorf("pgstore: read %s: %w", s.o.Tables.Cursors(), err)
	}
	return st, rec, nil
}

func (s *Store) loadBindings(ctx context.Context, tx pgx.Tx, st *store.State) error {
	rows, _ := tx.Query(ctx, s.st.loadBindings)
	var (
		id                                                      uint64
		kind, name, address, filter, lvKey                      string
		routing                                                 int16
		anycast, multicast, exclusive, lv, autoCreated, configd bool
		maxConsumers                                            int32
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &kind, &name, &address, &routing, &anycast, &multicast, &filter, &maxConsumers,
		&exclusive, &lv, &lvKey, &autoCreated, &configd}, func() error {
		switch kind {
		case "address":
			st.Addresses = append(st.Addresses, store.Address{ID: id, Name: name, Anycast: anycast, Multicast: multicast,
				AutoCreated: autoCreated, Configured: configd})
		case "queue":
			st.Queues = append(st.Queues, store.Queue{ID: id, Name: name, Address: address, RoutingType: message.RoutingType(routing),
				Filter: filter, MaxConsumers: int(maxConsumers), Exclusive: exclusive, LastValue: lv, LastValueKey: lvKey,
				AutoCreated: autoCreated, Configured: configd})
		default:
			return fmt.Errorf("binding %d has the unknown kind %q", id, kind)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: read %s: %w", s.o.Tables.Bindings, err)
	}
	return nil
}

// loadMessages reads every message with its references. It returns the
// ids of messages no queue holds (their last reference was acknowledged
// without deleting them), which Open deletes.
func (s *Store) loadMessages(ctx context.Context, tx pgx.Tx, st *store.State) ([]int64, error) {
	rows, _ := tx.Query(ctx, s.st.loadMessages)
	names := interner{}
	var stale []int64
	var (
		id    int64
		data  []byte
		queue *int64
		count *int32
		cur   *store.StoredMessage
		curID int64 = -1
	)
	flush := func() {
		if cur == nil {
			return
		}
		if len(cur.Refs) == 0 {
			stale = append(stale, curID)
		} else {
			st.Messages = append(st.Messages, *cur)
		}
		cur = nil
	}
	_, err := pgx.ForEachRow(rows, []any{&id, &data, &queue, &count}, func() error {
		if id != curID {
			flush()
			m, err := message.Decode(data, names)
			if err != nil {
				return fmt.Errorf("message %d: %w", id, err)
			}
			if m.ID != uint64(id) {
				return fmt.Errorf("message %d: its encoding says id %d", id, m.ID)
			}
			// The body aliases data, which pgx allocated for this row.
			cur, curID = &store.StoredMessage{Message: m}, id
		}
		if queue != nil {
			cur.Refs = append(cur.Refs, store.Ref{QueueID: uint64(*queue), DeliveryCount: uint32(*count)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: read %s: %w", s.o.Tables.Messages, err)
	}
	flush()
	return stale, nil
}
