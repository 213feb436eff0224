package stomp

import (
	"errors"
	"fmt"
	"io"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/stomp"
)

// Large messages through STOMP: a SEND whose content-length reaches the
// destination's min-large-message-size is not read into memory; the reader
// leaves the body on the connection and sendLarge copies it, through a
// fixed buffer, into a body file of the broker's large-messages directory.
// A delivery of a large message opens the body file when it is handed to
// the connection and the writer streams it to the socket, so neither
// direction holds more than a buffer of the body whatever its size.

// largeCopyBuffer is the buffer a streamed body passes through.
const largeCopyBuffer = 256 << 10

// streamLarge is the reader's StreamFunc: it streams SEND bodies at or
// over the destination's large-message threshold.
func (c *conn) streamLarge(f *wire.Frame, n int64) bool {
	if c.session == nil || f.Command != wire.CmdSend || !c.session.MayBeLarge(n) {
		return false
	}
	dest, _ := f.Headers.Get("destination")
	dtype, _ := f.Headers.Get("destination-type")
	d, err := parseDestination(dest, dtype)
	if err != nil {
		return false // send reports the bad destination
	}
	t := c.session.LargeMessageThreshold(d.address)
	return t >= 0 && n >= t
}

// sendLarge receives a streamed SEND body into a large-message body file
// and sends the message. It returns false when the connection must end.
func (c *conn) sendLarge(f *wire.Frame, body *wire.BodyStream) bool {
	receipt, _ := f.Headers.Get("receipt")
	w, err := c.session.CreateLargeBody()
	if err != nil {
		c.sendError("send failed", fmt.Sprintf("a %d-byte message cannot be stored: %v", body.Len(), err), receipt)
		return false
	}
	if err := c.copyBody(w, body); err != nil {
		w.Abort()
		if errors.Is(err, wire.ErrBadFrame) {
			c.sendError("malformed frame", err.Error(), receipt)
		} else {
			c.log.Debug("connection failed inside a large message", "err", err)
		}
		return false
	}
	if err := w.Commit(); err != nil {
		c.sendError("send failed", fmt.Sprintf("a %d-byte message cannot be stored: %v", body.Len(), err), receipt)
		return false
	}
	large := &message.Large{ID: w.ID(), Size: body.Len()}
	c.large = large
	ok := c.send(f, receipt)
	c.large = nil
	if !ok {
		c.session.DiscardLargeBody(large)
	}
	return ok
}

// copyBody copies a streamed body to w, pushing the heart-beat read
// deadline on as data keeps arriving: a big body may take longer than one
// heart-beat period.
func (c *conn) copyBody(w io.Writer, body *wire.BodyStream) error {
	buf := make([]byte, largeCopyBuffer)
	last := time.Now()
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				_ = body.Discard()
				return fmt.Errorf("write large message body: %w", werr)
			}
			if c.readLimit > 0 && time.Since(last) > time.Second {
				last = time.Now()
				_ = c.nc.SetReadDeadline(last.Add(c.readLimit))
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// enqueueDelivery queues a delivery, which the writer encodes as a MESSAGE
// frame (writeMessage); a large message's body is streamed from its file
// when the frame is written.
func (c *conn) enqueueDelivery(sub *subscription, d broker.Delivery, credit *broker.Consumer) {
	m := d.Message
	// The properties are taken now, under the queue's lock the delivery
	// is made in: a message that goes back to a deep queue may have them
	// packed away (broker/solo.go) before the writer gets to it. Nothing
	// else in a routed message changes.
	of := outFrame{sub: sub, d: d, props: m.Properties, credit: credit}
	size := len(m.Body) + 256
	for _, p := range m.Properties {
		size += len(p.Key) + 16
	}
	l := m.Large()
	if l == nil {
		c.push(of, size)
		return
	}
	rc, err := c.session.OpenLargeBody(l)
	if err != nil {
		c.log.Error("cannot read a large message body; the message is delivered without it", "event", "large_message_error",
			"message", m.ID, "err", err)
		of.bodyMissing = true
		c.push(of, size)
		return
	}
	of.body, of.bodyLen = rc, l.Size
	c.push(of, 1024) // the headers; the body is on disk, not in the queue
}

// closeBodies closes the streamed bodies of frames that will never be
// written.
func closeBodies(frames []outFrame) {
	for _, of := range frames {
		if of.body != nil {
			of.body.Close()
		}
	}
}
