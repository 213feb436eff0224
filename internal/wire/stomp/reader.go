package stomp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Default limits, chosen to admit any reasonable message while stopping a
// confused or hostile peer from making the reader buffer without bound.
const (
	DefaultMaxHeaders    = 1000
	DefaultMaxHeaderSize = 64 << 10
	DefaultMaxBodySize   = 100 << 20
	// DefaultHeaderBudget is what MaxFrameSize allows on top of MaxBodySize
	// for the command and header lines when MaxFrameSize is not set.
	DefaultHeaderBudget = 4 << 20
	// DefaultBufferSize is the read buffer per connection: large enough that
	// a typical frame is parsed in place, small enough for many connections.
	DefaultBufferSize = 16 << 10
	// maxCommandLine bounds the first line of a frame. The longest command
	// has 11 letters; anything much longer is not STOMP, and failing early
	// stops a non-STOMP peer from filling the buffer.
	maxCommandLine = 64
)

// ReaderOptions limits what a Reader accepts. A zero or negative field takes
// its default.
type ReaderOptions struct {
	// MaxFrameSize bounds a whole frame: command, headers and body.
	// Default: MaxBodySize plus DefaultHeaderBudget.
	MaxFrameSize int
	// MaxHeaders bounds the number of header lines. Default 1000.
	MaxHeaders int
	// MaxHeaderSize bounds one header line, escapes included. Default 64 KiB.
	MaxHeaderSize int
	// MaxBodySize bounds a body. Default 100 MiB.
	MaxBodySize int
	// BufferSize is the size of the read buffer. Default 16 KiB.
	BufferSize int
}

// withDefaults returns o with every unset limit filled in.
func (o ReaderOptions) withDefaults() ReaderOptions {
	if o.MaxHeaders <= 0 {
		o.MaxHeaders = DefaultMaxHeaders
	}
	if o.MaxHeaderSize <= 0 {
		o.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = DefaultMaxBodySize
		if o.MaxFrameSize > 0 {
			o.MaxBodySize = min(o.MaxBodySize, o.MaxFrameSize)
		}
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = o.MaxBodySize + DefaultHeaderBudget
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	return o
}

// Reader parses STOMP frames from a byte stream. After ReadFrame returns an
// error other than io.EOF the stream position is unknown and the connection
// should be closed (after sending an ERROR frame, on the server side).
type Reader struct {
	br      *bufio.Reader
	opts    ReaderOptions
	version Version

	// Scratch space reused across frames so that steady-state parsing
	// allocates only what the returned Frame keeps.
	long  []byte    // a line that did not fit in br's buffer
	text  []byte    // unescaped header text of the current frame
	spans []hdrSpan // where each header's key and value sit in text
	acc   []byte    // a NUL-terminated body that did not fit in br
}

// hdrSpan locates one header in Reader.text; key is used instead when the
// key was interned.
type hdrSpan struct {
	key          string
	kStart, kEnd int
	vStart, vEnd int
}

// NewReader returns a Reader on r with the given limits. It speaks STOMP 1.0
// (no header escaping) until SetVersion says otherwise.
func NewReader(r io.Reader, opts ReaderOptions) *Reader {
	opts = opts.withDefaults()
	return &Reader{br: bufio.NewReaderSize(r, opts.BufferSize), opts: opts}
}

// SetVersion sets the protocol version whose escaping rules apply to the
// frames read from now on; call it once CONNECT/CONNECTED agreed a version.
func (r *Reader) SetVersion(v Version) { r.version = v }

// Version returns the version set by SetVersion.
func (r *Reader) Version() Version { return r.version }

// Buffered returns how many bytes are already read from the underlying
// reader but not yet parsed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// HasFrame reports whether the bytes already read from the underlying reader
// hold a whole frame (or a heart-beat), so that the next ReadFrame returns
// without waiting for the connection. It may answer false for a frame that
// is there (one longer than the read buffer), never true for one that is
// not: a server can hold something others wait for across a ReadFrame
// that HasFrame vouched for, which a client that stops halfway through a
// frame cannot then stretch.
func (r *Reader) HasFrame() bool {
	b, _ := r.br.Peek(r.br.Buffered())
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return false
	}
	if end == 0 || (end == 1 && b[0] == '\r') {
		return true // a heart-beat
	}
	var cl []byte
	sized := false
	for pos := end + 1; ; {
		n := bytes.IndexByte(b[pos:], '\n')
		if n < 0 {
			return false
		}
		line := b[pos : pos+n]
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		pos += n + 1
		if len(line) == 0 {
			body := b[pos:]
			if !sized {
				return bytes.IndexByte(body, 0) >= 0
			}
			size, ok := parseContentLengthBytes(cl)
			// A content-length the reader refuses fails without reading.
			return !ok || size < len(body)
		}
		if !sized && bytes.HasPrefix(line, contentLengthPrefix) {
			cl, sized = line[len(contentLengthPrefix):], true
		}
	}
}

