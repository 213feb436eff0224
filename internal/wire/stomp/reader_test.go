package stomp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// hb is the heart-beat frame the reader returns for a bare EOL.
func hb() *Frame { return &Frame{} }

// fr builds a frame from a command, a body and key/value pairs.
func fr(cmd, body string, kv ...string) *Frame {
	f := &Frame{Command: cmd}
	if body != "" {
		f.Body = []byte(body)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers.Add(kv[i], kv[i+1])
	}
	return f
}

// readAll reads frames until an error; io.EOF is reported as nil.
func readAll(r *Reader) ([]*Frame, error) {
	var out []*Frame
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

// sameFrames reports whether two frame lists are equal, treating nil and
// empty headers and bodies alike.
func sameFrames(a, b []*Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFrame(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameFrame(a, b *Frame) bool {
	if a.Command != b.Command || !bytes.Equal(a.Body, b.Body) || len(a.Headers) != len(b.Headers) {
		return false
	}
	return len(a.Headers) == 0 || reflect.DeepEqual(a.Headers, b.Headers)
}

func dump(fs []*Frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n  ")
		b.WriteString(f.String())
		if len(f.Body) > 0 {
			b.WriteString(" ")
			b.WriteString(strings.ReplaceAll(string(f.Body), "\x00", `\0`))
		}
	}
	return b.String()
}

type readCase struct {
	name    string
	version Version
	in      string
	want    []*Frame
	wantErr error // checked with errors.Is after the frames in want
	errText string
}

func readCases() []readCase {
	return []readCase{
		{name: "send without content-length", version: V12,
			in:   "SEND\ndestination:/queue/a\n\nhello\x00",
			want: []*Frame{fr("SEND", "hello", "destination", "/queue/a")}},
		{name: "binary body with NULs per content-length", version: V12,
			in:   "SEND\ndestination:/queue/a\ncontent-length:5\n\na\x00b\x00c\x00",
			want: []*Frame{fr("SEND", "a\x00b\x00c", "destination", "/queue/a", "content-length", "5")}},
		{name: "content-length zero", version: V12,
			in:   "SEND\ncontent-length:0\n\n\x00",
			want: []*Frame{fr("SEND", "", "content-length", "0")}},
		{name: "content-length with spaces from a 1.0 client", version: V10,
			in:   "SEND\ncontent-length: 2 \n\nab\x00",
			want: []*Frame{fr("SEND", "ab", "content-length", " 2 ")}},
		{name: "first content-length wins", version: V12,
			in:   "SEND\ncontent-length:1\ncontent-length:junk\n\nx\x00",
			want: []*Frame{fr("SEND", "x", "content-length", "1", "content-length", "junk")}},
		{name: "no headers no body", version: V12,
			in:   "DISCONNECT\n\n\x00",
			want: []*Frame{fr("DISCONNECT", "")}},
		{name: "CRLF line endings", version: V12,
			in:   "MESSAGE\r\ndestination:/queue/a\r\nmessage-id:1\r\n\r\nbody\x00\r\n",
			want: []*Frame{fr("MESSAGE", "body", "destination", "/queue/a", "message-id", "1"), hb()}},
		{name: "CRLF accepted from 1.0 peers too", version: V10,
			in:   "SEND\r\na:b\r\n\r\n\x00",
			want: []*Frame{fr("SEND", "", "a", "b")}},
		{name: "heart-beats between and before frames", version: V12,
			in:   "\n\r\nSEND\n\n\x00\n\nACK\nid:1\n\n\x00",
			want: []*Frame{hb(), hb(), fr("SEND", ""), hb(), hb(), fr("ACK", "", "id", "1")}},
		{name: "only heart-beats", version: V11,
			in:   "\n\n\n",
			want: []*Frame{hb(), hb(), hb()}},
		{name: "repeated headers kept in order", version: V12,
			in:   "MESSAGE\nfoo:World\nfoo:Hello\nbar:1\n\n\x00",
			want: []*Frame{fr("MESSAGE", "", "foo", "World", "foo", "Hello", "bar", "1")}},
		{name: "empty value and colons in value", version: V10,
			in:   "SEND\nempty:\nurl:tcp://h:1\n\n\x00",
			want: []*Frame{fr("SEND", "", "empty", "", "url", "tcp://h:1")}},
		{name: "spaces are part of names and values", version: V12,
			in:   "SEND\n a : b \n\n\x00",
			want: []*Frame{fr("SEND", "", " a ", " b ")}},
		{name: "1.0 does not unescape", version: V10,
			in:   "SEND\nk\\c:a\\nb\\t\\\n\n\x00",
			want: []*Frame{fr("SEND", "", "k\\c", "a\\nb\\t\\")}},
		{name: "1.1 escapes", version: V11,
			in:   "SEND\nk\\cx:a\\nb\\cc\\\\d\n\n\x00",
			want: []*Frame{fr("SEND", "", "k:x", "a\nb:c\\d")}},
		{name: "1.2 escapes include CR", version: V12,
			in:   "SEND\nk:a\\r\\n\\c\\\\\n\n\x00",
			want: []*Frame{fr("SEND", "", "k", "a\r\n:\\")}},
		{name: "1.2 raw CR inside a value is tolerated", version: V12,
			in:   "SEND\nk:a\rb\n\n\x00",
			want: []*Frame{fr("SEND", "", "k", "a\rb")}},
		{name: "CONNECT is never unescaped", version: V12,
			in:   "CONNECT\nlogin:a\\nb\npasscode:x\\cy\n\n\x00",
			want: []*Frame{fr("CONNECT", "", "login", "a\\nb", "passcode", "x\\cy")}},
		{name: "STOMP is never unescaped", version: V12,
			in:   "STOMP\nlogin:a\\tb\n\n\x00",
			want: []*Frame{fr("STOMP", "", "login", "a\\tb")}},
		{name: "CONNECTED is never unescaped", version: V11,
			in:   "CONNECTED\nserver:x\\y\n\n\x00",
			want: []*Frame{fr("CONNECTED", "", "server", "x\\y")}},
		{name: "undefined escape in 1.1", version: V11,
			in: "SEND\nk:a\\tb\n\n\x00", wantErr: ErrBadFrame, errText: `\t is not a STOMP escape`},
		{name: "undefined escape in 1.2", version: V12,
			in: "SEND\nk:a\\tb\n\n\x00", wantErr: ErrBadFrame, errText: `\t is not a STOMP escape`},
		{name: "CR escape is 1.2 only", version: V11,
			in: "SEND\nk:a\\rb\n\n\x00", wantErr: ErrBadFrame, errText: `from STOMP 1.2 on`},
		{name: "lone backslash", version: V12,
			in: "SEND\nk:ab\\\n\n\x00", wantErr: ErrBadFrame, errText: "lone backslash"},
		{name: "bad escape in a name", version: V12,
			in: "SEND\nk\\x:v\n\n\x00", wantErr: ErrBadFrame, errText: `header name "k\\x"`},
		{name: "lower-case command", version: V12,
			in: "send\n\n\x00", wantErr: ErrBadFrame, errText: "must be upper-case"},
		{name: "unknown command", version: V12,
			in: "PUBLISH\n\n\x00", wantErr: ErrBadFrame, errText: `"PUBLISH" is not a STOMP command`},
		{name: "HTTP is not STOMP", version: V10,
			in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", wantErr: ErrBadFrame, errText: "not a STOMP command"},
		{name: "command with trailing space", version: V12,
			in: "SEND \n\n\x00", wantErr: ErrBadFrame},
		{name: "overlong first line", version: V12,
			in: strings.Repeat("A", 100) + "\n", wantErr: ErrBadFrame, errText: "longer than any command"},
		{name: "header without colon", version: V12,
			in: "SEND\nnocolon\n\n\x00", wantErr: ErrBadFrame, errText: "has no colon"},
		{name: "header without name", version: V12,
			in: "SEND\n:v\n\n\x00", wantErr: ErrBadFrame, errText: "no name"},
		{name: "stray CR before CRLF", version: V12,
			in: "SEND\nk:v\r\r\n\n\x00", wantErr: ErrBadFrame, errText: "stray carriage return"},
		{name: "missing NUL after sized body", version: V12,
			in: "SEND\ncontent-length:2\n\nabc\x00", wantErr: ErrBadFrame, errText: "instead of the NUL"},
		{name: "bad content-length", version: V12,
			in: "SEND\ncontent-length:12a\n\nabc\x00", wantErr: ErrBadFrame, errText: "not a non-negative whole number"},
		{name: "negative content-length", version: V12,
			in: "SEND\ncontent-length:-1\n\n\x00", wantErr: ErrBadFrame},
		{name: "huge content-length", version: V12,
			in: "SEND\ncontent-length:99999999999999999999\n\n\x00", wantErr: ErrBadFrame},
		{name: "clean EOF after a frame", version: V12,
			in:   "SEND\n\n\x00",
			want: []*Frame{fr("SEND", "")}},
		{name: "EOF in command", version: V12,
			in: "SEN", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF in headers", version: V12,
			in: "SEND\ndest", wantErr: io.ErrUnexpectedEOF, errText: "in the headers of a SEND frame"},
		{name: "EOF in sized body", version: V12,
			in: "SEND\ncontent-length:10\n\nabc", wantErr: io.ErrUnexpectedEOF, errText: "body of a SEND frame"},
		{name: "EOF before NUL", version: V12,
			in: "SEND\n\nabc", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF right after sized body", version: V12,
			in: "SEND\ncontent-length:3\n\nabc", wantErr: io.ErrUnexpectedEOF},
		{name: "NUL between frames", version: V12,
			in: "SEND\n\n\x00\x00\n", want: []*Frame{fr("SEND", "")}, wantErr: ErrBadFrame},
	}
}

func TestReadFrame(t *testing.T) {
	for _, tc := range readCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), ReaderOptions{})
			r.SetVersion(tc.version)
			got, err := readAll(r)
			checkRead(t, tc, got, err)
		})
	}
}

