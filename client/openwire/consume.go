package openwire

import (
	"context"
	"sync"

	wire "tandem/internal/wire/openwire"
)

// SubscribeOptions are the settings of a consumer.
type SubscribeOptions struct {
	// Selector is a JMS message selector.
	Selector string
	// Prefetch is how many messages the broker sends ahead; 0 means 1000.
	Prefetch int
	// DurableName makes a topic subscription durable under this name, with
	// the connection's client ID.
	DurableName string
}

// Message is a received message.
type Message struct {
	// ID is JMSMessageID.
	ID string
	// Kind is the OpenWire message type (TextMessage, BytesMessage...).
	Kind wire.DataType
	// Body is a text message's text as UTF-8, another message's content.
	Body []byte
	// Redelivered reports an earlier delivery that was not acknowledged.
	Redelivered bool
	// Raw is the message as received, with its properties and headers.
	Raw *wire.Message

	k *Consumer
}

// Consumer receives messages from a destination.
type Consumer struct {
	c    *Conn
	id   *wire.ConsumerID
	dest *wire.Destination
	// prefetch is the consumer's prefetch; delivered counts messages handed
	// to the application since the last ack that gave credit back.
	prefetch int

	mu        sync.Mutex
	queue     []*wire.MessageDispatch
	ready     chan struct{}
	delivered []*wire.MessageDispatch
	browser   bool
	ended     bool
}

// Subscribe starts a consumer on dest (queue://X, topic://X).
func (c *Conn) Subscribe(ctx context.Context, dest string, o SubscribeOptions) (*Consumer, error) {
	return c.consumer(ctx, dest, o, false)
}

func (c *Conn) consumer(ctx context.Context, dest string, o SubscribeOptions, browser bool) (*Consumer, error) {
	d, err := Destination(dest)
	if err != nil {
		return nil, err
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 1000
	}
	k := &Consumer{c: c, dest: d, prefetch: o.Prefetch, ready: make(chan struct{}, 1), browser: browser,
		id: &wire.ConsumerID{ConnectionID: c.connID, SessionID: 1, Value: c.nextID.Add(1)}}
	c.mu.Lock()
	c.consumers[k.id.Value] = k
	c.mu.Unlock()
	ci := &wire.ConsumerInfo{ConsumerID: k.id, Destination: d, PrefetchSize: int32(o.Prefetch), Selector: o.Selector,
		Browser: browser, DispatchAsync: true}
	if o.DurableName != "" {
		ci.SubscriptionName, ci.ClientID = o.DurableName, c.opts.ClientID
	}
	if err := c.request(ctx, ci); err != nil {
		c.mu.Lock()
		delete(c.consumers, k.id.Value)
		c.mu.Unlock()
		return nil, err
	}
	return k, nil
}

// dispatch hands a MessageDispatch to its consumer.
func (c *Conn) dispatch(md *wire.MessageDispatch) {
	if md.ConsumerID == nil {
		return
	}
	c.mu.Lock()
	k := c.consumers[md.ConsumerID.Value]
	c.mu.Unlock()
	if k == nil {
		return
	}
	k.mu.Lock()
	k.queue = append(k.queue, md)
	k.mu.Unlock()
	select {
	case k.ready <- struct{}{}:
	default:
	}
}

// Receive waits for the next message until ctx ends. For a browser it
// returns nil, nil once the snapshot has been listed.
func (k *Consumer) Receive(ctx context.Context) (*Message, error) {
	for {
		k.mu.Lock()
		if len(k.queue) > 0 {
			md := k.queue[0]
			k.queue[0] = nil
			k.queue = k.queue[1:]
			k.mu.Unlock()
			if md.Message == nil {
				k.mu.Lock()
				k.ended = true
				k.mu.Unlock()
				return nil, nil
			}
			return k.deliver(md)
		}
		ended := k.ended
		k.mu.Unlock()
		if ended {
			return nil, nil
		}
		select {
		case <-k.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-k.c.done:
			return nil, k.c.Err()
		}
	}
}

// deliver converts a dispatch and keeps the prefetch flowing: once half
// of it has been handed out unacknowledged, a delivered ack gives the
// credit back, as the JMS client does.
func (k *Consumer) deliver(md *wire.MessageDispatch) (*Message, error) {
	x := md.Message
	m := &Message{ID: x.MessageID.String(), Kind: x.Kind, Redelivered: md.RedeliveryCounter > 0, Raw: x, k: k}
	if x.Kind == wire.TypeTextMessage {
		s, err := x.Text()
		if err != nil {
			return nil, err
		}
		m.Body = []byte(s)
	} else {
		b, err := x.UncompressedContent()
		if err != nil {
			return nil, err
		}
		m.Body = b
	}
	k.mu.Lock()
	k.delivered = append(k.delivered, md)
	var credit []*wire.MessageDispatch
	if len(k.delivered)*2 >= k.prefetch {
		credit = k.delivered
		k.delivered = nil
	}
	k.mu.Unlock()
	if len(credit) > 0 {
		typ := wire.AckDelivered
		if k.browser {
			typ = wire.AckStandard
		}
		_ = k.c.write(&wire.MessageAck{ConsumerID: k.id, Destination: k.dest, AckType: typ,
			FirstMessageID: credit[0].Message.MessageID, LastMessageID: credit[len(credit)-1].Message.MessageID,
			MessageCount: int32(len(credit))})
	}
	return m, nil
}

// ackCommand is an ack of m alone.
func (m *Message) ackCommand(typ byte, tx wire.TransactionID) *wire.MessageAck {
	return &wire.MessageAck{ConsumerID: m.k.id, Destination: m.k.dest, AckType: typ, TransactionID: tx,
		FirstMessageID: m.Raw.MessageID, LastMessageID: m.Raw.MessageID, MessageCount: 1}
}

// Ack acknowledges the message alone and waits for the broker to confirm.
func (m *Message) Ack(ctx context.Context) error {
	return m.k.c.request(ctx, m.ackCommand(wire.AckIndividual, nil))
}

// AckAsync acknowledges the message alone without waiting.
func (m *Message) AckAsync() error {
	return m.k.c.write(m.ackCommand(wire.AckIndividual, nil))
}

// Text returns a text message's text.
func (m *Message) Text() string { return string(m.Body) }

// Close closes the consumer; messages it held unacknowledged go back.
func (k *Consumer) Close(ctx context.Context) error {
	k.c.mu.Lock()
	delete(k.c.consumers, k.id.Value)
	k.c.mu.Unlock()
	return k.c.request(ctx, &wire.RemoveInfo{ObjectID: k.id, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
}

// Browse calls fn with each message waiting on queue, without consuming
// any, until the snapshot ends or fn fails.
func (c *Conn) Browse(ctx context.Context, queue, selector string, fn func(*Message) error) error {
	k, err := c.consumer(ctx, queue, SubscribeOptions{Selector: selector, Prefetch: 500}, true)
	if err != nil {
		return err
	}
	defer k.Close(context.WithoutCancel(ctx))
	for {
		m, err := k.Receive(ctx)
		if err != nil || m == nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}
