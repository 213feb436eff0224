package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// editConfig rewrites an instance's broker.yaml.
func editConfig(t *testing.T, in instance, edit func(string) string) {
	t.Helper()
	path := filepath.Join(in.dir, "etc", "broker.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := edit(string(b))
	if out == string(b) {
		t.Fatal("config edit changed nothing")
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceInConfig rewrites an instance's broker.yaml, replacing each pair's
// first text with its second; every first text must be there, so a change
// of the generated file cannot silently void a test's setting.
func replaceInConfig(t *testing.T, in instance, pairs ...[2]string) {
	t.Helper()
	editConfig(t, in, func(s string) string {
		for _, r := range pairs {
			if !strings.Contains(s, r[0]) {
				t.Fatalf("%s/etc/broker.yaml lacks %q; the test needs updating", in.dir, r[0])
			}
			s = strings.Replace(s, r[0], r[1], 1)
		}
		return s
	})
}

// receive waits up to within for the next message of sub.
func receive(t *testing.T, sub *client.Subscription, within time.Duration) *client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatalf("no message within %v: %v", within, err)
	}
	return m
}

// nothing checks that sub receives nothing within d.
func nothing(t *testing.T, sub *client.Subscription, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := sub.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unexpected message %q (%v)", m.Body, err)
	}
}

func bodiesOf(t *testing.T, sub *client.Subscription, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, string(receive(t, sub, 5*time.Second).Body))
	}
	return out
}

