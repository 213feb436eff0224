package amqp

import (
	"encoding/hex"
	"fmt"
	"time"
)

// Format codes of the AMQP 1.0 type system (part 1, section 1.6 of the
// specification). The compact forms (uint0, smallulong, list0...) exist
// only on the wire; the decoder maps them onto the same Go types as their
// full forms.
const (
	codeDescribed  = 0x00
	codeNull       = 0x40
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeUint0      = 0x43
	codeUlong0     = 0x44
	codeList0      = 0x45
	codeUbyte      = 0x50
	codeByte       = 0x51
	codeSmallUint  = 0x52
	codeSmallUlong = 0x53
	codeSmallInt   = 0x54
	codeSmallLong  = 0x55
	codeBool       = 0x56
	codeUshort     = 0x60
	codeShort      = 0x61
	codeUint       = 0x70
	codeInt        = 0x71
	codeFloat      = 0x72
	codeChar       = 0x73
	codeDecimal32  = 0x74
	codeUlong      = 0x80
	codeLong       = 0x81
	codeDouble     = 0x82
	codeTimestamp  = 0x83
	codeDecimal64  = 0x84
	codeDecimal128 = 0x94
	codeUUID       = 0x98
	codeVbin8      = 0xa0
	codeStr8       = 0xa1
	codeSym8       = 0xa3
	codeVbin32     = 0xb0
	codeStr32      = 0xb1
	codeSym32      = 0xb3
	codeList8      = 0xc0
	codeMap8       = 0xc1
	codeList32     = 0xd0
	codeMap32      = 0xd1
	codeArray8     = 0xe0
	codeArray32    = 0xf0
)

// Symbol is an AMQP symbol: a short ASCII name such as a capability, an
// error condition or an annotation key. It is distinct from string on the
// wire, so it is a distinct Go type.
type Symbol string

// UUID is an AMQP uuid, the 16 bytes in network order.
type UUID [16]byte

// String formats u in the canonical 8-4-4-4-12 hexadecimal form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Char is an AMQP char: one Unicode code point, sent as UTF-32BE.
type Char rune

// Timestamp is an AMQP timestamp: milliseconds since the Unix epoch,
// signed. Keeping the integer (rather than a time.Time) makes decoding and
// re-encoding lossless.
type Timestamp int64

// Time converts t to a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(int64(t)).UTC() }

// TimestampOf converts a time.Time to a Timestamp, truncating to the
// millisecond.
func TimestampOf(t time.Time) Timestamp { return Timestamp(t.UnixMilli()) }

// Decimal32, Decimal64 and Decimal128 are the IEEE 754 decimal types. The
// codec carries their bytes (network order) without interpreting them: no
// client of tandem computes with them, and passing them through unchanged
// is the only faithful thing a broker can do.
type (
	Decimal32  [4]byte
	Decimal64  [8]byte
	Decimal128 [16]byte
)

// List is an AMQP list of values of any type.
type List []any

// MapEntry is one key/value pair of a Map.
type MapEntry struct {
	Key   any
	Value any
}

// Map is an AMQP map. It is a slice rather than a Go map because AMQP map
// keys may be of any type (binary, lists...) that Go cannot hash, and
// because keeping the order lets a decoded map be re-encoded byte for byte.
// Keys should be unique; the decoder does not check, and Get returns the
// first match.
type Map []MapEntry

// Get returns the value of the first entry whose key equals key, comparing
// keys with == (so a Symbol key does not match a string). It does not look
// inside keys of incomparable types.
func (m Map) Get(key any) (any, bool) {
	for _, e := range m {
		if comparableEqual(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

// GetSymbol returns the value stored under the symbol key k.
func (m Map) GetSymbol(k Symbol) (any, bool) { return m.Get(k) }

// Set replaces the value of the first entry with key, or appends an entry.
func (m *Map) Set(key, value any) {
	for i, e := range *m {
		if comparableEqual(e.Key, key) {
			(*m)[i].Value = value
			return
		}
	}
	*m = append(*m, MapEntry{Key: key, Value: value})
}

// Delete removes every entry whose key equals key.
func (m *Map) Delete(key any) {
	out := (*m)[:0]
	for _, e := range *m {
		if !comparableEqual(e.Key, key) {
			out = append(out, e)
		}
	}
	*m = out
}

// comparableEqual compares a and b with == when both have comparable
// dynamic types of the same kind, and reports false otherwise (instead of
// panicking on slices).
func comparableEqual(a, b any) bool {
	switch a.(type) {
	case []byte, List, Map, Array, []any, Described, *Described:
		return false
	}
	switch b.(type) {
	case []byte, List, Map, Array, []any, Described, *Described:
		return false
	}
	return a == b
}

// Array is an AMQP array: values that all share one constructor. Code is
// the element format code as sent (sym8 or sym32, smalluint or uint...);
// when zero, the encoder chooses the most compact code that fits every
// element. Descriptor is set for an array of described values (all with
// the same descriptor), whose Elems are then the undescribed values.
//
// Elements have the Go types the decoder gives single values of that code.
type Array struct {
	Code       byte
	Descriptor any
	Elems      []any
}

// Described is a value with a descriptor: a ulong (uint64) or a Symbol
// naming what the value means. The decoder returns this form for
// descriptors it does not know, so unknown extensions survive a decode and
// re-encode.
type Described struct {
	Descriptor any
	Value      any
}

// String formats d for logs and test failures.
func (d Described) String() string {
	if u, ok := d.Descriptor.(uint64); ok {
		return fmt.Sprintf("described(0x%016x: %v)", u, d.Value)
	}
	return fmt.Sprintf("described(%v: %v)", d.Descriptor, d.Value)
}
