package cli

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"tandem/client"
)

// dialSTOMP connects with tandem's STOMP client.
func dialSTOMP(ctx context.Context, f *connFlags, ev connEvents) (msgConn, error) {
	_, uo, err := client.ParseURL(f.url)
	if err != nil {
		return nil, err
	}
	sc := &stompConn{failover: uo.Failover()}
	opts := []client.Option{client.WithCredentials(f.user, f.password), client.WithConnectTimeout(10 * time.Second),
		client.WithEventHandler(func(e client.Event) {
			switch e.Kind {
			case client.EventConnectionLost:
				var be *client.BrokerError
				ev.lost(e.Endpoint, e.Err, sc.failover, errors.As(e.Err, &be))
			case client.EventReconnected:
				ev.reconnected(brokerName(e.Endpoint, sc.server()))
			}
		})}
	if f.clientID != "" {
		opts = append(opts, client.WithClientID(f.clientID))
	}
	if f.window > 1 {
		opts = append(opts, client.WithSendWindow(f.window))
	}
	c, err := client.Dial(ctx, f.url, opts...)
	if err != nil {
		return nil, err
	}
	sc.conn.Store(c)
	sc.c = c
	ev.connected(sc.Broker())
	return sc, nil
}

// stompConn is a msgConn over tandem's STOMP client.
type stompConn struct {
	c        *client.Conn
	failover bool
	// conn is c for the event handler, which may run before Dial returns.
	conn atomic.Pointer[client.Conn]
}

// server returns the broker's server header, or "" before the dial
// returned.
func (s *stompConn) server() string {
	if c := s.conn.Load(); c != nil {
		return c.Server()
	}
	return ""
}

// brokerName is a broker's URL with its name when it gave one
// ("tcp://localhost:61616 (tandem/master)").
func brokerName(endpoint, server string) string {
	if server == "" {
		return endpoint
	}
	return endpoint + " (" + server + ")"
}

func (s *stompConn) Broker() string { return brokerName(s.c.Endpoint().String(), s.c.Server()) }

func (s *stompConn) Close() error { return s.c.Close() }

func (s *stompConn) Flush(ctx context.Context) error { return s.c.Flush(ctx) }

// stompSendOptions maps the producer's settings onto the client's. STOMP
// has no message types: a text body and a bytes body travel alike.
func stompSendOptions(o sendOptions) []client.SendOption {
	var out []client.SendOption
	if o.nonPersistent {
		out = append(out, client.NonPersistent())
	}
	if o.ttl > 0 {
		out = append(out, client.WithTimeToLive(o.ttl))
	}
	if o.group != "" {
		out = append(out, client.WithHeader("JMSXGroupID", o.group))
	}
	return out
}

func (s *stompConn) Send(ctx context.Context, dest string, body []byte, o sendOptions) error {
	return s.c.Send(ctx, dest, body, stompSendOptions(o)...)
}

func (s *stompConn) Begin(ctx context.Context) (msgTx, error) {
	tx, err := s.c.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return stompTx{tx}, nil
}

func (s *stompConn) Subscribe(ctx context.Context, dest string, o subscribeOptions) (msgSub, error) {
	opts := []client.SubscribeOption{client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(o.prefetch)}
	if o.selector != "" {
		opts = append(opts, client.WithSelector(o.selector))
	}
	if o.durableName != "" {
		opts = append(opts, client.WithSubscriptionHeader("durable-subscription-name", o.durableName))
	}
	sub, err := s.c.Subscribe(ctx, dest, opts...)
	if err != nil {
		return nil, err
	}
	return stompSub{sub}, nil
}

func (s *stompConn) Browse(ctx context.Context, dest, selector string, fn func(*msgMessage) error) error {
	var opts []client.BrowseOption
	if selector != "" {
		opts = append(opts, client.WithBrowseSelector(selector))
	}
	return s.c.BrowseFunc(ctx, dest, func(m *client.Message) error { return fn(stompMessage(m)) }, opts...)
}

// stompMessage wraps a received message.
func stompMessage(m *client.Message) *msgMessage {
	return &msgMessage{ID: m.MessageID, Body: m.Body, Size: m.Size, Oversized: m.Oversized(), ack: m.Ack, native: m}
}

type stompSub struct{ s *client.Subscription }

func (s stompSub) Receive(ctx context.Context) (*msgMessage, error) {
	m, err := s.s.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return stompMessage(m), nil
}

type stompTx struct{ tx *client.Tx }

func (t stompTx) Send(ctx context.Context, dest string, body []byte, o sendOptions) error {
	return t.tx.Send(ctx, dest, body, stompSendOptions(o)...)
}

func (t stompTx) Ack(ctx context.Context, m *msgMessage) error {
	cm, ok := m.native.(*client.Message)
	if !ok {
		return fmt.Errorf("a message of another protocol cannot be acknowledged in a STOMP transaction")
	}
	return t.tx.Ack(ctx, cm)
}

func (t stompTx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }
func (t stompTx) Abort(ctx context.Context) error  { return t.tx.Abort(ctx) }
