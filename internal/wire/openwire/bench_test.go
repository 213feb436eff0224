package openwire

import (
	"io"
	"testing"
)

// benchMessage returns a persistent TextMessage with a 1 KiB text, built on
// the one the Debian console producer sent when the golden files were
// captured, so every header field is what the real client fills in.
func benchMessage(b *testing.B) (*Message, []byte) {
	b.Helper()
	frame := goldenFiles(b)["c2b-TextMessage-persistent"]
	ds, err := Unmarshal(frame)
	if err != nil {
		b.Fatal(err)
	}
	m := ds.(*Message)
	m.SetText(alphabet(1024))
	sized, err := AppendFrame(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	return m, sized
}

// cycleReader returns the same frame over and over.
type cycleReader struct {
	frame []byte
	off   int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.frame[c.off:])
		n += k
		c.off = (c.off + k) % len(c.frame)
	}
	return n, nil
}

func BenchmarkDecodeTextMessage1K(b *testing.B) {
	_, sized := benchMessage(b)
	r := NewReader(&cycleReader{frame: sized}, ReaderOptions{})
	b.SetBytes(int64(len(sized)))
	b.ReportAllocs()
	for b.Loop() {
		ds, err := r.ReadCommand()
		if err != nil {
			b.Fatal(err)
		}
		if ds.(*Message).Kind != TypeTextMessage {
			b.Fatal("not a text message")
		}
	}
}

func BenchmarkEncodeTextMessage1K(b *testing.B) {
	m, sized := benchMessage(b)
	w := NewWriter(io.Discard)
	b.SetBytes(int64(len(sized)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := w.WriteCommand(m); err != nil {
			b.Fatal(err)
		}
		// Flush in bursts, as a connection writing dispatches does.
		if n++; n%64 == 0 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkTextMessage1KText(b *testing.B) {
	m, _ := benchMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		if s, err := m.Text(); err != nil || len(s) != 1024 {
			b.Fatal(err)
		}
	}
}

// benchDispatch returns a MessageDispatch of a 1 KiB BytesMessage, as the
// broker sends one to a consumer of tandem perf's load, and the ack a JMS
// AUTO_ACKNOWLEDGE session answers it with.
func benchDispatch() (*MessageDispatch, *MessageAck) {
	pid := &ProducerID{ConnectionID: "ID:tandem-perf-0123456789abcdef-3:1", SessionID: 1, Value: 1}
	m := &Message{Kind: TypeBytesMessage, ProducerID: pid, Destination: NewQueue("bench-b"),
		MessageID:  &MessageID{ProducerID: pid, ProducerSequenceID: 12345, BrokerSequenceID: 67890},
		Persistent: true, Priority: 4, Timestamp: 1700000000000, Content: []byte(alphabet(1024))}
	cid := &ConsumerID{ConnectionID: "ID:tandem-perf-0123456789abcdef-1:1", SessionID: 1, Value: 1}
	md := &MessageDispatch{ConsumerID: cid, Destination: m.Destination, Message: m}
	ack := &MessageAck{ConsumerID: cid, Destination: m.Destination, AckType: AckStandard,
		FirstMessageID: m.MessageID, LastMessageID: m.MessageID, MessageCount: 1}
	return md, ack
}

func benchEncode(b *testing.B, ds DataStructure) {
	w := NewWriter(io.Discard)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := w.WriteCommand(ds); err != nil {
			b.Fatal(err)
		}
		if n++; n%64 == 0 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchDecodeReuse(b *testing.B, ds DataStructure) {
	f, err := AppendFrame(nil, ds)
	if err != nil {
		b.Fatal(err)
	}
	r := NewReader(&cycleReader{frame: f}, ReaderOptions{Reuse: true})
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDispatch1K(b *testing.B) { md, _ := benchDispatch(); benchEncode(b, md) }
func BenchmarkEncodeAck(b *testing.B)        { _, ack := benchDispatch(); benchEncode(b, ack) }
func BenchmarkEncodeMessage1K(b *testing.B)  { md, _ := benchDispatch(); benchEncode(b, md.Message) }
func BenchmarkDecodeDispatch1KReuse(b *testing.B) {
	md, _ := benchDispatch()
	benchDecodeReuse(b, md)
}
func BenchmarkDecodeAckReuse(b *testing.B) { _, ack := benchDispatch(); benchDecodeReuse(b, ack) }
func BenchmarkDecodeMessage1KReuse(b *testing.B) {
	md, _ := benchDispatch()
	benchDecodeReuse(b, md.Message)
}
