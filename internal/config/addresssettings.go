package config

import (
	"slices"
	"time"

	"tandem/internal/security"
)

// NoExpiryDelay is the ExpiryDelay that leaves every message's own
// expiration alone (Artemis' expiry-delay -1).
const NoExpiryDelay time.Duration = -1

// AddressSetting is one entry of address-settings: the settings for the
// addresses matching Match. A nil field is unset, so that a less specific
// match (or the default) supplies it; AddressSettingsFor does the merge.
type AddressSetting struct {
	Match string

	AutoCreateQueues    *bool
	AutoCreateAddresses *bool
	AutoDeleteQueues    *bool
	AutoDeleteAddresses *bool

	AutoDeleteQueuesDelay        *time.Duration
	AutoDeleteQueuesMessageCount *int
	AutoDeleteAddressesDelay     *time.Duration

	DeadLetterAddress *string
	ExpiryAddress     *string
	ExpiryDelay       *time.Duration

	MaxDeliveryAttempts       *int
	RedeliveryDelay           *time.Duration
	RedeliveryDelayMultiplier *float64
	MaxRedeliveryDelay        *time.Duration

	MaxSizeBytes      *int64
	AddressFullPolicy *AddressFullPolicy
	PageSizeBytes     *int64

	DefaultLastValueQueue     *bool
	DefaultExclusiveQueue     *bool
	DefaultConsumerWindowSize *int64
	DefaultQueueRoutingType   *RoutingType
	DefaultAddressRoutingType *RoutingType
	MinLargeMessageSize       *int64
}

// AddressSettings are the resolved settings of one address: every field has
// a value.
type AddressSettings struct {
	// AutoCreateQueues and AutoCreateAddresses let a send or a subscribe
	// create what it names; AutoDeleteQueues and AutoDeleteAddresses remove
	// auto-created ones once unused and empty.
	AutoCreateQueues    bool
	AutoCreateAddresses bool
	AutoDeleteQueues    bool
	AutoDeleteAddresses bool
	// AutoDeleteQueuesDelay is how long an auto-created queue must have
	// been without consumers before it is deleted;
	// AutoDeleteQueuesMessageCount is how many messages it may still hold
	// then (-1: any number, which are dropped with it);
	// AutoDeleteAddressesDelay is how long an auto-created address must
	// have been without queues.
	AutoDeleteQueuesDelay        time.Duration
	AutoDeleteQueuesMessageCount int
	AutoDeleteAddressesDelay     time.Duration

	// DeadLetterAddress receives messages that exceeded
	// MaxDeliveryAttempts; "" drops them.
	DeadLetterAddress string
	// ExpiryAddress receives expired messages; "" drops them.
	ExpiryAddress string
	// ExpiryDelay, when not NoExpiryDelay, is applied to messages sent
	// without an expiration.
	ExpiryDelay time.Duration

	// MaxDeliveryAttempts is how many deliveries a message gets before it
	// goes to the dead-letter address; -1 is unlimited.
	MaxDeliveryAttempts int
	// RedeliveryDelay waits before a rolled-back message is redelivered;
	// each further attempt multiplies it by RedeliveryDelayMultiplier, up
	// to MaxRedeliveryDelay.
	RedeliveryDelay           time.Duration
	RedeliveryDelayMultiplier float64
	MaxRedeliveryDelay        time.Duration

	// MaxSizeBytes bounds the memory of the address (-1 unlimited);
	// AddressFullPolicy says what happens beyond it; PageSizeBytes is the
	// size of one page file when paging.
	MaxSizeBytes      int64
	AddressFullPolicy AddressFullPolicy
	PageSizeBytes     int64

	// Defaults for queues auto-created on the address.
	DefaultLastValueQueue bool
	DefaultExclusiveQueue bool
	// DefaultConsumerWindowSize is the bytes a consumer may have in flight
	// before it acknowledges (-1 unlimited, 0 no buffering).
	DefaultConsumerWindowSize int64
	DefaultQueueRoutingType   RoutingType
	DefaultAddressRoutingType RoutingType
	// MinLargeMessageSize is the size from which a message body is stored
	// in the large-messages directory rather than in the journal.
	MinLargeMessageSize int64
}

// DefaultAddressSettings returns the settings of an address no
// address-settings entry matches.
func DefaultAddressSettings() AddressSettings {
	return AddressSettings{
		AutoCreateQueues:          true,
		AutoCreateAddresses:       true,
		AutoDeleteQueues:          true,
		AutoDeleteAddresses:       true,
		DeadLetterAddress:         "DLQ",
		ExpiryAddress:             "ExpiryQueue",
		ExpiryDelay:               NoExpiryDelay,
		MaxDeliveryAttempts:       10,
		RedeliveryDelay:           0,
		RedeliveryDelayMultiplier: 1.0,
		MaxRedeliveryDelay:        0, // 10 × RedeliveryDelay, computed on resolution
		MaxSizeBytes:              -1,
		AddressFullPolicy:         PolicyPage,
		PageSizeBytes:             10 << 20,
		DefaultConsumerWindowSize: 1 << 20,
		DefaultQueueRoutingType:   Anycast,
		DefaultAddressRoutingType: Anycast,
		MinLargeMessageSize:       100 << 10,
	}
}