var contentLengthPrefix = []byte(HdrContentLength + ":")

// ReadFrame reads the next frame. A bare EOL between frames comes back as a
// heart-beat frame (empty Command) so that the caller can reset its read
// timer. At a clean end of stream, between frames, it returns io.EOF; an end
// of stream inside a frame gives an error wrapping io.ErrUnexpectedEOF.
func (r *Reader) ReadFrame() (*Frame, error) {
	f, _, err := r.readFrame(nil)
	return f, err
}

// readFrame reads the next frame; stream, when not nil, may leave a sized
// body on the connection (see ReadFrameStreaming).
func (r *Reader) readFrame(stream StreamFunc) (*Frame, *BodyStream, error) {
	line, err := r.readLine(maxCommandLine, true)
	if err != nil {
		if errors.Is(err, errLineTooLong) {
			return nil, nil, fmt.Errorf("%w: the frame does not start with a STOMP command (the first line is longer than any command)", ErrBadFrame)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("stomp: connection closed in the middle of a command line %.64q: %w", line, io.ErrUnexpectedEOF)
		}
		return nil, nil, err
	}
	if len(line) == 0 {
		return &Frame{}, nil, nil
	}
	cmd := internCommand(line)
	if cmd == "" {
		return nil, nil, badCommand(line)
	}
	size := len(line) + 1

	escaped := r.version > V10 && !neverEscaped(cmd)
	r.text = r.text[:0]
	r.spans = r.spans[:0]
	clIndex := -1
	for {
		line, err := r.readLine(r.opts.MaxHeaderSize, false)
		if err != nil {
			return nil, nil, r.headerError(cmd, err)
		}
		size += len(line) + 1
		if size > r.opts.MaxFrameSize {
			return nil, nil, fmt.Errorf("%w: the headers of a %s frame exceed the %d-byte frame limit", ErrFrameTooLarge, cmd, r.opts.MaxFrameSize)
		}
		if len(line) == 0 {
			break
		}
		if len(r.spans) == r.opts.MaxHeaders {
			return nil, nil, fmt.Errorf("%w: a %s frame has more than %d headers", ErrTooManyHeaders, cmd, r.opts.MaxHeaders)
		}
		sp, err := r.parseHeader(line, escaped)
		if err != nil {
			return nil, nil, fmt.Errorf("%s frame: %w", cmd, err)
		}
		if clIndex < 0 && sp.key == HdrContentLength {
			clIndex = len(r.spans)
		}
		r.spans = append(r.spans, sp)
	}

	f := &Frame{Command: cmd, Headers: r.buildHeaders()}
	if clIndex >= 0 && stream != nil {
		if bs, err := r.streamBody(f, f.Headers[clIndex].Value, stream); bs != nil || err != nil {
			return f, bs, err
		}
	}
	if clIndex >= 0 {
		err = r.readSizedBody(f, f.Headers[clIndex].Value, size)
	} else {
		err = r.readTerminatedBody(f, size)
	}
	if err != nil {
		return nil, nil, err
	}
	return f, nil, nil
}

// errLineTooLong is readLine's private signal; callers turn it into the
// sentinel that fits the line they were reading.
var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its EOL (LF, or CR LF). The slice
// aliases the reader's buffers and is valid until the next read. atStart
// says whether an end of stream before any byte is a clean io.EOF.
func (r *Reader) readLine(limit int, atStart bool) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// The line is longer than the buffer: gather it in r.long, but
		// never more than the limit allows.
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull && len(r.long) <= limit+1 {
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errLineTooLong
		}
		if err == io.EOF {
			if atStart && len(line) == 0 {
				return nil, io.EOF
			}
			return line, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > limit {
		return nil, errLineTooLong
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		// A CR is only part of an EOL when a LF follows it directly; a
		// second one would be a stray CR that the writer could not
		// reproduce, so the line is ambiguous and rejected.
		return nil, fmt.Errorf("%w: line %q ends with a stray carriage return", ErrBadFrame, line)
	}
	return line, nil
}

