package storetest

import (
	"fmt"
	"testing"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Opener opens a store on the same backing state every time it is called;
// the previous store has been closed before the next call.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite. newOpener returns a fresh, empty backing
// state for each test.
func Run(t *testing.T, newOpener func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"EmptyStoreLoadsEmpty", testEmpty},
		{"BindingsSurviveReopen", testBindings},
		{"MessagesAndRefsSurviveReopen", testMessages},
		{"TypedMessageSurvivesReopen", testTypedMessage},
		{"AckAndDeleteRemoveRefs", testAcks},
		{"DeliveryCountsSurvive", testDeliveryCounts},
		{"DuplicateIDs", testDuplicateIDs},
		{"PageCursorIsReplaced", testPageCursors},
		{"LargeMessageKeepsItsBodyReference", testLargeMessage},
		{"IDsNeverRepeat", testIDs},
		{"OrderIsKept", testOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newOpener(t)) })
	}
}

func commit(t *testing.T, s store.Store, b *store.Batch) {
	t.Helper()
	ch := make(chan error, 1)
	s.Commit(b, true, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func load(t *testing.T, s store.Store) *store.State {
	t.Helper()
	st, err := s.Load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return st
}

func reopen(t *testing.T, s store.Store, open Opener) (store.Store, *store.State) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s = open(t)
	return s, load(t, s)
}

func newMessage(s store.Store, body string) *message.Message {
	return &message.Message{ID: s.NewID(), Address: "orders", Durable: true, Priority: 7, Timestamp: 1700000000000,
		Expiration: 1800000000000, ScheduledTime: 1750000000000, Body: []byte(body),
		Extra:      &message.Extra{ContentType: "text/plain", CorrelationID: "c-1", ReplyTo: "/queue/replies", Type: "order"},
		Properties: []message.Property{{Key: "color", Value: "red"}, {Key: "escaped:key", Value: "line\nbreak"}}}
}

func testEmpty(t *testing.T, open Opener) {
	s := open(t)
	defer s.Close()
	st := load(t, s)
	if len(st.Addresses)+len(st.Queues)+len(st.Messages)+len(st.DuplicateIDs) != 0 {
		t.Fatalf("new store is not empty: %+v", st)
	}
}

func testBindings(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	var b store.Batch
	a := store.Address{ID: s.NewID(), Name: "orders", Anycast: true, AutoCreated: true}
	q := store.Queue{ID: s.NewID(), Name: "orders", Address: "orders", Filter: "color = 'red'", MaxConsumers: -1,
		Exclusive: true, LastValue: true, LastValueKey: "k", Configured: true}
	gone := store.Queue{ID: s.NewID(), Name: "gone", Address: "orders"}
	b.AddAddress(a)
	b.AddQueue(q)
	b.AddQueue(gone)
	commit(t, s, &b)
	b.Reset()
	b.DeleteQueue(gone.ID)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.Addresses) != 1 || st.Addresses[0] != a {
		t.Fatalf("addresses %+v, want %+v", st.Addresses, a)
	}
	if len(st.Queues) != 1 || st.Queues[0] != q {
		t.Fatalf("queues %+v, want %+v", st.Queues, q)
	}
}

func sameMessage(t *testing.T, got, want *message.Message) {
	t.Helper()
	if g, w := describe(got), describe(want); g != w {
		t.Fatalf("message\n got %s\nwant %s", g, w)
	}
}

// describe prints m with what its pointers point to, not their addresses.
func describe(m *message.Message) string {
	c := *m
	c.Extra = nil
	s := fmt.Sprintf("%+v", c)
	if x := m.Extra; x != nil {
		cx := *x
		cx.Large, cx.Native = nil, nil
		s += fmt.Sprintf(" extra %+v", cx)
		if x.Large != nil {
			s += fmt.Sprintf(" large %+v", *x.Large)
		}
		if x.Native != nil {
			s += fmt.Sprintf(" native %+v", *x.Native)
		}
	}
	return s
}

func testMessages(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	m := newMessage(s, "hello")
	var b store.Batch
	b.AddMessage(m)
	b.AddRef(m.ID, 10)
	b.AddRef(m.ID, 11)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.Messages) != 1 {
		t.Fatalf("got %d messages", len(st.Messages))
	}
	sameMessage(t, st.Messages[0].Message, m)
	if refs := st.Messages[0].Refs; len(refs) != 2 || refs[0].QueueID != 10 || refs[1].QueueID != 11 {
		t.Fatalf("refs %+v", refs)
	}
}

func testAcks(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	m1, m2 := newMessage(s, "one"), newMessage(s, "two")
	var b store.Batch
	for _, m := range []*message.Message{m1, m2} {
		b.AddMessage(m)
		b.AddRef(m.ID, 1)
		b.AddRef(m.ID, 2)
	}
	commit(t, s, &b)
	b.Reset()
	b.Ack(m1.ID, 1)
	b.DeleteMessage(m2.ID)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.Messages) != 1 || st.Messages[0].Message.ID != m1.ID {
		t.Fatalf("messages %+v", st.Messages)
	}
	if refs := st.Messages[0].Refs; len(refs) != 1 || refs[0].QueueID != 2 {
		t.Fatalf("refs %+v", refs)
	}
}

func testDeliveryCounts(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	m := newMessage(s, "x")
	var b store.Batch
	b.AddMessage(m)
	b.AddRef(m.ID, 1)
	b.SetDeliveryCount(m.ID, 1, 3)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if got := st.Messages[0].Refs[0].DeliveryCount; got != 3 {
		t.Fatalf("delivery count %d, want 3", got)
	}
}

