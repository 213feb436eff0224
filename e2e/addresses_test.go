package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// TestWildcardSubscriptions subscribes on wildcard topics in every spelling
// and checks that each receives exactly the matching addresses' messages,
// including addresses created after the subscription, and that a durable
// wildcard subscription keeps collecting across a SIGKILL.
func TestWildcardSubscriptions(t *testing.T) {
	in := create(t, "wild")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := dialAdmin(t, ctx, in.url())
	subscribe := func(c *client.Conn, dest string, opts ...client.SubscribeOption) *client.Subscription {
		t.Helper()
		s, err := c.Subscribe(ctx, dest, opts...)
		if err != nil {
			t.Fatalf("subscribe %s: %v", dest, err)
		}
		return s
	}
	send := func(c *client.Conn, dest, body string) {
		t.Helper()
		if err := c.Send(ctx, dest, []byte(body)); err != nil {
			t.Fatalf("send to %s: %v", dest, err)
		}
	}

	subs := map[string]*client.Subscription{
		"/topic/news.#":     subscribe(c, "/topic/news.#"),
		"topic://news.*":    subscribe(c, "topic://news.*"),
		"/topic/news.>":     subscribe(c, "/topic/news.>"), // ActiveMQ's spelling
		"/topic/#.sport":    subscribe(c, "/topic/#.sport"),
		"/topic/news.*.eu":  subscribe(c, "/topic/news.*.eu"),
		"/topic/news.world": subscribe(c, "/topic/news.world"),
	}
	sc, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"), client.WithClientID("reader"))
	if err != nil {
		t.Fatal(err)
	}
	durable := subscribe(sc, "/topic/news.#", client.WithSubscriptionHeader("durable-subscription-name", "all-news"))
	if err := durable.Unsubscribe(ctx); err != nil { // detach; the durable subscription stays
		t.Fatal(err)
	}
	sc.Close()

	send(c, "/topic/news.world", "world")
	send(c, "/topic/news.sport", "sport")      // a new address, created after the subscriptions
	send(c, "/topic/news.france.eu", "france") // three words
	send(c, "/topic/weather.sport", "rain")    // only #.sport matches
	send(c, "/topic/newsroom", "not-news")     // a word prefix is no match
	want := map[string][]string{
		"/topic/news.#":     {"world", "sport", "france"},
		"topic://news.*":    {"world", "sport"},
		"/topic/news.>":     {"world", "sport", "france"},
		"/topic/#.sport":    {"sport", "rain"},
		"/topic/news.*.eu":  {"france"},
		"/topic/news.world": {"world"},
	}
	for dest, s := range subs {
		if got := strings.Join(bodiesOf(t, s, len(want[dest])), ","); got != strings.Join(want[dest], ",") {
			t.Errorf("%s received %s, want %s", dest, got, strings.Join(want[dest], ","))
		}
	}
	for _, s := range subs {
		nothing(t, s, 200*time.Millisecond)
	}

	p.kill()
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	c = dialAdmin(t, ctx, in.url())
	send(c, "/topic/news.after-restart", "after")
	sc, err = client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"), client.WithClientID("reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	durable = subscribe(sc, "/topic/news.#", client.WithSubscriptionHeader("durable-subscription-name", "all-news"))
	if got := strings.Join(bodiesOf(t, durable, 4), ","); got != "world,sport,france,after" {
		t.Fatalf("durable wildcard subscription after SIGKILL received %s", got)
	}
	nothing(t, durable, 200*time.Millisecond)
}

