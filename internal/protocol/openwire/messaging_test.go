package openwire

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/largemsg"
	"tandem/internal/message"
	"tandem/internal/store/filestore"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/openwire"
)

// TestEveryMessageTypeRoundTrips sends each JMS message type with typed
// properties and headers and checks the consumer gets them as sent.
func TestEveryMessageTypeRoundTrips(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("types")
	cid := c.subscribe(1, q, 100)
	props := wire.NewMap()
	props.Set("s", wire.String("text \x00 with NUL and \U0001F600"))
	props.Set("b", wire.Bool(true))
	props.Set("y", wire.Byte(-7))
	props.Set("h", wire.Short(-300))
	props.Set("i", wire.Int(70000))
	props.Set("l", wire.Long(1<<40))
	props.Set("f", wire.Float(1.5))
	props.Set("d", wire.Double(-2.25))
	props.Set("c", wire.Char('x'))
	props.Set("bin", wire.Bytes([]byte{0, 1, 2}))
	props.Set("n", wire.Null())
	mapBody := wire.NewMap()
	mapBody.Set("k", wire.String("v"))
	mapBody.Set("n", wire.Int(3))
	mapBody.Set("raw", wire.Bytes([]byte("xyz")))
	nestedBody := wire.NewMap()
	nestedBody.Set("inner", wire.MapValue(mapBody))
	nestedBody.Set("list", wire.List(wire.Int(1), wire.String("two")))
	stream := []wire.Value{wire.Bool(false), wire.Long(9), wire.String("s"), wire.Char('z'), wire.Bytes([]byte{9})}

	type build func(m *wire.Message) error
	cases := []struct {
		name string
		kind wire.DataType
		body build
	}{
		{"text", wire.TypeTextMessage, func(m *wire.Message) error { m.SetText("hello ünïcode \U0001F600"); return nil }},
		{"empty text", wire.TypeTextMessage, func(m *wire.Message) error { m.SetText(""); return nil }},
		{"bytes", wire.TypeBytesMessage, func(m *wire.Message) error { m.SetContent([]byte{0, 255, 1}); return nil }},
		{"compressed bytes", wire.TypeBytesMessage, func(m *wire.Message) error {
			m.SetContent(bytes.Repeat([]byte("abc"), 1000))
			return m.Compress()
		}},
		{"map", wire.TypeMapMessage, func(m *wire.Message) error { return m.SetMapBody(mapBody) }},
		{"nested map", wire.TypeMapMessage, func(m *wire.Message) error { return m.SetMapBody(nestedBody) }},
		{"stream", wire.TypeStreamMessage, func(m *wire.Message) error { return m.SetStreamBody(stream) }},
		{"object", wire.TypeObjectMessage, func(m *wire.Message) error {
			m.SetContent([]byte{0xAC, 0xED, 0, 5, 't', 0, 1, 'x'})
			return nil
		}},
		{"plain", wire.TypeMessage, func(m *wire.Message) error { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := c.textMessage(q, "")
			m.Kind = tc.kind
			m.Content = nil
			if err := tc.body(m); err != nil {
				t.Fatal(err)
			}
			if err := m.SetProperties(props); err != nil {
				t.Fatal(err)
			}
			m.CorrelationID, m.Type, m.GroupID, m.GroupSequence = "corr-1", "my.type", "g1", 1
			m.ReplyTo = wire.NewTopic("replies")
			m.Priority, m.Expiration = 7, time.Now().Add(time.Hour).UnixMilli()
			c.send(m)
			md := c.dispatch()
			got := md.Message
			if got.Kind != tc.kind {
				t.Fatalf("kind %v, want %v", got.Kind, tc.kind)
			}
			wantBody, _ := m.UncompressedContent()
			gotBody, _ := got.UncompressedContent()
			switch tc.kind {
			case wire.TypeMapMessage:
				wm, _ := m.MapBody()
				gm, err := got.MapBody()
				if err != nil || fmt.Sprint(mapEntries(gm)) != fmt.Sprint(mapEntries(wm)) {
					t.Fatalf("map body %v, want %v (%v)", mapEntries(gm), mapEntries(wm), err)
				}
			default:
				if !bytes.Equal(gotBody, wantBody) {
					t.Fatalf("body %q, want %q", gotBody, wantBody)
				}
			}
			gp, err := got.Properties()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range props.All() {
				g, ok := gp.Get(k)
				if !ok || g.Type() != v.Type() || g.String() != v.String() {
					t.Errorf("property %s = %v (%v), want %v (%v)", k, g, g.Type(), v, v.Type())
				}
			}
			if _, ok := gp.Get(message.PropDuplicateID); ok {
				t.Error("the adapter's duplicate id leaked to the consumer")
			}
			if got.MessageID.String() != m.MessageID.String() || got.CorrelationID != "corr-1" || got.Type != "my.type" ||
				got.GroupID != "g1" || got.GroupSequence != 1 || got.Priority != 7 || got.Expiration != m.Expiration ||
				got.Timestamp != m.Timestamp || !got.Persistent || got.ReplyTo.String() != "topic://replies" ||
				got.Destination.String() != "queue://types" {
				t.Fatalf("headers: id %s corr %q type %q group %q/%d prio %d exp %d ts %d persistent %t reply-to %v dest %v",
					got.MessageID, got.CorrelationID, got.Type, got.GroupID, got.GroupSequence, got.Priority,
					got.Expiration, got.Timestamp, got.Persistent, got.ReplyTo, got.Destination)
			}
			c.ack(cid, wire.AckStandard, nil, md, 1, nil)
		})
	}
}

