package config

import (
	"testing"
	"time"
)

func TestLimitsParse(t *testing.T) {
	c, err := Parse([]byte(`max-connections-per-ip: 20
max-connections-per-user: 5
max-headers: 50
max-header-size: 8KiB
max-subscriptions-per-connection: 10
max-destination-name-length: 200
handshake-timeout: 3
`), "b.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConnectionsPerIP: 20, MaxConnectionsPerUser: 5, MaxHeaders: 50, MaxHeaderSize: 8 << 10,
		MaxSubscriptions: 10, MaxDestinationLength: 200, HandshakeTimeout: 3 * time.Second}
	if c.Limits != want {
		t.Fatalf("limits %+v, want %+v", c.Limits, want)
	}
	d, err := Parse([]byte("name: x\n"), "b.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d.Limits.MaxConnectionsPerIP != -1 || d.Limits.HandshakeTimeout != 10*time.Second || d.Limits.MaxHeaders != 1000 {
		t.Fatalf("default limits %+v", d.Limits)
	}
}
