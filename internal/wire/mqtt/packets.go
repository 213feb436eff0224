package mqtt

// Packet is one MQTT control packet: *Connect, *Connack, *Publish, *Puback,
// *Pubrec, *Pubrel, *Pubcomp, *Subscribe, *Suback, *Unsubscribe,
// *Unsuback, *Pingreq, *Pingresp, *Disconnect or *Auth.
//
// A packet returned by the Reader owns its memory: byte slices (payloads,
// binary properties, passwords) point into a buffer allocated for that
// packet alone, so they stay valid after the next read.
type Packet interface {
	// Type returns the control packet type.
	Type() Type

	// flags returns the low nibble of the first byte.
	flags() byte
	// check applies the protocol's rules for version v, for the writer
	// (full set: also check UTF-8 and field lengths) and the reader.
	check(v Version, full bool) *Error
	// size returns the remaining length in version v.
	size(v Version) int
	// appendBody appends everything after the remaining length.
	appendBody(dst []byte, v Version) []byte
}

// Connect is the first packet of a connection, from the client.
type Connect struct {
	// ProtocolName is "MQTT", or "MQIsdp" for 3.1. Empty means the name of
	// Version.
	ProtocolName string
	// Version is the protocol level; the writer encodes a CONNECT in this
	// version whatever its own.
	Version    Version
	CleanStart bool // Clean Session in 3.1.1
	KeepAlive  uint16
	Properties Properties // MQTT 5
	ClientID   string
	Will       *Will // nil when the Will Flag is 0
	// HasUsername and HasPassword are the User Name and Password flags;
	// an empty user name or password is distinct from none.
	HasUsername bool
	Username    string
	HasPassword bool
	Password    []byte
}

// Will is the will message of a CONNECT.
type Will struct {
	QoS        QoS
	Retain     bool
	Properties Properties // MQTT 5 will properties
	Topic      string
	Payload    []byte
}

// Connack answers CONNECT.
type Connack struct {
	SessionPresent bool
	// Reason is the MQTT 5 reason code, or the 3.1.1 return code
	// (ConnectionAccepted, RefusedProtocolVersion, ...).
	Reason     ReasonCode
	Properties Properties // MQTT 5
}

// Publish carries an application message, in either direction.
type Publish struct {
	Dup    bool
	QoS    QoS
	Retain bool
	// Topic is the topic name; in MQTT 5 it may be empty when a Topic
	// Alias property stands for it (see InboundAliases).
	Topic string
	// PacketID is present only for QoS 1 and 2.
	PacketID   uint16
	Properties Properties // MQTT 5
	Payload    []byte
}

// ackForm records which of the equivalent encodings an acknowledgement,
// DISCONNECT or AUTH arrived in, so that it is written back byte for byte.
// Packets built by callers have formShortest.
type ackForm uint8

const (
	formShortest ackForm = iota // omit what the specification lets us omit
	formReason                  // the reason code, no property length
	formFull                    // the reason code and the property length
)

// Puback acknowledges a QoS 1 PUBLISH.
type Puback struct {
	PacketID   uint16
	Reason     ReasonCode // MQTT 5
	Properties Properties // MQTT 5
	form       ackForm
}

// Pubrec is the first answer to a QoS 2 PUBLISH.
type Pubrec struct {
	PacketID   uint16
	Reason     ReasonCode // MQTT 5
	Properties Properties // MQTT 5
	form       ackForm
}

// Pubrel answers PUBREC.
type Pubrel struct {
	PacketID   uint16
	Reason     ReasonCode // MQTT 5
	Properties Properties // MQTT 5
	form       ackForm
}

// Pubcomp answers PUBREL and completes a QoS 2 exchange.
type Pubcomp struct {
	PacketID   uint16
	Reason     ReasonCode // MQTT 5
	Properties Properties // MQTT 5
	form       ackForm
}

// Subscribe asks for one or more subscriptions.
type Subscribe struct {
	PacketID uint16
	// Properties may hold one Subscription Identifier and User Properties
	// (MQTT 5).
	Properties    Properties
	Subscriptions []Subscription
}

// Subscription is one topic filter of a SUBSCRIBE with its options. The
// filter is checked for valid UTF-8 by the reader but not for wildcard
// placement: call CheckTopicFilter, so that one bad filter can be refused
// in the SUBACK without closing the connection.
type Subscription struct {
	Filter string
	QoS    QoS // the maximum QoS the subscriber accepts
	// The MQTT 5 subscription options.
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only for a new subscription, 2 never
}

// Suback answers SUBSCRIBE with one code per subscription: the granted QoS
// or a failure.
type Suback struct {
	PacketID   uint16
	Properties Properties // MQTT 5
	Reasons    []ReasonCode
}

// Unsubscribe removes subscriptions.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties // MQTT 5
	Filters    []string
}

// Unsuback answers UNSUBSCRIBE. In 3.1 and 3.1.1 it carries only the
// packet identifier.
type Unsuback struct {
	PacketID   uint16
	Properties Properties   // MQTT 5
	Reasons    []ReasonCode // MQTT 5, one per filter
}

// Pingreq is a keep-alive probe from the client.
type Pingreq struct{}

// Pingresp answers PINGREQ.
type Pingresp struct{}

// Disconnect ends a connection; in MQTT 5 either side may send it, with a
// reason.
type Disconnect struct {
	Reason     ReasonCode // MQTT 5
	Properties Properties // MQTT 5
	form       ackForm
}

// Auth carries an MQTT 5 enhanced authentication exchange.
type Auth struct {
	Reason     ReasonCode
	Properties Properties
	form       ackForm
}

// Type returns TypeConnect.
func (*Connect) Type() Type { return TypeConnect }

// Type returns TypeConnack.
func (*Connack) Type() Type { return TypeConnack }

// Type returns TypePublish.
func (*Publish) Type() Type { return TypePublish }

// Type returns TypePuback.
func (*Puback) Type() Type { return TypePuback }

// Type returns TypePubrec.
func (*Pubrec) Type() Type { return TypePubrec }

// Type returns TypePubrel.
func (*Pubrel) Type() Type { return TypePubrel }

// Type returns TypePubcomp.
func (*Pubcomp) Type() Type { return TypePubcomp }

// Type returns TypeSubscribe.
func (*Subscribe) Type() Type { return TypeSubscribe }

// Type returns TypeSuback.
func (*Suback) Type() Type { return TypeSuback }

// Type returns TypeUnsubscribe.
func (*Unsubscribe) Type() Type { return TypeUnsubscribe }

// Type returns TypeUnsuback.
func (*Unsuback) Type() Type { return TypeUnsuback }

// Type returns TypePingreq.
func (*Pingreq) Type() Type { return TypePingreq }

// Type returns TypePingresp.
func (*Pingresp) Type() Type { return TypePingresp }

// Type returns TypeDisconnect.
func (*Disconnect) Type() Type { return TypeDisconnect }

// Type returns TypeAuth.
func (*Auth) Type() Type { return TypeAuth }
