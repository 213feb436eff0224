package broker

import (
	"log/slog"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
)

// FullPolicy says what happens to a send when an address is over its size
// limit.
type FullPolicy uint8

// Address-full policies, as in Artemis.
const (
	FullPage FullPolicy = iota
	FullBlock
	FullFail
	FullDrop
)

// AddressSettings are the per-address behaviours the broker needs, already
// resolved for one address (the server resolves broker.yaml's wildcard
// matches into this plain form).
type AddressSettings struct {
	AutoCreateQueues    bool
	AutoCreateAddresses bool
	AutoDeleteQueues    bool
	AutoDeleteAddresses bool
	// AutoDeleteQueuesDelay is how long an auto-created queue must have
	// been without consumers before it goes; AutoDeleteQueuesMessageCount is
	// the most messages it may hold then (-1: any, dropped with it).
	// AutoDeleteAddressesDelay is how long an auto-created address must have
	// been without queues.
	AutoDeleteQueuesDelay        time.Duration
	AutoDeleteQueuesMessageCount int
	AutoDeleteAddressesDelay     time.Duration
	DeadLetterAddress            string
	ExpiryAddress                string
	// ExpiryDelay, when positive, is applied to messages sent without an
	// expiration.
	ExpiryDelay          time.Duration
	MaxDeliveryAttempts  int
	RedeliveryDelay      time.Duration
	RedeliveryMultiplier float64
	MaxRedeliveryDelay   time.Duration
	MaxSizeBytes         int64
	FullPolicy           FullPolicy
	DefaultLastValue     bool
	DefaultExclusive     bool
	// MinLargeMessageSize is the body size from which a message is
	// streamed through the large-messages directory.
	MinLargeMessageSize int64
	// DefaultConsumerWindowSize is the WindowBytes of a consumer that asks
	// for none: the bytes of deliveries it may hold unacknowledged (or, when
	// auto-acknowledging, unwritten). -1 means no bound; 0 means no
	// buffering, one delivery at a time (Artemis' meanings).
	DefaultConsumerWindowSize int64
}

// DefaultAddressSettings returns Artemis' defaults.
func DefaultAddressSettings() AddressSettings {
	return AddressSettings{
		AutoCreateQueues:     true,
		AutoCreateAddresses:  true,
		AutoDeleteQueues:     true,
		AutoDeleteAddresses:  true,
		DeadLetterAddress:    "DLQ",
		ExpiryAddress:        "ExpiryQueue",
		MaxDeliveryAttempts:  10,
		RedeliveryMultiplier: 1,
		MaxSizeBytes:         -1,
		MinLargeMessageSize:  100 << 10,
		// Artemis' default consumer-window-size.
		DefaultConsumerWindowSize: 1 << 20,
	}
}

// Permission names an action that security-settings may grant to roles.
type Permission string

// Permissions, spelled as in Artemis' security-settings.
const (
	PermSend                  Permission = "send"
	PermConsume               Permission = "consume"
	PermBrowse                Permission = "browse"
	PermCreateDurableQueue    Permission = "createDurableQueue"
	PermDeleteDurableQueue    Permission = "deleteDurableQueue"
	PermCreateNonDurableQueue Permission = "createNonDurableQueue"
	PermDeleteNonDurableQueue Permission = "deleteNonDurableQueue"
	PermCreateAddress         Permission = "createAddress"
	PermDeleteAddress         Permission = "deleteAddress"
	PermManage                Permission = "manage"
)

// Authorizer decides whether a principal may act on an address. A nil
// Authorizer allows everything.
type Authorizer interface {
	Authorize(user string, roles []string, perm Permission, address string) bool
}

// GenerationAuthorizer is an Authorizer whose answers change only when its
// generation does (a users file that is reloaded). The broker then keeps a
// session's last permitted send and asks again only when the address or
// the generation changes, rather than for every message; an Authorizer
// without it is asked every time.
type GenerationAuthorizer interface {
	Authorizer
	// Generation is cheap and safe for concurrent use.
	Generation() uint64
}

// QueueConfig declares a queue the broker must have at start, from
// broker.yaml's addresses section.
type QueueConfig struct {
	Name         string
	Address      string
	RoutingType  message.RoutingType
	Durable      bool
	Filter       string
	MaxConsumers int
	Exclusive    bool
	LastValue    bool
	LastValueKey string
}

// AddressConfig declares an address the broker must have at start.
type AddressConfig struct {
	Name      string
	Anycast   bool
	Multicast bool
	Queues    []QueueConfig
}

// Options configure a Broker. Store is required; everything else has a
// usable zero value.
type Options struct {
	Store store.Store
	// Settings resolves the address-settings for an address; nil means
	// DefaultAddressSettings for every address.
	Settings func(address string) AddressSettings
	// IDCacheSize bounds the duplicate-detection ids remembered per address
	// (Artemis' id-cache-size); 0 means 20000.
	IDCacheSize int
	// SyncDurable makes durable sends and acks wait for stable storage before
	// they are confirmed. It is true unless journal-sync is turned off.
	SyncDurable bool
	Addresses   []AddressConfig
	Authorizer  Authorizer
	// GlobalMaxSize bounds the bytes of all limited addresses' messages in
	// memory together (global-max-size); 0 or less is unlimited.
	GlobalMaxSize int64
	// Pager holds the page files of addresses whose address-full-policy is
	// PAGE; nil keeps such messages in memory.
	Pager store.Pager
	// Large keeps large message bodies; nil turns large messages off.
	Large store.LargeStore
	// SmallestLargeMessage is the lowest MinLargeMessageSize any address
	// resolves to; smaller bodies are never large. 0 means the default.
	SmallestLargeMessage int64
	// Filters compiles message selectors; nil rejects every selector.
	Filters FilterCompiler
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Filter matches messages, typically a compiled JMS selector.
type Filter interface {
	Match(m *message.Message, deliveryCount uint32) bool
}

// FilterCompiler turns selector text into a Filter.
type FilterCompiler func(selector string) (Filter, error)
