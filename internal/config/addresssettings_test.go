package config

import (
	"strings"
	"testing"
	"time"
)

func TestAddressSettingsForDefaults(t *testing.T) {
	c := Default()
	got := c.AddressSettingsFor("TEST")
	want := DefaultAddressSettings()
	if got != want {
		t.Fatalf("no settings: got %+v, want the defaults %+v", got, want)
	}
	if want.DeadLetterAddress != "DLQ" || want.ExpiryAddress != "ExpiryQueue" || want.ExpiryDelay != NoExpiryDelay ||
		want.MaxDeliveryAttempts != 10 || want.RedeliveryDelayMultiplier != 1.0 || want.MaxSizeBytes != -1 ||
		want.AddressFullPolicy != PolicyPage || want.PageSizeBytes != 10<<20 || want.MinLargeMessageSize != 100<<10 ||
		want.DefaultConsumerWindowSize != 1<<20 || !want.AutoCreateQueues || !want.AutoDeleteAddresses ||
		want.DefaultQueueRoutingType != Anycast || want.DefaultAddressRoutingType != Anycast {
		t.Fatalf("defaults = %+v", want)
	}
}

const precedenceYAML = `
address-settings:
  "#":
    dead-letter-address: DLQ
    max-delivery-attempts: 10
    redelivery-delay: 1s
    address-full-policy: PAGE
  orders.#:
    max-delivery-attempts: 5
    address-full-policy: BLOCK
  orders.eu.*:
    max-delivery-attempts: 3
  orders.eu.paris:
    dead-letter-address: ParisDLQ
  orders.*.#:
    redelivery-delay: 2s
  "*.eu.#":
    expiry-address: EUExpiry
  prices.>:
    max-size-bytes: 1MiB
`

func TestAddressSettingsForPrecedence(t *testing.T) {
	c, err := Parse([]byte(precedenceYAML), "b.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		address     string
		dla, expiry string
		attempts    int
		delay       time.Duration
		policy      AddressFullPolicy
	}{
		// Only "#" matches.
		{"TEST", "DLQ", "ExpiryQueue", 10, time.Second, PolicyPage},
		// "orders.#" overrides attempts and policy; "#" supplies the rest.
		{"orders", "DLQ", "ExpiryQueue", 5, time.Second, PolicyBlock},
		// "orders.*.#" (one more '*' word) beats "orders.#" for the delay.
		{"orders.us", "DLQ", "ExpiryQueue", 5, 2 * time.Second, PolicyBlock},
		// "orders.eu.*" (two literal words) beats every other pattern for
		// attempts; "*.eu.#" supplies the expiry address.
		{"orders.eu.lyon", "DLQ", "EUExpiry", 3, 2 * time.Second, PolicyBlock},
		// The exact address beats all wildcards for what it sets.
		{"orders.eu.paris", "ParisDLQ", "EUExpiry", 3, 2 * time.Second, PolicyBlock},
		// "orders.eu.*" needs exactly three words.
		{"orders.eu.paris.x", "DLQ", "EUExpiry", 5, 2 * time.Second, PolicyBlock},
	}
	for _, tc := range tests {
		s := c.AddressSettingsFor(tc.address)
		if s.DeadLetterAddress != tc.dla || s.ExpiryAddress != tc.expiry || s.MaxDeliveryAttempts != tc.attempts ||
			s.RedeliveryDelay != tc.delay || s.AddressFullPolicy != tc.policy {
			t.Errorf("%s: got dla=%s expiry=%s attempts=%d delay=%v policy=%s; want %s %s %d %v %s", tc.address,
				s.DeadLetterAddress, s.ExpiryAddress, s.MaxDeliveryAttempts, s.RedeliveryDelay, s.AddressFullPolicy,
				tc.dla, tc.expiry, tc.attempts, tc.delay, tc.policy)
		}
		// max-redelivery-delay follows the resolved redelivery-delay.
		if s.MaxRedeliveryDelay != 10*tc.delay {
			t.Errorf("%s: max-redelivery-delay = %v, want 10 × %v", tc.address, s.MaxRedeliveryDelay, tc.delay)
		}
	}
	// ActiveMQ Classic's '>' works like '#'.
	if got := c.AddressSettingsFor("prices.eu.fx").MaxSizeBytes; got != 1<<20 {
		t.Errorf("prices.> max-size-bytes = %d", got)
	}
	if got := c.AddressSettingsFor("prices").MaxSizeBytes; got != 1<<20 {
		t.Errorf("prices.> should match prices (zero words): %d", got)
	}
}