// TestMessagingFeatures checks each messaging feature through the real
// binary and STOMP, on one broker with one queue per feature.
func TestMessagingFeatures(t *testing.T) {
	in := create(t, "msg")
	editConfig(t, in, func(s string) string {
		s = strings.Replace(s, "max-delivery-attempts: 10", "max-delivery-attempts: 3", 1)
		return strings.Replace(s, "addresses:\n", `addresses:
  - name: prices
    routing-types: [ANYCAST]
    queues:
      - name: prices
        routing-type: ANYCAST
        last-value: true
`, 1)
	})
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	parent := t
	c := dialAdmin(t, ctx, in.url())
	send := func(t *testing.T, dest, body string, opts ...client.SendOption) {
		t.Helper()
		if err := c.Send(ctx, dest, []byte(body), opts...); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
	}
	sub := func(t *testing.T, dest string, opts ...client.SubscribeOption) *client.Subscription {
		t.Helper()
		s, err := c.Subscribe(ctx, dest, opts...)
		if err != nil {
			t.Fatalf("subscribe %s: %v", dest, err)
		}
		t.Cleanup(func() { s.Unsubscribe(context.Background()) })
		return s
	}

	t.Run("priority", func(t *testing.T) {
		for _, p := range []int{1, 9, 4} {
			send(t, "queue://prio", string(rune('0'+p)), client.WithPriority(p))
		}
		if got := strings.Join(bodiesOf(t, sub(t, "queue://prio"), 3), ""); got != "941" {
			t.Fatalf("priority order %q, want 941", got)
		}
	})
	t.Run("selector", func(t *testing.T) {
		send(t, "queue://sel", "blue", client.WithHeader("color", "blue"))
		send(t, "queue://sel", "red", client.WithHeader("color", "red"), client.WithHeader("weight", "3.5"))
		s := sub(t, "queue://sel", client.WithSelector("color = 'red' AND weight > 2.5"))
		if got := bodiesOf(t, s, 1)[0]; got != "red" {
			t.Fatalf("selector delivered %q", got)
		}
		nothing(t, s, 300*time.Millisecond)
		if _, err := c.Subscribe(ctx, "queue://sel", client.WithSelector("color = ")); err == nil || !strings.Contains(err.Error(), "position") {
			t.Fatalf("bad selector: %v", err)
		}
		c = dialAdmin(parent, ctx, in.url()) // the ERROR closed that connection
	})
	t.Run("scheduled", func(t *testing.T) {
		send(t, "queue://sched", "later", client.WithHeader("AMQ_SCHEDULED_DELAY", "400"))
		send(t, "queue://sched", "now")
		s := sub(t, "queue://sched")
		begin := time.Now()
		if got := bodiesOf(t, s, 2); got[0] != "now" || got[1] != "later" || time.Since(begin) < 300*time.Millisecond {
			t.Fatalf("scheduled: %q after %v", got, time.Since(begin))
		}
	})
	t.Run("expiry moves to ExpiryQueue without a consumer", func(t *testing.T) {
		send(t, "queue://exp", "stale", client.WithTimeToLive(100*time.Millisecond))
		s := sub(t, "queue://ExpiryQueue")
		m := receive(t, s, 5*time.Second) // the scanner runs every second
		if string(m.Body) != "stale" || m.Header("_AMQ_ORIG_ADDRESS") != "exp" {
			t.Fatalf("expired message %q headers %v", m.Body, m.Headers)
		}
		m.Ack(ctx)
	})
	t.Run("dead letters after max-delivery-attempts", func(t *testing.T) {
		send(t, "queue://work", "poison")
		s := sub(t, "queue://work", client.WithAckMode(client.AckClientIndividual))
		for i := 1; i <= 3; i++ {
			m := receive(t, s, 5*time.Second)
			if i > 1 && !m.Redelivered {
				t.Fatalf("delivery %d not marked redelivered", i)
			}
			if err := m.Nack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		m := receive(t, sub(t, "queue://DLQ"), 5*time.Second)
		if string(m.Body) != "poison" || m.Header("_AMQ_ORIG_ADDRESS") != "work" {
			t.Fatalf("dead letter %q headers %v", m.Body, m.Headers)
		}
	})
	t.Run("last-value queue", func(t *testing.T) {
		for _, v := range []string{"10", "11", "12"} {
			send(t, "queue://prices", v, client.WithHeader("_AMQ_LVQ_NAME", "ACME"))
		}
		msgs, err := c.Browse(ctx, "queue://prices")
		if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "12" {
			t.Fatalf("last-value browse: %d messages, %v", len(msgs), err)
		}
	})
	t.Run("exclusive consumer", func(t *testing.T) {
		a := sub(t, "queue://excl", client.WithAckMode(client.AckAuto))
		b := sub(t, "queue://excl", client.WithSubscriptionHeader("activemq.exclusive", "true"))
		for i := 0; i < 4; i++ {
			send(t, "queue://excl", "m")
		}
		bodiesOf(t, b, 4)
		nothing(t, a, 200*time.Millisecond)
	})
	t.Run("message groups", func(t *testing.T) {
		a := sub(t, "queue://grp")
		b := sub(t, "queue://grp")
		for i := 0; i < 6; i++ {
			send(t, "queue://grp", "g", client.WithHeader("JMSXGroupID", "order-7"))
		}
		ctx2, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		n := 0
		for _, s := range []*client.Subscription{a, b} {
			for {
				if _, err := s.Receive(ctx2); err != nil {
					break
				}
				n++
			}
			if n != 0 && n != 6 {
				t.Fatalf("a group was split: the first consumer got %d of 6", n)
			}
		}
	})
	t.Run("request reply over a temporary queue", func(t *testing.T) {
		replies := sub(t, "/temp-queue/replies")
		requests := sub(t, "queue://service")
		send(t, "queue://service", "ping", client.WithHeader("reply-to", "/temp-queue/replies"), client.WithHeader("correlation-id", "c-42"))
		req := receive(t, requests, 5*time.Second)
		responder := dialAdmin(t, ctx, in.url())
		if err := responder.Send(ctx, req.Header("reply-to"), []byte("pong"), client.WithHeader("correlation-id", req.Header("correlation-id"))); err != nil {
			t.Fatal(err)
		}
		if m := receive(t, replies, 5*time.Second); string(m.Body) != "pong" || m.Header("correlation-id") != "c-42" {
			t.Fatalf("reply %q correlation %q", m.Body, m.Header("correlation-id"))
		}
	})
	t.Run("headers survive escaping", func(t *testing.T) {
		weird := "a:b\\c\nd"
		send(t, "queue://hdr", "x", client.WithHeader("x-weird", weird))
		if m := receive(t, sub(t, "queue://hdr"), 5*time.Second); m.Header("x-weird") != weird {
			t.Fatalf("header came back as %q", m.Header("x-weird"))
		}
	})
}

// TestDurableFeaturesSurviveSIGKILL checks the durable features across a
// SIGKILL and restart of the broker.
func TestDurableFeaturesSurviveSIGKILL(t *testing.T) {
	in := create(t, "durable")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	sc, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"), client.WithClientID("app-1"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := sc.Subscribe(ctx, "topic://news", client.WithSubscriptionHeader("durable-subscription-name", "feed"))
	if err != nil {
		t.Fatal(err)
	}
	ds.Unsubscribe(ctx) // detach; the durable subscription stays
	sc.Close()

	c := dialAdmin(t, ctx, in.url())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Send(ctx, "topic://news", []byte("while-away")))
	tx, err := c.Begin(ctx)
	must(err)
	must(tx.Send(ctx, "queue://tx", []byte("committed-1")))
	must(tx.Send(ctx, "queue://tx", []byte("committed-2")))
	must(tx.Commit(ctx))
	open, err := c.Begin(ctx)
	must(err)
	must(open.Send(ctx, "queue://tx", []byte("never-committed")))
	must(c.Send(ctx, "queue://dup", []byte("once"), client.WithDuplicateID("order-1")))
	must(c.Send(ctx, "queue://sched", []byte("later"), client.WithHeader("AMQ_SCHEDULED_DELAY", "1500")))
	p.kill()

	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	c = dialAdmin(t, ctx, in.url())
	must(c.Send(ctx, "queue://dup", []byte("once"), client.WithDuplicateID("order-1")))

	sc, err = client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"), client.WithClientID("app-1"))
	must(err)
	defer sc.Close()
	ds, err = sc.Subscribe(ctx, "topic://news", client.WithSubscriptionHeader("durable-subscription-name", "feed"))
	must(err)
	if got := bodiesOf(t, ds, 1)[0]; got != "while-away" {
		t.Fatalf("durable subscription got %q", got)
	}
	txs, err := c.Subscribe(ctx, "queue://tx")
	must(err)
	if got := strings.Join(bodiesOf(t, txs, 2), ","); got != "committed-1,committed-2" {
		t.Fatalf("transaction after restart: %q", got)
	}
	nothing(t, txs, 300*time.Millisecond)
	dups, err := c.Subscribe(ctx, "queue://dup")
	must(err)
	bodiesOf(t, dups, 1)
	nothing(t, dups, 300*time.Millisecond)
	sched, err := c.Subscribe(ctx, "queue://sched")
	must(err)
	if got := bodiesOf(t, sched, 1)[0]; got != "later" {
		t.Fatalf("scheduled message after restart: %q", got)
	}
}