func mapEntries(m *wire.Map) []string {
	var out []string
	for k, v := range m.All() {
		out = append(out, fmt.Sprintf("%s=%v:%v", k, v.Type(), v))
	}
	return out
}

// TestOtherProtocolsMessagesConvert: a message sent through the neutral
// core (as STOMP, AMQP or MQTT would) reaches a JMS consumer as the JMS type
// docs/protocols.md gives it, with an id the client can tell apart.
func TestOtherProtocolsMessagesConvert(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	sess := s.session(t)
	c.subscribe(1, wire.NewQueue("in"), 100)
	mapBody := message.EncodeMap([]message.Property{message.Str("a", "b"), message.Int64("n", message.KindLong, 5),
		message.Uint64("u", message.KindUInt, 4000000000)})
	for _, m := range []*message.Message{
		{Address: "in", BodyKind: message.BodyText, Body: []byte("from stomp"), Priority: 4,
			Properties: []message.Property{message.Str("h", "v"), message.Uint64("big", message.KindULong, 1<<63)}},
		{Address: "in", BodyKind: message.BodyBytes, Body: []byte{1, 2}, Priority: 4},
		{Address: "in", BodyKind: message.BodyMap, Body: mapBody, Priority: 4},
	} {
		sendNeutral(t, sess, m)
	}
	mds := c.messages(3)
	if mds[0].Message.Kind != wire.TypeTextMessage || text(t, mds[0]) != "from stomp" {
		t.Fatalf("text: %v %q", mds[0].Message.Kind, text(t, mds[0]))
	}
	p, _ := mds[0].Message.Properties()
	if v, _ := p.Get("h"); v.String() != "v" {
		t.Fatalf("property h = %v", v)
	}
	if v, _ := p.Get("big"); v.Type() != wire.ValueString || v.String() != "9223372036854775808" {
		t.Fatalf("an unsigned long beyond Java's range: %v (%v)", v, v.Type())
	}
	if mds[1].Message.Kind != wire.TypeBytesMessage || !bytes.Equal(mds[1].Message.Content, []byte{1, 2}) {
		t.Fatalf("bytes: %v %v", mds[1].Message.Kind, mds[1].Message.Content)
	}
	mb, err := mds[2].Message.MapBody()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := mb.Get("u"); v.Type() != wire.ValueLong || v.String() != "4000000000" {
		t.Fatalf("uint in a map: %v (%v)", v, v.Type())
	}
	seen := map[string]bool{}
	for _, md := range mds {
		id := md.Message.MessageID
		if id.ProducerID == nil || seen[id.String()] {
			t.Fatalf("made-up message ids must be complete and unique: %v", id)
		}
		seen[id.String()] = true
	}
}

