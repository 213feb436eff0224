package amqp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	amqpproto "tandem/internal/protocol/amqp"
	"tandem/internal/selector"
	"tandem/internal/store/memstore"
)

type auth struct{}

func (auth) Authenticate(_, user, pass string) (protocol.Identity, error) {
	if user == "" || (user == "admin" && pass == "admin") {
		return protocol.Identity{User: user, Roles: []string{"amq"}}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// startBroker runs a broker with tandem's AMQP adapter on a free port.
func startBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Options{Store: memstore.New(), Filters: func(s string) (broker.Filter, error) { return selector.Compile(s) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := amqpproto.NewServer(amqpproto.Options{Env: protocol.Env{Broker: b, Auth: auth{}}})
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{srv}})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	return "amqp://" + ln.Addr().String()
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string, o Options) *Conn {
	t.Helper()
	c, err := Dial(ctxFor(t), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSendReceiveAndOutcomes(t *testing.T) {
	url := startBroker(t)
	c := dial(t, url, Options{User: "admin", Password: "admin"})
	ctx := ctxFor(t)
	s, err := c.NewSender(ctx, "queue://orders", SenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Send(ctx, &Message{Body: []byte(fmt.Sprint(i)), Text: i == 0, Durable: true,
			Properties: []Property{{Key: "n", Value: int64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.NewReceiver(ctx, "queue://orders", ReceiverOptions{Credit: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d, err := r.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(d.Body) != fmt.Sprint(i) || d.Text != (i == 0) || !d.Durable {
			t.Fatalf("message %d: %+v", i, d.Message)
		}
		if v, _ := d.Property("n"); v != int64(i) {
			t.Fatalf("property n = %v", v)
		}
		if err := d.Accept(); err != nil {
			t.Fatal(err)
		}
	}
	// A modified delivery comes back with its count raised.
	if err := r.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, &Message{Body: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	m, err := c.NewReceiver(ctx, "queue://orders", ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	_ = m.IssueCredit(1)
	d, err := m.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Modify(true, false); err != nil {
		t.Fatal(err)
	}
	_ = m.IssueCredit(1)
	if d, err = m.Receive(ctx); err != nil || d.DeliveryCount != 1 {
		t.Fatalf("redelivered: %v count %d", err, d.DeliveryCount)
	}
	_ = d.Accept()
	if _, err := Dial(ctx, url, Options{User: "admin", Password: "nope"}); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}

func TestTransactionsBrowseAndDurable(t *testing.T) {
	url := startBroker(t)
	c := dial(t, url, Options{ContainerID: "app"})
	ctx := ctxFor(t)
	s, err := c.NewSender(ctx, "queue://tx", SenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.Declare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, s, &Message{Body: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx, _ = c.Declare(ctx)
	_ = tx.Send(ctx, s, &Message{Body: []byte("dropped")})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Browse until a drain says the queue has no more.
	b, err := c.NewReceiver(ctx, "queue://tx", ReceiverOptions{Browse: true, Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.IssueCredit(10)
	_ = b.Drain()
	var seen []string
	for {
		d, err := b.Receive(ctx)
		if errors.Is(err, ErrDrained) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, string(d.Body))
		_ = d.Accept()
	}
	if fmt.Sprint(seen) != "[kept]" {
		t.Fatalf("browsed %v", seen)
	}
	// Transactional receive, rolled back, comes again.
	r, _ := c.NewReceiver(ctx, "queue://tx", ReceiverOptions{Credit: 1})
	d, err := r.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ = c.Declare(ctx)
	_ = tx.Accept(d)
	_ = tx.Rollback(ctx)
	d, err = r.Receive(ctx)
	if err != nil || d.DeliveryCount != 1 {
		t.Fatalf("after rollback: %v %+v", err, d)
	}
	tx, _ = c.Declare(ctx)
	_ = tx.Accept(d)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// A durable subscription outlives its connection.
	sub, err := c.NewReceiver(ctx, "topic://news", ReceiverOptions{Name: "daily", Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.Close(ctx, false)
	pub, _ := c.NewSender(ctx, "topic://news", SenderOptions{})
	if err := pub.Send(ctx, &Message{Body: []byte("while away")}); err != nil {
		t.Fatal(err)
	}
	sub, _ = c.NewReceiver(ctx, "topic://news", ReceiverOptions{Name: "daily", Durable: true})
	d, err = sub.Receive(ctx)
	if err != nil || string(d.Body) != "while away" {
		t.Fatalf("durable subscription: %v %v", err, d)
	}
	_ = d.Accept()

	// Anonymous relay: a rejected send reports the broker's reason.
	relay, err := c.NewSender(ctx, "", SenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = relay.Send(ctx, &Message{Body: []byte("no to")})
	if be := BrokerError(err); be == nil || be.Condition != "amqp:invalid-field" {
		t.Fatalf("send without to: %v", err)
	}
	if err := relay.Send(ctx, &Message{Body: []byte("to tx"), To: "tx"}); err != nil {
		t.Fatal(err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"amqp://a:1", "[amqp://a:1]"},
		{"tcp://a:1", "[amqp://a:1]"},
		{"localhost", "[amqp://localhost:61616]"},
		{"amqps://h:5671", "[amqps://h:5671]"},
		{"failover:(tcp://a:1,tcp://b:2)?randomize=false", "[amqp://a:1 amqp://b:2]"},
		{"(tcp://a:1,ssl://b:2)", "[amqp://a:1 amqps://b:2]"},
	} {
		eps, err := ParseURL(tc.in)
		if err != nil || fmt.Sprint(eps) != tc.want {
			t.Errorf("ParseURL(%q) = %v %v, want %s", tc.in, eps, err, tc.want)
		}
	}
	for _, bad := range []string{"", "http://a:1", "failover:(tcp://a:1"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}
