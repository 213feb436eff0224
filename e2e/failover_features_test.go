package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"tandem/client"
	wire "tandem/internal/wire/stomp"
)

// TestPagedAndLargeMessagesSurviveFailover fills a paging address and
// sends a large message on the live of a shared-store pair, consumes part,
// SIGKILLs the live, and consumes the rest from the backup: paged messages
// in order, each once, and the large body whole.
func TestPagedAndLargeMessagesSurviveFailover(t *testing.T) {
	const msgSize, n, half = 16 << 10, 400, 150
	const largeSize = 8 << 20
	p := newPair(t, nil, nil)
	for _, in := range []instance{p.master, p.slave} {
		editConfig(t, in, func(s string) string {
			return strings.Replace(s, "address-settings:\n", `address-settings:
  "paged.#":
    max-size-bytes: 256KiB
    page-size-bytes: 1MiB
    address-full-policy: PAGE
`, 1)
		})
	}
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	prod, err := client.Dial(ctx, p.master.url(), client.WithCredentials("admin", "admin"), client.WithSendWindow(32))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := prod.Send(ctx, "queue://paged.failover", pagedBody(i, msgSize)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	dialRaw(t, p.master.addr()).sendLarge("/queue/large.failover", largeSize)

	consume := func(url string, first, last int) {
		t.Helper()
		c := dialAdmin(t, ctx, url)
		sub, err := c.Subscribe(ctx, "queue://paged.failover", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(50))
		if err != nil {
			t.Fatal(err)
		}
		for i := first; i < last; i++ {
			m := receive(t, sub, 30*time.Second)
			if !bytes.Equal(m.Body, pagedBody(i, msgSize)) {
				t.Fatalf("message %d: got %.9q", i, m.Body)
			}
			if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	consume(p.master.url(), 0, half)

	master.kill()
	waitListening(t, p.slave.addr(), 30*time.Second)
	consume(p.slave.url(), half, n)

	cons := dialRaw(t, p.slave.addr())
	cons.write(&wire.Frame{Command: wire.CmdSubscribe, Headers: wire.Headers{{Key: "destination", Value: "/queue/large.failover"},
		{Key: "id", Value: "s1"}}})
	h := sha256.New()
	if m := cons.next(h); m.Command != wire.CmdMessage {
		t.Fatalf("expected the large MESSAGE from the backup, got %s %q", m.Command, m.Body)
	}
	if !bytes.Equal(h.Sum(nil), patternSum(largeSize)) {
		t.Fatal("the large body read from the backup differs from the one sent to the live")
	}
	c := dialAdmin(t, ctx, p.slave.url())
	sub, err := c.Subscribe(ctx, "queue://paged.failover")
	if err != nil {
		t.Fatal(err)
	}
	nothing(t, sub, 500*time.Millisecond)
	t.Logf("%d paged messages of %d KiB (%d consumed before the kill) and one %d MiB large message survived failover",
		n, msgSize>>10, half, largeSize>>20)
}
