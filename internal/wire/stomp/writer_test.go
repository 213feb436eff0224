package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name    string
		version Version
		f       *Frame
		want    string
	}{
		{"no body no content-length", V12, fr("SUBSCRIBE", "", "id", "1", "destination", "/queue/a"),
			"SUBSCRIBE\nid:1\ndestination:/queue/a\n\n\x00"},
		{"body gets content-length", V12, fr("SEND", "hi", "destination", "/queue/a"),
			"SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\x00"},
		{"binary body", V10, fr("SEND", "a\x00b"),
			"SEND\ncontent-length:3\n\na\x00b\x00"},
		{"wrong content-length is corrected in place", V12, fr("SEND", "abc", "content-length", "99", "x", "y"),
			"SEND\ncontent-length:3\nx:y\n\nabc\x00"},
		{"content-length kept for an empty body", V12, fr("SEND", "", "content-length", "7"),
			"SEND\ncontent-length:0\n\n\x00"},
		{"later content-length repeats are left alone", V12, fr("SEND", "a", "content-length", "1", "content-length", "z"),
			"SEND\ncontent-length:1\ncontent-length:z\n\na\x00"},
		{"1.0 writes verbatim", V10, fr("SEND", "", "k\\", "a\\b:c\rd"),
			"SEND\nk\\:a\\b:c\rd\n\n\x00"},
		{"1.1 escapes", V11, fr("SEND", "", "k:x", "a\nb:c\\d\re"),
			"SEND\nk\\cx:a\\nb\\cc\\\\d\re\n\n\x00"},
		{"1.2 escapes CR too", V12, fr("SEND", "", "k", "a\r\n:\\"),
			"SEND\nk:a\\r\\n\\c\\\\\n\n\x00"},
		{"CONNECT is never escaped", V12, fr("CONNECT", "", "login", "a:b\\c"),
			"CONNECT\nlogin:a:b\\c\n\n\x00"},
		{"CONNECTED is never escaped", V12, fr("CONNECTED", "", "server", "x\\y"),
			"CONNECTED\nserver:x\\y\n\n\x00"},
		{"heart-beat", V12, &Frame{}, "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendFrame([]byte("prefix"), tc.f, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if want := "prefix" + tc.want; string(got) != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestAppendFrameRejects(t *testing.T) {
	tests := []struct {
		name    string
		version Version
		f       *Frame
		text    string
	}{
		{"unknown command", V12, fr("FOO", ""), "not a STOMP command"},
		{"lower-case command", V12, fr("send", ""), "not a STOMP command"},
		{"empty header name", V12, fr("SEND", "", "", "v"), "name is empty"},
		{"newline in 1.0 value", V10, fr("SEND", "", "k", "a\nb"), "cannot contain a newline"},
		{"colon in 1.0 name", V10, fr("SEND", "", "a:b", "v"), "colon"},
		{"trailing CR in 1.0 value", V10, fr("SEND", "", "k", "v\r"), "carriage return"},
		{"trailing CR in 1.1 value", V11, fr("SEND", "", "k", "v\r"), "carriage return"},
		{"newline in CONNECT value", V12, fr("CONNECT", "", "passcode", "a\nb"), "newline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendFrame(dst, tc.f, tc.version)
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error = %v, want ErrBadFrame mentioning %q", err, tc.text)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed to %q on error", got)
			}
		})
	}
}

// countingWriter records each Write call.
type countingWriter struct {
	writes int
	buf    bytes.Buffer
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	if c.err != nil {
		return 0, c.err
	}
	return c.buf.Write(p)
}

