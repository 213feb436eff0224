// Package mqtt is tandem's codec for MQTT 3.1, 3.1.1 and 5.0: every control
// packet with all MQTT 5 properties and reason codes, a Reader that decodes
// packets from a stream and a Writer that buffers encoded packets for one
// write per burst, plus what belongs with the wire format: topic name and
// filter validation and matching, topic alias tables, Artemis' mapping of
// topics to tandem addresses, and a detector for the first bytes of a
// connection.
//
// The package owns the wire format only. It knows nothing of sessions,
// subscriptions or the broker, and imports nothing from tandem, so the
// server-side adapter (internal/protocol/mqtt) and tandem's MQTT client both
// build on it.
//
// # Reading
//
// A Reader serves one end of a connection (ServerSide or ClientSide). On
// the server side it learns the version from the CONNECT, which must come
// first and only once; a client sets the version it asked for. Bad input
// gives an *Error whose Kind is ErrMalformed, ErrProtocol, ErrPacketTooLarge
// or ErrUnsupportedVersion, whose Reason is the MQTT 5 reason code to report
// it with, and whose BeforeConnect says whether the connection was
// established; ConnackFor turns an error in a CONNECT into the CONNACK to
// send, and DisconnectFor a later error into the MQTT 5 DISCONNECT. The
// package example shows a server loop built on these. The remaining length is checked against the maximum packet size
// before anything is allocated for the body, and a large body is allocated
// as it arrives.
//
// Subscription topic filters are checked for valid UTF-8 while reading but
// not for wildcard placement: CheckTopicFilter does that, so that one bad
// filter can be refused in the SUBACK (0x8F) instead of closing the
// connection.
//
// # Writing
//
// A Writer checks each packet against the rules of its version (the same
// rules the Reader enforces) and refuses, without writing anything, one it
// cannot encode (ErrBadPacket) or one larger than the peer accepts
// (ErrPacketTooLarge). A packet read from the wire is written back byte for
// byte, including which of the equivalent short forms of an acknowledgement
// the peer used.
//
// Reader and Writer are not safe for concurrent use; a connection has one
// reading goroutine and serializes its writes.
//
// docs/mqtt.md describes the wire behaviour, the validation, the error
// mapping and the topic mapping in full.
package mqtt
