package cli

import (
	"context"
	"errors"
	"fmt"

	owclient "tandem/client/openwire"
)

// dialOpenWire connects with tandem's Go OpenWire client, which speaks
// the protocol of ActiveMQ Classic's JMS client. It tries the brokers of a
// failover: URL in order but does not reconnect once connected.
func dialOpenWire(ctx context.Context, f *connFlags, ev connEvents) (msgConn, error) {
	c, err := owclient.Dial(ctx, f.url, owclient.Options{User: f.user, Password: f.password, ClientID: f.clientID,
		SendWindow: f.window})
	if err != nil {
		return nil, err
	}
	ev.connected(c.Broker())
	oc := &owConn{c: c, closing: make(chan struct{})}
	go func() {
		select {
		case <-c.Done():
			if !errors.Is(c.Err(), owclient.ErrClosed) {
				var be *owclient.BrokerError
				ev.lost(c.Broker(), c.Err(), false, errors.As(c.Err(), &be))
			}
		case <-oc.closing:
		}
	}()
	return oc, nil
}

// owConn is a msgConn over the Go OpenWire client.
type owConn struct {
	c       *owclient.Conn
	closing chan struct{}
}

func (o *owConn) Broker() string { return o.c.Broker() }

func (o *owConn) Close() error {
	close(o.closing)
	return o.c.Close()
}

func (o *owConn) Flush(ctx context.Context) error { return o.c.Flush(ctx) }

// owSendOptions maps the producer's settings: a text body is a JMS
// TextMessage, anything else a BytesMessage.
func owSendOptions(s sendOptions) owclient.SendOptions {
	return owclient.SendOptions{NonPersistent: s.nonPersistent, TTL: s.ttl, GroupID: s.group, Text: s.text}
}

func (o *owConn) Send(ctx context.Context, dest string, body []byte, s sendOptions) error {
	return o.c.Send(ctx, dest, body, owSendOptions(s))
}

func (o *owConn) Begin(ctx context.Context) (msgTx, error) {
	tx, err := o.c.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return owTx{tx}, nil
}

func (o *owConn) Subscribe(ctx context.Context, dest string, s subscribeOptions) (msgSub, error) {
	k, err := o.c.Subscribe(ctx, dest, owclient.SubscribeOptions{Selector: s.selector, Prefetch: s.prefetch,
		DurableName: s.durableName})
	if err != nil {
		return nil, err
	}
	return owSub{k}, nil
}

func (o *owConn) Browse(ctx context.Context, dest, selector string, fn func(*msgMessage) error) error {
	return o.c.Browse(ctx, dest, selector, func(m *owclient.Message) error { return fn(owMessage(m)) })
}

// owMessage wraps a received message.
func owMessage(m *owclient.Message) *msgMessage {
	return &msgMessage{ID: m.ID, Body: m.Body, Size: int64(len(m.Body)), ack: m.Ack, native: m}
}

type owSub struct{ k *owclient.Consumer }

func (s owSub) Receive(ctx context.Context) (*msgMessage, error) {
	m, err := s.k.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return owMessage(m), nil
}

type owTx struct{ tx *owclient.Tx }

func (t owTx) Send(ctx context.Context, dest string, body []byte, s sendOptions) error {
	return t.tx.Send(ctx, dest, body, owSendOptions(s))
}

func (t owTx) Ack(ctx context.Context, m *msgMessage) error {
	om, ok := m.native.(*owclient.Message)
	if !ok {
		return fmt.Errorf("a message of another protocol cannot be acknowledged in an OpenWire transaction")
	}
	return t.tx.Ack(ctx, om)
}

func (t owTx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }
func (t owTx) Abort(ctx context.Context) error  { return t.tx.Rollback(ctx) }