// TestAutoDeleteThroughSTOMP checks auto-delete-queues and
// auto-delete-queues-message-count as a client sees them: a queue deleted
// with what it held comes back empty, one kept still has its messages, and
// the deletion survives a SIGKILL.
func TestAutoDeleteThroughSTOMP(t *testing.T) {
	in := create(t, "autodel")
	editConfig(t, in, func(s string) string {
		return strings.Replace(s, "address-settings:\n", `address-settings:
  "scratch.#":
    auto-delete-queues-message-count: -1
  "keep.#":
    auto-delete-queues: false
`, 1)
	})
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialAdmin(t, ctx, in.url())

	// consumeOneAndLeave sends three messages, takes one and unsubscribes,
	// leaving two in the queue.
	consumeOneAndLeave := func(dest string) {
		t.Helper()
		for _, b := range []string{"1", "2", "3"} {
			if err := c.Send(ctx, dest, []byte(b)); err != nil {
				t.Fatal(err)
			}
		}
		s, err := c.Subscribe(ctx, dest, client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(1))
		if err != nil {
			t.Fatal(err)
		}
		if err := receive(t, s, 5*time.Second).Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
	}
	remaining := func(dest string) int {
		t.Helper()
		msgs, err := c.Browse(ctx, dest)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}

	consumeOneAndLeave("queue://scratch.a") // message count -1: deleted with its two messages
	p.waitLog("queue=scratch.a", 5*time.Second)
	consumeOneAndLeave("queue://default.b") // default message count 0: two messages keep it
	consumeOneAndLeave("queue://keep.c")    // auto-delete-queues false
	if n := remaining("queue://scratch.a"); n != 0 {
		t.Errorf("scratch.a holds %d messages after auto-delete, want 0", n)
	}
	for _, dest := range []string{"queue://default.b", "queue://keep.c"} {
		if n := remaining(dest); n != 2 {
			t.Errorf("%s holds %d messages, want the 2 left behind", dest, n)
		}
	}
	// An emptied queue goes once its last consumer leaves.
	s, err := c.Subscribe(ctx, "queue://default.b")
	if err != nil {
		t.Fatal(err)
	}
	bodiesOf(t, s, 2)
	if err := s.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitLog("queue=default.b", 5*time.Second)

	p.kill()
	p = start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	c = dialAdmin(t, ctx, in.url())
	if n := remaining("queue://keep.c"); n != 2 {
		t.Errorf("keep.c holds %d messages after SIGKILL, want 2", n)
	}
	if n := remaining("queue://scratch.a"); n != 0 {
		t.Errorf("scratch.a came back with %d messages after SIGKILL", n)
	}
	if out := p.output(); !strings.Contains(out, "queues=3") {
		t.Errorf("after restart the broker should recover DLQ, ExpiryQueue and keep.c only:\n%s", out)
	}
}

// TestConfiguredAddresses declares a multicast address with queues in
// broker.yaml (a filter, a non-durable queue, max-consumers, exclusive,
// last-value) and checks each through STOMP, and again after a SIGKILL.
func TestConfiguredAddresses(t *testing.T) {
	in := create(t, "configured")
	editConfig(t, in, func(s string) string {
		return strings.Replace(s, "addresses:\n", `addresses:
  - name: orders
    routing-types: [MULTICAST]
    queues:
      - name: orders.eu
        filter: "region = 'eu'"
      - name: orders.audit
        durable: false
        max-consumers: 1
      - name: orders.latest
        last-value-key: symbol
        exclusive: true
`, 1)
	})
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialAdmin(t, ctx, in.url())
	for _, m := range []struct{ region, symbol, body string }{
		{"eu", "ACME", "eu-1"}, {"us", "ACME", "us-1"}, {"eu", "INIT", "eu-2"},
	} {
		if err := c.Send(ctx, "topic://orders", []byte(m.body), client.WithHeader("region", m.region), client.WithHeader("symbol", m.symbol)); err != nil {
			t.Fatal(err)
		}
	}
	browse := func(c *client.Conn, fqqn string) string {
		t.Helper()
		msgs, err := c.Browse(ctx, fqqn)
		if err != nil {
			t.Fatalf("browse %s: %v", fqqn, err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, string(m.Body))
		}
		return strings.Join(out, ",")
	}
	check := func(c *client.Conn, when, audit string) {
		t.Helper()
		if got := browse(c, "orders::orders.eu"); got != "eu-1,eu-2" {
			t.Errorf("%s: filtered queue holds %s, want eu-1,eu-2", when, got)
		}
		if got := browse(c, "orders::orders.latest"); got != "us-1,eu-2" {
			t.Errorf("%s: last-value queue holds %s, want the newest per symbol: us-1,eu-2", when, got)
		}
		if got := browse(c, "orders::orders.audit"); got != audit {
			t.Errorf("%s: non-durable queue holds %q, want %q", when, got, audit)
		}
	}
	check(c, "before restart", "eu-1,us-1,eu-2")
	first, err := c.Subscribe(ctx, "orders::orders.audit")
	if err != nil {
		t.Fatal(err)
	}
	bodiesOf(t, first, 3)
	second := dialAdmin(t, ctx, in.url())
	if _, err := second.Subscribe(ctx, "orders::orders.audit"); err == nil || !strings.Contains(err.Error(), "max-consumers") {
		t.Fatalf("second consumer on a max-consumers: 1 queue: %v", err)
	}

	p.kill()
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	c = dialAdmin(t, ctx, in.url())
	check(c, "after SIGKILL", "") // the non-durable queue exists again, empty
}
