package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/internal/wire/stomp"
)

// Header and Headers are the codec's header types, re-exported so that
// programs outside tandem can name them. Headers keeps every header of a
// message in order; Get returns the first occurrence of a name, which is the
// one STOMP says counts.
type (
	Header  = stomp.Header
	Headers = stomp.Headers
)

// Version is a STOMP protocol version, as returned by Conn.Version.
type Version = stomp.Version

// The STOMP versions a Conn may negotiate.
const (
	V10 = stomp.V10
	V11 = stomp.V11
	V12 = stomp.V12
)

// Message is a message received from a subscription or a browse.
type Message struct {
	// Destination is where the message was sent, in STOMP form
	// (/queue/TEST).
	Destination string
	// MessageID is the broker's id for the message.
	MessageID string
	// Subscription is the id of the subscription that received it.
	Subscription string
	// ContentType is the content-type header, if any.
	ContentType string
	// Redelivered reports that the broker delivered the message before
	// without it being acknowledged.
	Redelivered bool
	// Headers are all headers of the MESSAGE frame, in order.
	Headers Headers
	// Body is the message body; nil when the body was over the Conn's
	// limit (Oversized).
	Body []byte
	// Size is the body's length in bytes.
	Size int64

	oversized bool

	sub   *Subscription
	tr    *transport // the link it came on: acks only make sense there
	ackID string     // what ACK/NACK name it by in STOMP 1.2
}

// newMessage converts a MESSAGE frame.
func newMessage(f *stomp.Frame, s *Subscription, tr *transport) *Message {
	m := &Message{
		Destination:  f.Headers.Value(stomp.HdrDestination),
		MessageID:    f.Headers.Value(stomp.HdrMessageID),
		Subscription: f.Headers.Value(stomp.HdrSubscription),
		ContentType:  f.Headers.Value(stomp.HdrContentType),
		Redelivered:  f.Headers.Value(stomp.HdrRedelivered) == "true",
		Headers:      f.Headers,
		Body:         f.Body,
		sub:          s,
		tr:           tr,
	}
	m.Size = int64(len(f.Body))
	if v, ok := f.Headers.Get(hdrOversized); ok {
		f.Headers.Del(hdrOversized)
		m.Size, _ = strconv.ParseInt(v, 10, 64)
		m.oversized = true
	}
	m.ackID = f.Headers.Value(stomp.HdrAck)
	if m.ackID == "" {
		// Some 1.2 brokers omit the ack header; the message id is what
		// 1.0 and 1.1 use, and the best remaining guess.
		m.ackID = m.MessageID
	}
	return m
}

// Oversized reports that the body was larger than the Conn accepts
// (WithMaxMessageSize): it was read off the connection and dropped, so
// Body is nil and Size says how big it was.
func (m *Message) Oversized() bool { return m.oversized }

// Header returns the value of the first header named key, or "".
func (m *Message) Header(key string) string { return m.Headers.Value(key) }

// Persistent reports whether the message was sent as persistent.
func (m *Message) Persistent() bool { return m.Header(stomp.HdrPersistent) == "true" }

// Priority returns the JMS priority, or 4 (the JMS default) if none is set.
func (m *Message) Priority() int {
	if p, err := strconv.Atoi(m.Header(stomp.HdrPriority)); err == nil {
		return p
	}
	return 4
}

