package openwire

import (
	"context"
	"fmt"
	"strings"
	"time"

	wire "tandem/internal/wire/openwire"
)

// SendOptions are the settings of one message.
type SendOptions struct {
	// NonPersistent sends a message the broker may lose in a crash.
	NonPersistent bool
	// TTL, when positive, makes the message expire that long after it is
	// sent.
	TTL time.Duration
	// Priority is JMSPriority (0 to 9); 0 means the default, 4.
	Priority int
	// GroupID is JMSXGroupID.
	GroupID string
	// Text sends a TextMessage (the body as UTF-8); otherwise a
	// BytesMessage.
	Text bool
	// Properties are the message's properties, as typed values.
	Properties *wire.Map
	// CorrelationID is JMSCorrelationID, Type JMSType.
	CorrelationID, Type string
}

// producerID is the connection's one producer.
func (c *Conn) producerID() *wire.ProducerID {
	return &wire.ProducerID{ConnectionID: c.connID, SessionID: 1, Value: 1}
}

// Destination parses a destination: queue://X, topic://X, or a bare name,
// which is a queue.
func Destination(dest string) (*wire.Destination, error) {
	d := wire.ParseDestination(strings.TrimSpace(dest), wire.TypeQueue)
	switch {
	case strings.HasPrefix(d.Name, "/queue/"):
		d = wire.NewQueue(strings.TrimPrefix(d.Name, "/queue/"))
	case strings.HasPrefix(d.Name, "/topic/"):
		d = wire.NewTopic(strings.TrimPrefix(d.Name, "/topic/"))
	}
	if d.Name == "" {
		return nil, fmt.Errorf("openwire: destination %q names nothing; write queue://NAME or topic://NAME", dest)
	}
	return d, nil
}

// message builds a message for dest.
func (c *Conn) message(dest string, body []byte, o SendOptions, tx wire.TransactionID) (*wire.Message, error) {
	d, err := Destination(dest)
	if err != nil {
		return nil, err
	}
	pid := c.producerID()
	m := &wire.Message{Kind: wire.TypeBytesMessage, ProducerID: pid, Destination: d, TransactionID: tx,
		MessageID:  &wire.MessageID{ProducerID: pid, ProducerSequenceID: c.nextID.Add(1)},
		Persistent: !o.NonPersistent, Priority: 4, Timestamp: time.Now().UnixMilli(), GroupID: o.GroupID,
		CorrelationID: o.CorrelationID, Type: o.Type}
	if o.Priority > 0 {
		m.Priority = byte(min(o.Priority, 9))
	}
	if o.TTL > 0 {
		m.Expiration = m.Timestamp + o.TTL.Milliseconds()
	}
	if o.Text {
		m.Kind = wire.TypeTextMessage
		m.SetText(string(body))
	} else {
		m.SetContent(body)
	}
	if err := m.SetProperties(o.Properties); err != nil {
		return nil, err
	}
	return m, nil
}

// Send sends a message. Without a send window it returns once the broker
// confirmed it (for a persistent message, once stored); with one it may
// return before, and Flush waits for the confirmations.
func (c *Conn) Send(ctx context.Context, dest string, body []byte, o SendOptions) error {
	m, err := c.message(dest, body, o, nil)
	if err != nil {
		return err
	}
	if c.window == nil {
		return c.request(ctx, m)
	}
	if p := c.sendErr.Load(); p != nil {
		return *p
	}
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
	ch, err := c.start(m)
	if err != nil {
		<-c.window
		return err
	}
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		err := c.wait(context.Background(), ch)
		<-c.window
		if err != nil {
			c.sendErr.CompareAndSwap(nil, &err)
		}
	}()
	return nil
}

// Flush waits until the broker confirmed every send, and reports the first
// that failed.
func (c *Conn) Flush(ctx context.Context) error {
	if c.window != nil {
		done := make(chan struct{})
		go func() { c.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p := c.sendErr.Load(); p != nil {
			return *p
		}
	}
	c.mu.Lock()
	err := c.async
	c.async = nil
	c.mu.Unlock()
	return err
}

// Tx is a local transaction of the connection's session: its sends and
// acknowledgements take effect together at Commit.
type Tx struct {
	c  *Conn
	id *wire.LocalTransactionID
}

// Begin starts a transaction.
func (c *Conn) Begin(ctx context.Context) (*Tx, error) {
	id := &wire.LocalTransactionID{Value: c.nextID.Add(1), ConnectionID: &wire.ConnectionID{Value: c.connID}}
	err := c.request(ctx, &wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, TransactionID: id,
		Type: wire.TransactionBegin})
	if err != nil {
		return nil, err
	}
	return &Tx{c: c, id: id}, nil
}

// Send sends a message in the transaction; it is delivered at Commit.
func (t *Tx) Send(ctx context.Context, dest string, body []byte, o SendOptions) error {
	m, err := t.c.message(dest, body, o, t.id)
	if err != nil {
		return err
	}
	return t.c.request(ctx, m)
}

// Ack acknowledges a message in the transaction.
func (t *Tx) Ack(ctx context.Context, m *Message) error {
	return t.c.request(ctx, m.ackCommand(wire.AckStandard, t.id))
}

// Commit commits the transaction.
func (t *Tx) Commit(ctx context.Context) error {
	return t.c.request(ctx, &wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: t.c.connID}, TransactionID: t.id,
		Type: wire.TransactionCommitOnePhase})
}

// Rollback rolls the transaction back: its sends are discarded, and the
// messages it acknowledged are delivered again (by the broker, once this
// connection's consumer closes).
func (t *Tx) Rollback(ctx context.Context) error {
	return t.c.request(ctx, &wire.TransactionInfo{ConnectionID: &wire.ConnectionID{Value: t.c.connID}, TransactionID: t.id,
		Type: wire.TransactionRollback})
}
