package mqtt

import "fmt"

// ReasonCode is an MQTT 5 reason code, or in a 3.1.1 CONNACK the connect
// return code and in a 3.1.1 SUBACK the return code of one subscription.
// Codes below 0x80 mean success.
type ReasonCode byte

// The MQTT 5 reason codes (specification section 2.4). Several codes share
// a value; the name says which packets use it.
const (
	Success                             ReasonCode = 0x00 // CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH
	NormalDisconnection                 ReasonCode = 0x00 // DISCONNECT
	GrantedQoS0                         ReasonCode = 0x00 // SUBACK
	GrantedQoS1                         ReasonCode = 0x01 // SUBACK
	GrantedQoS2                         ReasonCode = 0x02 // SUBACK
	DisconnectWithWillMessage           ReasonCode = 0x04 // DISCONNECT
	NoMatchingSubscribers               ReasonCode = 0x10 // PUBACK, PUBREC
	NoSubscriptionExisted               ReasonCode = 0x11 // UNSUBACK
	ContinueAuthentication              ReasonCode = 0x18 // AUTH
	ReAuthenticate                      ReasonCode = 0x19 // AUTH
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84 // CONNACK
	ClientIdentifierNotValid            ReasonCode = 0x85 // CONNACK
	BadUserNameOrPassword               ReasonCode = 0x86 // CONNACK
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88 // CONNACK
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A // CONNACK
	ServerShuttingDown                  ReasonCode = 0x8B // DISCONNECT
	BadAuthenticationMethod             ReasonCode = 0x8C // CONNACK
	KeepAliveTimeout                    ReasonCode = 0x8D // DISCONNECT
	SessionTakenOver                    ReasonCode = 0x8E // DISCONNECT
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93 // DISCONNECT
	TopicAliasInvalid                   ReasonCode = 0x94 // DISCONNECT
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96 // DISCONNECT
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98 // DISCONNECT
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0 // DISCONNECT
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// The MQTT 3.1 and 3.1.1 CONNACK return codes, carried in Connack.Reason.
const (
	ConnectionAccepted           ReasonCode = 0
	RefusedProtocolVersion       ReasonCode = 1 // unacceptable protocol level
	RefusedIdentifierRejected    ReasonCode = 2
	RefusedServerUnavailable     ReasonCode = 3
	RefusedBadUserNameOrPassword ReasonCode = 4
	RefusedNotAuthorized         ReasonCode = 5
)

// SubackFailure is the 3.1.1 SUBACK return code for a refused subscription.
const SubackFailure ReasonCode = 0x80

// IsError reports whether c signals failure (0x80 or above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

var reasonNames = map[ReasonCode]string{
	0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2",
	0x04: "disconnect with will message", 0x10: "no matching subscribers",
	0x11: "no subscription existed", 0x18: "continue authentication", 0x19: "re-authenticate",
	0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
	0x83: "implementation specific error", 0x84: "unsupported protocol version",
	0x85: "client identifier not valid", 0x86: "bad user name or password",
	0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
	0x8B: "server shutting down", 0x8C: "bad authentication method", 0x8D: "keep alive timeout",
	0x8E: "session taken over", 0x8F: "topic filter invalid", 0x90: "topic name invalid",
	0x91: "packet identifier in use", 0x92: "packet identifier not found",
	0x93: "receive maximum exceeded", 0x94: "topic alias invalid", 0x95: "packet too large",
	0x96: "message rate too high", 0x97: "quota exceeded", 0x98: "administrative action",
	0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "QoS not supported",
	0x9C: "use another server", 0x9D: "server moved", 0x9E: "shared subscriptions not supported",
	0x9F: "connection rate exceeded", 0xA0: "maximum connect time",
	0xA1: "subscription identifiers not supported", 0xA2: "wildcard subscriptions not supported",
}

// String returns the MQTT 5 name of the code and its value.
func (c ReasonCode) String() string {
	if n, ok := reasonNames[c]; ok {
		return fmt.Sprintf("%s (0x%02X)", n, byte(c))
	}
	return fmt.Sprintf("reason code 0x%02X", byte(c))
}

// reasonSet is a set of reason codes as a 256-bit map.
type reasonSet [4]uint64

func newReasonSet(codes ...ReasonCode) reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each MQTT 5 packet may carry (the tables of sections
// 3.2.2.2, 3.4.2.1, 3.6.2.1, 3.9.3, 3.11.3, 3.14.2.1 and 3.15.2.1).
var (
	connackReasons = newReasonSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
		0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F)
	pubackReasons  = newReasonSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99) // PUBACK and PUBREC
	pubrelReasons  = newReasonSet(0x00, 0x92)                                           // PUBREL and PUBCOMP
	subackReasons  = newReasonSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	unsubackReason = newReasonSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	disconnReasons = newReasonSet(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
		0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
		0x9E, 0x9F, 0xA0, 0xA1, 0xA2)
	authReasons = newReasonSet(0x00, 0x18, 0x19)
	// The 3.1 and 3.1.1 return codes.
	connackReturnCodes = newReasonSet(0, 1, 2, 3, 4, 5)
	subackReturnCodes  = newReasonSet(0, 1, 2, 0x80)
)

// validReason reports whether packet type t may carry code c in version v.
func validReason(t Type, v Version, c ReasonCode) bool {
	if v != V5 {
		switch t {
		case TypeConnack:
			return connackReturnCodes.has(c)
		case TypeSuback:
			return subackReturnCodes.has(c)
		}
		return c == 0
	}
	switch t {
	case TypeConnack:
		return connackReasons.has(c)
	case TypePuback, TypePubrec:
		return pubackReasons.has(c)
	case TypePubrel, TypePubcomp:
		return pubrelReasons.has(c)
	case TypeSuback:
		return subackReasons.has(c)
	case TypeUnsuback:
		return unsubackReason.has(c)
	case TypeDisconnect:
		return disconnReasons.has(c)
	case TypeAuth:
		return authReasons.has(c)
	}
	return false
}
