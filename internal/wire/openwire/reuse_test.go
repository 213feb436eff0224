package openwire

import (
	"bytes"
	"slices"
	"testing"
)

// sized returns frames with their size prefixes, one after another.
func sized(t testing.TB, frames ...[]byte) []byte {
	t.Helper()
	var out []byte
	for _, f := range frames {
		out = append(out, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
		out = append(out, f...)
	}
	return out
}

// TestReuseDecodesEveryGoldenFrameAlike reads every golden frame, twice
// over, through a Reader with Reuse (and a buffer small enough that big
// frames take the other path): each must encode back to its own bytes,
// whatever the frames before it left in the arena.
func TestReuseDecodesEveryGoldenFrameAlike(t *testing.T) {
	golden := goldenFiles(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range golden {
			if !yield(n) {
				return
			}
		}
	})
	var frames [][]byte
	for range 2 {
		for _, n := range names {
			frames = append(frames, golden[n])
		}
	}
	for _, bufSize := range []int{0, 128} {
		r := NewReader(bytes.NewReader(sized(t, frames...)), ReaderOptions{Reuse: true, BufferSize: bufSize})
		for i, want := range frames {
			ds, err := r.ReadCommand()
			if err != nil {
				t.Fatalf("buffer %d, frame %d (%s): %v", bufSize, i, names[i%len(names)], err)
			}
			got, err := Marshal(ds)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("buffer %d, frame %d (%s) re-encodes differently: %v\n got %x\nwant %x", bufSize, i, names[i%len(names)], err, got, want)
			}
		}
	}
}

// TestReuseSharesStructsUntilTheNextRead checks what Reuse promises and
// what it costs the caller: the second message is decoded into the first
// one's structs, and other commands are not.
func TestReuseSharesStructsUntilTheNextRead(t *testing.T) {
	a := sampleMessage()
	b := sampleMessage()
	b.Destination = NewTopic("prices")
	b.SetText("second")
	ack := &MessageAck{ConsumerID: &ConsumerID{ConnectionID: "ID:c-1", SessionID: 1, Value: 2}, AckType: AckStandard,
		FirstMessageID: a.MessageID, LastMessageID: b.MessageID, MessageCount: 2}
	info := &ProducerInfo{ProducerID: a.ProducerID, Destination: NewQueue("orders")}
	var frames [][]byte
	for _, ds := range []DataStructure{a, b, ack, info, info} {
		f, err := Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	r := NewReader(bytes.NewReader(sized(t, frames...)), ReaderOptions{Reuse: true})
	read := func() DataStructure {
		t.Helper()
		ds, err := r.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	first := read().(*Message)
	if first.Destination.Name != "orders" {
		t.Fatalf("first message's destination %v", first.Destination)
	}
	second := read().(*Message)
	if first != second || first.Destination != second.Destination {
		t.Fatal("the second message was not decoded into the first one's structs")
	}
	if s, err := second.Text(); err != nil || s != "second" || second.Destination.String() != "topic://prices" {
		t.Fatalf("second message: %q %v %v", s, err, second.Destination)
	}
	if second.MessageID.ProducerID == second.ProducerID {
		t.Fatal("two nested producer ids share one struct")
	}
	got := read().(*MessageAck)
	if got.FirstMessageID == got.LastMessageID || got.ConsumerID.Value != 2 || got.MessageCount != 2 {
		t.Fatalf("ack decoded as %+v", got)
	}
	p1, p2 := read().(*ProducerInfo), read().(*ProducerInfo)
	if p1 == p2 || p1.ProducerID == p2.ProducerID {
		t.Fatal("commands other than messages and acks must not be reused")
	}
}

// TestReuseOverflowsToTheHeap decodes a message whose nested objects
// outnumber the arena's slots: the rest come from the heap, intact.
func TestReuseOverflowsToTheHeap(t *testing.T) {
	m := sampleMessage()
	m.OriginalDestination = NewQueue("original")
	m.ReplyTo = NewTempQueue("reply")
	m.TargetConsumerID = &ConsumerID{ConnectionID: "ID:c-2", SessionID: 3, Value: 4}
	m.DataStructure = &ConsumerInfo{ConsumerID: &ConsumerID{ConnectionID: "ID:c-3", SessionID: 1, Value: 1},
		Destination: NewTopic("watched")}
	m.TransactionID = &LocalTransactionID{Value: 9, ConnectionID: &ConnectionID{Value: "ID:c-1"}}
	m.OriginalTransactionID = &LocalTransactionID{Value: 8, ConnectionID: &ConnectionID{Value: "ID:c-0"}}
	want, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(sized(t, want, want)), ReaderOptions{Reuse: true})
	for range 2 {
		ds, err := r.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(ds)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("re-encoded differently: %v\n got %x\nwant %x", err, got, want)
		}
	}
}