// AddressSettingsFor resolves the settings of address with Artemis'
// semantics: among the address-settings entries whose pattern matches it,
// the most specific supplies each field it sets, less specific ones supply
// the rest, and DefaultAddressSettings anything no entry sets. A
// max-redelivery-delay no entry sets is ten times the resolved
// redelivery-delay, as in Artemis. Specificity is security.ComparePatterns'
// order. Resolution parses the patterns each time: call it once per address
// and keep the result.
func (c *Config) AddressSettingsFor(address string) AddressSettings {
	type match struct {
		pattern security.Pattern
		s       *AddressSetting
	}
	var ms []match
	for i := range c.AddressSettings {
		p, err := security.ParsePattern(c.AddressSettings[i].Match)
		if err != nil || !p.Match(address) {
			continue
		}
		ms = append(ms, match{p, &c.AddressSettings[i]})
	}
	slices.SortStableFunc(ms, func(a, b match) int { return security.ComparePatterns(a.pattern, b.pattern) })
	chain := make([]*AddressSetting, len(ms))
	for i, m := range ms {
		chain[i] = m.s
	}

	d := DefaultAddressSettings()
	r := AddressSettings{
		AutoCreateQueues:      pick(chain, func(s *AddressSetting) *bool { return s.AutoCreateQueues }, d.AutoCreateQueues),
		AutoCreateAddresses:   pick(chain, func(s *AddressSetting) *bool { return s.AutoCreateAddresses }, d.AutoCreateAddresses),
		AutoDeleteQueues:      pick(chain, func(s *AddressSetting) *bool { return s.AutoDeleteQueues }, d.AutoDeleteQueues),
		AutoDeleteAddresses:   pick(chain, func(s *AddressSetting) *bool { return s.AutoDeleteAddresses }, d.AutoDeleteAddresses),
		AutoDeleteQueuesDelay: pick(chain, func(s *AddressSetting) *time.Duration { return s.AutoDeleteQueuesDelay }, d.AutoDeleteQueuesDelay),
		AutoDeleteQueuesMessageCount: pick(chain, func(s *AddressSetting) *int { return s.AutoDeleteQueuesMessageCount },
			d.AutoDeleteQueuesMessageCount),
		AutoDeleteAddressesDelay:  pick(chain, func(s *AddressSetting) *time.Duration { return s.AutoDeleteAddressesDelay }, d.AutoDeleteAddressesDelay),
		DeadLetterAddress:         pick(chain, func(s *AddressSetting) *string { return s.DeadLetterAddress }, d.DeadLetterAddress),
		ExpiryAddress:             pick(chain, func(s *AddressSetting) *string { return s.ExpiryAddress }, d.ExpiryAddress),
		ExpiryDelay:               pick(chain, func(s *AddressSetting) *time.Duration { return s.ExpiryDelay }, d.ExpiryDelay),
		MaxDeliveryAttempts:       pick(chain, func(s *AddressSetting) *int { return s.MaxDeliveryAttempts }, d.MaxDeliveryAttempts),
		RedeliveryDelay:           pick(chain, func(s *AddressSetting) *time.Duration { return s.RedeliveryDelay }, d.RedeliveryDelay),
		RedeliveryDelayMultiplier: pick(chain, func(s *AddressSetting) *float64 { return s.RedeliveryDelayMultiplier }, d.RedeliveryDelayMultiplier),
		MaxSizeBytes:              pick(chain, func(s *AddressSetting) *int64 { return s.MaxSizeBytes }, d.MaxSizeBytes),
		AddressFullPolicy:         pick(chain, func(s *AddressSetting) *AddressFullPolicy { return s.AddressFullPolicy }, d.AddressFullPolicy),
		PageSizeBytes:             pick(chain, func(s *AddressSetting) *int64 { return s.PageSizeBytes }, d.PageSizeBytes),
		DefaultLastValueQueue:     pick(chain, func(s *AddressSetting) *bool { return s.DefaultLastValueQueue }, d.DefaultLastValueQueue),
		DefaultExclusiveQueue:     pick(chain, func(s *AddressSetting) *bool { return s.DefaultExclusiveQueue }, d.DefaultExclusiveQueue),
		DefaultConsumerWindowSize: pick(chain, func(s *AddressSetting) *int64 { return s.DefaultConsumerWindowSize }, d.DefaultConsumerWindowSize),
		DefaultQueueRoutingType:   pick(chain, func(s *AddressSetting) *RoutingType { return s.DefaultQueueRoutingType }, d.DefaultQueueRoutingType),
		DefaultAddressRoutingType: pick(chain, func(s *AddressSetting) *RoutingType { return s.DefaultAddressRoutingType }, d.DefaultAddressRoutingType),
		MinLargeMessageSize:       pick(chain, func(s *AddressSetting) *int64 { return s.MinLargeMessageSize }, d.MinLargeMessageSize),
	}
	r.MaxRedeliveryDelay = pick(chain, func(s *AddressSetting) *time.Duration { return s.MaxRedeliveryDelay }, 10*r.RedeliveryDelay)
	return r
}

