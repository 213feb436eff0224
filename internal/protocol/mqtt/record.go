package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	wire "tandem/internal/wire/mqtt"
)

// The durable state of the adapter is kept as message bodies in its
// queues. Their encodings are below; docs/mqtt.md ("What is stored")
// describes them byte by byte, and testdata/records.golden holds one of
// each. Every record starts with its format version, so that a later
// tandem can read what an earlier one wrote.

// recordFormat is the version byte of the session record and the marker.
const recordFormat = 1

// errBadRecord reports a stored record that does not decode.
var errBadRecord = errors.New("mqtt: malformed stored record")

// neverExpires is the Session Expiry Interval that never runs out.
const neverExpires = math.MaxUint32

// sessionRecord is what $sys.mqtt.sessions keeps of a session that
// outlives its connection.
type sessionRecord struct {
	ClientID string
	// User is the user that owns the session: only that user may resume
	// it.
	User    string
	Version wire.Version
	// Expiry is the Session Expiry Interval in seconds (neverExpires: never).
	Expiry uint32
	// DisconnectedAt is when the last connection ended, in Unix
	// milliseconds; 0 while a connection is open (a broker that stops
	// with the client connected counts the expiry from its next start).
	DisconnectedAt int64
	Subs           []subRecord
}

// subRecord is one subscription of a session record.
type subRecord struct {
	Filter            string // as the client sent it, $share/ prefix included
	QoS               wire.QoS
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // MQTT 5 Subscription Identifier, 0 for none
}

const (
	subNoLocal   = 1 << 2
	subRetainPub = 1 << 3
)

// encode appends the record's encoding to dst.
func (r *sessionRecord) encode(dst []byte) []byte {
	dst = append(dst, recordFormat, byte(r.Version))
	dst = binary.BigEndian.AppendUint32(dst, r.Expiry)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.DisconnectedAt))
	dst = appendString(dst, r.ClientID)
	dst = appendString(dst, r.User)
	dst = binary.AppendUvarint(dst, uint64(len(r.Subs)))
	for _, s := range r.Subs {
		dst = appendString(dst, s.Filter)
		opts := byte(s.QoS) | s.RetainHandling<<4
		if s.NoLocal {
			opts |= subNoLocal
		}
		if s.RetainAsPublished {
			opts |= subRetainPub
		}
		dst = append(dst, opts)
		dst = binary.AppendUvarint(dst, uint64(s.ID))
	}
	return dst
}

// decodeSessionRecord reads a record written by encode.
func decodeSessionRecord(b []byte) (*sessionRecord, error) {
	d := recordDecoder{b: b}
	if v := d.byte(); v != recordFormat {
		return nil, fmt.Errorf("%w: format %d, this tandem reads %d", errBadRecord, v, recordFormat)
	}
	r := &sessionRecord{Version: wire.Version(d.byte())}
	r.Expiry = d.uint32()
	r.DisconnectedAt = int64(d.uint64())
	r.ClientID = d.string()
	r.User = d.string()
	n := d.uvarint()
	if n > uint64(len(b)) { // every subscription takes at least two bytes
		return nil, fmt.Errorf("%w: %d subscriptions in %d bytes", errBadRecord, n, len(b))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		s := subRecord{Filter: d.string()}
		opts := d.byte()
		s.QoS = wire.QoS(opts & 3)
		s.NoLocal = opts&subNoLocal != 0
		s.RetainAsPublished = opts&subRetainPub != 0
		s.RetainHandling = opts >> 4
		id := d.uvarint()
		if id > wire.MaxVarint || s.QoS > wire.QoS2 || s.RetainHandling > 2 || opts&0x03 == 3 {
			d.fail("subscription %q: options 0x%02X, identifier %d", s.Filter, opts, id)
		}
		s.ID = uint32(id)
		r.Subs = append(r.Subs, s)
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d bytes after the last subscription", len(b)-d.off)
	}
	if d.err == nil && !r.Version.Supported() {
		d.fail("protocol level %d", r.Version)
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// Markers in $sys.mqtt.qos2 record a packet identifier of a QoS 2
// exchange that must survive the connection: inbound, a PUBLISH that was
// stored and answered with PUBREC but not yet released; outbound, a
// delivery the client acknowledged with PUBREC, whose PUBREL must be sent
// again until PUBCOMP comes.
type markerDir byte

const (
	markerIn  markerDir = 'i'
	markerOut markerDir = 'o'
)

// marker is one such record.
type marker struct {
	ClientID string
	Dir      markerDir
	PacketID uint16
}

func (m marker) encode(dst []byte) []byte {
	dst = append(dst, recordFormat, byte(m.Dir))
	dst = binary.BigEndian.AppendUint16(dst, m.PacketID)
	return appendString(dst, m.ClientID)
}

func decodeMarker(b []byte) (marker, error) {
	d := recordDecoder{b: b}
	if v := d.byte(); v != recordFormat {
		return marker{}, fmt.Errorf("%w: marker format %d, this tandem reads %d", errBadRecord, v, recordFormat)
	}
	m := marker{Dir: markerDir(d.byte())}
	m.PacketID = d.uint16()
	m.ClientID = d.string()
	if d.err == nil && (m.Dir != markerIn && m.Dir != markerOut || m.PacketID == 0 || d.off != len(b)) {
		d.fail("marker %q %c %d with %d bytes left", m.ClientID, m.Dir, m.PacketID, len(b)-d.off)
	}
	return m, d.err
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// recordDecoder reads the fields of a record; the first error sticks.
type recordDecoder struct {
	b   []byte
	off int
	err error
}

func (d *recordDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errBadRecord, fmt.Sprintf(format, args...))
	}
}

func (d *recordDecoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("%d bytes needed at offset %d of %d", n, d.off, len(d.b))
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *recordDecoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *recordDecoder) uint16() uint16 {
	if p := d.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (d *recordDecoder) uint32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *recordDecoder) uint64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *recordDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint at offset %d", d.off)
		return 0
	}
	d.off += n
	return v
}

func (d *recordDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("a string of %d bytes in a record of %d", n, len(d.b))
		return ""
	}
	p := d.take(int(n))
	if d.err == nil && !utf8.Valid(p) {
		d.fail("a string that is not UTF-8 at offset %d", d.off-len(p))
	}
	return string(p)
}
