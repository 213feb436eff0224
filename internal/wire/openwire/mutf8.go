package openwire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Java writes strings in "modified UTF-8" (java.io.DataOutput.writeUTF):
// every UTF-16 code unit is encoded on its own, so NUL takes the two bytes
// C0 80 and a supplementary character becomes its two surrogates, three bytes
// each. Go strings are UTF-8. The functions here convert between the two.
//
// A Java string may hold a lone surrogate, which UTF-8 cannot express. Such a
// surrogate is kept in the Go string as its three-byte generalised UTF-8 form
// (ED A0..BF xx, as in WTF-8) and written back unchanged, so nothing a Java
// peer sends is lost. A Go string holding other invalid UTF-8 is written with
// U+FFFD in place of each bad byte: Java could not have produced it.

// appendMUTF8 appends s in modified UTF-8.
func appendMUTF8(dst []byte, s string) []byte {
	// IDs and destination names are ASCII without NUL, the same in both
	// encodings: copied whole, after a check eight bytes at a time.
	i := plainPrefix(s)
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c != 0 && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c == 0 {
			dst = append(dst, 0xC0, 0x80)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if isWTF8Surrogate(s[i:]) {
				dst = append(dst, s[i], s[i+1], s[i+2])
				i += 3
				continue
			}
			r = utf8.RuneError
		}
		i += size
		switch {
		case r < 0x800:
			dst = append(dst, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
		case r < 0x10000:
			dst = appendMUTF8Unit(dst, uint16(r))
		default:
			r -= 0x10000
			dst = appendMUTF8Unit(dst, uint16(0xD800+(r>>10)))
			dst = appendMUTF8Unit(dst, uint16(0xDC00+(r&0x3FF)))
		}
	}
	return dst
}

// appendMUTF8Unit appends one UTF-16 code unit of 0x800 or more in three
// bytes.
func appendMUTF8Unit(dst []byte, u uint16) []byte {
	return append(dst, 0xE0|byte(u>>12), 0x80|byte(u>>6)&0x3F, 0x80|byte(u)&0x3F)
}

// isWTF8Surrogate reports whether s starts with the three-byte encoding of a
// UTF-16 surrogate, which Go's UTF-8 decoder rejects.
func isWTF8Surrogate(s string) bool {
	return len(s) >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF && s[2]&0xC0 == 0x80
}

// javaLength returns the length of s as a Java String: the number of UTF-16
// code units it encodes to.
func javaLength(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1 && isWTF8Surrogate(s[i:]):
			size = 3
			n++
		case r >= 0x10000:
			n += 2
		default:
			n++
		}
		i += size
	}
	return n
}

// decodeMUTF8 converts modified UTF-8 to a Go string. It accepts what Java's
// DataInput.readUTF accepts (including a raw NUL byte and over-long forms)
// and, in addition, standard four-byte UTF-8 sequences, which non-Java
// clients write and which ActiveMQ itself reads in property values.
func decodeMUTF8(b []byte) (string, error) {
	i := asciiPrefix(b)
	if i == len(b) {
		return string(b), nil
	}
	out, err := appendDecodedMUTF8(make([]byte, 0, len(b)+4), b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// appendDecodedMUTF8 appends b, in modified UTF-8, to dst as UTF-8, as
// decodeMUTF8 converts it. On error it returns dst as it was.
func appendDecodedMUTF8(dst, b []byte) ([]byte, error) {
	i := asciiPrefix(b)
	out := append(dst, b[:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c < 0x80:
			out = append(out, c)
			i++
		case c&0xE0 == 0xC0:
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return dst, badUTF8(i)
			}
			out = utf8.AppendRune(out, rune(c&0x1F)<<6|rune(b[i+1]&0x3F))
			i += 2
		case c&0xF0 == 0xE0:
			u, ok := mutf8Unit(b, i)
			if !ok {
				return dst, badUTF8(i)
			}
			i += 3
			switch {
			case u >= 0xD800 && u <= 0xDBFF:
				if lo, ok := mutf8Unit(b, i); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					out = utf8.AppendRune(out, 0x10000+(rune(u)-0xD800)<<10+(rune(lo)-0xDC00))
					i += 3
				} else {
					out = appendMUTF8Unit(out, u)
				}
			case u >= 0xDC00 && u <= 0xDFFF:
				out = appendMUTF8Unit(out, u)
			default:
				out = utf8.AppendRune(out, rune(u))
			}
		case c&0xF8 == 0xF0:
			if i+3 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 || b[i+3]&0xC0 != 0x80 {
				return dst, badUTF8(i)
			}
			r := rune(c&0x07)<<18 | rune(b[i+1]&0x3F)<<12 | rune(b[i+2]&0x3F)<<6 | rune(b[i+3]&0x3F)
			if r < 0x10000 || r > utf8.MaxRune {
				return dst, badUTF8(i)
			}
			out = utf8.AppendRune(out, r)
			i += 4
		default:
			return dst, badUTF8(i)
		}
	}
	return out, nil
}

// plainPrefix returns the length of the leading run of s that modified
// UTF-8 writes as it is: bytes from 0x01 to 0x7F.
func plainPrefix(s string) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A high bit set, or a zero byte (which borrows into its high bit).
		if (w|(w-lo)&^w)&hi != 0 {
			break
		}
	}
	for i < len(s) && s[i] != 0 && s[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// asciiPrefix returns the length of the leading run of bytes below 0x80,
// looking at eight bytes at a time.
func asciiPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// mutf8Unit decodes the three-byte form of one UTF-16 code unit at b[i:].
func mutf8Unit(b []byte, i int) (uint16, bool) {
	if i+2 >= len(b) || b[i]&0xF0 != 0xE0 || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
		return 0, false
	}
	return uint16(b[i]&0x0F)<<12 | uint16(b[i+1]&0x3F)<<6 | uint16(b[i+2]&0x3F), true
}

func badUTF8(at int) error {
	return fmt.Errorf("%w: invalid modified UTF-8 at byte %d of a string", ErrMalformed, at)
}

// appendJavaStandardUTF8 appends s as standard UTF-8, the way ActiveMQ's
// client decodes a property value (new String(bytes, "UTF-8")): NUL as one
// byte, supplementary characters in four. A lone surrogate is kept as its
// three bytes, which Java shows as U+FFFD, as it would have anyway; other
// invalid bytes become U+FFFD.
func appendJavaStandardUTF8(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r != utf8.RuneError || size != 1:
			dst = append(dst, s[i:i+size]...)
		case isWTF8Surrogate(s[i:]):
			size = 3
			dst = append(dst, s[i:i+3]...)
		default:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		i += size
	}
	return dst
}
