package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	amqp "tandem/client/amqp"
)

// dialAMQP connects with tandem's AMQP 1.0 client (client/amqp). The
// client id, when given, is the connection's container id, which names
// durable subscriptions as Artemis and Qpid JMS do (clientID.name).
func dialAMQP(ctx context.Context, f *connFlags, ev connEvents) (msgConn, error) {
	c, err := amqp.Dial(ctx, f.url, amqp.Options{User: f.user, Password: f.password, ContainerID: f.clientID})
	if err != nil {
		return nil, err
	}
	ac := &amqpConn{c: c, clientID: f.clientID, senders: map[string]*amqp.Sender{}, idPrefix: "ID:" + c.ContainerID() + "-"}
	if f.window > 1 {
		ac.window = make(chan struct{}, f.window)
	}
	ev.connected(ac.Broker())
	return ac, nil
}

// checkAMQPURL validates --url for AMQP: amqp://, amqps://, tcp://,
// ssl:// and failover lists of them.
func checkAMQPURL(url string) error {
	_, err := amqp.ParseURL(url)
	return err
}

// amqpConn is a msgConn over client/amqp. It keeps one sender per
// destination; with --max-pending, up to that many sends wait for their
// outcome at once.
type amqpConn struct {
	c        *amqp.Conn
	clientID string
	// idPrefix and seq make each message's message-id, as a JMS client
	// gives every message one (the consumer counts by it).
	idPrefix string
	seq      atomic.Uint64

	mu      sync.Mutex
	senders map[string]*amqp.Sender
	// window holds a token per unconfirmed send; pending counts them for
	// Flush, sendErr keeps the first failure.
	window  chan struct{}
	pending sync.WaitGroup
	sendErr error
}

func (a *amqpConn) Broker() string { return brokerName(a.c.Endpoint().String(), a.c.Server()) }

func (a *amqpConn) Close() error { return a.c.Close() }

// sender returns the sender for dest, attaching it on first use.
func (a *amqpConn) sender(ctx context.Context, dest string) (*amqp.Sender, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.senders[dest]; s != nil {
		return s, nil
	}
	s, err := a.c.NewSender(ctx, dest, amqp.SenderOptions{})
	if err != nil {
		return nil, err
	}
	a.senders[dest] = s
	return s, nil
}

// amqpMessage maps the producer's settings onto an AMQP message: durable
// unless --non-persistent, a text body as an amqp-value string (a JMS
// TextMessage), the group as group-id.
func (a *amqpConn) amqpMessage(body []byte, o sendOptions) *amqp.Message {
	return &amqp.Message{Body: body, Text: o.text, Durable: !o.nonPersistent, TTL: o.ttl, GroupID: o.group,
		MessageID: a.idPrefix + strconv.FormatUint(a.seq.Add(1), 10)}
}

func (a *amqpConn) Send(ctx context.Context, dest string, body []byte, o sendOptions) error {
	s, err := a.sender(ctx, dest)
	if err != nil {
		return err
	}
	if a.window == nil {
		return s.Send(ctx, a.amqpMessage(body, o))
	}
	if err := a.failed(); err != nil {
		return err
	}
	select {
	case a.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.pending.Add(1)
	err = s.SendAsync(ctx, a.amqpMessage(body, o), func(err error) {
		if err != nil {
			a.mu.Lock()
			if a.sendErr == nil {
				a.sendErr = err
			}
			a.mu.Unlock()
		}
		<-a.window
		a.pending.Done()
	})
	if err != nil {
		<-a.window
		a.pending.Done()
	}
	return err
}

func (a *amqpConn) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sendErr
}

func (a *amqpConn) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		a.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return a.failed()
}

func (a *amqpConn) Begin(ctx context.Context) (msgTx, error) {
	tx, err := a.c.Declare(ctx)
	if err != nil {
		return nil, err
	}
	return amqpTx{a: a, tx: tx}, nil
}

func (a *amqpConn) Subscribe(ctx context.Context, dest string, o subscribeOptions) (msgSub, error) {
	ro := amqp.ReceiverOptions{Credit: o.prefetch, Selector: o.selector}
	if ro.Credit <= 0 {
		ro.Credit = 1
	}
	if o.durableName != "" {
		if a.clientID == "" {
			return nil, errors.New("a durable subscription needs --clientID: AMQP names it clientID.name")
		}
		ro.Name, ro.Durable = o.durableName, true
	}
	r, err := a.c.NewReceiver(ctx, dest, ro)
	if err != nil {
		return nil, err
	}
	return amqpSub{r}, nil
}

// browseRound is how many messages a browser asks for before draining.
const browseRound = 200

// Browse reads a queue with a copy receiver: each round grants credit and
// drains it, and a round that brings nothing ends the browse.
func (a *amqpConn) Browse(ctx context.Context, dest, selector string, fn func(*msgMessage) error) error {
	r, err := a.c.NewReceiver(ctx, dest, amqp.ReceiverOptions{Browse: true, Credit: -1, Selector: selector})
	if err != nil {
		return err
	}
	defer func() { _ = r.Close(context.Background(), true) }()
	for {
		if err := r.IssueCredit(browseRound); err != nil {
			return err
		}
		if err := r.Drain(); err != nil {
			return err
		}
		got := 0
		for {
			d, err := r.Receive(ctx)
			if errors.Is(err, amqp.ErrDrained) {
				break
			}
			if err != nil {
				return err
			}
			got++
			_ = d.Accept() // settles the copy; nothing is consumed
			if err := fn(amqpMsg(d)); err != nil {
				return err
			}
		}
		if got == 0 {
			return nil
		}
	}
}

// anonymousIDs numbers received messages that carry no message-id.
var anonymousIDs atomic.Uint64

// amqpMsg wraps a received message.
func amqpMsg(d *amqp.Delivery) *msgMessage {
	id := d.MessageID
	if id == "" {
		id = "delivery-" + strconv.FormatUint(anonymousIDs.Add(1), 10)
	}
	return &msgMessage{ID: id, Body: d.Body, Size: int64(len(d.Body)),
		ack: func(context.Context) error { return d.Accept() }, native: d}
}

type amqpSub struct{ r *amqp.Receiver }

func (s amqpSub) Receive(ctx context.Context) (*msgMessage, error) {
	d, err := s.r.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return amqpMsg(d), nil
}

type amqpTx struct {
	a  *amqpConn
	tx *amqp.Tx
}

func (t amqpTx) Send(ctx context.Context, dest string, body []byte, o sendOptions) error {
	s, err := t.a.sender(ctx, dest)
	if err != nil {
		return err
	}
	return t.tx.Send(ctx, s, t.a.amqpMessage(body, o))
}

func (t amqpTx) Ack(_ context.Context, m *msgMessage) error {
	d, ok := m.native.(*amqp.Delivery)
	if !ok {
		return fmt.Errorf("a message of another protocol cannot be acknowledged in an AMQP transaction")
	}
	return t.tx.Accept(d)
}

func (t amqpTx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }
func (t amqpTx) Abort(ctx context.Context) error  { return t.tx.Rollback(ctx) }
