package mqtt

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// MaxVarint is the largest value a Variable Byte Integer can hold (four
// bytes of seven bits), and so the largest remaining length.
const MaxVarint = 268_435_455

// maxString is the longest UTF-8 string or binary field: its length is a
// Two Byte Integer.
const maxString = 65_535

// varintLen returns how many bytes the Variable Byte Integer encoding of n
// takes; n must not exceed MaxVarint.
func varintLen(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

// appendVarint appends the Variable Byte Integer encoding of n, which must
// be in [0, MaxVarint].
func appendVarint(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// decodeVarint decodes a Variable Byte Integer from the front of b. It
// returns the value and the number of bytes used; n is 0 when b ends
// before the integer does, and -1 when the encoding is invalid: a fifth
// byte, or more bytes than the value needs (the specification requires
// the shortest encoding, [MQTT-1.5.5-1]).
func decodeVarint(b []byte) (value, n int) {
	for i := 0; i < 4; i++ {
		if i == len(b) {
			return 0, 0
		}
		c := b[i]
		value |= int(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, -1
			}
			return value, i + 1
		}
	}
	return 0, -1
}

// validUTF8 reports whether s may appear in an MQTT UTF-8 Encoded String:
// well-formed UTF-8 (so no encoded surrogates, no overlong forms) without
// U+0000 ([MQTT-1.5.4-1], [MQTT-1.5.4-2]). The Disallowed Unicode code
// points (controls, non-characters) are accepted: the specification only
// says they SHOULD NOT be sent, and refusing them breaks clients that do.
func validUTF8(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:]) && strings.IndexByte(s[i:], 0) < 0
		}
	}
	return true
}

// validUTF8Bytes is validUTF8 for bytes not yet made a string.
func validUTF8Bytes(b []byte) bool {
	for i, c := range b {
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.Valid(b[i:]) && bytes.IndexByte(b[i:], 0) < 0
		}
	}
	return true
}

// decoder reads the fields of one packet body. Errors are sticky: after the
// first, every read returns zero values and err keeps the first error.
type decoder struct {
	b   []byte
	off int
	err *Error
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) fail(e *Error) {
	if d.err == nil {
		d.err = e
	}
}

func (d *decoder) short(what string) {
	d.fail(malformed("the packet ends inside the %s", what))
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 1 {
		d.short(what)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) uint16(what string) uint16 {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 2 {
		d.short(what)
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) uint32(what string) uint32 {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 4 {
		d.short(what)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) varint(what string) int {
	if d.err != nil {
		return 0
	}
	v, n := decodeVarint(d.b[d.off:])
	switch {
	case n == 0:
		d.short(what)
		return 0
	case n < 0:
		d.fail(malformed("the %s is not a valid variable byte integer", what))
		return 0
	}
	d.off += n
	return v
}

// binary reads a length-prefixed byte field. The result aliases the
// packet's buffer, which belongs to the packet.
func (d *decoder) binary(what string) []byte {
	n := int(d.uint16(what))
	if d.err != nil {
		return nil
	}
	if d.remaining() < n {
		d.short(what)
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

// string reads a length-prefixed UTF-8 string and checks it.
func (d *decoder) string(what string) string {
	b := d.binary(what)
	if d.err != nil {
		return ""
	}
	if !validUTF8Bytes(b) {
		d.fail(malformed("the %s %.100q is not valid MQTT UTF-8 (ill-formed, a surrogate, or U+0000)", what, b))
		return ""
	}
	return string(b)
}

// rest returns the unread bytes.
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	v := d.b[d.off:len(d.b):len(d.b)]
	d.off = len(d.b)
	return v
}

func appendUint16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

func appendUint32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}
