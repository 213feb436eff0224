package message

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"
)

// Kind is the type of a property value. The zero value is KindString, so a
// property built as {Key, Value} is text, which is what STOMP carries and
// what every message written before typed properties holds.
//
// The kinds are the JMS primitive types (OpenWire carries exactly these),
// plus the AMQP 1.0 types that application properties may hold. Every
// protocol maps its own types onto them; docs/protocols.md has the table.
type Kind uint8

// Property kinds. Their numbers are stored in journals and page files:
// append new kinds, never renumber.
const (
	KindString Kind = iota
	KindNull
	KindBool
	KindByte   // int8
	KindShort  // int16
	KindInt    // int32
	KindLong   // int64
	KindFloat  // float32
	KindDouble // float64
	KindBinary // raw bytes
	KindChar   // one UTF-16 code unit (a Java char)
	KindUByte
	KindUShort
	KindUInt
	KindULong
	KindTimestamp // milliseconds since the Unix epoch
	KindUUID      // 16 bytes, kept in canonical 8-4-4-4-12 text
	KindSymbol    // an AMQP symbol: ASCII text
	kindCount
)

var kindNames = [kindCount]string{"string", "null", "boolean", "byte", "short", "int", "long", "float", "double",
	"binary", "char", "ubyte", "ushort", "uint", "ulong", "timestamp", "uuid", "symbol"}

// String returns the kind's name as docs and `tandem data print` show it.
func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is a kind this build knows.
func (k Kind) Valid() bool { return k < kindCount }

// Integral reports whether k holds a whole number (a JMS byte, short, int or
// long, or an AMQP unsigned integer or timestamp).
func (k Kind) Integral() bool {
	switch k {
	case KindByte, KindShort, KindInt, KindLong, KindUByte, KindUShort, KindUInt, KindULong, KindTimestamp:
		return true
	}
	return false
}

// Numeric reports whether k is a number, integral or floating.
func (k Kind) Numeric() bool { return k.Integral() || k == KindFloat || k == KindDouble }

// Property is one application property (a STOMP header, a JMS property, an
// AMQP application property, an MQTT 5 user property), kept in arrival
// order. Value holds the canonical text of the value for every kind but
// KindBinary, whose Value is the raw bytes: numbers in decimal (floats in
// the shortest form that reads back exactly), booleans as "true"/"false",
// a char as its UTF-8 text, a UUID in 8-4-4-4-12 form, null as "". Text
// keeps a message no larger than its content and makes STOMP, the console
// and `tandem data print` need no conversion; the typed accessors parse it
// back when a protocol or a selector needs the number.
type Property struct {
	Key   string
	Value string
	Kind  Kind
}

// Str returns a string property.
func Str(key, v string) Property { return Property{Key: key, Value: v} }

// Bool returns a boolean property.
func Bool(key string, v bool) Property {
	return Property{Key: key, Value: strconv.FormatBool(v), Kind: KindBool}
}

// Int64 returns an integral property of kind k (KindByte, KindShort,
// KindInt, KindLong or KindTimestamp).
func Int64(key string, k Kind, v int64) Property {
	return Property{Key: key, Value: strconv.FormatInt(v, 10), Kind: k}
}

// Uint64 returns an unsigned property of kind k (KindUByte, KindUShort,
// KindUInt or KindULong).
func Uint64(key string, k Kind, v uint64) Property {
	return Property{Key: key, Value: strconv.FormatUint(v, 10), Kind: k}
}

// Float returns a float (32-bit) property.
func Float(key string, v float32) Property {
	return Property{Key: key, Value: strconv.FormatFloat(float64(v), 'g', -1, 32), Kind: KindFloat}
}

// Double returns a double (64-bit) property.
func Double(key string, v float64) Property {
	return Property{Key: key, Value: strconv.FormatFloat(v, 'g', -1, 64), Kind: KindDouble}
}

// Binary returns a binary property holding a copy of v.
func Binary(key string, v []byte) Property {
	return Property{Key: key, Value: string(v), Kind: KindBinary}
}

// Char returns a char property.
func Char(key string, v rune) Property {
	return Property{Key: key, Value: string(v), Kind: KindChar}
}

// Null returns a property whose value is null.
func Null(key string) Property { return Property{Key: key, Kind: KindNull} }

