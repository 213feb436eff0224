package stomp

import (
	"bytes"
	"io"
	"testing"
)

// typicalMessage is a MESSAGE frame as the broker delivers it to a consumer,
// with a 1 KiB body.
func typicalMessage() *Frame {
	return fr(CmdMessage, string(bytes.Repeat([]byte("x"), 1024)),
		"subscription", "sub-1",
		"message-id", "ID:tandem-1-1234567",
		"destination", "/queue/TEST",
		"ack", "ack-1234567",
		"persistent", "true",
		"priority", "4",
		"timestamp", "1700000000000",
		"expires", "0",
		"content-type", "text/plain",
		"_AMQ_DUPL_ID", "6f1c2a9b0d3e4f5a6b7c8d9e0f1a2b3c",
	)
}

// loopReader replays the same bytes for ever, so a benchmark reads from
// memory without re-creating the reader.
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

func BenchmarkReadFrame(b *testing.B) {
	enc, err := EncodeFrame(typicalMessage(), V12)
	if err != nil {
		b.Fatal(err)
	}
	r := NewReader(&loopReader{data: enc}, ReaderOptions{})
	r.SetVersion(V12)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := r.ReadFrame()
		if err != nil || len(f.Body) != 1024 {
			b.Fatal(f, err)
		}
	}
}

func BenchmarkReadFrameSend(b *testing.B) {
	f := fr(CmdSend, string(bytes.Repeat([]byte("x"), 1024)),
		"destination", "/queue/TEST", "persistent", "true", "receipt", "s-12345", "_AMQ_DUPL_ID", "6f1c2a9b0d3e4f5a6b7c8d9e0f1a2b3c")
	enc, err := EncodeFrame(f, V12)
	if err != nil {
		b.Fatal(err)
	}
	r := NewReader(&loopReader{data: enc}, ReaderOptions{})
	r.SetVersion(V12)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	f := typicalMessage()
	w := NewWriter(io.Discard)
	w.SetVersion(V12)
	enc, _ := EncodeFrame(f, V12)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFrameBurst writes 64 frames per Flush, the way a connection
// drains a burst of deliveries.
func BenchmarkWriteFrameBurst(b *testing.B) {
	f := typicalMessage()
	w := NewWriter(io.Discard)
	w.SetVersion(V12)
	enc, _ := EncodeFrame(f, V12)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := w.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		if i++; i%64 == 0 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
