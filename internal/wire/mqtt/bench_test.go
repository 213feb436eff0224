package mqtt

import (
	"bytes"
	"io"
	"testing"
)

// The benchmarks decode and encode a QoS 1 PUBLISH with a 1 KiB payload:
// go test -run '^$' -bench . -benchmem ./internal/wire/mqtt/

type benchCase struct {
	name string
	v    Version
	p    *Publish
}

func benchCases() []benchCase {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
	return []benchCase{
		{"3.1.1", V311, &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-5/floor-3/temp", Payload: payload}},
		{"5.0", V5, &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-5/floor-3/temp", Payload: payload}},
		{"5.0-properties", V5, &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-5/floor-3/temp", Payload: payload,
			Properties: Properties{IntProp(PropMessageExpiry, 60), StringProp(PropContentType, "application/json"),
				UserProp("site", "lyon"), UserProp("unit", "celsius")}}},
	}
}

// loopReader yields head once, then body over and over.
type loopReader struct {
	head, body []byte
	off        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.body[l.off:])
		n += c
		l.off = (l.off + c) % len(l.body)
	}
	return n, nil
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			pkt := encode(b, bc.p, bc.v)
			r := NewReader(&loopReader{head: connectBytes(b, bc.v), body: pkt}, ReaderOptions{})
			if _, err := r.ReadPacket(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := r.ReadPacket()
				if err != nil {
					b.Fatal(err)
				}
				if p.(*Publish).PacketID != 42 {
					b.Fatal("wrong packet")
				}
			}
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			w := NewWriter(io.Discard)
			w.SetVersion(bc.v)
			n, _ := PacketSize(bc.p, bc.v)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WritePacket(bc.p); err != nil {
					b.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodePublishBurst writes 64 packets per Flush, as a connection
// draining a backlog does.
func BenchmarkEncodePublishBurst(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			w := NewWriter(io.Discard)
			w.SetVersion(bc.v)
			n, _ := PacketSize(bc.p, bc.v)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := w.WritePacket(bc.p); err != nil {
					b.Fatal(err)
				}
				if i++; i%64 == 0 {
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
