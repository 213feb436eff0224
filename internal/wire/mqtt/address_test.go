package mqtt

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The expected values follow Artemis' WildcardConfiguration.convert, worked
// through by hand for each input.
func TestTopicToAddress(t *testing.T) {
	tests := []struct{ topic, address string }{
		{"a/b", "a.b"},
		{"sensors/+/temp", "sensors.*.temp"},
		{"a/#", "a.#"},
		{"#", "#"},
		{"+", "*"},
		{"/", "."},
		{"/finance", ".finance"},
		{"$SYS/broker", "$SYS.broker"},
		{"", ""},
		{"a.b/c", `a\.b.c`},    // a literal '.' is escaped
		{"a*b/c", `a\*b.c`},    // and so is a literal '*'
		{"v1.2/*", `v1\.2.\*`}, //
		{`a\b`, `a\\b`},        // a backslash is doubled
		{`a\/b`, "a/b"},        // an MQTT escape: '/' stays literal
		{`a\+b/c`, "a+b.c"},    // likewise '+'
		{`a.b\/c`, "a.b/c"},    // escaped input is not escaped again (Artemis)
		{"caf\u00e9/\u00fc", "caf\u00e9.\u00fc"},
	}
	for _, tc := range tests {
		if got := TopicToAddress(tc.topic); got != tc.address {
			t.Errorf("TopicToAddress(%q) = %q, want %q", tc.topic, got, tc.address)
		}
	}
}

func TestAddressToTopic(t *testing.T) {
	tests := []struct{ address, topic string }{
		{"a.b", "a/b"},
		{"sensors.*.temp", "sensors/+/temp"},
		{"a.#", "a/#"},
		{".", "/"},
		{`a\.b.c`, "a.b/c"},
		{`v1\.2.\*`, "v1.2/*"},
		{"a/b", `a\/b`},    // a literal '/' in an address is escaped for MQTT
		{"a+b", `a\+b`},    // and so is '+'
		{`a\\b`, `a\\\\b`}, // Artemis doubles backslashes again: not an inverse
		{"$sys.mqtt.retain.a.b", "a/b"},
		{"queue.orders", "queue/orders"},
	}
	for _, tc := range tests {
		if got := AddressToTopic(tc.address); got != tc.topic {
			t.Errorf("AddressToTopic(%q) = %q, want %q", tc.address, got, tc.topic)
		}
	}
}

// TestAddressMappingRoundTrips: without backslashes, the two directions
// undo each other.
func TestAddressMappingRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(alphabet string) string {
		n := rng.IntN(12)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		topic := gen("ab/+#.*$ é")
		if got := AddressToTopic(TopicToAddress(topic)); got != topic {
			t.Fatalf("topic %q → %q → %q", topic, TopicToAddress(topic), got)
		}
		address := gen("ab.*#/+$")
		if strings.HasPrefix(address, RetainAddressPrefix) {
			continue
		}
		if got := TopicToAddress(AddressToTopic(address)); got != address {
			t.Fatalf("address %q → %q → %q", address, AddressToTopic(address), got)
		}
	}
}