// TestAckTypes checks each ack type's effect.
func TestAckTypes(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	send := func(dest string, bodies ...string) {
		for _, b := range bodies {
			c.send(c.textMessage(wire.NewQueue(dest), b))
		}
	}
	t.Run("standard acks a range", func(t *testing.T) {
		send("std", "1", "2", "3", "4")
		cid := c.subscribe(10, wire.NewQueue("std"), 10)
		mds := c.messages(4)
		c.ack(cid, wire.AckStandard, mds[0], mds[2], 3, nil)
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
		if n := s.depth(t, "std"); n != 1 {
			t.Fatalf("%d left, want 1", n)
		}
	})
	t.Run("individual acks one", func(t *testing.T) {
		send("ind", "1", "2", "3")
		cid := c.subscribe(11, wire.NewQueue("ind"), 10)
		mds := c.messages(3)
		c.ack(cid, wire.AckIndividual, nil, mds[1], 1, nil)
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
		cid = c.subscribe(12, wire.NewQueue("ind"), 10)
		if got := texts(t, c.messages(2)); got != "1,3" {
			t.Fatalf("left %s", got)
		}
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	})
	t.Run("delivered extends the prefetch", func(t *testing.T) {
		send("pf", "1", "2", "3", "4", "5")
		cid := c.subscribe(13, wire.NewQueue("pf"), 2)
		mds := c.messages(2)
		c.quiet(200 * time.Millisecond)
		c.ack(cid, wire.AckDelivered, mds[0], mds[1], 2, nil)
		more := c.messages(2)
		c.quiet(200 * time.Millisecond)
		// A standard ack of the delivered-acked ones settles them but gives
		// no credit twice; acking the next two frees two more.
		c.ack(cid, wire.AckStandard, mds[0], mds[1], 2, nil)
		c.quiet(200 * time.Millisecond)
		c.ack(cid, wire.AckStandard, more[0], more[1], 2, nil)
		if got := texts(t, c.messages(1)); got != "5" {
			t.Fatalf("got %s", got)
		}
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	})
	t.Run("redelivered counts the attempt", func(t *testing.T) {
		send("rd", "x")
		cid := c.subscribe(14, wire.NewQueue("rd"), 10)
		md := c.dispatch()
		c.ack(cid, wire.AckRedelivered, md, md, 1, nil)
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
		cid = c.subscribe(15, wire.NewQueue("rd"), 10)
		if md := c.dispatch(); md.RedeliveryCounter != 2 || md.Message.RedeliveryCounter != 2 {
			t.Fatalf("redelivery counter %d/%d, want 2 (one delivery, one local redelivery)", md.RedeliveryCounter, md.Message.RedeliveryCounter)
		}
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	})
	t.Run("poison dead-letters", func(t *testing.T) {
		send("poison", "bad")
		cid := c.subscribe(16, wire.NewQueue("poison"), 10)
		md := c.dispatch()
		c.ok(&wire.MessageAck{ConsumerID: cid, AckType: wire.AckPoison, LastMessageID: md.Message.MessageID,
			FirstMessageID: md.Message.MessageID, MessageCount: 1,
			PoisonCause: wire.NewThrowable("java.lang.Throwable", "Delivery[7] exceeds redelivery policy limit")})
		dlq := c.subscribe(17, wire.NewQueue("DLQ"), 10)
		got := c.dispatch()
		p, _ := got.Message.Properties()
		reason, _ := p.Get(message.PropDeadLetterReason)
		if text(t, got) != "bad" || !strings.Contains(reason.String(), "exceeds redelivery policy limit") {
			t.Fatalf("dead letter %q, reason %q", text(t, got), reason)
		}
		if orig, _ := p.Get(message.PropOriginalAddress); orig.String() != "poison" {
			t.Fatalf("original address %v", orig)
		}
		c.ack(dlq, wire.AckStandard, nil, got, 1, nil)
		_ = cid
	})
	t.Run("expired goes to the expiry address", func(t *testing.T) {
		send("exp", "old")
		cid := c.subscribe(18, wire.NewQueue("exp"), 10)
		md := c.dispatch()
		c.ack(cid, wire.AckExpired, md, md, 1, nil)
		c.subscribe(19, wire.NewQueue("ExpiryQueue"), 10)
		if got := text(t, c.dispatch()); got != "old" {
			t.Fatalf("expired %q", got)
		}
	})
	t.Run("unknown ids settle nothing", func(t *testing.T) {
		send("unk", "keep")
		cid := c.subscribe(20, wire.NewQueue("unk"), 10)
		md := c.dispatch()
		forged := *md.Message.MessageID
		forged.ProducerSequenceID++ // the right delivery, another message's id
		c.ok(&wire.MessageAck{ConsumerID: cid, AckType: wire.AckStandard, LastMessageID: &forged, MessageCount: 1})
		c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
		if n := s.depth(t, "unk"); n != 1 {
			t.Fatalf("%d left, want 1", n)
		}
	})
}

// TestRemoveInfoReturnsUnseenMessagesUncounted: messages dispatched after
// the last one the application saw were only in the client's prefetch
// buffer; they go back without counting as a delivery.
func TestRemoveInfoReturnsUnseenMessagesUncounted(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("unseen")
	for _, b := range []string{"seen", "unseen1", "unseen2"} {
		c.send(c.textMessage(q, b))
	}
	cid := c.subscribe(1, q, 10)
	mds := c.messages(3)
	c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: mds[0].Message.MessageID.BrokerSequenceID})
	c.subscribe(2, q, 10)
	want := map[string]int32{"seen": 1, "unseen1": 0, "unseen2": 0}
	for _, md := range c.messages(3) {
		if md.RedeliveryCounter != want[text(t, md)] {
			t.Fatalf("%s: redelivery counter %d, want %d", text(t, md), md.RedeliveryCounter, want[text(t, md)])
		}
	}
}

