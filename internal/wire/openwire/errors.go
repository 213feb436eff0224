package openwire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of these (or is
// an I/O error from the underlying stream), so callers can tell a peer's
// mistake from a broken connection with errors.Is.
var (
	// ErrFrameTooLarge means a frame's size prefix exceeds the reader's
	// maximum, or an encoded command exceeds the writer's. The reader checks
	// before allocating anything; the stream cannot be resynchronised.
	ErrFrameTooLarge = errors.New("openwire: frame too large")

	// ErrMalformed means a frame does not parse as a loose-encoded OpenWire
	// command: it is corrupt, truncated, has trailing bytes, or was written
	// with tight or cached encoding, which this codec does not speak. The
	// frame has been consumed, so the stream itself is still in step.
	ErrMalformed = errors.New("openwire: malformed frame")

	// ErrUnsupportedType means a frame or nested object carries a data
	// structure type this codec does not implement. The frame has been
	// consumed.
	ErrUnsupportedType = errors.New("openwire: unsupported data structure type")

	// ErrBadMagic means a WireFormatInfo does not start with "ActiveMQ".
	ErrBadMagic = errors.New("openwire: wire format magic is not ActiveMQ")

	// ErrUnsupportedVersion means the peer proposed an OpenWire version
	// outside MinVersion..MaxVersion. The concrete error is a *VersionError.
	ErrUnsupportedVersion = errors.New("openwire: unsupported protocol version")

	// ErrUnsupportedEncoding means a negotiation would end with tight
	// encoding, marshal caching or no size prefix, none of which this codec
	// implements.
	ErrUnsupportedEncoding = errors.New("openwire: unsupported wire encoding")

	// ErrInvalid means a value cannot be encoded: a string longer than
	// 65535 bytes of modified UTF-8 where OpenWire allows no more, an array
	// with more than 32767 elements, a nesting too deep, or a field holding
	// a data structure of the wrong type. Nothing is written.
	ErrInvalid = errors.New("openwire: value cannot be encoded")
)

// VersionError reports a WireFormatInfo whose version this codec cannot
// speak. It wraps ErrUnsupportedVersion.
type VersionError struct {
	// Version is the version the peer proposed.
	Version int32
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("openwire: protocol version %d is not supported (supported: OpenWire %d to %d; upgrade the client library)", e.Version, MinVersion, MaxVersion)
}

// Unwrap returns ErrUnsupportedVersion.
func (e *VersionError) Unwrap() error { return ErrUnsupportedVersion }
