package stomp

import (
	"fmt"
	"io"
)

// StreamFunc decides, once a frame's headers are read, whether its body of
// n bytes (announced by content-length) is left on the connection for the
// caller to stream instead of being read into Frame.Body.
type StreamFunc func(f *Frame, n int64) bool

// BodyStream is a frame body left on the connection by ReadFrameStreaming.
// Read it to io.EOF, or Discard it, before reading the next frame: the EOF
// comes only after the NUL that ends the frame has been checked.
type BodyStream struct {
	r    *Reader
	cmd  string
	n    int64
	left int64
	err  error
}

// ReadFrameStreaming reads the next frame like ReadFrame, except that when
// the frame has a content-length and stream approves, the body is not read:
// the frame comes back with a nil Body and a BodyStream that yields it. A
// streamed body passes through the reader's fixed buffer, so its size is
// bounded only by what stream accepts, not by MaxBodySize or MaxFrameSize.
// The BodyStream is nil when the body was read as usual.
func (r *Reader) ReadFrameStreaming(stream StreamFunc) (*Frame, *BodyStream, error) {
	return r.readFrame(stream)
}

// streamBody returns a BodyStream for f's body when stream approves of it,
// and nil to read the body as usual.
func (r *Reader) streamBody(f *Frame, cl string, stream StreamFunc) (*BodyStream, error) {
	n, ok := parseContentLength(cl)
	if !ok {
		return nil, fmt.Errorf("%w: %s frame has content-length %q, which is not a non-negative whole number", ErrBadFrame, f.Command, cl)
	}
	if !stream(f, int64(n)) {
		return nil, nil
	}
	return &BodyStream{r: r, cmd: f.Command, n: int64(n), left: int64(n)}, nil
}

// Len is the body's length in bytes.
func (b *BodyStream) Len() int64 { return b.n }

// Read implements io.Reader.
func (b *BodyStream) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		b.finish()
		if b.err != io.EOF {
			return 0, b.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.br.Read(p)
	b.left -= int64(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = fmt.Errorf("stomp: connection closed in the body of a %s frame: %w", b.cmd, err)
		return n, b.err
	}
	return n, nil
}

// finish checks the NUL after the body and leaves io.EOF (or the error) in
// b.err.
func (b *BodyStream) finish() {
	nul, err := b.r.br.ReadByte()
	switch {
	case err != nil:
		b.err = fmt.Errorf("stomp: connection closed in the body of a %s frame: %w", b.cmd, io.ErrUnexpectedEOF)
	case nul != 0:
		b.err = fmt.Errorf("%w: %s frame: the %d-byte body (per content-length) is followed by %q instead of the NUL byte that ends a frame", ErrBadFrame, b.cmd, b.n, nul)
	default:
		b.err = io.EOF
	}
}

// Discard skips the rest of the body and its NUL.
func (b *BodyStream) Discard() error {
	_, err := io.Copy(io.Discard, b)
	return err
}

// WriteFrameStream writes f's command and headers with a content-length of
// n, then copies exactly n body bytes from body straight to the underlying
// writer, so a body of any size passes through a fixed buffer (or none:
// from a file to a socket Go uses sendfile). What was buffered before is
// flushed first; the frame's closing NUL stays buffered for the next Flush.
// If body ends early or fails, the stream is broken: the error sticks.
func (w *Writer) WriteFrameStream(f *Frame, n int64, body io.Reader) error {
	if w.err != nil {
		return w.err
	}
	buf, err := appendFrameHead(w.buf, f, w.version, int(n))
	if err != nil {
		return err
	}
	w.buf = buf
	return w.streamBody(f.Command, n, body)
}

// streamBody flushes the head of a cmd frame just buffered and copies its
// n-byte body to the connection, then buffers the NUL that ends it.
func (w *Writer) streamBody(cmd string, n int64, body io.Reader) error {
	if err := w.Flush(); err != nil {
		return err
	}
	copied, err := io.CopyN(w.w, body, n)
	if err != nil {
		w.err = fmt.Errorf("stomp: streaming a %d-byte %s body stopped after %d bytes: %w", n, cmd, copied, err)
		return w.err
	}
	w.buf = append(w.buf, 0)
	if w.eol {
		w.buf = append(w.buf, '\n')
	}
	return nil
}