func TestTransactions(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("txq")
	txid := func(n int64) *wire.LocalTransactionID {
		return &wire.LocalTransactionID{Value: n, ConnectionID: &wire.ConnectionID{Value: c.connID}}
	}
	txInfo := func(n int64, typ byte) *wire.TransactionInfo {
		return &wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, TransactionID: txid(n), Type: typ}
	}
	// Sends: invisible until commit, gone on rollback.
	c.oneway(txInfo(1, wire.TransactionBegin))
	for _, b := range []string{"a", "b"} {
		m := c.textMessage(q, b)
		m.TransactionID = txid(1)
		c.oneway(m)
	}
	c.ok(&wire.ProducerInfo{ProducerID: c.producerID(9)}) // a round trip: the sends are in
	if n := s.depth(t, "txq"); n != 0 {
		t.Fatalf("%d visible before commit", n)
	}
	c.ok(txInfo(1, wire.TransactionCommitOnePhase))
	c.oneway(txInfo(2, wire.TransactionBegin))
	m := c.textMessage(q, "rolled back")
	m.TransactionID = txid(2)
	c.oneway(m)
	c.ok(txInfo(2, wire.TransactionRollback))
	if n := s.depth(t, "txq"); n != 2 {
		t.Fatalf("%d queued, want 2", n)
	}
	// Acks: a rollback leaves the messages with the consumer (the client
	// redelivers them itself); acked again and committed, they are gone.
	cid := c.subscribe(1, q, 10)
	mds := c.messages(2)
	c.oneway(txInfo(3, wire.TransactionBegin))
	c.ack(cid, wire.AckStandard, mds[0], mds[1], 2, txid(3))
	c.ok(txInfo(3, wire.TransactionRollback))
	c.quiet(200 * time.Millisecond) // not redelivered by the broker
	c.ack(cid, wire.AckRedelivered, mds[0], mds[1], 2, nil)
	c.oneway(txInfo(4, wire.TransactionBegin))
	c.ack(cid, wire.AckStandard, mds[0], mds[1], 2, txid(4))
	c.ok(txInfo(4, wire.TransactionCommitOnePhase))
	c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	if n := s.depth(t, "txq"); n != 0 {
		t.Fatalf("%d left after the commit", n)
	}
	// A transaction whose ack names a delivery this connection does not
	// hold (replayed after a failover) commits nothing.
	c.send(c.textMessage(q, "c"))
	cid = c.subscribe(2, q, 10)
	md := c.dispatch()
	c.oneway(txInfo(5, wire.TransactionBegin))
	forged := *md.Message.MessageID
	forged.BrokerSequenceID += 1000
	forged.ProducerSequenceID += 1000
	c.ok(&wire.MessageAck{ConsumerID: cid, AckType: wire.AckStandard, LastMessageID: &forged, MessageCount: 1, TransactionID: txid(5)})
	if e := c.fails(txInfo(5, wire.TransactionCommitOnePhase)); e.Class != classTxRolledBack {
		t.Fatalf("commit failed with %s", e)
	}
	// XA is refused clearly.
	xa := &wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, Type: wire.TransactionBegin,
		TransactionID: &wire.XATransactionID{FormatID: 1, GlobalTransactionID: []byte{1}, BranchQualifier: []byte{2}}}
	if e := c.fails(xa); e.Class != classXA || !strings.Contains(e.Message, "not supported") {
		t.Fatalf("XA begin: %s", e)
	}
}

// TestTransactionAcksByIdsFromBeforeAFailover: a transacted JMS consumer
// keeps the messages its transaction consumed across a failover, takes
// the new live's dispatch of each as the redelivery it expected (a
// delivered ack), and at the end acks them by the ids the old connection
// gave them. The ack is of the same messages: the commit consumes them,
// whichever of the range's ends is old.
func TestTransactionAcksByIdsFromBeforeAFailover(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, last func(old, fresh []*wire.MessageDispatch) *wire.MessageDispatch
	}{
		{"both ends old", func(old, _ []*wire.MessageDispatch) *wire.MessageDispatch { return old[0] },
			func(old, _ []*wire.MessageDispatch) *wire.MessageDispatch { return old[2] }},
		{"old first, new last", func(old, _ []*wire.MessageDispatch) *wire.MessageDispatch { return old[0] },
			func(_, fresh []*wire.MessageDispatch) *wire.MessageDispatch { return fresh[2] }},
		{"new first, old last", func(_, fresh []*wire.MessageDispatch) *wire.MessageDispatch { return fresh[0] },
			func(old, _ []*wire.MessageDispatch) *wire.MessageDispatch { return old[2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{}, broker.Options{})
			old := dial(t, s.addr, "", "", "app")
			q := wire.NewQueue("txfail")
			cid := old.subscribe(1, q, 10)
			for _, b := range []string{"a", "b", "c"} {
				old.send(old.textMessage(q, b))
			}
			before := old.messages(3)

			fresh := dialRaw(t, s.addr, wire.MaxVersion)
			fresh.connID = old.connID
			fresh.ok(&wire.ConnectionInfo{ConnectionID: &wire.ConnectionID{Value: old.connID}, ClientID: "app",
				FailoverReconnect: true, FaultTolerant: true})
			old.closed()
			fresh.session = 1
			fresh.ok(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: fresh.connID, Value: 1}})
			fresh.subscribe(cid.Value, q, 10)
			after := fresh.messages(3)
			for i := range after {
				if text(t, after[i]) != text(t, before[i]) {
					t.Fatalf("redispatch %d is %q, was %q", i, text(t, after[i]), text(t, before[i]))
				}
				if after[i].Message.MessageID.BrokerSequenceID == before[i].Message.MessageID.BrokerSequenceID {
					t.Fatal("the new connection gave a redispatch the old broker sequence number; the test needs them to differ")
				}
				fresh.ack(cid, wire.AckDelivered, after[i], after[i], 1, nil)
			}
			txid := &wire.LocalTransactionID{Value: 1, ConnectionID: &wire.ConnectionID{Value: fresh.connID}}
			fresh.oneway(&wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: fresh.connID}, TransactionID: txid, Type: wire.TransactionBegin})
			fresh.ack(cid, wire.AckStandard, tc.first(before, after), tc.last(before, after), 3, txid)
			fresh.ok(&wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: fresh.connID}, TransactionID: txid, Type: wire.TransactionCommitOnePhase})
			fresh.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
			if n := s.depth(t, "txfail"); n != 0 {
				t.Fatalf("%d messages left after the commit, want 0", n)
			}
		})
	}
}