func checkRead(t *testing.T, tc readCase, got []*Frame, err error) {
	t.Helper()
	if !sameFrames(got, tc.want) {
		t.Errorf("frames:%s\nwant:%s", dump(got), dump(tc.want))
	}
	switch {
	case tc.wantErr == nil && err != nil:
		t.Errorf("unexpected error: %v", err)
	case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
		t.Errorf("error = %v, want %v", err, tc.wantErr)
	case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
		t.Errorf("error = %v, want it to mention %q", err, tc.errText)
	}
}

// TestReadFrameChunking feeds every case through readers that return one
// byte, half of what is asked, and the input split at every position, so no
// parsing path depends on how the bytes arrive.
func TestReadFrameChunking(t *testing.T) {
	wrappers := map[string]func(io.Reader) io.Reader{
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data-err": iotest.DataErrReader,
	}
	for _, tc := range readCases() {
		for wname, wrap := range wrappers {
			t.Run(wname+"/"+tc.name, func(t *testing.T) {
				r := NewReader(wrap(strings.NewReader(tc.in)), ReaderOptions{BufferSize: 16})
				r.SetVersion(tc.version)
				got, err := readAll(r)
				checkRead(t, tc, got, err)
			})
		}
		t.Run("split/"+tc.name, func(t *testing.T) {
			for i := 0; i <= len(tc.in); i++ {
				r := NewReader(&splitReader{parts: []string{tc.in[:i], tc.in[i:]}}, ReaderOptions{BufferSize: 16})
				r.SetVersion(tc.version)
				got, err := readAll(r)
				if !sameFrames(got, tc.want) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("split at %d: frames:%s\nerr: %v", i, dump(got), err)
				}
			}
		})
	}
}

