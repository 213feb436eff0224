package mqtt

import (
	"errors"
	"fmt"
)

// The kinds of error the Reader returns for bad input. Each is the Kind of
// an *Error, which also carries the reason code to answer with.
var (
	// ErrMalformed: the bytes cannot be parsed as the packet they claim to
	// be (reason code 0x81).
	ErrMalformed = errors.New("mqtt: malformed packet")
	// ErrProtocol: the packet parses but breaks a rule of the protocol
	// (reason code 0x82, or a more specific one such as 0x94).
	ErrProtocol = errors.New("mqtt: protocol error")
	// ErrPacketTooLarge: the packet is larger than the reader's maximum
	// (reason code 0x95), or one the writer was asked to write is larger
	// than the peer accepts.
	ErrPacketTooLarge = errors.New("mqtt: packet too large")
	// ErrUnsupportedVersion: a CONNECT with a protocol name or level this
	// codec does not speak (CONNACK 0x84 in MQTT 5, return code 1 in 3.1.1).
	ErrUnsupportedVersion = errors.New("mqtt: unsupported protocol version")
)

// ErrBadPacket is returned by the Writer for a packet it cannot encode in
// its version: a field out of range, a string that is not valid MQTT UTF-8,
// a property not allowed in the packet, a 5.0 feature in 3.1.1.
var ErrBadPacket = errors.New("mqtt: packet cannot be encoded")

// Error describes bad input found by the Reader: what kind of error it is,
// which reason code the specification asks the receiver to answer with,
// and where in the connection it happened. errors.Is(err, ErrMalformed)
// and the like work on it.
type Error struct {
	// Kind is ErrMalformed, ErrProtocol, ErrPacketTooLarge or
	// ErrUnsupportedVersion.
	Kind error
	// Reason is the MQTT 5 reason code for the CONNACK or DISCONNECT that
	// reports the error: 0x81, 0x82, 0x95 or 0x84, or a more specific code
	// where the specification names one (0x90 for a wildcard in a topic
	// name, 0x94 for a bad topic alias).
	Reason ReasonCode
	// Packet is the type of the packet being read, or 0 when the first
	// byte itself was bad.
	Packet Type
	// Version is the protocol version the packet was read in: the one in
	// force, or for a CONNECT the level it carried once that was read; 0
	// when unknown.
	Version Version
	// BeforeConnect is true when the error came before the connection was
	// established: on the server side before a valid CONNECT was read (the
	// error is in the CONNECT, or the first packet was not one), on the
	// client side before CONNACK. A server answers such errors with a
	// CONNACK (see ConnackFor) or by closing, never with DISCONNECT.
	BeforeConnect bool
	// Detail says what exactly was wrong, for logs.
	Detail string
}

// Error returns the kind, the packet and the detail, e.g. "mqtt: malformed
// packet: PUBLISH: topic name is not valid UTF-8".
func (e *Error) Error() string {
	if e.Packet == 0 {
		return fmt.Sprintf("%v: %s", e.Kind, e.Detail)
	}
	return fmt.Sprintf("%v: %v: %s", e.Kind, e.Packet, e.Detail)
}

// Unwrap returns the kind, so that errors.Is matches the sentinels.
func (e *Error) Unwrap() error { return e.Kind }

func malformed(format string, args ...any) *Error {
	return &Error{Kind: ErrMalformed, Reason: MalformedPacket, Detail: fmt.Sprintf(format, args...)}
}

func protocolError(format string, args ...any) *Error {
	return &Error{Kind: ErrProtocol, Reason: ProtocolError, Detail: fmt.Sprintf(format, args...)}
}

// protocolErrorCode is a protocol error with a more specific reason code.
func protocolErrorCode(code ReasonCode, format string, args ...any) *Error {
	return &Error{Kind: ErrProtocol, Reason: code, Detail: fmt.Sprintf(format, args...)}
}

// ReasonFor returns the MQTT 5 reason code with which to report err to the
// peer, and false when err is not an *Error (an I/O error or end of stream,
// after which nothing can be sent).
func ReasonFor(err error) (ReasonCode, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason, true
	}
	return 0, false
}

// ConnackFor returns the CONNACK a server should send before closing the
// connection after the Reader returned err, and the version to encode it
// in; ok is false when the server should close without one.
//
// An unsupported protocol version gets a 3.1.1 CONNACK with return code 1
// (the 3.1.1 rule, and what MQTT 5 allows for a level other than 5). An
// error in an MQTT 5 CONNECT gets a 5.0 CONNACK with the error's reason
// code. An error in a 3.1 or 3.1.1 CONNECT, or in bytes that never got as
// far as the protocol level, gets none: 3.1.1 has no return code for it.
func ConnackFor(err error) (ack *Connack, v Version, ok bool) {
	var e *Error
	if !errors.As(err, &e) || !e.BeforeConnect || e.Packet != TypeConnect {
		return nil, 0, false
	}
	if errors.Is(e.Kind, ErrUnsupportedVersion) {
		return &Connack{Reason: RefusedProtocolVersion}, V311, true
	}
	if e.Version == V5 {
		return &Connack{Reason: e.Reason}, V5, true
	}
	return nil, 0, false
}

// DisconnectFor returns the DISCONNECT a server should send before closing
// the connection after the Reader returned err on an established MQTT 5
// connection; ok is false before the connection is established (see
// ConnackFor), for 3.1 and 3.1.1 (which have no reason codes: just close),
// and for errors that are not bad input (I/O errors, end of stream).
func DisconnectFor(err error) (d *Disconnect, ok bool) {
	var e *Error
	if !errors.As(err, &e) || e.BeforeConnect || e.Version != V5 {
		return nil, false
	}
	return &Disconnect{Reason: e.Reason}, true
}