// TestCommitThatLostItsAcksInAFailover: the failover transport replays a
// transaction's begin and sends on the new connection but not its acks,
// and drops an ack made while it reconnects; a commit that arrives without
// any, on a connection made by failover, is of messages received on the
// lost connection, and rolls back so that they are delivered again. An ack
// in a transaction for a consumer the connection does not have fails the
// commit too.
func TestCommitThatLostItsAcksInAFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resumed  bool
		work     func(c *client, tx wire.TransactionID)
		rollback bool
	}{
		{"empty, first connection", false, nil, false},
		{"empty, after a failover", true, nil, true},
		{"a send, after a failover", true, func(c *client, tx wire.TransactionID) {
			m := c.textMessage(wire.NewQueue("lostacks"), "x")
			m.TransactionID = tx
			c.send(m)
		}, false},
		{"an ack for a consumer the connection does not have", false, func(c *client, tx wire.TransactionID) {
			md := &wire.MessageDispatch{Message: c.textMessage(wire.NewQueue("lostacks"), "x"), Destination: wire.NewQueue("lostacks")}
			md.Message.MessageID.BrokerSequenceID = 7
			c.ack(c.consumerID(42), wire.AckStandard, nil, md, 1, tx)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{}, broker.Options{})
			c := dialRaw(t, s.addr, wire.MaxVersion)
			c.connID = "ID:lostacks-1"
			c.ok(&wire.ConnectionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, ClientID: "lostacks",
				FailoverReconnect: tc.resumed, FaultTolerant: true})
			c.session = 1
			c.ok(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: c.connID, Value: 1}})
			c.ok(&wire.ProducerInfo{ProducerID: c.producerID(1)})
			tx := &wire.LocalTransactionID{Value: 1, ConnectionID: &wire.ConnectionID{Value: c.connID}}
			info := func(typ byte) *wire.TransactionInfo {
				return &wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, TransactionID: tx, Type: typ}
			}
			c.ok(info(wire.TransactionBegin))
			if tc.work != nil {
				tc.work(c, tx)
			}
			if !tc.rollback {
				c.ok(info(wire.TransactionCommitOnePhase))
				return
			}
			if e := c.fails(info(wire.TransactionCommitOnePhase)); e.Class != classTxRolledBack {
				t.Fatalf("commit failed with %s, want %s", e, classTxRolledBack)
			}
		})
	}
}

func TestPrefetchZeroPulls(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("pull")
	cid := c.subscribe(1, q, 0)
	pull := func(timeout int64) { c.oneway(&wire.MessagePull{ConsumerID: cid, Destination: q, Timeout: timeout}) }
	// receiveNoWait on an empty queue: an empty dispatch at once.
	pull(-1)
	if md := c.dispatch(); md.Message != nil {
		t.Fatal("a message from an empty queue")
	}
	// receive(300): an empty dispatch after the timeout.
	start := time.Now()
	pull(300)
	if md := c.dispatch(); md.Message != nil || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("receive(300) answered after %v with %v", time.Since(start), md.Message)
	}
	// receive(): waits for a message, and nothing more is sent.
	pull(0)
	c.quiet(200 * time.Millisecond)
	c.send(c.textMessage(q, "one"))
	c.send(c.textMessage(q, "two"))
	if got := text(t, c.dispatch()); got != "one" {
		t.Fatalf("got %q", got)
	}
	c.quiet(200 * time.Millisecond)
	// A failover client restores the prefetch with a ConsumerControl.
	c.oneway(&wire.ConsumerControl{ConsumerID: cid, Destination: q, Prefetch: 10})
	if got := text(t, c.dispatch()); got != "two" {
		t.Fatalf("after the prefetch was restored: %q", got)
	}
}

