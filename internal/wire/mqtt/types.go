package mqtt

import "fmt"

// Version is an MQTT protocol level as sent in CONNECT.
type Version byte

// The protocol levels this codec speaks.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

// The protocol names of CONNECT.
const (
	ProtocolNameV31 = "MQIsdp"
	ProtocolName    = "MQTT"
)

// String returns the version as people write it ("3.1.1").
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("level %d", byte(v))
}

// Supported reports whether v is one of the levels this codec speaks.
func (v Version) Supported() bool { return v == V31 || v == V311 || v == V5 }

// protocolName is the name a CONNECT of version v carries.
func (v Version) protocolName() string {
	if v == V31 {
		return ProtocolNameV31
	}
	return ProtocolName
}

// Type is an MQTT control packet type, the high nibble of the first byte.
type Type byte

// The control packet types. AUTH exists in MQTT 5 only.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15
)

var typeNames = [...]string{
	TypeConnect: "CONNECT", TypeConnack: "CONNACK", TypePublish: "PUBLISH",
	TypePuback: "PUBACK", TypePubrec: "PUBREC", TypePubrel: "PUBREL", TypePubcomp: "PUBCOMP",
	TypeSubscribe: "SUBSCRIBE", TypeSuback: "SUBACK", TypeUnsubscribe: "UNSUBSCRIBE",
	TypeUnsuback: "UNSUBACK", TypePingreq: "PINGREQ", TypePingresp: "PINGRESP",
	TypeDisconnect: "DISCONNECT", TypeAuth: "AUTH",
}

// String returns the packet type's name as the specification writes it.
func (t Type) String() string {
	if t >= TypeConnect && t <= TypeAuth {
		return typeNames[t]
	}
	return fmt.Sprintf("packet type %d", byte(t))
}

// fixedFlags is the value the low nibble of the first byte must have for
// each type other than PUBLISH, whose nibble carries DUP, QoS and RETAIN.
func (t Type) fixedFlags() byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0b0010
	}
	return 0
}

// fromClient reports whether clients send packets of type t to servers,
// and fromServer whether servers send them to clients.
func (t Type) fromClient() bool {
	switch t {
	case TypeConnack, TypeSuback, TypeUnsuback, TypePingresp:
		return false
	}
	return true
}

func (t Type) fromServer() bool {
	switch t {
	case TypeConnect, TypeSubscribe, TypeUnsubscribe, TypePingreq:
		return false
	}
	return true
}

// QoS is a quality of service level: 0 at most once, 1 at least once,
// 2 exactly once. 3 is not a valid level.
type QoS byte

// The quality of service levels.
const (
	QoS0 QoS = 0
	QoS1 QoS = 1
	QoS2 QoS = 2
)

// Role says which end of a connection a Reader serves, and so which
// packets it accepts.
type Role uint8

// The two ends of an MQTT connection.
const (
	// ServerSide reads what clients send: CONNECT first, then no CONNACK,
	// SUBACK, UNSUBACK or PINGRESP.
	ServerSide Role = iota
	// ClientSide reads what servers send: CONNACK (or AUTH) first, then
	// no CONNECT, SUBSCRIBE, UNSUBSCRIBE or PINGREQ.
	ClientSide
)