func TestWriterCoalesces(t *testing.T) {
	cw := &countingWriter{}
	w := NewWriter(cw)
	w.SetVersion(V12)
	body := bytes.Repeat([]byte("x"), 100<<10)
	for i := range 50 {
		if err := w.WriteFrame(fr("MESSAGE", string(body), "message-id", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeartBeat(); err != nil {
			t.Fatal(err)
		}
	}
	if cw.writes != 0 {
		t.Fatalf("WriteFrame performed %d writes before Flush", cw.writes)
	}
	if w.Buffered() == 0 {
		t.Fatal("Buffered reports nothing")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if cw.writes != 1 {
		t.Fatalf("Flush used %d writes, want 1", cw.writes)
	}
	if w.Buffered() != 0 || w.buf != nil {
		t.Fatalf("a large buffer should be released after Flush (len %d)", w.Buffered())
	}
	if err := w.Flush(); err != nil || cw.writes != 1 {
		t.Fatalf("empty Flush wrote: %v, %d writes", err, cw.writes)
	}
	r := NewReader(&cw.buf, ReaderOptions{})
	r.SetVersion(V12)
	frames, err := readAll(r)
	if err != nil || len(frames) != 100 {
		t.Fatalf("read back %d frames, err %v", len(frames), err)
	}
}

func TestWriterBadFrameKeepsStream(t *testing.T) {
	cw := &countingWriter{}
	w := NewWriter(cw)
	if err := w.WriteFrame(fr("SEND", "", "k", "a\nb")); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("error = %v", err)
	}
	if err := w.WriteFrame(fr("SEND", "ok")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := cw.buf.String(); got != "SEND\ncontent-length:2\n\nok\x00" {
		t.Fatalf("stream = %q", got)
	}
}

func TestWriterStickyError(t *testing.T) {
	boom := errors.New("boom")
	cw := &countingWriter{err: boom}
	w := NewWriter(cw)
	_ = w.WriteFrame(fr("SEND", "x"))
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush error = %v", err)
	}
	if err := w.WriteFrame(fr("SEND", "x")); !errors.Is(err, boom) {
		t.Fatalf("WriteFrame after failure = %v", err)
	}
	if err := w.WriteHeartBeat(); !errors.Is(err, boom) {
		t.Fatalf("WriteHeartBeat after failure = %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) || cw.writes != 1 {
		t.Fatalf("Flush after failure = %v (%d writes)", err, cw.writes)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestWriterShortWrite(t *testing.T) {
	w := NewWriter(shortWriter{})
	_ = w.WriteFrame(fr("SEND", "abcd"))
	if err := w.Flush(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("error = %v", err)
	}
}

// roundTripFrames covers every command, awkward header text and bodies.
func roundTripFrames() []*Frame {
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	return []*Frame{
		fr(CmdConnect, "", "accept-version", "1.0,1.1,1.2", "host", "localhost", "login", "u", "passcode", "p:w\\d"),
		fr(CmdStomp, "", "accept-version", "1.2", "heart-beat", "1000,1000"),
		fr(CmdConnected, "", "version", "1.2", "server", "tandem/1.0", "heart-beat", "0,0"),
		fr(CmdSend, "hello", "destination", "/queue/a", "persistent", "true", "receipt", "s-1"),
		fr(CmdSend, string(bin), "destination", "/queue/bin", "content-type", "application/octet-stream"),
		fr(CmdSubscribe, "", "id", "0", "destination", "/topic/t", "ack", "client-individual", "selector", "a = 'b:c'"),
		fr(CmdUnsubscribe, "", "id", "0"),
		fr(CmdAck, "", "id", "m-1", "transaction", "tx1"),
		fr(CmdNack, "", "id", "m-2"),
		fr(CmdBegin, "", "transaction", "tx1"),
		fr(CmdCommit, "", "transaction", "tx1", "receipt", "c"),
		fr(CmdAbort, "", "transaction", "tx1"),
		fr(CmdDisconnect, "", "receipt", "bye"),
		fr(CmdMessage, "body\x00with\x00nuls", "subscription", "0", "message-id", "ID:1", "destination", "/queue/a", "ack", "a1", "foo", "1", "foo", "2"),
		fr(CmdReceipt, "", "receipt-id", "s-1"),
		fr(CmdError, "details\nmore", "message", "bad thing", "receipt-id", "s-1"),
		fr(CmdSend, "", "weird key", " spaced value ", "empty", "", "unicode", "héllo ✓", "tab", "a\tb"),
	}
}

// escapableFrame carries header text that only 1.1 and 1.2 can express.
func escapableFrame() *Frame {
	return fr(CmdSend, "x", "k:with:colons", "line1\nline2", "back\\slash", "\\n literally", "cr", "mid\rdle")
}

func TestRoundTrip(t *testing.T) {
	for _, v := range []Version{V10, V11, V12} {
		t.Run(v.String(), func(t *testing.T) {
			frames := roundTripFrames()
			if v > V10 {
				frames = append(frames, escapableFrame())
			}
			if v == V12 {
				frames = append(frames, fr(CmdSend, "", "cr-end", "value\r", "\r", "\r\n"))
			}
			var buf bytes.Buffer
			w := NewWriter(&buf)
			w.SetVersion(v)
			for _, f := range frames {
				if err := w.WriteFrame(f); err != nil {
					t.Fatalf("write %s: %v", f, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			r := NewReader(&buf, ReaderOptions{})
			r.SetVersion(v)
			got, err := readAll(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames {
				if len(f.Body) > 0 {
					f.Headers.Set(HdrContentLength, fmt.Sprint(len(f.Body)))
				}
			}
			if !sameFrames(got, frames) {
				t.Fatalf("round trip changed frames:\n got:%s\nwant:%s", dump(got), dump(frames))
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	f := fr(CmdSend, "x", "k", "v")
	b, err := EncodeFrame(f, V12)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFrame(append([]byte("\n\n"), b...), V12)
	if err != nil || got.Body[0] != 'x' || got.Headers.Value("k") != "v" {
		t.Fatalf("DecodeFrame = %v, %v", got, err)
	}
	if _, err := DecodeFrame([]byte("\n"), V12); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("DecodeFrame of nothing = %v", err)
	}
	if _, err := DecodeFrame([]byte("SEND\n"), V12); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("DecodeFrame of a partial frame = %v", err)
	}
}