func TestBrowserSnapshotThenEnd(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("browse")
	for i := 0; i < 7; i++ {
		c.send(c.textMessage(q, fmt.Sprint(i)))
	}
	cid := c.subscribe(1, q, 3, func(ci *wire.ConsumerInfo) { ci.Browser = true })
	first := c.messages(3)
	c.quiet(200 * time.Millisecond) // the browser's prefetch holds the rest back
	c.ack(cid, wire.AckStandard, nil, first[2], 3, nil)
	rest := c.messages(3)
	c.ack(cid, wire.AckStandard, nil, rest[2], 3, nil)
	rest = append(rest, c.messages(1)...)
	if got := texts(t, append(first, rest...)); got != "0,1,2,3,4,5,6" {
		t.Fatalf("browsed %s", got)
	}
	if md := c.dispatch(); md.Message != nil {
		t.Fatal("no end of browse")
	}
	if n := s.depth(t, "browse"); n != 7 {
		t.Fatalf("browsing consumed: %d left", n)
	}
}

// TestTemporaryDestinationsAndAdvisories: a temporary queue is announced
// to advisory subscribers (those already there, and those that come later),
// usable by other connections, and gone with its connection.
func TestTemporaryDestinationsAndAdvisories(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	watcher := dial(t, s.addr, "", "", "")
	advisories := wire.NewTopic(advisoryTempQueue + "," + advisoryTempTopic)
	adv := &wire.ConsumerID{ConnectionID: watcher.connID, SessionID: -1, Value: 1}
	watcher.ok(&wire.ConsumerInfo{ConsumerID: adv, Destination: advisories, PrefetchSize: 1000, NoLocal: true})

	owner := dial(t, s.addr, "", "", "")
	tq := wire.NewTempQueue(owner.connID + ":1")
	owner.ok(&wire.DestinationInfo{ConnectionID: &wire.ConnectionID{Value: owner.connID}, Destination: tq})
	advisory := func(c *client) *wire.DestinationInfo {
		t.Helper()
		md := c.dispatch()
		di, ok := md.Message.DataStructure.(*wire.DestinationInfo)
		if !ok || md.Message.Destination.Name != advisoryTempQueue {
			t.Fatalf("advisory %v on %v", md.Message.DataStructure, md.Message.Destination)
		}
		return di
	}
	if di := advisory(watcher); di.OperationType != wire.DestinationAdd || di.Destination.Name != tq.Name {
		t.Fatalf("advisory %+v", di)
	}
	// A later subscriber hears of it too.
	late := dial(t, s.addr, "", "", "")
	late.ok(&wire.ConsumerInfo{ConsumerID: &wire.ConsumerID{ConnectionID: late.connID, SessionID: -1, Value: 1},
		Destination: advisories, PrefetchSize: 1000})
	if di := advisory(late); di.Destination.Name != tq.Name {
		t.Fatalf("replayed advisory %+v", di)
	}
	// Request/reply: the owner consumes, another connection sends.
	owner.subscribe(1, tq, 10)
	m := late.textMessage(tq, "reply")
	late.send(m)
	if got := text(t, owner.dispatch()); got != "reply" {
		t.Fatalf("reply %q", got)
	}
	if d := owner.pending; len(d) > 0 {
		t.Fatalf("unexpected %v", describe(d[0]))
	}
	// Deleting it while consumed is refused; the owner's close removes it.
	if e := owner.fails(&wire.DestinationInfo{ConnectionID: &wire.ConnectionID{Value: owner.connID}, Destination: tq,
		OperationType: wire.DestinationRemove}); e.Class != classIllegalState {
		t.Fatalf("delete while consumed: %s", e)
	}
	owner.oneway(&wire.ShutdownInfo{})
	if di := advisory(watcher); di.OperationType != wire.DestinationRemove {
		t.Fatalf("no removal advisory: %+v", di)
	}
	if e := late.fails(late.textMessage(tq, "too late")); e.Class != classInvalidDestination {
		t.Fatalf("send to a deleted temporary queue: %s", e)
	}
	waitFor(t, "the temporary queue to go", func() bool {
		_, err := s.b.Queue(tq.Name)
		return err != nil
	})
}

func TestCompositeDestinations(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	sub := c.subscribe(1, wire.NewTopic("t"), 10)
	c.send(c.textMessage(wire.NewQueue("a,b,topic://t"), "everywhere"))
	if got := text(t, c.dispatch()); got != "everywhere" {
		t.Fatalf("topic member got %q", got)
	}
	if s.depth(t, "a") != 1 || s.depth(t, "b") != 1 {
		t.Fatalf("queues a, b hold %d, %d", s.depth(t, "a"), s.depth(t, "b"))
	}
	cid := c.subscribe(2, wire.NewQueue("a,b"), 10)
	mds := c.messages(2)
	dests := []string{mds[0].Message.Destination.Name, mds[1].Message.Destination.Name}
	if !(dests[0] == "a" && dests[1] == "b" || dests[0] == "b" && dests[1] == "a") {
		t.Fatalf("composite consumer got messages from %v", dests)
	}
	c.ack(cid, wire.AckStandard, mds[0], mds[1], 2, nil)
	waitFor(t, "both queues to empty", func() bool { return s.depth(t, "a") == 0 && s.depth(t, "b") == 0 })
	_ = sub
}

