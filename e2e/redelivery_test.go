package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// TestDeliveryCountSurvivesKill: a message's delivery count is on disk
// after every failed delivery, so that max-delivery-attempts holds across
// a SIGKILL of the broker: two failures before the kill and one after send
// the message to the dead-letter queue. The redelivery delay holds the
// message back each time, by at least the delay times the multiplier's
// powers.
func TestDeliveryCountSurvivesKill(t *testing.T) {
	in := create(t, "b1")
	editConfig(t, in, func(s string) string {
		return replaceOnce(t, s, "address-settings:\n", `address-settings:
  poison:
    max-delivery-attempts: 3
    redelivery-delay: 200ms
    redelivery-delay-multiplier: 2
`)
	})
	p := start(t, in)
	waitListening(t, in.addr(), 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, "queue://poison", []byte("bad apple")); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, "queue://poison", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	var nacked time.Time
	for i, wantDelay := range []time.Duration{0, 200 * time.Millisecond, 400 * time.Millisecond} {
		m := receive(t, sub, 30*time.Second)
		if got := m.Header("delivery-count"); got != []string{"1", "2", "3"}[i] {
			t.Fatalf("delivery %d has delivery-count %q", i+1, got)
		}
		// A lower bound only: a loaded machine may redeliver later, never
		// sooner.
		if since := time.Since(nacked); i > 0 && since < wantDelay {
			t.Fatalf("delivery %d came %v after the NACK, before the %v redelivery delay", i+1, since, wantDelay)
		}
		if i == 2 {
			break // in flight, its count of 2 failures on disk
		}
		if err := m.Nack(ctx); err != nil {
			t.Fatal(err)
		}
		nacked = time.Now()
	}
	// Kill first: a client that closed first would make the broker take
	// the third delivery back as failed and dead-letter it before the kill.
	p.kill()
	c.Close()

	start(t, in)
	waitListening(t, in.addr(), 30*time.Second)
	c, err = client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err = c.Subscribe(ctx, "queue://poison", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, sub, 30*time.Second)
	if got := m.Header("delivery-count"); got != "3" || !m.Redelivered {
		t.Fatalf("after SIGKILL: delivery-count %q, redelivered %v; want 3, true (the two failures before the kill count)", got, m.Redelivered)
	}
	if err := m.Nack(ctx); err != nil {
		t.Fatal(err)
	}
	dlq, err := c.Subscribe(ctx, "queue://DLQ")
	if err != nil {
		t.Fatal(err)
	}
	if dl := receive(t, dlq, 30*time.Second); string(dl.Body) != "bad apple" {
		t.Fatalf("dead letter %q", dl.Body)
	}
}

// replaceOnce replaces the first old in s with new, failing the test when
// s lacks it.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("broker.yaml lacks %q; the test needs updating", old)
	}
	return strings.Replace(s, old, new, 1)
}
