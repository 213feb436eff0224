package config

import (
	"strings"
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

func TestMQTTSettingsValidate(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"mqtt:\n  receive-maximum: 0\n", "mqtt.receive-maximum"},
		{"mqtt:\n  receive-maximum: 70000\n", "mqtt.receive-maximum"},
		{"mqtt:\n  topic-alias-maximum: -1\n", "mqtt.topic-alias-maximum"},
		{"mqtt:\n  server-keep-alive: 1500ms\n", "mqtt.server-keep-alive"},
		{"mqtt:\n  default-session-expiry: 5000000000\n", "mqtt.default-session-expiry"},
		{"mqtt:\n  retained-delivery-rate: 0\n", "mqtt.retained-delivery-rate"},
	} {
		_, err := Parse([]byte(tc.yaml), "b.yaml", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a problem with %s", tc.yaml, err, tc.want)
		}
	}
	c, err := Parse([]byte("mqtt:\n  default-session-expiry: -5\n"), "b.yaml", t.TempDir())
	if err != nil || c.MQTT.DefaultSessionExpiry != -time.Second {
		t.Fatalf("a negative expiry: %v, %v; want -1 (for ever)", err, c.MQTT.DefaultSessionExpiry)
	}
}
