package amqp

import (
	"bytes"
	"io"
	"testing"
)

// typicalMessage is a message as a JMS producer sends it: header,
// message-annotations, properties, application-properties and a 1 KiB
// data body.
func typicalMessage(tb testing.TB) []byte {
	tb.Helper()
	raw, err := typicalSections().Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func typicalSections() *Sections {
	return &Sections{
		Header:             &Header{Durable: true, Priority: Some(uint8(4))},
		MessageAnnotations: Map{{AnnotationJMSMsgType, uint8(JMSMsgTypeBytes)}, {AnnotationJMSDest, uint8(JMSDestQueue)}},
		Properties: &Properties{MessageID: "ID:tandem-1-1234567", To: "orders", ContentType: "application/octet-stream",
			CreationTime: 1700000000000},
		ApplicationProperties: Map{{"color", "red"}, {"region", "eu"}, {"seq", int64(42)}},
		Body:                  DataBody(bytes.Repeat([]byte("x"), 1024)),
	}
}

// loopReader replays the same bytes for ever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func typicalTransfer() *Transfer {
	return &Transfer{Handle: 1, DeliveryID: Some(uint32(123456)), DeliveryTag: []byte{0, 0, 0, 0, 0, 1, 0xe2, 0x40},
		MessageFormat: Some(uint32(0))}
}

// BenchmarkDecodeTransfer reads a transfer frame carrying a 1 KiB message
// and does what the engine does with it: decode the performative, copy the
// message out of the frame (the assembler) and find its sections.
func BenchmarkDecodeTransfer(b *testing.B) {
	msg := typicalMessage(b)
	frame, err := AppendTransfer(nil, 0, typicalTransfer(), msg, 65536)
	if err != nil {
		b.Fatal(err)
	}
	r := NewReader(&loopReader{data: frame}, 1<<20)
	var a Assembler
	var tr Transfer
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := r.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		payload, err := DecodeTransfer(f.Body, &tr)
		if err != nil {
			b.Fatal(err)
		}
		d, err := a.Add(&tr, payload)
		if err != nil || d == nil {
			b.Fatal(err)
		}
		if _, err := ParseMessage(d.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeTransfer writes a stored 1 KiB message to a consumer: the
// header rewritten for delivery and the transfer frame around it.
func BenchmarkEncodeTransfer(b *testing.B) {
	m, err := ParseMessage(typicalMessage(b))
	if err != nil {
		b.Fatal(err)
	}
	w := NewWriter(io.Discard)
	w.SetMaxFrameSize(65536)
	tr := typicalTransfer()
	var buf []byte
	b.SetBytes(int64(len(m.Raw())))
	b.ReportAllocs()
	for b.Loop() {
		buf = m.AppendForDelivery(buf[:0], 0, false)
		if err := w.WriteTransfer(0, tr, buf); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeMessage builds a 1 KiB message from its sections, as the
// client and protocol conversions do.
func BenchmarkEncodeMessage(b *testing.B) {
	s := typicalSections()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = s.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRewriteHeader parses a stored message and re-emits it for a
// redelivery (delivery-count 1, delivery-annotations stripped).
func BenchmarkRewriteHeader(b *testing.B) {
	s := typicalSections()
	s.DeliveryAnnotations = Map{{Symbol("x-opt-trace"), "abc"}}
	raw, err := s.Encode()
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = RewriteForDelivery(buf[:0], raw, 1, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFlow and BenchmarkDecodeDisposition decode the other
// frames of the hot path.
func BenchmarkDecodeFlow(b *testing.B) {
	body, _ := AppendPerformative(nil, &Flow{NextIncomingID: Some(uint32(1000)), IncomingWindow: 2147483647, NextOutgoingID: 1,
		OutgoingWindow: 2147483647, Handle: Some(uint32(0)), DeliveryCount: Some(uint32(1000)), LinkCredit: Some(uint32(500))})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodePerformative(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDisposition(b *testing.B) {
	body, _ := AppendPerformative(nil, &Disposition{Role: RoleReceiver, First: 1000, Last: Some(uint32(1010)), Settled: true, State: &Accepted{}})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodePerformative(body); err != nil {
			b.Fatal(err)
		}
	}
}