// headerError words an error met while reading the header lines of cmd.
func (r *Reader) headerError(cmd string, err error) error {
	switch {
	case errors.Is(err, errLineTooLong):
		return fmt.Errorf("%w: a header line of a %s frame is longer than %d bytes", ErrHeaderTooLarge, cmd, r.opts.MaxHeaderSize)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("stomp: connection closed in the headers of a %s frame: %w", cmd, io.ErrUnexpectedEOF)
	case errors.Is(err, ErrBadFrame):
		return fmt.Errorf("%s frame: %w", cmd, err)
	}
	return err
}

// badCommand explains why line is not a command.
func badCommand(line []byte) error {
	if c := internCommand(bytes.ToUpper(line)); c != "" {
		return fmt.Errorf("%w: command %q must be upper-case: %s", ErrBadFrame, line, c)
	}
	return fmt.Errorf("%w: %q is not a STOMP command", ErrBadFrame, line)
}

// parseHeader splits one header line at its first colon, unescapes key and
// value into r.text when escaped is set, and records where they are.
func (r *Reader) parseHeader(line []byte, escaped bool) (hdrSpan, error) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return hdrSpan{}, fmt.Errorf("%w: header line %q has no colon", ErrBadFrame, line)
	}
	if colon == 0 {
		return hdrSpan{}, fmt.Errorf("%w: header line %q has no name before the colon", ErrBadFrame, line)
	}
	rawKey, rawVal := line[:colon], line[colon+1:]
	var sp hdrSpan
	var err error
	if !escaped || bytes.IndexByte(rawKey, '\\') < 0 {
		sp.key = internKey(rawKey)
	}
	if sp.key == "" {
		sp.kStart = len(r.text)
		if r.text, err = r.appendHeaderText(r.text, rawKey, escaped); err != nil {
			return hdrSpan{}, fmt.Errorf("header name %q: %w", rawKey, err)
		}
		sp.kEnd = len(r.text)
		if escaped {
			// An escaped spelling of a common name ("\\" cannot occur in
			// one, but be exact) still gets the shared string.
			sp.key = internKey(r.text[sp.kStart:sp.kEnd])
		}
	}
	sp.vStart = len(r.text)
	if r.text, err = r.appendHeaderText(r.text, rawVal, escaped); err != nil {
		return hdrSpan{}, fmt.Errorf("header %q: %w", rawKey, err)
	}
	sp.vEnd = len(r.text)
	return sp, nil
}

// appendHeaderText appends src to dst, decoding escape sequences when
// escaped is set. STOMP 1.1 defines \n, \c and \\; 1.2 adds \r; anything else
// after a backslash is an error, as the specification requires.
func (r *Reader) appendHeaderText(dst, src []byte, escaped bool) ([]byte, error) {
	if !escaped || bytes.IndexByte(src, '\\') < 0 {
		return append(dst, src...), nil
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i == len(src) {
			return dst, fmt.Errorf("%w: it ends with a lone backslash (write \\\\ for a backslash)", ErrBadFrame)
		}
		switch src[i] {
		case 'n':
			dst = append(dst, '\n')
		case 'c':
			dst = append(dst, ':')
		case '\\':
			dst = append(dst, '\\')
		case 'r':
			if r.version < V12 {
				return dst, fmt.Errorf("%w: the escape \\r is defined only from STOMP 1.2 on, this connection speaks %s", ErrBadFrame, r.version)
			}
			dst = append(dst, '\r')
		default:
			return dst, fmt.Errorf("%w: \\%c is not a STOMP escape sequence (STOMP %s defines %s)", ErrBadFrame, src[i], r.version, r.escapes())
		}
	}
	return dst, nil
}

// escapes lists the escape sequences of the reader's version, for messages.
func (r *Reader) escapes() string {
	if r.version >= V12 {
		return `\r, \n, \c and \\`
	}
	return `\n, \c and \\`
}

