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
	PropGroupSeq         = "JMSXGroupSeq"
	PropOriginalAddress  = "_AMQ_ORIG_ADDRESS"
	PropOriginalQueue    = "_AMQ_ORIG_QUEUE"
	PropActualExpiry     = "_AMQ_ACTUAL_EXPIRY"
	PropDeadLetterReason = "_AMQ_DLQ_REASON"
)

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
	// BodyKind says what Body holds; the zero value is opaque bytes.
	BodyKind BodyKind
	// Origin identifies the broker session that sent the message, for
	// no-local subscriptions; 0 is unknown. It lives in what would be
	// padding and is never stored: after a restart no sender is connected.
	Origin uint32
	// Timestamp is when the message was sent, in Unix milliseconds: the
	// client's own stamp where its protocol carries one (JMSTimestamp, AMQP
	// creation-time), else when the broker accepted it.
	Timestamp int64
	// Expiration is the absolute expiry in Unix milliseconds; 0 means never.
	Expiration int64
	// ScheduledTime, when non-zero, is the Unix millisecond time before which
	// the message must not be delivered.
	ScheduledTime int64
	// Properties are the user properties in arrival order. Lookups take the
	// first occurrence, as STOMP's repeated-header rule requires.
	Properties []Property
	Body       []byte
	// Extra holds what most messages lack (the JMS headers every protocol
	// maps, a large body's location), nil when the message has none of it.
	// Keeping it out of line makes a Message 112 bytes instead of 176, which
	// counts with a million messages queued. Extra is shared by clones, so it
	// is never modified in place: SetHeaders and SetLarge replace it.
	Extra *Extra
}

// Extra is the out-of-line part of a Message.
type Extra struct {
	// ContentType, CorrelationID, ReplyTo and Type carry the standard JMS
	// headers that every protocol maps. ReplyTo is a destination in the
	// canonical spelling of Destination.String (queue://X, topic://X...),
	// or, as some STOMP clients send it, any other text kept as sent.
	// Type is JMSType, which AMQP carries as subject.
	ContentType   string
	CorrelationID string
	ReplyTo       string
	Type          string
	// MessageID is the id the client gave the message (JMSMessageID, AMQP
	// message-id, as text), "" when it gave none. The broker's own id is
	// Message.ID.
	MessageID string
	// UserID is the sending user as the message carries it (JMSXUserID,
	// AMQP user-id).
	UserID string
	// GroupID and GroupSeq place the message in a message group
	// (JMSXGroupID, JMSXGroupSeq; AMQP group-id, group-sequence).
	GroupID  string
	GroupSeq int32
	// Large, when set, says the body is not in Body but in a file of the
	// broker's large-messages directory, streamed rather than held in
	// memory.
	Large *Large
	// Native, when set, is the message as its producer's protocol encoded
	// it, so a consumer of the same protocol gets it byte-identical.
	Native *Native
}

// NativeFormat names the protocol encoding a Native holds. The numbers are
// stored: append, never renumber.
type NativeFormat uint8

// Native formats.
const (
	// NativeAMQP is an AMQP 1.0 message: its sections as the producer sent
	// them, delivery annotations removed.
	NativeAMQP NativeFormat = iota + 1
	// NativeOpenWire is an OpenWire message command's marshalled form.
	NativeOpenWire
	// NativeMQTT is an MQTT 5 PUBLISH's properties section.
	NativeMQTT
)

// Native is a message in its producer's own encoding. The neutral fields
// of the Message are filled in as well, so every other protocol can read
// it; the adapter of Format itself prefers Data.
type Native struct {
	Format NativeFormat
	Data   []byte
}

// Large locates a body kept in the large-messages directory.
type Large struct {
	// ID names the body's file; Size is its length in bytes.
	ID   uint64
	Size int64
}

// ContentType returns the message's content type, or "".
func (m *Message) ContentType() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.ContentType
}

// CorrelationID returns the message's correlation id, or "".
func (m *Message) CorrelationID() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.CorrelationID
}

// ReplyTo returns the message's reply-to destination, or "".
func (m *Message) ReplyTo() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.ReplyTo
}

// Type returns the message's JMS type, or "".
func (m *Message) Type() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.Type
}