func TestReuseDecodesWithoutAllocating(t *testing.T) {
	m := sampleMessage()
	m.SetText(alphabet(1024))
	mf, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	af, err := Marshal(&MessageAck{Destination: m.Destination, ConsumerID: &ConsumerID{ConnectionID: "ID:c-1", SessionID: 1, Value: 1},
		AckType: AckStandard, FirstMessageID: m.MessageID, LastMessageID: m.MessageID, MessageCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(&cycleReader{frame: sized(t, mf, af)}, ReaderOptions{Reuse: true})
	allocs := testing.AllocsPerRun(1000, func() {
		for range 2 {
			if _, err := r.ReadCommand(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message and ack, want 0", allocs)
	}
}

// TestReuseDispatchesAndResponses checks the client's side of Reuse: a
// dispatch and the message in it are decoded into the arena, the next
// dispatch overwrites them, and a message frame after a dispatch takes the
// same message struct, while the dispatch's nested ids stay apart from the
// message's.
func TestReuseDispatchesAndResponses(t *testing.T) {
	a := sampleMessage()
	b := sampleMessage()
	b.Destination = NewTopic("prices")
	b.MessageID = &MessageID{ProducerID: b.ProducerID, ProducerSequenceID: 2, BrokerSequenceID: 42}
	b.SetText("second")
	cid := &ConsumerID{ConnectionID: "ID:c-1", SessionID: 1, Value: 2}
	var frames [][]byte
	for _, ds := range []DataStructure{
		&MessageDispatch{ConsumerID: cid, Destination: a.Destination, Message: a},
		&MessageDispatch{ConsumerID: cid, Destination: b.Destination, Message: b, RedeliveryCounter: 3},
		&Response{CorrelationID: 5},
		&Response{CorrelationID: 6},
		a,
	} {
		f, err := Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	r := NewReader(bytes.NewReader(sized(t, frames...)), ReaderOptions{Reuse: true})
	read := func() DataStructure {
		t.Helper()
		ds, err := r.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	first := read().(*MessageDispatch)
	if s, err := first.Message.Text(); err != nil || s != "hello" || first.Destination.Name != "orders" {
		t.Fatalf("first dispatch: %q %v %v", s, err, first.Destination)
	}
	firstMsg := first.Message
	second := read().(*MessageDispatch)
	if second != first || second.Message != firstMsg {
		t.Fatal("the second dispatch was not decoded into the first one's structs")
	}
	if s, err := second.Message.Text(); err != nil || s != "second" || second.Destination.String() != "topic://prices" ||
		second.RedeliveryCounter != 3 || second.Message.MessageID.BrokerSequenceID != 42 {
		t.Fatalf("second dispatch: %q %v %v %+v", s, err, second.Destination, second)
	}
	if second.Destination == second.Message.Destination || second.Message.MessageID.ProducerID == second.Message.ProducerID {
		t.Fatal("two nested objects share one struct")
	}
	r1 := read().(*Response)
	if r1.CorrelationID != 5 {
		t.Fatalf("response %+v", r1)
	}
	if r2 := read().(*Response); r2 != r1 || r2.CorrelationID != 6 {
		t.Fatalf("the second response %p %+v, the first %p", r2, r2, r1)
	}
	if m := read().(*Message); m != firstMsg {
		t.Fatal("a message frame after a dispatch does not take the arena's message")
	}
}

func TestReuseDecodesDispatchesWithoutAllocating(t *testing.T) {
	m := sampleMessage()
	m.Kind = TypeBytesMessage
	m.Content = []byte(alphabet(1024))
	m.MessageID.BrokerSequenceID = 9
	df, err := Marshal(&MessageDispatch{ConsumerID: &ConsumerID{ConnectionID: "ID:c-1", SessionID: 1, Value: 1},
		Destination: m.Destination, Message: m})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := Marshal(&Response{CorrelationID: 7})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(&cycleReader{frame: sized(t, df, rf)}, ReaderOptions{Reuse: true})
	allocs := testing.AllocsPerRun(1000, func() {
		for range 2 {
			if _, err := r.ReadCommand(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per dispatch and response, want 0", allocs)
	}
}
