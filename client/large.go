package client

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"tandem/internal/wire/stomp"
)

// Large bodies: a broker streams a large message (tandem's are those of at
// least min-large-message-size) as one MESSAGE frame with a content-length
// that may exceed any frame limit. The client reads such a body as it
// arrives, never trusting content-length for an allocation beyond what has
// arrived, and keeps the connection's read deadline moving while bytes
// flow, so a slow transfer of a big body is not taken for a dead broker.

// DefaultMaxMessageSize is the largest body a Conn holds in memory unless
// WithMaxMessageSize says otherwise.
const DefaultMaxMessageSize = 1 << 30

// streamThreshold is the content-length from which a MESSAGE body is read
// by readBody rather than by the frame reader, whose limit is 100 MiB.
const streamThreshold = 1 << 20

// streamMessageBody is the reader's StreamFunc: MESSAGE bodies of at least
// streamThreshold bytes are left to readBody.
func streamMessageBody(f *stomp.Frame, n int64) bool {
	return f.Command == stomp.CmdMessage && n >= streamThreshold
}

// WithMaxMessageSize sets the largest message body the Conn accepts, in
// bytes (default DefaultMaxMessageSize). A bigger message is still read
// off the connection, so the connection carries on, but it reaches the
// application with a nil Body and Oversized reporting true; the
// application decides whether to acknowledge it or leave it to a client
// that can hold it.
func WithMaxMessageSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxMessageSize = n
		}
	}
}

// readBody reads a streamed MESSAGE body into f.Body, or discards it when
// it is over the Conn's limit and marks the frame with hdrOversized.
func (c *Conn) readBody(tr *transport, f *stomp.Frame, body *stomp.BodyStream) error {
	r := io.Reader(body)
	if tr.recvWithin > 0 {
		r = &deadlineReader{r: body, tr: tr}
	}
	if body.Len() > c.cfg.maxMessageSize {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		f.Headers.Set(hdrOversized, fmt.Sprint(body.Len()))
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(int(min(body.Len(), 64<<20)))
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	f.Body = buf.Bytes()
	return nil
}

// hdrOversized marks, on the client side only, a frame whose body was over
// the limit; its value is the body's length.
const hdrOversized = "x-tandem-client-oversized"

// deadlineReader pushes the transport's read deadline on while a body
// keeps arriving.
type deadlineReader struct {
	r     io.Reader
	tr    *transport
	setAt time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if n > 0 {
		if now := time.Now(); now.Sub(d.setAt) >= d.tr.recvWithin/4 {
			d.setAt = now
			d.tr.nc.SetReadDeadline(now.Add(2*d.tr.recvWithin + d.tr.recvWithin/4))
		}
	}
	return n, err
}