// buildHeaders turns the recorded spans into Headers. All header text of the
// frame becomes one string, so a frame costs one allocation for its text and
// one for its header slice however many headers it has.
func (r *Reader) buildHeaders() Headers {
	if len(r.spans) == 0 {
		return nil
	}
	text := string(r.text)
	hs := make(Headers, len(r.spans))
	for i, sp := range r.spans {
		k := sp.key
		if k == "" {
			k = text[sp.kStart:sp.kEnd]
		}
		hs[i] = Header{Key: k, Value: text[sp.vStart:sp.vEnd]}
	}
	return hs
}

// readSizedBody reads a body of the length given by a content-length value,
// then the NUL that must follow it. size is what the frame used so far.
func (r *Reader) readSizedBody(f *Frame, cl string, size int) error {
	n, ok := parseContentLength(cl)
	if !ok {
		return fmt.Errorf("%w: %s frame has content-length %q, which is not a non-negative whole number", ErrBadFrame, f.Command, cl)
	}
	if n > r.opts.MaxBodySize {
		return fmt.Errorf("%w: %s frame announces a %d-byte body, the limit is %d bytes", ErrFrameTooLarge, f.Command, n, r.opts.MaxBodySize)
	}
	if n+1 > r.opts.MaxFrameSize-size {
		return fmt.Errorf("%w: %s frame with a %d-byte body exceeds the %d-byte frame limit", ErrFrameTooLarge, f.Command, n, r.opts.MaxFrameSize)
	}
	if n > 0 {
		f.Body = make([]byte, n)
		if _, err := io.ReadFull(r.br, f.Body); err != nil {
			return r.bodyEOF(f, err)
		}
	}
	nul, err := r.br.ReadByte()
	if err != nil {
		return r.bodyEOF(f, err)
	}
	if nul != 0 {
		return fmt.Errorf("%w: %s frame: the %d-byte body (per content-length) is followed by %q instead of the NUL byte that ends a frame", ErrBadFrame, f.Command, n, nul)
	}
	return nil
}

// parseContentLength parses a content-length value: decimal digits, with the
// surrounding spaces that some STOMP 1.0 clients write tolerated.
func parseContentLength(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// parseContentLengthBytes is parseContentLength on bytes, for HasFrame,
// which must not allocate.
func parseContentLengthBytes(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// readTerminatedBody reads a body that has no content-length: everything up
// to the first NUL byte.
func (r *Reader) readTerminatedBody(f *Frame, size int) error {
	limit := min(r.opts.MaxBodySize, r.opts.MaxFrameSize-size-1)
	chunk, err := r.br.ReadSlice(0)
	if err == nil {
		if len(chunk)-1 > limit {
			return r.unterminatedTooLarge(f, limit)
		}
		if len(chunk) > 1 {
			f.Body = bytes.Clone(chunk[:len(chunk)-1])
		}
		return nil
	}
	r.acc = append(r.acc[:0], chunk...)
	for err == bufio.ErrBufferFull {
		if len(r.acc) > limit {
			return r.unterminatedTooLarge(f, limit)
		}
		chunk, err = r.br.ReadSlice(0)
		r.acc = append(r.acc, chunk...)
	}
	if err != nil {
		return r.bodyEOF(f, err)
	}
	if len(r.acc)-1 > limit {
		return r.unterminatedTooLarge(f, limit)
	}
	f.Body = bytes.Clone(r.acc[:len(r.acc)-1])
	if cap(r.acc) > 4*r.opts.BufferSize {
		// Do not pin a large scratch buffer to an idle connection.
		r.acc = nil
	}
	return nil
}

// unterminatedTooLarge words the error for a NUL-terminated body over limit.
func (r *Reader) unterminatedTooLarge(f *Frame, limit int) error {
	return fmt.Errorf("%w: %s frame body has no content-length and no NUL within %d bytes (is the NUL that ends a frame missing?)", ErrFrameTooLarge, f.Command, limit)
}

// bodyEOF words an error met while reading the body of f.
func (r *Reader) bodyEOF(f *Frame, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("stomp: connection closed in the body of a %s frame: %w", f.Command, io.ErrUnexpectedEOF)
	}
	return err
}