// Expiration returns when the message expires, or the zero time if never.
func (m *Message) Expiration() time.Time {
	ms, err := strconv.ParseInt(m.Header(stomp.HdrExpires), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Ack acknowledges the message and waits for the broker to confirm. In
// AckClient mode that acknowledges every earlier message of the
// subscription too; in AckAuto mode it does nothing.
//
// A message that arrived before a failover cannot be acknowledged on the
// new connection: the old broker session ended, and the broker put the
// message back on its queue and will deliver it again, marked redelivered.
// Ack then returns nil without sending anything. Delivery is at least once:
// a consumer that fails over sees such messages again.
func (m *Message) Ack(ctx context.Context) error { return m.acknowledge(ctx, stomp.CmdAck, nil) }

// Nack tells the broker the message was not processed, so it redelivers it
// or moves it to a dead-letter queue; it waits for the broker to confirm.
// STOMP 1.0 has no NACK (ErrNotSupported), and neither does AckAuto mode.
// Like Ack, it returns nil without sending anything for a message that
// arrived before a failover: the broker redelivers that message anyway.
func (m *Message) Nack(ctx context.Context) error { return m.acknowledge(ctx, stomp.CmdNack, nil) }

// acknowledge sends ACK or NACK for m, inside tx if set.
func (m *Message) acknowledge(ctx context.Context, cmd string, tx *Tx) error {
	if m.sub == nil {
		return fmt.Errorf("%w: this message did not come from a subscription", ErrProtocol)
	}
	if m.sub.ackMode == AckAuto {
		if cmd == stomp.CmdNack {
			return fmt.Errorf("%w: a subscription in auto acknowledgement mode cannot NACK", ErrNotSupported)
		}
		return nil
	}
	if cmd == stomp.CmdNack && m.tr.version == stomp.V10 {
		return fmt.Errorf("%w: NACK needs STOMP 1.1 or later, the broker speaks 1.0", ErrNotSupported)
	}
	c := m.sub.c
	c.mu.Lock()
	err := c.err
	stale := c.tr != m.tr || c.outage != nil
	c.mu.Unlock()
	if err != nil {
		return err
	}
	f := &stomp.Frame{Command: cmd}
	if m.tr.version >= stomp.V12 {
		f.Headers.Add(stomp.HdrID, m.ackID)
	} else {
		// STOMP 1.0 needs only message-id; 1.1 adds subscription, which
		// 1.0 brokers ignore, so send both.
		f.Headers.Add(stomp.HdrMessageID, m.MessageID)
		f.Headers.Add(stomp.HdrSubscription, m.Subscription)
	}
	if !stale {
		if tx != nil {
			// Inside a transaction the commit confirms the
			// acknowledgement.
			f.Headers.Add(stomp.HdrTransaction, tx.id)
			err = c.enqueue(ctx, outFrame{f: f, bound: m.tr, tx: tx})
		} else {
			err = c.call(ctx, outFrame{f: f, bound: m.tr}, kindAck, nil)
		}
	}
	if stale || errors.Is(err, errStale) {
		if tx != nil {
			// A frame of tx can be stale because tx itself died with its
			// connection; that must not pass for a skipped ACK.
			if terr := tx.usable(); terr != nil {
				return terr
			}
		}
		c.log.Debug("acknowledgement of a message from an earlier connection skipped; the broker redelivers it",
			"command", cmd, "message-id", m.MessageID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s message %s: %w", cmd, m.MessageID, err)
	}
	return nil
}

// Tx is a STOMP transaction: the sends and acknowledgements made through it
// take effect together on Commit, or not at all on Abort.
//
// A transaction is tied to its connection. When a failover replaces the
// connection, the broker rolls the open transaction back: Send, Ack and
// Commit then return an error wrapping ErrTxRolledBack that says
// "transaction rolled back by failover; retry it", and Abort returns nil.
// Begin a new transaction and do the work again.
type Tx struct {
	c     *Conn
	id    string
	begin *request // BEGIN; its transport is the transaction's (set once, under c.mu)

	mu   sync.Mutex
	done bool  // committed or aborted
	err  error // set when the connection broke under it
}

// Begin starts a transaction and waits for the broker to confirm it. A
// BEGIN not yet confirmed when a failover happens is sent again, so Begin
// rides through it.
func (c *Conn) Begin(ctx context.Context) (*Tx, error) {
	tx := &Tx{c: c}
	f := &stomp.Frame{Command: stomp.CmdBegin}
	err := c.call(ctx, outFrame{f: f}, kindBegin, func(req *request) {
		tx.id, tx.begin, req.tx = c.nextIDLocked("tx-"), req, tx
		f.Headers.Add(stomp.HdrTransaction, tx.id)
		c.txs[tx.id] = tx
	})
	if err != nil {
		c.mu.Lock()
		delete(c.txs, tx.id)
		c.mu.Unlock()
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return tx, nil
}

// ID returns the transaction id used on the wire.
func (tx *Tx) ID() string { return tx.id }

// usable reports why tx cannot be used, or nil.
func (tx *Tx) usable() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch {
	case tx.err != nil:
		return tx.err
	case tx.done:
		return ErrTxDone
	}
	return nil
}

// fail marks tx as rolled back by a broken connection; err wraps
// ErrTxRolledBack.
func (tx *Tx) fail(err error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.done && tx.err == nil {
		tx.err = err
	}
}

// Send sends a message as part of the transaction; it takes the same
// options as Conn.Send. The broker holds the message until Commit, which
// confirms it, so Send does not wait for the broker.
func (tx *Tx) Send(ctx context.Context, destination string, body []byte, opts ...SendOption) error {
	if err := tx.usable(); err != nil {
		return err
	}
	f, _, err := buildSend(destination, body, tx.id, opts)
	if err != nil {
		return err
	}
	err = tx.c.enqueue(ctx, outFrame{f: f, tx: tx})
	if errors.Is(err, errStale) {
		return tx.usable()
	}
	return err
}

// Ack acknowledges m as part of the transaction.
func (tx *Tx) Ack(ctx context.Context, m *Message) error {
	if err := tx.usable(); err != nil {
		return err
	}
	return m.acknowledge(ctx, stomp.CmdAck, tx)
}

// Nack negatively acknowledges m as part of the transaction.
func (tx *Tx) Nack(ctx context.Context, m *Message) error {
	if err := tx.usable(); err != nil {
		return err
	}
	return m.acknowledge(ctx, stomp.CmdNack, tx)
}

// Commit commits the transaction and waits for the broker to confirm. If
// the connection broke before the commit went out, it returns an error
// wrapping ErrTxRolledBack; if it broke while waiting for the confirmation,
// ErrCommitUnknown.
func (tx *Tx) Commit(ctx context.Context) error { return tx.finish(ctx, stomp.CmdCommit) }

// Abort rolls the transaction back and waits for the broker to confirm. A
// transaction the broker already rolled back, because its connection was
// lost, needs nothing more: Abort returns nil.
func (tx *Tx) Abort(ctx context.Context) error { return tx.finish(ctx, stomp.CmdAbort) }

// finish sends COMMIT or ABORT. It tells apart a transaction that never
// reached its end on the broker (rolled back, or still open if the caller's
// context ended first) from one whose end was sent but not confirmed.
func (tx *Tx) finish(ctx context.Context, cmd string) error {
	if err := tx.usable(); err != nil {
		if cmd == stomp.CmdAbort && errors.Is(err, ErrTxRolledBack) {
			return nil
		}
		if errors.Is(err, ErrTxRolledBack) {
			return fmt.Errorf("%s: %w", strings.ToLower(cmd), err)
		}
		return err
	}
	c := tx.c
	kind := kindCommit
	if cmd == stomp.CmdAbort {
		kind = kindAbort
	}
	f := &stomp.Frame{Command: cmd}
	f.Headers.Add(stomp.HdrTransaction, tx.id)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		if cmd == stomp.CmdAbort {
			return nil
		}
		return fmt.Errorf("%s: %w: %w", cmd, ErrTxRolledBack, c.err)
	}
	req := c.newRequestLocked(f, kind)
	req.tx = tx
	c.mu.Unlock()
	if err := c.enqueue(ctx, outFrame{f: f, req: req, tx: tx}); err != nil {
		c.forget(req)
		switch {
		case errors.Is(err, errStale) || errors.Is(err, ErrTxRolledBack):
			if terr := tx.usable(); terr != nil {
				err = terr
			}
			if cmd == stomp.CmdAbort {
				return nil
			}
			return fmt.Errorf("commit: %w", err)
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w (the transaction is still open)", cmd, err)
		}
		return fmt.Errorf("%s: %w: %w", cmd, ErrTxRolledBack, err)
	}
	tx.mu.Lock()
	tx.done = true
	tx.mu.Unlock()
	c.mu.Lock()
	delete(c.txs, tx.id)
	c.mu.Unlock()

	err := c.wait(ctx, req)
	var be *BrokerError
	switch {
	case err == nil:
		return nil
	case cmd != stomp.CmdCommit:
		return fmt.Errorf("%s: %w", cmd, err)
	case errors.Is(err, ErrTxRolledBack):
		// A failover settled this commit before it reached a broker.
		return fmt.Errorf("commit: %w", err)
	case errors.As(err, &be) && be.ReceiptID == req.id:
		// The broker refused this very commit: nothing was committed.
		return fmt.Errorf("commit: %w: %w", ErrTxRolledBack, err)
	case errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrClosed) || ctx.Err() != nil:
		return fmt.Errorf("commit: %w: %w", ErrCommitUnknown, err)
	}
	return fmt.Errorf("commit: %w", err)
}
