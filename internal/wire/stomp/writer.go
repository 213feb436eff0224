package stomp

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxRetainedBuffer is the largest write buffer a Writer keeps between
// flushes. A frame with a big body grows the buffer; keeping that memory
// pinned to an idle connection would multiply it by the connection count.
// It is well above the 1 MiB that busy writers gather before flushing:
// gathering grows the buffer a little past that, and a buffer dropped after
// every batch is regrown from nothing, copy by copy, for the next one.
const maxRetainedBuffer = 4 << 20

// Writer encodes frames into an internal buffer and hands the whole buffer
// to the underlying writer on Flush, in a single Write call, so that a burst
// of frames costs one system call. WriteFrame never performs I/O.
type Writer struct {
	w       io.Writer
	buf     []byte
	version Version
	err     error // sticky: after a failed write the stream is broken
	eol     bool  // write an EOL after each frame's NUL
	fb      frameBuild
}

// NewWriter returns a Writer on w. It speaks STOMP 1.0 (no header escaping)
// until SetVersion says otherwise.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// SetVersion sets the protocol version whose escaping rules apply to the
// frames written from now on.
func (w *Writer) SetVersion(v Version) { w.version = v }

// SetEOLAfterFrame makes the writer follow every frame's NUL with an EOL,
// as ActiveMQ and Artemis do. STOMP allows EOLs between frames, and some
// client libraries (PHP's stomp extension, for one) read two bytes after a
// body and fail when the second is the start of the next frame.
func (w *Writer) SetEOLAfterFrame(on bool) { w.eol = on }

// Version returns the version set by SetVersion.
func (w *Writer) Version() Version { return w.version }

// Buffered returns the number of encoded bytes waiting for Flush. Callers
// that queue many frames can use it to flush early.
func (w *Writer) Buffered() int { return len(w.buf) }

// WriteFrame encodes f into the buffer. A frame with a body always gets a
// content-length header with the body's true length (replacing the value of
// the first content-length header if f has one), so bodies with NUL bytes
// survive. A frame that cannot be encoded in the writer's version yields an
// error wrapping ErrBadFrame and leaves the buffer as it was, so the stream
// stays usable. A heart-beat frame writes a bare EOL.
func (w *Writer) WriteFrame(f *Frame) error {
	if w.err != nil {
		return w.err
	}
	buf, err := AppendFrame(w.buf, f, w.version)
	if err != nil {
		return err
	}
	if w.eol && !f.IsHeartBeat() {
		buf = append(buf, '\n')
	}
	w.buf = buf
	return nil
}

// WriteHeartBeat appends a heart-beat (a bare EOL) to the buffer.
func (w *Writer) WriteHeartBeat() error {
	if w.err != nil {
		return w.err
	}
	w.buf = append(w.buf, '\n')
	return nil
}

