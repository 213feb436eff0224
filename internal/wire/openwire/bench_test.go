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
