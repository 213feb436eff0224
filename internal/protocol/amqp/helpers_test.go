package amqp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	"tandem/internal/selector"
	"tandem/internal/store"
	"tandem/internal/store/memstore"
)

// testAuth admits anonymous clients and admin/secret.
type testAuth struct{ noAnonymous bool }

func (a testAuth) Authenticate(_, login, pass string) (protocol.Identity, error) {
	switch {
	case login == "" && !a.noAnonymous:
		return protocol.Identity{User: "anonymous", Roles: []string{"amq"}}, nil
	case login == "admin" && pass == "secret":
		return protocol.Identity{User: login, Roles: []string{"amq"}}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// rig is a broker with an AMQP listener on a free port.
type rig struct {
	b    *broker.Broker
	addr string
}

type rigOptions struct {
	opts     Options
	settings func(string) broker.AddressSettings
	auth     protocol.Authenticator
}

func startRig(t testing.TB, ro rigOptions) *rig {
	t.Helper()
	return startRigWith(t, ro, memstore.New())
}

func startRigWith(t testing.TB, ro rigOptions, st store.Store) *rig {
	t.Helper()
	b, err := broker.New(broker.Options{Store: st, Settings: ro.settings, SyncDurable: true,
		Filters: func(s string) (broker.Filter, error) { return selector.Compile(s) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	opts := ro.opts
	opts.Broker = b
	opts.Auth = ro.auth
	if opts.Ingest == nil {
		// A gate of one slot, as on a machine of two processors, so that
		// every test runs through the ingest gate as a server does.
		opts.Ingest = protocol.NewIngestGate(1)
	}
	if opts.Auth == nil {
		opts.Auth = testAuth{}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{NewServer(opts)}, HandshakeTimeout: 2 * time.Second})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	return &rig{b: b, addr: ln.Addr().String()}
}

// ctx returns a context that ends with the test or after 20 s.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialGo connects go-amqp to the rig.
func (r *rig) dialGo(t *testing.T, opts *goamqp.ConnOptions) *goamqp.Conn {
	t.Helper()
	c, err := goamqp.Dial(testCtx(t), "amqp://"+r.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newSession(t *testing.T, c *goamqp.Conn) *goamqp.Session {
	t.Helper()
	s, err := c.NewSession(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newSender(t *testing.T, s *goamqp.Session, addr string, opts *goamqp.SenderOptions) *goamqp.Sender {
	t.Helper()
	snd, err := s.NewSender(testCtx(t), addr, opts)
	if err != nil {
		t.Fatalf("attach sender to %q: %v", addr, err)
	}
	return snd
}

func newReceiver(t *testing.T, s *goamqp.Session, addr string, opts *goamqp.ReceiverOptions) *goamqp.Receiver {
	t.Helper()
	rcv, err := s.NewReceiver(testCtx(t), addr, opts)
	if err != nil {
		t.Fatalf("attach receiver to %q: %v", addr, err)
	}
	return rcv
}

func send(t *testing.T, snd *goamqp.Sender, m *goamqp.Message) {
	t.Helper()
	if err := snd.Send(testCtx(t), m, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// receive waits up to 5 s for a message.
func receive(t *testing.T, rcv *goamqp.Receiver) *goamqp.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return m
}

// expectNone checks that no message arrives within d.
func expectNone(t *testing.T, rcv *goamqp.Receiver, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := rcv.Receive(ctx, nil); err == nil {
		t.Fatalf("unexpected message %q", m.GetData())
	}
}

func text(m *goamqp.Message) string {
	if s, ok := m.Value.(string); ok {
		return s
	}
	return string(m.GetData())
}

// waitFor polls cond until it holds or fails after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// depth is the number of messages waiting in a queue.
func (r *rig) depth(t *testing.T, queue string) int {
	t.Helper()
	q, err := r.b.Queue(queue)
	if err != nil {
		return 0
	}
	return int(q.Messages)
}
