package openwire

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tandem/client/openwire"
	"tandem/internal/broker"
	wire "tandem/internal/wire/openwire"
)

// TestGoClient runs tandem's Go OpenWire client (client/openwire, which
// the CLI and perf use) against the adapter.
func TestGoClient(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "failover:(tcp://127.0.0.1:1,tcp://" + s.addr + ")?randomize=false"
	c, err := openwire.Dial(ctx, url, openwire.Options{ClientID: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Broker() == "" {
		t.Fatal("no broker name")
	}

	t.Run("send, receive, ack", func(t *testing.T) {
		props := wire.NewMap()
		props.Set("n", wire.Int(5))
		if err := c.Send(ctx, "queue://go.q", []byte("hello"), openwire.SendOptions{Text: true, Properties: props}); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(ctx, "go.q", []byte{0, 1}, openwire.SendOptions{NonPersistent: true}); err != nil {
			t.Fatal(err)
		}
		sub, err := c.Subscribe(ctx, "queue://go.q", openwire.SubscribeOptions{Prefetch: 10})
		if err != nil {
			t.Fatal(err)
		}
		m, err := sub.Receive(ctx)
		if err != nil || m.Text() != "hello" || m.Kind != wire.TypeTextMessage {
			t.Fatalf("got %v %v", m, err)
		}
		p, _ := m.Raw.Properties()
		if v, _ := p.Get("n"); v.Type() != wire.ValueInt {
			t.Fatalf("property n %v", v)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		m, err = sub.Receive(ctx)
		if err != nil || string(m.Body) != "\x00\x01" || m.Kind != wire.TypeBytesMessage {
			t.Fatalf("got %v %v", m, err)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the queue to empty", func() bool { return s.depth(t, "go.q") == 0 })
	})

	t.Run("send window and flush", func(t *testing.T) {
		w, err := openwire.Dial(ctx, "tcp://"+s.addr, openwire.Options{SendWindow: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for i := 0; i < 200; i++ {
			if err := w.Send(ctx, "queue://go.window", []byte(fmt.Sprint(i)), openwire.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := s.depth(t, "go.window"); n != 200 {
			t.Fatalf("%d stored after Flush, want 200", n)
		}
	})

	t.Run("browse", func(t *testing.T) {
		var got []string
		if err := c.Browse(ctx, "queue://go.window", "", func(m *openwire.Message) error {
			got = append(got, string(m.Body))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 200 || got[0] != "0" || got[199] != "199" {
			t.Fatalf("browsed %d: %v...", len(got), got[:min(3, len(got))])
		}
	})

	t.Run("transaction", func(t *testing.T) {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Send(ctx, "queue://go.tx", []byte("in tx"), openwire.SendOptions{Text: true}); err != nil {
			t.Fatal(err)
		}
		if n := s.depth(t, "go.tx"); n != 0 {
			t.Fatalf("%d visible before commit", n)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		sub, err := c.Subscribe(ctx, "queue://go.tx", openwire.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx, _ = c.Begin(ctx)
		if err := tx.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the ack to commit", func() bool { return s.depth(t, "go.tx") == 0 })
	})

	t.Run("durable subscription", func(t *testing.T) {
		sub, err := c.Subscribe(ctx, "topic://go.news", openwire.SubscribeOptions{DurableName: "d"})
		if err != nil {
			t.Fatal(err)
		}
		_ = sub.Close(ctx)
		if err := c.Send(ctx, "topic://go.news", []byte("while away"), openwire.SendOptions{Text: true}); err != nil {
			t.Fatal(err)
		}
		sub, err = c.Subscribe(ctx, "topic://go.news", openwire.SubscribeOptions{DurableName: "d"})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := sub.Receive(ctx); err != nil || m.Text() != "while away" {
			t.Fatalf("got %v %v", m, err)
		}
	})

	t.Run("refused login", func(t *testing.T) {
		_, err := openwire.Dial(ctx, "tcp://"+s.addr, openwire.Options{User: "admin", Password: "nope"})
		var be *openwire.BrokerError
		if !errors.As(err, &be) || be.Class != classSecurity {
			t.Fatalf("dial with a wrong password: %v", err)
		}
	})
}
