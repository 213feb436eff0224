package amqp

import "fmt"

// ProtocolID is the byte after "AMQP" in a protocol header: which layer
// the header opens.
type ProtocolID uint8

// The protocol ids of AMQP 1.0.
const (
	ProtocolAMQP ProtocolID = 0
	ProtocolTLS  ProtocolID = 2
	ProtocolSASL ProtocolID = 3
)

// ProtocolHeader is the eight-byte header each side sends before its
// frames (and again after TLS or SASL completes): "AMQP", the protocol id
// and the version.
type ProtocolHeader struct {
	ID                     ProtocolID
	Major, Minor, Revision uint8
}

// The three headers of AMQP 1.0.
var (
	HeaderAMQP = ProtocolHeader{ID: ProtocolAMQP, Major: 1}
	HeaderTLS  = ProtocolHeader{ID: ProtocolTLS, Major: 1}
	HeaderSASL = ProtocolHeader{ID: ProtocolSASL, Major: 1}
)

// HeaderSize is the length of a protocol header.
const HeaderSize = 8

// Bytes returns the header as sent.
func (h ProtocolHeader) Bytes() [HeaderSize]byte {
	return [HeaderSize]byte{'A', 'M', 'Q', 'P', byte(h.ID), h.Major, h.Minor, h.Revision}
}

// String formats the header as "AMQP 3 1.0.0".
func (h ProtocolHeader) String() string {
	return fmt.Sprintf("AMQP %d %d.%d.%d", h.ID, h.Major, h.Minor, h.Revision)
}

// Is10 reports whether h is a header of AMQP 1.0.0.
func (h ProtocolHeader) Is10() bool { return h.Major == 1 && h.Minor == 0 && h.Revision == 0 }

// ParseProtocolHeader parses eight bytes as a protocol header. It fails
// with ErrBadHeader when they do not start with "AMQP"; it does not judge
// the id or version (the caller answers an unsupported one with its own
// header, as the specification asks).
func ParseProtocolHeader(b []byte) (ProtocolHeader, error) {
	if len(b) < HeaderSize || string(b[:4]) != "AMQP" {
		return ProtocolHeader{}, fmt.Errorf("%w: %q is not an AMQP protocol header", ErrBadHeader, b)
	}
	return ProtocolHeader{ID: ProtocolID(b[4]), Major: b[5], Minor: b[6], Revision: b[7]}, nil
}

// Detection is what the first bytes of a connection say about its
// protocol.
type Detection int

// The outcomes of Detect.
const (
	// DetectNeedMore: the bytes so far are a prefix of an AMQP header;
	// read more (up to HeaderSize) and ask again.
	DetectNeedMore Detection = iota
	// DetectNotAMQP: not AMQP at all; another protocol's turn.
	DetectNotAMQP
	// DetectAMQP: AMQP 1.0 without SASL ("AMQP" 0 1 0 0).
	DetectAMQP
	// DetectSASL: AMQP 1.0 starting with SASL ("AMQP" 3 1 0 0).
	DetectSASL
	// DetectTLS: AMQP 1.0 asking for a TLS upgrade ("AMQP" 2 1 0 0).
	DetectTLS
	// DetectAMQP091: an AMQP 0-9-1 client ("AMQP" 0 0 9 1), such as a
	// RabbitMQ client. The specification has the server answer with the
	// header of the version it speaks and close.
	DetectAMQP091
	// DetectOtherVersion: "AMQP" followed by any other id or version (0-8,
	// 0-10, a future 1.x). Answer as for DetectAMQP091.
	DetectOtherVersion
)

var detectionNames = [...]string{"need-more", "not-amqp", "amqp-1.0", "amqp-1.0-sasl", "amqp-1.0-tls", "amqp-0-9-1", "amqp-other-version"}

func (d Detection) String() string {
	if int(d) < len(detectionNames) {
		return detectionNames[d]
	}
	return fmt.Sprintf("detection(%d)", int(d))
}

// Detect tells from the first bytes of a connection whether the peer
// speaks AMQP and which header it sent. It needs at most HeaderSize bytes
// and looks at no more.
func Detect(b []byte) Detection {
	const magic = "AMQP"
	for i := 0; i < len(b) && i < len(magic); i++ {
		if b[i] != magic[i] {
			return DetectNotAMQP
		}
	}
	if len(b) < HeaderSize {
		return DetectNeedMore
	}
	h, _ := ParseProtocolHeader(b)
	switch {
	case h == HeaderAMQP:
		return DetectAMQP
	case h == HeaderSASL:
		return DetectSASL
	case h == HeaderTLS:
		return DetectTLS
	case h == ProtocolHeader{ID: 0, Major: 0, Minor: 9, Revision: 1}:
		return DetectAMQP091
	}
	return DetectOtherVersion
}
