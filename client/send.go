package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"

	"tandem/internal/wire/stomp"
)

// Send sends body to destination (see NormalizeDestination for how the name
// is read). The message is persistent unless NonPersistent is given, and a
// persistent message is confirmed by the broker with a receipt: with the
// default send window of 1, Send returns once the broker confirmed it, or
// the broker's refusal as a *BrokerError. With a larger window (see
// WithSendWindow) Send returns as soon as the window has room; a failure
// then comes back from a later Send, Flush or Close, and that later Send is
// not sent. A non-persistent message is not confirmed.
//
// Each message carries a random duplicate-detection id (header
// _AMQ_DUPL_ID) unless WithoutDuplicateID or WithDuplicateID says otherwise,
// so a resend after a failover is not stored twice.
//
// With a failover URL, a Send made or waiting while the Conn reconnects
// keeps waiting (bounded by ctx and by the URL's timeout option), and an
// unconfirmed persistent send is resent on the new connection; the
// failover does not show in the result. A non-persistent message queued
// but not yet written when the connection broke is lost.
func (c *Conn) Send(ctx context.Context, destination string, body []byte, opts ...SendOption) error {
	if err := c.takeAsyncErr(); err != nil {
		return err
	}
	f, sc, err := buildSend(destination, body, "", opts)
	if err != nil {
		return err
	}
	if sc.nonPersistent {
		return c.enqueue(ctx, outFrame{f: f})
	}
	if err := c.acquireSlot(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	if c.err != nil {
		<-c.slots
		c.mu.Unlock()
		return c.err
	}
	req := c.newRequestLocked(f, kindSend)
	c.mu.Unlock()
	if err := c.enqueue(ctx, outFrame{f: f, req: req}); err != nil {
		c.forget(req)
		return err
	}
	if c.cfg.window > 1 {
		return nil
	}
	return c.wait(ctx, req)
}

// acquireSlot takes a place in the send window, waiting while it is full.
func (c *Conn) acquireSlot(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	c.mu.Lock()
	c.slotWaiters++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.slotWaiters--
		c.mu.Unlock()
	}()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
}

// takeAsyncErr returns, once, the first failure of a send whose outcome
// nobody has seen yet.
func (c *Conn) takeAsyncErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.asyncErr
	c.asyncErr = nil
	return err
}

// Flush waits until the broker has confirmed every persistent send made so
// far (through failovers, which resend them), and returns the first failure
// not yet reported, or the Conn's error if it stopped. Non-persistent sends are not confirmed, so Flush does not
// cover them.
func (c *Conn) Flush(ctx context.Context) error {
	c.mu.Lock()
	var waits []*request
	for _, req := range c.pending {
		if req.holdsSlot() {
			waits = append(waits, req)
		}
	}
	c.mu.Unlock()
	for _, req := range waits {
		select {
		case <-req.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.asyncErr
	c.asyncErr = nil
	if err == nil {
		// A Conn that stopped cannot vouch for anything sent from now on.
		err = c.err
	}
	return err
}

// reservedSendHeader reports headers managed by the client: the receipt and the
// transaction tie a frame to the client's own bookkeeping, and
// content-length must state the body's real length.
func reservedSendHeader(key string) bool {
	return key == stomp.HdrReceipt || key == stomp.HdrTransaction || key == stomp.HdrContentLength
}

// buildSend builds a SEND frame. txID, when set, adds the transaction
// header.
func buildSend(destination string, body []byte, txID string, opts []SendOption) (*stomp.Frame, sendConfig, error) {
	sc := sendConfig{priority: -1}
	for _, o := range opts {
		o(&sc)
	}
	dest, err := NormalizeDestination(destination)
	if err != nil {
		return nil, sc, err
	}
	f := &stomp.Frame{Command: stomp.CmdSend, Body: body}
	f.Headers = make(stomp.Headers, 0, 6+len(sc.headers))
	f.Headers.Add(stomp.HdrDestination, dest)
	f.Headers.Add(stomp.HdrPersistent, strconv.FormatBool(!sc.nonPersistent))
	if !sc.noDupID {
		id := sc.dupID
		if id == "" {
			id = newDuplicateID()
		}
		f.Headers.Add(stomp.HdrDuplicateID, id)
	}
	if sc.contentType != "" {
		f.Headers.Add(stomp.HdrContentType, sc.contentType)
	}
	if sc.priority >= 0 {
		f.Headers.Add(stomp.HdrPriority, strconv.Itoa(sc.priority))
	}
	if !sc.expiration.IsZero() {
		f.Headers.Add(stomp.HdrExpires, millis(sc.expiration))
	}
	if txID != "" {
		f.Headers.Add(stomp.HdrTransaction, txID)
	}
	for _, h := range sc.headers {
		if reservedSendHeader(h.Key) {
			return nil, sc, fmt.Errorf("%w: %q", ErrReservedHeader, h.Key)
		}
		f.Headers.Set(h.Key, h.Value)
	}
	return f, sc, nil
}

// newDuplicateID returns 128 random bits in hex. crypto/rand never fails on
// the platforms Go supports (it would abort the program rather than return
// an error), so the id is always fresh.
func newDuplicateID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