func TestDurableSubscription(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	topic := wire.NewTopic("news")
	c := dial(t, s.addr, "", "", "C")
	durable := func(ci *wire.ConsumerInfo) { ci.SubscriptionName = "sub"; ci.ClientID = "C" }
	cid := c.subscribe(1, topic, 1000, durable)
	c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	p := dial(t, s.addr, "", "", "")
	for i := 0; i < 3; i++ {
		p.send(p.textMessage(topic, fmt.Sprint(i)))
	}
	cid = c.subscribe(2, topic, 1000, durable)
	mds := c.messages(3)
	if got := texts(t, mds); got != "0,1,2" {
		t.Fatalf("backlog %s", got)
	}
	c.ack(cid, wire.AckStandard, nil, mds[2], 3, nil)
	unsub := &wire.RemoveSubscriptionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, SubscriptionName: "sub", ClientID: "C"}
	if e := c.fails(unsub); e.Class != classIllegalState {
		t.Fatalf("unsubscribe while active: %s", e)
	}
	c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	c.ok(unsub)
	if e := c.fails(unsub); e.Class != classInvalidDestination {
		t.Fatalf("second unsubscribe: %s", e)
	}
}

// TestResentPersistentMessageIsStoredOnce: a failover client replays a
// send it had no answer for; the broker answers it without storing it
// twice. A client without a failover URL never replays, and its messages
// carry no duplicate id.
func TestResentPersistentMessageIsStoredOnce(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	failover := func() *client {
		c := dialRaw(t, s.addr, wire.MaxVersion)
		connCounter++
		c.connID = fmt.Sprintf("ID:ft-%d-%d:1", time.Now().UnixNano(), connCounter)
		c.ok(&wire.ConnectionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, FaultTolerant: true})
		c.session = 1
		c.ok(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: c.connID, Value: 1}})
		return c
	}
	c := failover()
	m := c.textMessage(wire.NewQueue("once"), "x")
	c.send(m)
	failover().send(m)
	if n := s.depth(t, "once"); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
	// A non-persistent message carries no duplicate id.
	np := c.textMessage(wire.NewQueue("np"), "y")
	np.Persistent = false
	c.send(np)
	c.send(np)
	if n := s.depth(t, "np"); n != 2 {
		t.Fatalf("%d non-persistent, want 2", n)
	}
	// Nor does a message of a client without a failover URL.
	plain := dial(t, s.addr, "", "", "")
	pm := plain.textMessage(wire.NewQueue("plain"), "z")
	plain.send(pm)
	plain.send(pm)
	if n := s.depth(t, "plain"); n != 2 {
		t.Fatalf("%d from a plain client, want 2", n)
	}
}

func TestGroupsSelectorsAndScheduledDelivery(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("grp")
	cid := c.subscribe(1, q, 100, func(ci *wire.ConsumerInfo) { ci.Selector = "n > 1 AND kind = 'keep'" })
	for i, kind := range []string{"keep", "keep", "drop", "keep"} {
		m := c.textMessage(q, fmt.Sprint(i))
		p := wire.NewMap()
		p.Set("n", wire.Int(int32(i)))
		p.Set("kind", wire.String(kind))
		_ = m.SetProperties(p)
		m.GroupID = "g"
		c.send(m)
	}
	md := c.dispatch()
	if text(t, md) != "3" || !md.Message.JMSXGroupFirstForConsumer {
		t.Fatalf("selected %q, first in group %t", text(t, md), md.Message.JMSXGroupFirstForConsumer)
	}
	c.ack(cid, wire.AckStandard, nil, md, 1, nil)
	c.ok(&wire.RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: wire.LastDeliveredUnknown})

	later := wire.NewQueue("later")
	m := c.textMessage(later, "late")
	p := wire.NewMap()
	p.Set(message.PropScheduledDelay, wire.Long(400))
	_ = m.SetProperties(p)
	start := time.Now()
	c.send(m)
	c.subscribe(2, later, 10)
	if got := text(t, c.dispatch()); got != "late" || time.Since(start) < 350*time.Millisecond {
		t.Fatalf("got %q after %v", got, time.Since(start))
	}
}