// Flush writes everything buffered with one Write call. After a write error
// the Writer is broken: every later call returns that error.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.w.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("stomp: write: %w", err)
		return w.err
	}
	if cap(w.buf) > maxRetainedBuffer {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// AppendFrame appends the encoding of f in version v to dst and returns the
// extended slice. On error (a command that is not STOMP, an empty header
// name, or a header the version cannot express) it returns dst unchanged
// and an error wrapping ErrBadFrame.
func AppendFrame(dst []byte, f *Frame, v Version) ([]byte, error) {
	if f.IsHeartBeat() {
		return append(dst, '\n'), nil
	}
	if !isKnownCommand(f.Command) {
		return dst, fmt.Errorf("%w: cannot write %q: it is not a STOMP command", ErrBadFrame, f.Command)
	}
	dst, err := appendFrameHead(dst, f, v, len(f.Body))
	if err != nil {
		return dst, err
	}
	dst = append(dst, f.Body...)
	return append(dst, 0), nil
}

// appendFrameHead appends f's command and headers, with a content-length
// of bodyLen, and the blank line that ends them.
func appendFrameHead(dst []byte, f *Frame, v Version, bodyLen int) ([]byte, error) {
	start := len(dst)
	mode := escapeMode(v, f.Command)
	dst = append(dst, f.Command...)
	dst = append(dst, '\n')
	wroteLength := false
	for _, h := range f.Headers {
		if h.Key == HdrContentLength && !wroteLength {
			// The first content-length is the one a reader honours, so it
			// must state the real length whatever the caller put there.
			dst = appendContentLength(dst, bodyLen)
			wroteLength = true
			continue
		}
		var err error
		if dst, err = appendHeader(dst, h, mode); err != nil {
			return dst[:start], fmt.Errorf("%w: cannot write %s frame header %q: %s", ErrBadFrame, f.Command, h.Key, err.Error())
		}
	}
	if !wroteLength && bodyLen > 0 {
		dst = appendContentLength(dst, bodyLen)
	}
	return append(dst, '\n'), nil
}

// escaping says how header text is written in a given version and frame.
type escaping int

const (
	escapeNone escaping = iota // STOMP 1.0, and CONNECT/STOMP/CONNECTED
	escape11                   // \n \c \\
	escape12                   // \r \n \c \\
)

// escapeMode returns the escaping that applies to a frame.
func escapeMode(v Version, cmd string) escaping {
	switch {
	case v == V10 || neverEscaped(cmd):
		return escapeNone
	case v == V11:
		return escape11
	}
	return escape12
}

// appendContentLength appends a content-length header line.
func appendContentLength(dst []byte, n int) []byte {
	dst = append(dst, HdrContentLength...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// errText is a plain error whose text AppendFrame folds into its own message.
type errText string

// Error returns the text.
func (e errText) Error() string { return string(e) }

// appendHeader appends one "key:value" line. It refuses what the reader
// could not read back identically: an empty name; and without escaping, a
// LF anywhere, a colon in the name, or a trailing CR (which a reader takes
// for part of the EOL). STOMP 1.1 cannot escape CR either, so a trailing CR
// is refused there too.
func appendHeader(dst []byte, h Header, mode escaping) ([]byte, error) {
	if h.Key == "" {
		return dst, errText("the header name is empty")
	}
	switch mode {
	case escapeNone:
		if strings.ContainsAny(h.Key, ":\n") {
			return dst, errText("without escaping (STOMP 1.0 and the CONNECT/CONNECTED handshake) a header name cannot contain a colon or a newline")
		}
		if strings.IndexByte(h.Value, '\n') >= 0 {
			return dst, errText("without escaping (STOMP 1.0 and the CONNECT/CONNECTED handshake) a header value cannot contain a newline")
		}
		if strings.HasSuffix(h.Value, "\r") {
			return dst, errText("without escaping a header value cannot end with a carriage return")
		}
		dst = append(dst, h.Key...)
		dst = append(dst, ':')
		dst = append(dst, h.Value...)
	case escape11:
		if strings.HasSuffix(h.Value, "\r") {
			return dst, errText("STOMP 1.1 cannot express a header value that ends with a carriage return")
		}
		fallthrough
	default:
		dst = appendEscaped(dst, h.Key, mode)
		dst = append(dst, ':')
		dst = appendEscaped(dst, h.Value, mode)
	}
	return append(dst, '\n'), nil
}

// appendEscaped appends s with the escape sequences of mode applied.
func appendEscaped(dst []byte, s string, mode escaping) []byte {
	if !needsEscape(s, mode == escape12) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			dst = append(dst, '\\', 'n')
		case ':':
			dst = append(dst, '\\', 'c')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\r':
			if mode == escape12 {
				dst = append(dst, '\\', 'r')
			} else {
				dst = append(dst, c)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// EncodeFrame returns the encoding of f in version v as a new slice. It is a
// convenience for tests and tools; connections should use a Writer.
func EncodeFrame(f *Frame, v Version) ([]byte, error) {
	return AppendFrame(nil, f, v)
}

// DecodeFrame parses the first frame in b, skipping the heart-beats before
// it and ignoring whatever follows it. It is a convenience for tests and
// tools; connections should use a Reader.
func DecodeFrame(b []byte, v Version) (*Frame, error) {
	r := NewReader(bytes.NewReader(b), ReaderOptions{})
	r.SetVersion(v)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("%w: no frame in the input", ErrBadFrame)
			}
			return nil, err
		}
		if !f.IsHeartBeat() {
			return f, nil
		}
	}
}

// needsEscape reports whether s holds a byte that must be escaped: LF,
// colon or backslash, and CR too when cr is set (STOMP 1.2). Every header
// of every frame passes through it, and a plain loop is several times
// faster than strings.ContainsAny on the short strings headers are.
func needsEscape(s string, cr bool) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', ':', '\\':
			return true
		case '\r':
			if cr {
				return true
			}
		}
	}
	return false
}