func testDuplicateIDs(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	keep := store.DuplicateID{RecordID: s.NewID(), Address: "orders", ID: "abc"}
	drop := store.DuplicateID{RecordID: s.NewID(), Address: "orders", ID: "def"}
	var b store.Batch
	b.AddDuplicateID(keep)
	b.AddDuplicateID(drop)
	commit(t, s, &b)
	b.Reset()
	b.DeleteDuplicateID(drop.RecordID)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.DuplicateIDs) != 1 || st.DuplicateIDs[0] != keep {
		t.Fatalf("duplicate ids %+v", st.DuplicateIDs)
	}
}

func testPageCursors(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	first := store.PageCursor{RecordID: s.NewID(), Address: "orders", Page: 1, Offset: 40}
	var b store.Batch
	b.AddPageCursor(first)
	commit(t, s, &b)
	second := store.PageCursor{RecordID: s.NewID(), Address: "orders", Page: 3, Offset: 16}
	b.Reset()
	b.AddPageCursor(second)
	b.DeletePageCursor(first.RecordID)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.PageCursors) != 1 || st.PageCursors[0] != second {
		t.Fatalf("page cursors %+v, want only %+v", st.PageCursors, second)
	}
}

func testLargeMessage(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	q := store.Queue{ID: s.NewID(), Name: "big", Address: "big"}
	m := &message.Message{ID: s.NewID(), Address: "big", Durable: true, Extra: &message.Extra{Large: &message.Large{ID: 77, Size: 1 << 30}}}
	var b store.Batch
	b.AddQueue(q)
	b.AddMessage(m)
	b.AddRef(m.ID, q.ID)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.Messages) != 1 || st.Messages[0].Message.Large() == nil || *st.Messages[0].Message.Large() != *m.Large() {
		t.Fatalf("large message after reopen: %+v", st.Messages)
	}
}

func testIDs(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	seen := map[uint64]bool{}
	var last uint64
	for round := 0; round < 3; round++ {
		for i := 0; i < 100; i++ {
			id := s.NewID()
			if id == 0 || seen[id] || id <= last {
				t.Fatalf("round %d: id %d repeats or goes backwards (last %d)", round, id, last)
			}
			seen[id] = true
			last = id
		}
		m := &message.Message{ID: last, Address: "a", Durable: true}
		var b store.Batch
		b.AddMessage(m)
		b.AddRef(m.ID, 1)
		commit(t, s, &b)
		s, _ = reopen(t, s, open)
	}
	s.Close()
}

func testOrder(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	var ids []uint64
	for i := 0; i < 50; i++ {
		m := newMessage(s, fmt.Sprint(i))
		ids = append(ids, m.ID)
		var b store.Batch
		b.AddMessage(m)
		b.AddRef(m.ID, 1)
		commit(t, s, &b)
	}
	s, st := reopen(t, s, open)
	defer s.Close()
	for i, sm := range st.Messages {
		if sm.Message.ID != ids[i] {
			t.Fatalf("message %d has id %d, want %d", i, sm.Message.ID, ids[i])
		}
	}
}

// testTypedMessage stores a message with every property kind, a body kind
// and every optional header, as OpenWire and AMQP producers send them.
func testTypedMessage(t *testing.T, open Opener) {
	s := open(t)
	load(t, s)
	m := &message.Message{ID: s.NewID(), Address: "typed", RoutingType: message.Multicast, Durable: true,
		Priority: 9, BodyKind: message.BodyMap, Timestamp: 1700000000123,
		Body: message.EncodeMap([]message.Property{message.Int64("qty", message.KindInt, 3), message.Str("sku", "A-1")}),
		Properties: []message.Property{
			message.Str("s", "text"), message.Null("nothing"), message.Bool("b", true),
			message.Int64("i8", message.KindByte, -8), message.Int64("i16", message.KindShort, 1600),
			message.Int64("i32", message.KindInt, -320000), message.Int64("i64", message.KindLong, 1<<40),
			message.Float("f", 1.5), message.Double("d", -2.25), message.Binary("bin", []byte{0, 1, 2, 255}),
			message.Char("c", 'x'), message.Uint64("u64", message.KindULong, 1<<63),
			message.Int64("ts", message.KindTimestamp, 1700000000000),
			{Key: "id", Value: "0a1b2c3d-0000-4000-8000-00000000000f", Kind: message.KindUUID},
			{Key: "sym", Value: "sym", Kind: message.KindSymbol},
		}}
	m.EditExtra(func(x *message.Extra) {
		x.ContentType, x.CorrelationID, x.ReplyTo, x.Type = "application/x", "corr", "temp-queue://r1", "order"
		x.MessageID, x.UserID, x.GroupID, x.GroupSeq = "ID:abc-1:1:1:1", "alice", "g", 7
		x.Native = &message.Native{Format: message.NativeAMQP, Data: []byte{0x00, 0x53, 0x70, 0x45}}
	})
	var b store.Batch
	b.AddMessage(m)
	b.AddRef(m.ID, 10)
	commit(t, s, &b)
	s, st := reopen(t, s, open)
	defer s.Close()
	if len(st.Messages) != 1 {
		t.Fatalf("got %d messages", len(st.Messages))
	}
	sameMessage(t, st.Messages[0].Message, m)
	for _, p := range st.Messages[0].Message.Properties {
		if !p.Check() {
			t.Errorf("property %q of kind %v has the bad value %q after reopen", p.Key, p.Kind, p.Value)
		}
	}
}
