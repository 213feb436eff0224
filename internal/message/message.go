package message

import (
	"strconv"
	"strings"
)

// RoutingType says how an address delivers a message to its queues: anycast
// (point-to-point, one queue, one consumer per message) or multicast
// (publish/subscribe, a copy to every subscription queue).
type RoutingType uint8

// Routing types. The zero value is Anycast, because a bare destination name
// means a queue in both Artemis and ActiveMQ Classic.
const (
	Anycast RoutingType = iota
	Multicast
)

// String returns the Artemis spelling of the routing type.
func (r RoutingType) String() string {
	if r == Multicast {
		return "MULTICAST"
	}
	return "ANYCAST"
}

// ParseRoutingType parses "ANYCAST" or "MULTICAST" in any letter case.
func ParseRoutingType(s string) (RoutingType, bool) {
	switch strings.ToUpper(s) {
	case "ANYCAST":
		return Anycast, true
	case "MULTICAST":
		return Multicast, true
	}
	return Anycast, false
}

// Default and bound values for message attributes.
const (
	DefaultPriority = 4
	MaxPriority     = 9
)

// Well-known property names shared by the broker and protocol adapters. They
// keep the spellings that Artemis clients already send.
const (
	PropDuplicateID      = "_AMQ_DUPL_ID"
	PropLastValue        = "_AMQ_LVQ_NAME"
	PropScheduledTime    = "_AMQ_SCHED_DELIVERY"
	PropScheduledDelay   = "AMQ_SCHEDULED_DELAY"
	PropGroupID          = "JMSXGroupID"
	PropOriginalAddress  = "_AMQ_ORIG_ADDRESS"
	PropOriginalQueue    = "_AMQ_ORIG_QUEUE"
	PropActualExpiry     = "_AMQ_ACTUAL_EXPIRY"
	PropDeadLetterReason = "_AMQ_DLQ_REASON"
)

// Property is one user header or property, kept as text in arrival order.
// Text is what STOMP carries; typed views (numbers for selectors) are derived
// on demand rather than stored, so a message costs no more than its bytes.
type Property struct {
	Key   string
	Value string
}

// Message is one message as the broker sees it. Protocol adapters translate
// their frames to and from it; the store persists it. A Message is immutable
// once routed: per-queue state (delivery count, redelivered) lives on the
// broker's references to it, never here.
type Message struct {
	// ID is assigned by the broker when the message is routed; it is unique
	// within a store and stable across restarts.
	ID uint64
	// Address is the destination name without any protocol prefix.
	Address     string
	RoutingType RoutingType
	// Durable messages are journaled before their send is confirmed.
	Durable  bool
	Priority uint8
	// Timestamp is when the broker accepted the message, in Unix milliseconds.
	Timestamp int64
	// Expiration is the absolute expiry in Unix milliseconds; 0 means never.
	Expiration int64
	// ScheduledTime, when non-zero, is the Unix millisecond time before which
	// the message must not be delivered.
	ScheduledTime int64
	// ContentType, CorrelationID, ReplyTo and Type carry the standard JMS
	// headers that every protocol maps.
	ContentType   string
	CorrelationID string
	ReplyTo       string
	Type          string
	// Properties are the user properties in arrival order. Lookups take the
	// first occurrence, as STOMP's repeated-header rule requires.
	Properties []Property
	Body       []byte
	// Large, when set, says the body is not in Body but in a file of the
	// broker's large-messages directory, streamed rather than held in
	// memory.
	Large *Large
}

// Large locates a body kept in the large-messages directory.
type Large struct {
	// ID names the body's file; Size is its length in bytes.
	ID   uint64
	Size int64
}

// BodySize is the body's length, wherever the body is.
func (m *Message) BodySize() int64 {
	if m.Large != nil {
		return m.Large.Size
	}
	return int64(len(m.Body))
}

// Property returns the first value of the named property.
func (m *Message) Property(key string) (string, bool) {
	for i := range m.Properties {
		if m.Properties[i].Key == key {
			return m.Properties[i].Value, true
		}
	}
	return "", false
}

// SetProperty replaces the first value of key, or appends it.
func (m *Message) SetProperty(key, value string) {
	for i := range m.Properties {
		if m.Properties[i].Key == key {
			m.Properties[i].Value = value
			return
		}
	}
	m.Properties = append(m.Properties, Property{Key: key, Value: value})
}

// DeleteProperty removes every occurrence of key.
func (m *Message) DeleteProperty(key string) {
	out := m.Properties[:0]
	for _, p := range m.Properties {
		if p.Key != key {
			out = append(out, p)
		}
	}
	m.Properties = out
}

// Expired reports whether the message has expired at now (Unix ms).
func (m *Message) Expired(now int64) bool {
	return m.Expiration > 0 && now >= m.Expiration
}

// Size is an estimate of the memory and journal bytes the message occupies,
// used for address size limits and paging decisions. A large message's
// body is on disk and does not count.
func (m *Message) Size() int {
	n := 64 + len(m.Address) + len(m.Body) + len(m.ContentType) + len(m.CorrelationID) + len(m.ReplyTo) + len(m.Type)
	for _, p := range m.Properties {
		n += 16 + len(p.Key) + len(p.Value)
	}
	return n
}

// DeliverySize estimates the bytes a delivery of m puts on the wire and in
// the buffers on its way: Size, plus a large message's body, which Size
// leaves out because it is not in memory.
func (m *Message) DeliverySize() int64 {
	n := int64(m.Size())
	if m.Large != nil {
		n += m.Large.Size
	}
	return n
}

// Clone returns a copy that shares the body (bodies are never mutated) but
// owns its properties, so a copy may be re-addressed (to a DLQ, say) safely.
func (m *Message) Clone() *Message {
	c := *m
	c.Properties = append([]Property(nil), m.Properties...)
	return &c
}

// FormatID renders a message id the way it is shown to users.
func FormatID(id uint64) string { return "ID:" + strconv.FormatUint(id, 10) }