// SmallestLargeMessageSize is the lowest min-large-message-size any address
// may resolve to: the default or a smaller value an entry sets. A body
// below it is never a large message, whatever its address, so a protocol
// adapter can decide without resolving the address.
func (c *Config) SmallestLargeMessageSize() int64 {
	n := DefaultAddressSettings().MinLargeMessageSize
	for _, s := range c.AddressSettings {
		if s.MinLargeMessageSize != nil && *s.MinLargeMessageSize < n {
			n = *s.MinLargeMessageSize
		}
	}
	return n
}

// pick returns the field of the first setting in chain (most specific
// first) that sets it, or def.
func pick[T any](chain []*AddressSetting, field func(*AddressSetting) *T, def T) T {
	for _, s := range chain {
		if v := field(s); v != nil {
			return *v
		}
	}
	return def
}

// validateAddressSetting checks the values one address-settings entry sets.
func (v *validator) validateAddressSetting(s *AddressSetting, seen map[string]bool) {
	p := mapPath("address-settings", s.Match)
	if _, err := security.ParsePattern(s.Match); err != nil {
		v.at(p, "%v", err)
	}
	if seen[s.Match] {
		v.at(p, "the pattern %q appears twice; merge the two entries", s.Match)
	}
	seen[s.Match] = true
	if d := s.AutoDeleteQueuesDelay; d != nil && *d < 0 {
		v.at(p+".auto-delete-queues-delay", "%v is negative; use 0 to delete at once or a delay in milliseconds", *d)
	}
	if n := s.AutoDeleteQueuesMessageCount; n != nil && *n < -1 {
		v.at(p+".auto-delete-queues-message-count", "%d is out of range; use -1 to delete whatever the queue holds, or a count of 0 or more", *n)
	}
	if d := s.AutoDeleteAddressesDelay; d != nil && *d < 0 {
		v.at(p+".auto-delete-addresses-delay", "%v is negative; use 0 to delete at once or a delay in milliseconds", *d)
	}
	if d := s.ExpiryDelay; d != nil && *d < 0 && *d != NoExpiryDelay {
		v.at(p+".expiry-delay", "%v is negative; use -1 to keep messages' own expiration, or a duration such as 30s", *d)
	}
	if n := s.MaxDeliveryAttempts; n != nil && (*n < -1 || *n == 0) {
		v.at(p+".max-delivery-attempts", "%d is out of range; use -1 for unlimited or a count of at least 1", *n)
	}
	if d := s.RedeliveryDelay; d != nil && *d < 0 {
		v.at(p+".redelivery-delay", "%v is negative; use 0 for immediate redelivery or a duration such as 5s", *d)
	}
	if m := s.RedeliveryDelayMultiplier; m != nil && !(*m >= 1.0) {
		v.at(p+".redelivery-delay-multiplier", "%v is below 1.0; use 1.0 for a constant delay or more to back off", *m)
	}
	if d := s.MaxRedeliveryDelay; d != nil && *d < 0 {
		v.at(p+".max-redelivery-delay", "%v is negative; expected a duration such as 1m", *d)
	}
	if s.MaxRedeliveryDelay != nil && s.RedeliveryDelay != nil && *s.MaxRedeliveryDelay < *s.RedeliveryDelay {
		v.at(p+".max-redelivery-delay", "%v is below redelivery-delay %v; raise it or leave it out (default: 10 × redelivery-delay)", *s.MaxRedeliveryDelay, *s.RedeliveryDelay)
	}
	if n := s.MaxSizeBytes; n != nil && *n < -1 {
		v.at(p+".max-size-bytes", "%d is out of range; use -1 for unlimited or a size such as 100MiB", *n)
	}
	if f := s.AddressFullPolicy; f != nil {
		if _, ok := parseFullPolicy(string(*f)); !ok {
			v.at(p+".address-full-policy", "%q is not a policy; expected PAGE, BLOCK, FAIL or DROP", *f)
		}
	}
	if n := s.PageSizeBytes; n != nil && *n <= 0 {
		v.at(p+".page-size-bytes", "%d is out of range; expected a positive size such as 10MiB", *n)
	}
	if n := s.DefaultConsumerWindowSize; n != nil && *n < -1 {
		v.at(p+".default-consumer-window-size", "%d is out of range; use -1 for unlimited, 0 for no buffering or a size such as 1MiB", *n)
	}
	v.routingType(p+".default-queue-routing-type", s.DefaultQueueRoutingType)
	v.routingType(p+".default-address-routing-type", s.DefaultAddressRoutingType)
	if n := s.MinLargeMessageSize; n != nil && *n <= 0 {
		v.at(p+".min-large-message-size", "%d is out of range; expected a positive size such as 100KiB", *n)
	}
}