// TestAsyncSendFailureIsAConnectionError: a send the client does not wait
// for fails where its exception listener hears of it.
func TestAsyncSendFailureIsAConnectionError(t *testing.T) {
	s := startServer(t, Options{MaxDestinationLength: 10}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	m := c.textMessage(wire.NewQueue("a-name-far-too-long"), "x")
	m.Persistent = false
	c.oneway(m)
	ce, ok := c.nextFrame(5 * time.Second).(*wire.ConnectionError)
	if !ok || ce.Exception.Class != classInvalidDestination {
		t.Fatalf("got %v", ce)
	}
	c.ok(&wire.ProducerInfo{ProducerID: c.producerID(2)}) // the connection goes on
}

// TestTooLargeForTheClientIsDeadLettered: a message bigger than the
// client's frame limit is never sent; it goes to the dead-letter address.
func TestTooLargeForTheClientIsDeadLettered(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	sess := s.session(t)
	small := dialWithFrameLimit(t, s.addr, 4096)
	small.subscribe(1, wire.NewQueue("big"), 10)
	sendNeutral(t, sess, &message.Message{Address: "big", Body: bytes.Repeat([]byte("x"), 10000), Priority: 4})
	sendNeutral(t, sess, &message.Message{Address: "big", Body: []byte("small"), Priority: 4})
	if md := small.dispatch(); string(md.Message.Content) != "small" {
		t.Fatalf("got %d bytes", len(md.Message.Content))
	}
	waitFor(t, "the big message in the DLQ", func() bool { return s.depth(t, "DLQ") == 1 })
}

// dialWithFrameLimit connects as a client that accepts frames up to max
// bytes.
func dialWithFrameLimit(t *testing.T, addr string, max int64) *client {
	t.Helper()
	f := wire.DefaultClientWireFormat()
	f.MaxFrameSize = max
	c := dialWith(t, addr, f)
	if r := c.connect("", "", ""); r.DataType() != wire.TypeResponse {
		t.Fatalf("connect: %s", describe(r))
	}
	c.session = 1
	c.ok(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: c.connID, Value: 1}})
	return c
}

// TestLargeMessagesAreKeptOnDisk: a body at or over min-large-message-size
// is moved to the large-messages directory while queued, and delivered
// whole.
func TestLargeMessagesAreKeptOnDisk(t *testing.T) {
	st := memstore.New()
	dir := t.TempDir()
	ls, err := largemsg.Open(largemsg.Options{Dir: dir, NewID: st.NewID})
	if err != nil {
		t.Fatal(err)
	}
	settings := func(string) broker.AddressSettings {
		s := broker.DefaultAddressSettings()
		s.MinLargeMessageSize = 1000
		return s
	}
	s := startServer(t, Options{}, broker.Options{Store: st, Large: ls, Settings: settings, SmallestLargeMessage: 1000})
	c := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("large")
	body := bytes.Repeat([]byte("0123456789"), 500)
	m := c.textMessage(q, "")
	m.Kind = wire.TypeBytesMessage
	m.SetContent(body)
	c.send(m)
	files := func() int {
		entries, _ := os.ReadDir(dir)
		return len(entries)
	}
	if files() == 0 {
		t.Fatal("the large body is not in the large-messages directory")
	}
	cid := c.subscribe(1, q, 10)
	md := c.dispatch()
	if !bytes.Equal(md.Message.Content, body) {
		t.Fatalf("got %d bytes", len(md.Message.Content))
	}
	c.ack(cid, wire.AckStandard, nil, md, 1, nil)
	waitFor(t, "the large body to be deleted", func() bool { return files() == 0 })
}

func TestABadSelectorIsAnInvalidSelectorException(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	e := c.fails(&wire.ConsumerInfo{ConsumerID: c.consumerID(1), Destination: wire.NewQueue("q"), PrefetchSize: 10, Selector: "n >>> 1"})
	if e.Class != classInvalidSelector {
		t.Fatalf("a bad selector: %s", e)
	}
	c.subscribe(2, wire.NewQueue("q"), 10) // the connection goes on
}

// TestPipelinedAcksAreAnsweredWithTheirOwnIDs sends acks asking for an
// answer back to back, in one write, so that the broker reads the next ack
// (into the structs it reuses for every ack) before the store has settled
// the previous one (a file store settles on its journal's goroutine): each
// answer must still name its own ack.
func TestPipelinedAcksAreAnsweredWithTheirOwnIDs(t *testing.T) {
	dir := t.TempDir()
	st, err := filestore.Open(filestore.Options{JournalDir: filepath.Join(dir, "journal"),
		BindingsDir: filepath.Join(dir, "bindings"), FileSize: 1 << 20, MinFiles: 2, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := startServer(t, Options{}, broker.Options{Store: st})
	c := dial(t, s.addr, "", "", "")
	const n = 16
	q := wire.NewQueue("pipelined-acks")
	for i := range n {
		c.send(c.textMessage(q, fmt.Sprint(i)))
	}
	cid := c.subscribe(20, q, n)
	mds := c.messages(n)
	want := map[int32]bool{}
	for _, md := range mds {
		c.next++
		a := &wire.MessageAck{ConsumerID: cid, AckType: wire.AckIndividual, LastMessageID: md.Message.MessageID,
			MessageCount: 1, Destination: md.Destination}
		a.CommandID, a.ResponseRequired = c.next, true
		want[a.CommandID] = true
		if err := c.w.WriteCommand(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
	for range n {
		switch r := c.read(5 * time.Second).(type) {
		case *wire.Response:
			if !want[r.CorrelationID] {
				t.Fatalf("an answer to command %d, which is not an ack still unanswered (want %v)", r.CorrelationID, want)
			}
			delete(want, r.CorrelationID)
		default:
			t.Fatalf("an ack answered with %v", describe(r))
		}
	}
	if n := s.depth(t, "pipelined-acks"); n != 0 {
		t.Fatalf("%d messages left after acking all", n)
	}
}
