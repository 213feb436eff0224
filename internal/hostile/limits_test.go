package hostile

import (
	"strings"
	"testing"
	"time"

	"tandem/internal/listener"
	stompproto "tandem/internal/protocol/stomp"
)

// TestConnectionLimits opens connections up to each limit and one more:
// the one beyond is told why it is refused, and a slot freed by a closed
// connection is available again.
func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name    string
		lo      listener.Options
		so      stompproto.Options
		users   []string // the logins of the connections within the limit
		over    string   // the login of the connection beyond it
		mention string
		other   string // a login that must still get in, "" for none
	}{
		{"total", listener.Options{MaxConnections: 2}, stompproto.Options{},
			[]string{"a", "b"}, "c", "connection refused: max-connections (2) reached", ""},
		{"per IP", listener.Options{MaxConnectionsPerIP: 3}, stompproto.Options{},
			[]string{"a", "b", "c"}, "d", "connection refused: max-connections-per-ip (3) reached for 127.0.0.1", ""},
		{"per user", listener.Options{}, stompproto.Options{MaxConnectionsPerUser: 2},
			[]string{"alice", "alice"}, "alice", `connection refused: max-connections-per-user (2) reached for user "alice"`, "bob"},
		{"anonymous clients count as one user", listener.Options{}, stompproto.Options{MaxConnectionsPerUser: 1},
			[]string{""}, "", `max-connections-per-user (1) reached for user "anonymous"`, "bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(t, tc.lo, tc.so)
			var held []*raw
			for _, u := range tc.users {
				c := dialRaw(t, r.addr)
				if refusal := c.connect(u); refusal != "" {
					t.Fatalf("connection within the limit refused: %s", refusal)
				}
				held = append(held, c)
			}
			if refusal := dialRaw(t, r.addr).connect(tc.over); !strings.Contains(refusal, tc.mention) {
				t.Fatalf("connection beyond the limit: %q; want a refusal saying %q", refusal, tc.mention)
			}
			if tc.other != "" {
				if refusal := dialRaw(t, r.addr).connect(tc.other); refusal != "" {
					t.Fatalf("another user was refused: %s", refusal)
				}
			}
			// Freeing a slot lets the next one in.
			held[0].nc.Close()
			deadline := time.Now().Add(5 * time.Second)
			for dialRaw(t, r.addr).connect(tc.over) != "" {
				if time.Now().After(deadline) {
					t.Fatal("a slot freed by a closed connection did not become available")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestFrameLimits sends frames beyond each per-frame limit: each is
// answered with an ERROR that names the limit, and the connection closes.
func TestFrameLimits(t *testing.T) {
	r := serve(t, listener.Options{}, stompproto.Options{
		MaxFrameSize: 64 << 10, MaxHeaders: 10, MaxHeaderSize: 1024, MaxSubscriptions: 3, MaxDestinationLength: 64,
	})
	many := make([]string, 20)
	for i := range many {
		many[i] = "h" + strings.Repeat("x", i) + ":v"
	}
	subscribe := func(i int) string {
		return "SUBSCRIBE\nid:" + strings.Repeat("s", i+1) + "\ndestination:/queue/q" + strings.Repeat("q", i) + "\nack:auto\n\n\x00"
	}
	tests := []struct {
		name    string
		frames  string
		mention string
	}{
		{"frame larger than max-frame-size", sendFrame("/queue/a", 100<<10), "frame too large"},
		{"more headers than max-headers", sendFrame("/queue/a", 1, many...), "too many headers"},
		{"header line longer than max-header-size", sendFrame("/queue/a", 1, "big:"+strings.Repeat("y", 2000)), "header line too long"},
		{"destination longer than max-destination-name-length", sendFrame("/queue/"+strings.Repeat("d", 65), 1),
			"destination name is 65 bytes long; the limit is 64"},
		{"more subscriptions than max-subscriptions-per-connection", subscribe(0) + subscribe(1) + subscribe(2) + subscribe(3),
			"too many subscriptions: this connection already has 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, r.addr)
			if refusal := c.connect("u"); refusal != "" {
				t.Fatal(refusal)
			}
			c.write(tc.frames)
			if got := c.expectError(5 * time.Second); !strings.Contains(got, tc.mention) {
				t.Fatalf("ERROR %q; want it to mention %q", got, tc.mention)
			}
		})
	}
}
