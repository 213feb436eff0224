package openwire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A frame on the wire is a 32-bit big-endian size (not counting itself),
// the type byte and the body. The functions here encode and decode one
// frame in memory; Reader and Writer add the stream.

// Marshal returns the loose encoding of ds: its type byte and body, without
// the size prefix. Throwables are written without stack traces.
func Marshal(ds DataStructure) ([]byte, error) {
	return appendBody(nil, ds, false)
}

// Unmarshal decodes a frame's type byte and body, as returned by Marshal or
// Reader.ReadFrame. Throwables are read without stack traces.
func Unmarshal(frame []byte) (DataStructure, error) {
	return unmarshalFrame(frame, false)
}

// AppendFrame appends ds as a whole frame, size prefix included, to dst.
// Throwables are written without stack traces.
func AppendFrame(dst []byte, ds DataStructure) ([]byte, error) {
	return appendFrame(dst, ds, false, 0)
}

func appendBody(dst []byte, ds DataStructure, stackTrace bool) ([]byte, error) {
	e := encoder{buf: dst, stackTrace: stackTrace}
	if err := e.body(ds); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// appendFrame appends a size-prefixed frame; max, when positive, bounds the
// frame's size (prefix excluded). On error dst is returned unchanged.
func appendFrame(dst []byte, ds DataStructure, stackTrace bool, max int64) ([]byte, error) {
	e := encoder{buf: dst, stackTrace: stackTrace}
	if err := e.frame(ds, max); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// body appends ds's type byte and body to e.buf. On error e.buf is as it
// was. The encoder is reset first, so that a Writer can reuse one.
func (e *encoder) body(ds DataStructure) error {
	e.err, e.depth = nil, 0
	if ds == nil || ds.isNil() {
		return fmt.Errorf("%w: a nil command", ErrInvalid)
	}
	at := len(e.buf)
	e.u8(byte(ds.DataType()))
	ds.marshal(e)
	if e.err != nil {
		e.buf = e.buf[:at]
		return fmt.Errorf("encoding a %v: %w", ds.DataType(), e.err)
	}
	return nil
}

// frame appends ds as a size-prefixed frame to e.buf.
func (e *encoder) frame(ds DataStructure, max int64) error {
	at := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	if err := e.body(ds); err != nil {
		e.buf = e.buf[:at]
		return err
	}
	n := len(e.buf) - at - 4
	if n > math.MaxInt32 || (max > 0 && int64(n) > max) {
		e.buf = e.buf[:at]
		limit := max
		if limit <= 0 {
			limit = math.MaxInt32
		}
		return fmt.Errorf("%w: a %v of %d bytes exceeds the peer's limit of %d", ErrFrameTooLarge, ds.DataType(), n, limit)
	}
	binary.BigEndian.PutUint32(e.buf[at:], uint32(n))
	return nil
}

func unmarshalFrame(frame []byte, stackTrace bool) (DataStructure, error) {
	d := decoder{stackTrace: stackTrace}
	return d.frame(frame)
}

// frame decodes one frame's type byte and body. The decoder is reset
// first, so that a Reader can reuse one.
func (d *decoder) frame(frame []byte) (DataStructure, error) {
	d.buf, d.off, d.err, d.depth = frame, 1, nil, 0
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: an empty frame", ErrMalformed)
	}
	t := DataType(frame[0])
	if t == TypeNull {
		return nil, fmt.Errorf("%w: a null frame", ErrMalformed)
	}
	var ds DataStructure
	d.inArena = d.arena != nil && reusable(t)
	if d.inArena {
		ds = d.arena.top(t)
	} else if ds = newDataStructure(t); ds == nil {
		return nil, fmt.Errorf("%w: a frame of %v", ErrUnsupportedType, t)
	}
	ds.unmarshal(d)
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d bytes left over after the fields (corrupt, or tight encoding)", d.remaining())
	}
	if d.err != nil {
		return nil, fmt.Errorf("a %v frame of %d bytes: %w", t, len(frame), d.error())
	}
	return ds, nil
}

// Header is the start shared by every command frame, in every protocol
// version and in both encodings' loose form.
type Header struct {
	Type             DataType
	CommandID        int32
	ResponseRequired bool
}

// ParseHeader reads the type, command ID and response-required flag from
// a frame (as returned by Reader.ReadFrame), without decoding the rest. It
// works for frames this codec cannot decode — a command of an older
// protocol version, or of a type not implemented — so a broker can still
// answer them with an ExceptionResponse. ok is false when the frame is not
// a command or is too short.
func ParseHeader(frame []byte) (h Header, ok bool) {
	if len(frame) < 6 {
		return Header{}, false
	}
	t := DataType(frame[0])
	if !isCommandType(t) || frame[5] > 1 {
		return Header{}, false
	}
	return Header{Type: t, CommandID: int32(binary.BigEndian.Uint32(frame[1:])), ResponseRequired: frame[5] == 1}, true
}

// isCommandType reports whether t is a BaseCommand in ActiveMQ's type
// table, implemented here or not.
func isCommandType(t DataType) bool {
	switch {
	case t >= TypeBrokerInfo && t <= TypeRemoveInfo:
		return true
	case t >= 14 && t <= 34: // ControlCommand .. IntegerResponse, messages included
		return true
	case t == 65 || t == 90 || t == 92: // Replay, MessageDispatchNotification, BrokerSubscriptionInfo
		return true
	}
	return false
}

// Detection is what Detect concludes from the first bytes of a connection.
type Detection int

const (
	// DetectNeedMore means the bytes so far fit OpenWire but are too few
	// to be sure.
	DetectNeedMore Detection = iota
	// DetectOpenWire means the connection opens with an OpenWire
	// WireFormatInfo.
	DetectOpenWire
	// DetectNotOpenWire means the bytes cannot start an OpenWire
	// connection.
	DetectNotOpenWire
)

// DetectLen is the number of bytes Detect needs to decide: the size
// prefix, the type byte and the eight-byte magic.
const DetectLen = 4 + 1 + len(Magic)

// Detect tells from the first bytes of a connection whether it speaks
// OpenWire. A Java client always opens with a loose-encoded, size-prefixed
// WireFormatInfo: a size below 16 MiB (so a first byte of zero), type 1 and
// "ActiveMQ". Detect decides as early as the bytes allow; given DetectLen
// bytes it never answers DetectNeedMore.
func Detect(b []byte) Detection {
	for i := 0; i < len(b) && i < DetectLen; i++ {
		var ok bool
		switch {
		case i == 0:
			ok = b[0] == 0
		case i < 3:
			ok = true
		case i == 3:
			// The smallest WireFormatInfo: type, magic, version, absent map.
			ok = binary.BigEndian.Uint32(b) >= 1+8+4+1
		case i == 4:
			ok = DataType(b[4]) == TypeWireFormatInfo
		default:
			ok = b[i] == Magic[i-5]
		}
		if !ok {
			return DetectNotOpenWire
		}
	}
	if len(b) < DetectLen {
		return DetectNeedMore
	}
	return DetectOpenWire
}