// splitReader returns its parts one Read at a time.
type splitReader struct{ parts []string }

func (s *splitReader) Read(p []byte) (int, error) {
	for len(s.parts) > 0 && s.parts[0] == "" {
		s.parts = s.parts[1:]
	}
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.parts[0])
	s.parts[0] = s.parts[0][n:]
	return n, nil
}

func TestReadFrameLimits(t *testing.T) {
	manyHeaders := "SEND\n" + strings.Repeat("k:v\n", 11) + "\n\x00"
	tests := []struct {
		name string
		opts ReaderOptions
		in   string
		want error
		text string
	}{
		{"too many headers", ReaderOptions{MaxHeaders: 10}, manyHeaders, ErrTooManyHeaders, "more than 10 headers"},
		{"exactly max headers", ReaderOptions{MaxHeaders: 11}, manyHeaders, nil, ""},
		{"header line too long", ReaderOptions{MaxHeaderSize: 32}, "SEND\nk:" + strings.Repeat("v", 40) + "\n\n\x00", ErrHeaderTooLarge, "longer than 32 bytes"},
		{"long header line within limit", ReaderOptions{MaxHeaderSize: 1000, BufferSize: 16}, "SEND\nk:" + strings.Repeat("v", 500) + "\n\n\x00", nil, ""},
		{"header line longer than buffer and limit", ReaderOptions{MaxHeaderSize: 100, BufferSize: 16}, "SEND\nk:" + strings.Repeat("v", 500) + "\n\n\x00", ErrHeaderTooLarge, ""},
		{"announced body too large", ReaderOptions{MaxBodySize: 4}, "SEND\ncontent-length:5\n\n12345\x00", ErrFrameTooLarge, "announces a 5-byte body"},
		{"body at the limit", ReaderOptions{MaxBodySize: 5}, "SEND\ncontent-length:5\n\n12345\x00", nil, ""},
		{"unterminated body too large", ReaderOptions{MaxBodySize: 4}, "SEND\n\n12345\x00", ErrFrameTooLarge, "is the NUL"},
		{"unterminated body larger than buffer", ReaderOptions{MaxBodySize: 40, BufferSize: 16}, "SEND\n\n" + strings.Repeat("x", 100), ErrFrameTooLarge, ""},
		{"unterminated body at the limit", ReaderOptions{MaxBodySize: 5}, "SEND\n\n12345\x00", nil, ""},
		{"frame too large by headers", ReaderOptions{MaxFrameSize: 20}, "SEND\nkey:" + strings.Repeat("v", 30) + "\n\n\x00", ErrFrameTooLarge, "frame limit"},
		{"frame too large by body", ReaderOptions{MaxFrameSize: 20}, "SEND\ncontent-length:15\n\n" + strings.Repeat("v", 15) + "\x00", ErrFrameTooLarge, "frame limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), tc.opts)
			_, err := readAll(r)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestReaderOptionsDefaults(t *testing.T) {
	o := ReaderOptions{}.withDefaults()
	if o.MaxHeaders != 1000 || o.MaxHeaderSize != 64<<10 || o.MaxBodySize != 100<<20 || o.MaxFrameSize != 100<<20+DefaultHeaderBudget {
		t.Fatalf("defaults = %+v", o)
	}
	o = ReaderOptions{MaxFrameSize: 1000}.withDefaults()
	if o.MaxBodySize != 1000 {
		t.Fatalf("body limit should follow a smaller frame limit, got %d", o.MaxBodySize)
	}
}

// TestReaderPassesIOErrors checks that a transport error (a read timeout,
// say) reaches the caller unwrapped so it can be recognised.
func TestReaderPassesIOErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("SEND\n"), iotest.ErrReader(boom)), ReaderOptions{})
	_, err := r.ReadFrame()
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want boom", err)
	}
}

// TestReaderInternsKeys checks that common header names and commands share
// the package's constants rather than fresh copies.
func TestReaderInternsKeys(t *testing.T) {
	r := NewReader(strings.NewReader("MESSAGE\ndestination:/queue/a\nx-custom:1\n\n\x00"), ReaderOptions{})
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if unsafeStringData(f.Headers[0].Key) != unsafeStringData(HdrDestination) {
		t.Error("destination key is not interned")
	}
	if unsafeStringData(f.Command) != unsafeStringData(CmdMessage) {
		t.Error("command is not interned")
	}
	if f.Headers[1].Key != "x-custom" {
		t.Errorf("custom key = %q", f.Headers[1].Key)
	}
}
