package stomp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestStreamedBodiesRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("streamed\x00body"), 200000) // 2.6 MB with NULs, over MaxBodySize below
	var wire bytes.Buffer
	w := NewWriter(&wire)
	w.SetVersion(V12)
	w.SetEOLAfterFrame(true)
	send := &Frame{Command: CmdSend, Headers: Headers{{Key: "destination", Value: "/queue/a"}, {Key: "content-length", Value: "1"}}}
	if err := w.WriteFrameStream(send, int64(len(big)), bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(&Frame{Command: CmdSend, Headers: Headers{{Key: "destination", Value: "/queue/b"}}, Body: []byte("small")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	r := NewReader(&wire, ReaderOptions{MaxBodySize: 1 << 20})
	r.SetVersion(V12)
	large := func(f *Frame, n int64) bool { return n >= 1<<20 }
	f, bs, err := r.ReadFrameStreaming(large)
	if err != nil || bs == nil || f.Body != nil {
		t.Fatalf("first frame: %v, stream %v", err, bs)
	}
	if cl, _ := f.Headers.Get("content-length"); cl != "2600000" || bs.Len() != int64(len(big)) {
		t.Fatalf("content-length %q, Len %d", cl, bs.Len())
	}
	got, err := io.ReadAll(bs)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("streamed body: %d bytes, %v", len(got), err)
	}
	f, bs, err = r.ReadFrameStreaming(large)
	if err == nil && f.IsHeartBeat() { // the EOL the writer puts after each frame
		f, bs, err = r.ReadFrameStreaming(large)
	}
	if err != nil || bs != nil || string(f.Body) != "small" {
		t.Fatalf("second frame: %v %v %q", err, bs, f.Body)
	}
}

func TestStreamedBodyMissingNULIsAnError(t *testing.T) {
	in := "SEND\ndestination:/queue/a\ncontent-length:3\n\nabcX"
	r := NewReader(strings.NewReader(in), ReaderOptions{})
	_, bs, err := r.ReadFrameStreaming(func(*Frame, int64) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(bs); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("body followed by X instead of NUL: %v", err)
	}
	r = NewReader(strings.NewReader("SEND\ncontent-length:10\n\nabc"), ReaderOptions{})
	_, bs, _ = r.ReadFrameStreaming(func(*Frame, int64) bool { return true })
	if err := bs.Discard(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("connection closed inside a streamed body: %v", err)
	}
}

func TestWriteFrameStreamShortSourceBreaksTheStream(t *testing.T) {
	var wire bytes.Buffer
	w := NewWriter(&wire)
	err := w.WriteFrameStream(&Frame{Command: CmdMessage}, 10, strings.NewReader("abc"))
	if err == nil || w.WriteFrame(&Frame{Command: CmdReceipt}) == nil {
		t.Fatalf("a body source shorter than its length must break the writer: %v", err)
	}
}

// FuzzReadFrameStreaming reads arbitrary bytes with every sized body
// streamed: no input may panic the reader or make a streamed body yield
// more bytes than its content-length.
func FuzzReadFrameStreaming(f *testing.F) {
	f.Add([]byte("SEND\ndestination:/queue/a\ncontent-length:5\n\nhello\x00\nSEND\n\nx\x00"))
	f.Add([]byte("MESSAGE\ncontent-length:3\n\nab"))
	f.Add([]byte("SEND\ncontent-length:99999999999\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), ReaderOptions{MaxBodySize: 1 << 16})
		for i := 0; i < 100; i++ {
			_, bs, err := r.ReadFrameStreaming(func(*Frame, int64) bool { return true })
			if err != nil {
				return
			}
			if bs != nil {
				n, err := io.Copy(io.Discard, bs)
				if n > bs.Len() {
					t.Fatalf("streamed body yielded %d bytes, content-length %d", n, bs.Len())
				}
				if err != nil {
					return
				}
			}
		}
	})
}
