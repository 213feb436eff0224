package stomp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBigMessagesDoNotTripTheSlowConsumerBound queues messages whose
// prefetch window (1000 messages) would far exceed the connection's pending
// bound, then consumes them with a consumer that reads normally: the window
// in bytes keeps what the broker queues for it under the bound, so it is
// never taken for a slow consumer and gets every message once.
func TestBigMessagesDoNotTripTheSlowConsumerBound(t *testing.T) {
	const n, size = 120, 64 << 10 // 7.5 MiB in all
	addr := startServer(t, Options{MaxPendingBytes: 4 << 20})
	p := dial(t, addr)
	p.connect()
	body := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		p.send("SEND", body, "destination", "/queue/big", "persistent", "true", "receipt", fmt.Sprint(i))
		p.expect("RECEIPT")
	}
	c := dial(t, addr)
	c.connect()
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/queue/big", "ack", "client-individual")
	for i := 0; i < n; i++ {
		f := c.expect("MESSAGE")
		if len(f.Body) != size {
			t.Fatalf("message %d has %d bytes, want %d", i, len(f.Body), size)
		}
		c.send("ACK", "", "id", header(t, f, "ack"))
	}
	// Nothing more: every message came once.
	_ = c.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			break
		}
		if !f.IsHeartBeat() {
			t.Fatalf("unexpected %s after the last message", f.Command)
		}
	}
}

// TestConsumerWindowSizeHeader checks Artemis' consumer-window-size in
// bytes: a window of two messages' size holds a client-acknowledging
// consumer to two unacknowledged deliveries, and each ACK lets one more in.
func TestConsumerWindowSizeHeader(t *testing.T) {
	const size = 10 << 10
	addr := startServer(t, Options{})
	p := dial(t, addr)
	p.connect()
	for i := 0; i < 5; i++ {
		p.send("SEND", strings.Repeat("y", size), "destination", "/queue/w", "receipt", fmt.Sprint(i))
		p.expect("RECEIPT")
	}
	c := dial(t, addr)
	c.connect()
	// Two messages fill 2*(size+overhead) > 2*size: the window is full after
	// the second delivery.
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/queue/w", "ack", "client-individual",
		"consumer-window-size", fmt.Sprint(2*size))
	first := c.expect("MESSAGE")
	c.expect("MESSAGE")
	expectNothing(t, c, 300*time.Millisecond)
	c.send("ACK", "", "id", header(t, first, "ack"))
	c.expect("MESSAGE")
	expectNothing(t, c, 300*time.Millisecond)

	if got := subscribeError(t, addr, "consumer-window-size", "lots"); !strings.Contains(got, "consumer-window-size") {
		t.Errorf("a bad consumer-window-size got ERROR %q; want one naming the header", got)
	}
}

// expectNothing checks that no frame other than heart-beats arrives for d.
func expectNothing(t *testing.T, c *client, d time.Duration) {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return
		}
		if !f.IsHeartBeat() {
			t.Fatalf("got %s while the consumer's window was full", f.Command)
		}
	}
}

// subscribeError subscribes with one extra header and returns the message
// of the ERROR the broker answers.
func subscribeError(t *testing.T, addr, key, value string) string {
	t.Helper()
	c := dial(t, addr)
	c.connect()
	c.send("SUBSCRIBE", "", "id", "1", "destination", "/queue/w", key, value)
	return header(t, c.expect("ERROR"), "message")
}