// IsNull reports whether the property's value is null.
func (p Property) IsNull() bool { return p.Kind == KindNull }

// AsBool returns the value as a boolean: a KindBool, or a string that reads
// "true" or "false" in any letter case (JMS's conversion rule).
func (p Property) AsBool() (bool, bool) {
	switch p.Kind {
	case KindBool, KindString:
		switch {
		case len(p.Value) == 4 && (p.Value == "true" || equalFold(p.Value, "true")):
			return true, true
		case len(p.Value) == 5 && (p.Value == "false" || equalFold(p.Value, "false")):
			return false, true
		}
	}
	return false, false
}

// AsInt64 returns an integral value. Unsigned values above the int64 range
// do not convert. A string converts when it is a decimal integer, as JMS
// converts strings to numbers.
func (p Property) AsInt64() (int64, bool) {
	switch {
	case p.Kind.Integral() || p.Kind == KindString:
		v, err := strconv.ParseInt(p.Value, 10, 64)
		return v, err == nil
	}
	return 0, false
}

// AsUint64 returns an unsigned value, for a protocol (AMQP) that has them.
func (p Property) AsUint64() (uint64, bool) {
	if p.Kind.Integral() || p.Kind == KindString {
		v, err := strconv.ParseUint(p.Value, 10, 64)
		return v, err == nil
	}
	return 0, false
}

// AsFloat64 returns a number of any kind as a float64, or a string that
// parses as one.
func (p Property) AsFloat64() (float64, bool) {
	switch {
	case p.Kind.Numeric() || p.Kind == KindString:
		v, err := strconv.ParseFloat(p.Value, 64)
		return v, err == nil
	}
	return 0, false
}

// Text renders the value for a text-only protocol (STOMP headers, the
// console): binary as standard base64, null as "", everything else as its
// stored text.
func (p Property) Text() string {
	if p.Kind == KindBinary {
		return base64.StdEncoding.EncodeToString([]byte(p.Value))
	}
	return p.Value
}

// Check reports whether the property's text is valid for its kind, so a
// decoder can refuse a corrupt record rather than hand a protocol a value
// it cannot encode.
func (p Property) Check() bool {
	switch p.Kind {
	case KindString, KindBinary, KindSymbol:
		return true
	case KindNull:
		return p.Value == ""
	case KindBool:
		return p.Value == "true" || p.Value == "false"
	case KindByte:
		return checkInt(p.Value, math.MinInt8, math.MaxInt8)
	case KindShort:
		return checkInt(p.Value, math.MinInt16, math.MaxInt16)
	case KindInt:
		return checkInt(p.Value, math.MinInt32, math.MaxInt32)
	case KindLong, KindTimestamp:
		_, err := strconv.ParseInt(p.Value, 10, 64)
		return err == nil
	case KindUByte:
		return checkUint(p.Value, math.MaxUint8)
	case KindUShort:
		return checkUint(p.Value, math.MaxUint16)
	case KindUInt:
		return checkUint(p.Value, math.MaxUint32)
	case KindULong:
		_, err := strconv.ParseUint(p.Value, 10, 64)
		return err == nil
	case KindFloat:
		_, err := strconv.ParseFloat(p.Value, 32)
		return err == nil
	case KindDouble:
		_, err := strconv.ParseFloat(p.Value, 64)
		return err == nil
	case KindChar:
		r, n := utf8.DecodeRuneInString(p.Value)
		return n == len(p.Value) && n > 0 && r != utf8.RuneError && r <= 0xFFFF
	case KindUUID:
		_, ok := ParseUUID(p.Value)
		return ok
	}
	return false
}

func checkInt(s string, lo, hi int64) bool {
	v, err := strconv.ParseInt(s, 10, 64)
	return err == nil && v >= lo && v <= hi
}

func checkUint(s string, hi uint64) bool {
	v, err := strconv.ParseUint(s, 10, 64)
	return err == nil && v <= hi
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// FormatUUID renders 16 bytes in canonical 8-4-4-4-12 hexadecimal form.
func FormatUUID(u [16]byte) string {
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	return string(b[:])
}

// ParseUUID parses the canonical form FormatUUID writes (either letter case).
func ParseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if s[i] == '-' {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
