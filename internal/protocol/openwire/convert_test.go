package openwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/openwire"
)

// goldenMessages returns the messages ActiveMQ's own client sent in the
// codec's captured golden frames, by file name.
func goldenMessages(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "wire", "openwire", "testdata", "golden", "c2b-*Message*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden message frames: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// frameBody strips a golden frame's size prefix.
func frameBody(b []byte) []byte {
	if len(b) >= 4 && int(binary.BigEndian.Uint32(b)) == len(b)-4 {
		return b[4:]
	}
	return b
}

func testConn() *conn {
	return &conn{srv: NewServer(Options{}), idPrefix: "ID:tandem-test", seqBase: 1 << 30}
}

// TestJavaClientMessagesSurviveTheNeutralModel converts every message the
// Java client sent in the captured golden frames to the neutral model and
// back, and checks that a JMS application would see the same message:
// type, body, typed properties and headers.
func TestJavaClientMessagesSurviveTheNeutralModel(t *testing.T) {
	c := testConn()
	for name, frame := range goldenMessages(t) {
		t.Run(name, func(t *testing.T) {
			ds, err := wire.Unmarshal(frameBody(frame))
			if err != nil {
				t.Fatal(err)
			}
			in, ok := ds.(*wire.Message)
			if !ok {
				t.Skipf("a %v", ds.DataType())
			}
			m, err := c.toMessage(in)
			if err != nil {
				t.Fatal(err)
			}
			m.ID, m.Address = 99, in.Destination.Name
			if in.Destination.IsTopic() {
				m.RoutingType = message.Multicast
			}
			out, err := c.toWire(broker.Delivery{ID: 5, Message: m, DeliveryCount: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wire.Marshal(out); err != nil {
				t.Fatalf("the converted message does not encode: %v", err)
			}
			if out.Kind != in.Kind {
				t.Fatalf("kind %v, want %v", out.Kind, in.Kind)
			}
			if got, want := jmsView(t, out), jmsView(t, in); got != want {
				t.Fatalf("the application would see\n%s\nwhere the producer sent\n%s", got, want)
			}
		})
	}
}

// jmsView renders what a JMS application sees of a message.
func jmsView(t *testing.T, x *wire.Message) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "id=%s dest=%s corr=%q type=%q group=%q/%d persistent=%t exp=%d prio=%d ts=%d reply-to=%v\n",
		x.MessageID, x.Destination, x.CorrelationID, x.Type, x.GroupID, x.GroupSequence, x.Persistent, x.Expiration,
		x.Priority, x.Timestamp, x.ReplyTo)
	switch x.Kind {
	case wire.TypeTextMessage:
		s, err := x.Text()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "text %q\n", s)
	case wire.TypeMapMessage:
		m, err := x.MapBody()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "map %v\n", sortedEntries(m))
	case wire.TypeStreamMessage:
		vs, err := x.StreamBody()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			fmt.Fprintf(&b, "stream %v:%v\n", v.Type(), v)
		}
	default:
		body, err := x.UncompressedContent()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "content %x\n", body)
	}
	p, err := x.Properties()
	if err != nil {
		t.Fatal(err)
	}
	p.Delete(message.PropDuplicateID)
	fmt.Fprintf(&b, "properties %v", sortedEntries(p))
	return b.String()
}

func sortedEntries(m *wire.Map) []string {
	out := mapEntries(m)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestMessageIDText(t *testing.T) {
	for _, id := range []*wire.MessageID{
		{ProducerID: &wire.ProducerID{ConnectionID: "ID:h-1-2-3:4", SessionID: 5, Value: 6}, ProducerSequenceID: 7},
		{ProducerID: &wire.ProducerID{ConnectionID: "ID:x", SessionID: -1, Value: 0}, ProducerSequenceID: 1 << 62},
		{TextView: "ID:text"},
		{ProducerSequenceID: 3},
	} {
		if got, want := messageIDText(id), id.String(); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestParseMessageID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		conn string
		sess int64
		prod int64
		seq  int64
	}{
		{"ID:host-40123-1700000000000-1:1:1:1:5", true, "ID:host-40123-1700000000000-1:1", 1, 1, 5},
		{"ID:tandem-x:0:0:42", true, "ID:tandem-x", 0, 0, 42},
		{"ID:abc", false, "", 0, 0, 0},
		{"plain:1:2:3", false, "", 0, 0, 0},
		{"ID:a:b:c:d", false, "", 0, 0, 0},
		{"", false, "", 0, 0, 0},
	} {
		pid, seq, ok := parseMessageID(tc.in)
		if ok != tc.ok {
			t.Errorf("%q: ok %t", tc.in, ok)
			continue
		}
		if ok && (pid.ConnectionID != tc.conn || pid.SessionID != tc.sess || pid.Value != tc.prod || seq != tc.seq) {
			t.Errorf("%q: %+v %d", tc.in, pid, seq)
		}
		if ok {
			if back := (&wire.MessageID{ProducerID: &pid, ProducerSequenceID: seq}).String(); back != tc.in {
				t.Errorf("%q prints back as %q", tc.in, back)
			}
		}
	}
}

// FuzzMessageConversion feeds arbitrary message frames through the
// conversion both ways: nothing may panic, and what converts must encode.
func FuzzMessageConversion(f *testing.F) {
	for _, frame := range goldenMessages(f) {
		f.Add(frameBody(frame))
	}
	c := testConn()
	f.Fuzz(func(t *testing.T, frame []byte) {
		ds, err := wire.Unmarshal(frame)
		if err != nil {
			return
		}
		in, ok := ds.(*wire.Message)
		if !ok || in.Destination == nil {
			return
		}
		m, err := c.toMessage(in)
		if err != nil {
			return
		}
		m.ID, m.Address = 1, "q"
		out, err := c.toWire(broker.Delivery{ID: 1, Message: m, DeliveryCount: 3})
		if err != nil {
			t.Fatalf("a message that converted in does not convert out: %v", err)
		}
		if _, err := wire.Marshal(out); err != nil && !bytes.Contains([]byte(err.Error()), []byte("cannot be encoded")) {
			t.Fatalf("the converted message does not encode: %v", err)
		}
	})
}