// Large returns where a large message's body is, or nil when its body is in
// Body.
func (m *Message) Large() *Large {
	if m.Extra == nil {
		return nil
	}
	return m.Extra.Large
}

// MessageID returns the id the client gave the message, or "".
func (m *Message) MessageID() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.MessageID
}

// UserID returns the user id the message carries, or "".
func (m *Message) UserID() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.UserID
}

// GroupID returns the message's group, or "".
func (m *Message) GroupID() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.GroupID
}

// GroupSeq returns the message's sequence number in its group, or 0.
func (m *Message) GroupSeq() int32 {
	if m.Extra == nil {
		return 0
	}
	return m.Extra.GroupSeq
}

// Native returns the message's encoding by its producer's protocol, or nil.
func (m *Message) Native() *Native {
	if m.Extra == nil {
		return nil
	}
	return m.Extra.Native
}

// SetHeaders sets the four JMS headers.
func (m *Message) SetHeaders(contentType, correlationID, replyTo, typ string) {
	x := m.extra()
	x.ContentType, x.CorrelationID, x.ReplyTo, x.Type = contentType, correlationID, replyTo, typ
	m.setExtra(x)
}

// EditExtra applies edit to a copy of the message's Extra and installs the
// result, since Extra is shared by clones and never changed in place.
func (m *Message) EditExtra(edit func(x *Extra)) {
	x := m.extra()
	edit(&x)
	m.setExtra(x)
}

// SetLarge sets (or, with nil, clears) where the body is kept.
func (m *Message) SetLarge(l *Large) {
	x := m.extra()
	x.Large = l
	m.setExtra(x)
}

// extra returns a copy of m's Extra to modify.
func (m *Message) extra() Extra {
	if m.Extra == nil {
		return Extra{}
	}
	return *m.Extra
}

// setExtra installs x as a new Extra, or none when x is empty.
func (m *Message) setExtra(x Extra) {
	if x == (Extra{}) {
		m.Extra = nil
		return
	}
	m.Extra = &x
}

// BodySize is the body's length, wherever the body is.
func (m *Message) BodySize() int64 {
	if l := m.Large(); l != nil {
		return l.Size
	}
	return int64(len(m.Body))
}

// Property returns the text of the first value of the named property.
func (m *Message) Property(key string) (string, bool) {
	for i := range m.Properties {
		if m.Properties[i].Key == key {
			return m.Properties[i].Value, true
		}
	}
	return "", false
}

// TypedProperty returns the first property named key, with its kind.
func (m *Message) TypedProperty(key string) (Property, bool) {
	for i := range m.Properties {
		if m.Properties[i].Key == key {
			return m.Properties[i], true
		}
	}
	return Property{}, false
}

// SetProperty replaces the first value of key with a string, or appends it.
func (m *Message) SetProperty(key, value string) {
	m.Set(Property{Key: key, Value: value})
}

// Set replaces the first property named p.Key with p, or appends p.
func (m *Message) Set(p Property) {
	for i := range m.Properties {
		if m.Properties[i].Key == p.Key {
			m.Properties[i] = p
			return
		}
	}
	m.Properties = append(m.Properties, p)
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
	n := 64 + len(m.Address) + len(m.Body)
	if x := m.Extra; x != nil {
		n += len(x.ContentType) + len(x.CorrelationID) + len(x.ReplyTo) + len(x.Type) +
			len(x.MessageID) + len(x.UserID) + len(x.GroupID)
		if x.Native != nil {
			n += 16 + len(x.Native.Data)
		}
	}
	for _, p := range m.Properties {
		n += PropertySize(p.Key, p.Value)
	}
	return n
}

// PropertySize is what one property adds to Size: its name and value, and
// what keeping them costs.
func PropertySize(key, value string) int { return 16 + len(key) + len(value) }

// DeliverySize estimates the bytes a delivery of m puts on the wire and in
// the buffers on its way: Size, plus a large message's body, which Size
// leaves out because it is not in memory.
func (m *Message) DeliverySize() int64 {
	n := int64(m.Size())
	if l := m.Large(); l != nil {
		n += l.Size
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
func FormatID(id uint64) string { return IDPrefix + strconv.FormatUint(id, 10) }

// IDPrefix starts every id FormatID makes.
const IDPrefix = "ID:"
