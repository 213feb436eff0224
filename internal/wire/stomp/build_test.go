package stomp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// buildFrame writes f through BeginFrame/AddHeader/EndFrame, after some
// bytes already buffered, and returns what the buffer holds past them.
func buildFrame(t *testing.T, f *Frame, v Version, eol bool) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetVersion(v)
	w.SetEOLAfterFrame(eol)
	if err := w.WriteFrame(&Frame{Command: CmdReceipt, Headers: Headers{{Key: "receipt-id", Value: "before"}}}); err != nil {
		t.Fatal(err)
	}
	before := w.Buffered()
	w.BeginFrame(f.Command, int64(len(f.Body)))
	for _, h := range f.Headers {
		// Numbers go the way a MESSAGE's numeric headers do.
		if n, err := strconv.ParseInt(h.Value, 10, 64); err == nil && strconv.FormatInt(n, 10) == h.Value && h.Key != HdrContentLength {
			w.AddHeaderInt(h.Key, n)
			continue
		}
		w.AddHeader(h.Key, h.Value)
	}
	err := w.EndFrame(f.Body)
	if err != nil && w.Buffered() != before {
		t.Fatalf("a refused frame left %d bytes in the buffer", w.Buffered()-before)
	}
	return bytes.Clone(w.buf[before:]), err
}

// TestBuiltFrameIsWriteFramesEncoding holds the builder to WriteFrame: the
// same bytes, or the same refusal, in every version.
func TestBuiltFrameIsWriteFramesEncoding(t *testing.T) {
	frames := []*Frame{
		{Command: CmdMessage, Headers: Headers{{Key: "subscription", Value: "1"}, {Key: "message-id", Value: "42"}, {Key: "destination", Value: "/queue/a"}}, Body: []byte("hello")},
		{Command: CmdMessage, Headers: Headers{{Key: "subscription", Value: "s"}, {Key: "timestamp", Value: "-5"}}},
		{Command: CmdMessage, Headers: Headers{{Key: "a:b", Value: "c\\d"}, {Key: "x", Value: "line\nbreak"}}, Body: []byte{0, 1, 0}},
		{Command: CmdMessage, Headers: Headers{{Key: "ends", Value: "cr\r"}}},
		{Command: CmdMessage, Headers: Headers{{Key: "content-length", Value: "999"}, {Key: "content-length", Value: "3"}, {Key: "k", Value: "v"}}, Body: []byte("abcdef")},
		{Command: CmdMessage, Headers: Headers{{Key: "", Value: "v"}}},
		{Command: "NOPE", Headers: Headers{{Key: "k", Value: "v"}}},
		{Command: CmdConnected, Headers: Headers{{Key: "version", Value: "1.2"}, {Key: "x", Value: "a:b"}}},
	}
	for _, v := range []Version{V10, V11, V12} {
		for _, eol := range []bool{false, true} {
			for i, f := range frames {
				want, werr := AppendFrame(nil, f, v)
				if werr == nil && eol {
					want = append(want, '\n')
				}
				got, gerr := buildFrame(t, f, v, eol)
				if (werr == nil) != (gerr == nil) {
					t.Errorf("%s eol=%v frame %d: WriteFrame says %v, the builder %v", v, eol, i, werr, gerr)
					continue
				}
				if werr != nil {
					if !errors.Is(gerr, ErrBadFrame) {
						t.Errorf("%s frame %d: the builder's refusal %v does not wrap ErrBadFrame", v, i, gerr)
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s eol=%v frame %d:\nbuilt %q\nwant  %q", v, eol, i, got, want)
				}
			}
		}
	}
}

func TestBuiltFramePairAndLengthMismatch(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetVersion(V12)
	w.BeginFrame(CmdMessage, 2)
	w.AddHeaderUintPair("ack", 7, '.', 1234)
	w.AddHeaderPrefixedUint("message-id", "ID:", 42)
	if err := w.EndFrame([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := string(w.buf); got != "MESSAGE\nack:7.1234\nmessage-id:ID\\c42\ncontent-length:2\n\nhi\x00" {
		t.Fatalf("built %q", got)
	}
	w.buf = w.buf[:0]
	w.SetVersion(V10)
	w.BeginFrame(CmdMessage, 0)
	w.AddHeaderPrefixedUint("message-id", "ID:", 42)
	if err := w.EndFrame(nil); err != nil {
		t.Fatal(err)
	}
	if got := string(w.buf); got != "MESSAGE\nmessage-id:ID:42\n\n\x00" {
		t.Fatalf("built in 1.0: %q", got)
	}
	w.SetVersion(V12)
	n := w.Buffered()
	w.BeginFrame(CmdMessage, 5)
	w.AddHeader("k", "v")
	if err := w.EndFrame([]byte("abc")); !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "5-byte") {
		t.Fatalf("a body of the wrong length: %v", err)
	}
	if w.Buffered() != n {
		t.Fatal("the refused frame stayed in the buffer")
	}
	if err := w.EndFrame(nil); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("EndFrame without BeginFrame: %v", err)
	}
}

func TestBuiltFrameStream(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetVersion(V12)
	w.BeginFrame(CmdMessage, 4)
	w.AddHeader("destination", "/queue/big")
	if err := w.EndFrameStream(strings.NewReader("bodyMORE")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "MESSAGE\ndestination:/queue/big\ncontent-length:4\n\nbody\x00" {
		t.Fatalf("streamed %q", got)
	}
}

// FuzzBuiltFrame checks the builder against WriteFrame on arbitrary
// headers.
func FuzzBuiltFrame(f *testing.F) {
	f.Add("k", "v", "k2", "12", []byte("body"), uint8(2))
	f.Add("a:b", "x\ny", "content-length", "9", []byte{}, uint8(0))
	f.Add("", "\r", "z", "-0", []byte{0}, uint8(1))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, body []byte, ver uint8) {
		fr := &Frame{Command: CmdMessage, Headers: Headers{{Key: k1, Value: v1}, {Key: k2, Value: v2}}, Body: body}
		v := Version(ver % 3)
		want, werr := AppendFrame(nil, fr, v)
		got, gerr := buildFrame(t, fr, v, false)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("WriteFrame says %v, the builder %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("built %q, want %q", got, want)
		}
	})
}