func TestAddressSettingsForExplicitValues(t *testing.T) {
	c, err := Parse([]byte(`
address-settings:
  "#":
    dead-letter-address: ""
    redelivery-delay: 100
    max-redelivery-delay: 5s
    expiry-delay: 30000
    auto-create-queues: false
`), "b.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	s := c.AddressSettingsFor("x")
	// An explicit empty dead-letter address (drop) differs from unset.
	if s.DeadLetterAddress != "" || s.RedeliveryDelay != 100*time.Millisecond || s.MaxRedeliveryDelay != 5*time.Second ||
		s.ExpiryDelay != 30*time.Second || s.AutoCreateQueues {
		t.Fatalf("got %+v", s)
	}
}

func TestAddressSettingsForExpiryDelayNever(t *testing.T) {
	c, err := Parse([]byte("address-settings:\n  a: {expiry-delay: 10s}\n  a.b: {expiry-delay: -1}\n"), "b.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AddressSettingsFor("a.b").ExpiryDelay; got != NoExpiryDelay {
		t.Fatalf("expiry-delay -1 resolved to %v, want NoExpiryDelay", got)
	}
	if got := c.AddressSettingsFor("a").ExpiryDelay; got != 10*time.Second {
		t.Fatalf("a: %v", got)
	}
}

func TestSmallestLargeMessageSize(t *testing.T) {
	cases := []struct {
		yaml string
		want int64
	}{
		{"name: x\n", 100 << 10},
		{"address-settings:\n  big.#: {min-large-message-size: 1MiB}\n", 100 << 10},
		{"address-settings:\n  a: {min-large-message-size: 200KiB}\n  b.#: {min-large-message-size: 20KiB}\n", 20 << 10},
	}
	for _, c := range cases {
		cfg, err := Parse([]byte(c.yaml), "b.yaml", "/i")
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.SmallestLargeMessageSize(); got != c.want {
			t.Errorf("%q: smallest large message size %d, want %d", c.yaml, got, c.want)
		}
	}
}

func TestAutoDeleteSettingsDecodeAndValidate(t *testing.T) {
	c, err := Parse([]byte("address-settings:\n  tmp.#:\n    auto-delete-queues-delay: 5s\n    auto-delete-queues-message-count: -1\n    auto-delete-addresses-delay: 250\n"), "b.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	s := c.AddressSettingsFor("tmp.x")
	if s.AutoDeleteQueuesDelay != 5*time.Second || s.AutoDeleteQueuesMessageCount != -1 || s.AutoDeleteAddressesDelay != 250*time.Millisecond {
		t.Fatalf("resolved %+v", s)
	}
	if d := c.AddressSettingsFor("other"); d.AutoDeleteQueuesDelay != 0 || d.AutoDeleteQueuesMessageCount != 0 {
		t.Fatalf("defaults %+v", d)
	}
	_, err = Parse([]byte("address-settings:\n  tmp.#:\n    auto-delete-queues-message-count: -2\n    auto-delete-queues-delay: -5\n"), "b.yaml", "/i")
	if err == nil || !strings.Contains(err.Error(), "b.yaml:3") || !strings.Contains(err.Error(), "auto-delete-queues-message-count") ||
		!strings.Contains(err.Error(), "auto-delete-queues-delay") {
		t.Fatalf("bad auto-delete values: %v", err)
	}
}
