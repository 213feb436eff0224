package openwire

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"strconv"
)

// ValueType is the tag in front of each value in a primitive map, list or
// stream message body (ActiveMQ's MarshallingSupport). It records the Java
// type exactly, so an Integer stays an Integer and a Long a Long.
type ValueType byte

// The value types, with their tags on the wire.
const (
	ValueNull      ValueType = 0
	ValueBool      ValueType = 1  // Boolean
	ValueByte      ValueType = 2  // Byte
	ValueChar      ValueType = 3  // Character
	ValueShort     ValueType = 4  // Short
	ValueInt       ValueType = 5  // Integer
	ValueLong      ValueType = 6  // Long
	ValueDouble    ValueType = 7  // Double
	ValueFloat     ValueType = 8  // Float
	ValueString    ValueType = 9  // String, length in 16 bits
	ValueBytes     ValueType = 10 // byte[]
	ValueMap       ValueType = 11 // Map<String, Object>
	ValueList      ValueType = 12 // List<Object>
	ValueBigString ValueType = 13 // String, length in 32 bits
)

var valueTypeNames = [...]string{"null", "boolean", "byte", "char", "short", "int", "long", "double", "float", "string", "byte[]", "map", "list", "big string"}

// String names the Java type.
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "value type " + strconv.Itoa(int(t))
}

// bigStringChars is the Java string length from which ActiveMQ writes a
// string with a 32-bit length (Short.MAX_VALUE / 4 characters): at three
// bytes a character, shorter strings always fit in 16 bits.
const bigStringChars = math.MaxInt16 / 4

// Value is one typed value of a primitive map, list or stream body. The zero
// Value is Java's null.
//
// A string value keeps the bytes it was received as, so a map decoded and
// encoded again is identical byte for byte even when the sender's encoding
// was not the one this package would choose.
type Value struct {
	t   ValueType
	n   uint64 // numbers and booleans; for strings, wireString if s holds the received bytes
	s   string // string values: the received bytes, or the Go string given to String
	ref any    // []byte, *Map or []Value
}

// wireString marks a string Value that holds the bytes it was received as.
const wireString = 1

// Null returns Java's null.
func Null() Value { return Value{} }

// Bool returns a Boolean.
func Bool(b bool) Value {
	if b {
		return Value{t: ValueBool, n: 1}
	}
	return Value{t: ValueBool}
}

// Byte returns a Byte.
func Byte(v int8) Value { return Value{t: ValueByte, n: uint64(uint8(v))} }

// Char returns a Character: one UTF-16 code unit.
func Char(v uint16) Value { return Value{t: ValueChar, n: uint64(v)} }

// Short returns a Short.
func Short(v int16) Value { return Value{t: ValueShort, n: uint64(uint16(v))} }

// Int returns an Integer.
func Int(v int32) Value { return Value{t: ValueInt, n: uint64(uint32(v))} }

// Long returns a Long.
func Long(v int64) Value { return Value{t: ValueLong, n: uint64(v)} }

// Float returns a Float.
func Float(v float32) Value { return Value{t: ValueFloat, n: uint64(math.Float32bits(v))} }

// Double returns a Double.
func Double(v float64) Value { return Value{t: ValueDouble, n: math.Float64bits(v)} }

// String returns a String, tagged as ActiveMQ tags it: with a 16-bit length
// below 8191 Java characters, else as a big string.
//
// Its bytes are chosen when the map or stream holding it is encoded, to
// suit how ActiveMQ's client will read them. The client reads the values of
// a property map or MapMessage body as standard UTF-8, and everything else
// (keys, values in nested maps and lists, stream bodies) as modified UTF-8;
// the two differ only for NUL and supplementary characters, which the wrong
// one turns into U+FFFD or refuses.
func String(s string) Value {
	t := ValueString
	if javaLength(s) >= bigStringChars {
		t = ValueBigString
	}
	return Value{t: t, s: s}
}

// Bytes returns a byte[]; nil is an empty array.
func Bytes(b []byte) Value {
	if b == nil {
		b = []byte{}
	}
	return Value{t: ValueBytes, ref: b}
}

// MapValue returns a nested map.
func MapValue(m *Map) Value { return Value{t: ValueMap, ref: m} }

// List returns a nested list.
func List(vs ...Value) Value {
	if vs == nil {
		vs = []Value{}
	}
	return Value{t: ValueList, ref: vs}
}

// FromAny converts a Go value to a Value: nil, bool, int8, uint16 (a Java
// char), int16, int32, int64, int (as a Long), float32, float64, string,
// []byte, *Map, []Value or a Value itself.
func FromAny(x any) (Value, error) {
	switch v := x.(type) {
	case nil:
		return Null(), nil
	case Value:
		return v, nil
	case bool:
		return Bool(v), nil
	case int8:
		return Byte(v), nil
	case uint16:
		return Char(v), nil
	case int16:
		return Short(v), nil
	case int32:
		return Int(v), nil
	case int64:
		return Long(v), nil
	case int:
		return Long(int64(v)), nil
	case float32:
		return Float(v), nil
	case float64:
		return Double(v), nil
	case string:
		return String(v), nil
	case []byte:
		return Bytes(v), nil
	case *Map:
		return MapValue(v), nil
	case []Value:
		return List(v...), nil
	}
	return Value{}, fmt.Errorf("%w: a %T has no OpenWire primitive type", ErrInvalid, x)
}

// Type returns the value's Java type.
func (v Value) Type() ValueType { return v.t }

// IsNull reports whether v is Java's null.
func (v Value) IsNull() bool { return v.t == ValueNull }

// Any returns v as a Go value: nil, bool, int8, uint16 (char), int16, int32,
// int64, float32, float64, string, []byte, *Map or []Value.
func (v Value) Any() any {
	switch v.t {
	case ValueBool:
		return v.n != 0
	case ValueByte:
		return int8(v.n)
	case ValueChar:
		return uint16(v.n)
	case ValueShort:
		return int16(v.n)
	case ValueInt:
		return int32(v.n)
	case ValueLong:
		return int64(v.n)
	case ValueFloat:
		return math.Float32frombits(uint32(v.n))
	case ValueDouble:
		return math.Float64frombits(v.n)
	case ValueString, ValueBigString:
		return v.text()
	case ValueBytes:
		return v.ref.([]byte)
	case ValueMap:
		return v.ref.(*Map)
	case ValueList:
		return v.ref.([]Value)
	}
	return nil
}

// text decodes a string value. Strings are validated when decoded and
// produced by String, so this cannot fail.
func (v Value) text() string {
	if v.n != wireString {
		return v.s
	}
	for i := 0; i < len(v.s); i++ {
		if v.s[i] >= 0x80 {
			s, err := decodeMUTF8([]byte(v.s))
			if err != nil {
				return v.s
			}
			return s
		}
	}
	return v.s
}

// String returns a string value's text, and any other value as Java's
// toString would show it.
func (v Value) String() string {
	switch v.t {
	case ValueNull:
		return "null"
	case ValueString, ValueBigString:
		return v.text()
	case ValueChar:
		return string(rune(v.n))
	case ValueFloat:
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(v.n))), 'g', -1, 32)
	case ValueDouble:
		return strconv.FormatFloat(math.Float64frombits(v.n), 'g', -1, 64)
	}
	return fmt.Sprint(v.Any())
}

// Map is a primitive map: message properties, a MapMessage body, the
// options of a WireFormatInfo. It keeps its entries in order, so that a map
// decoded and encoded again comes out byte for byte the same. The zero Map
// is empty and ready to use.
type Map struct {
	entries []MapEntry
}

// MapEntry is one key and value of a Map.
type MapEntry struct {
	Key   string
	Value Value
}

// NewMap returns an empty map.
func NewMap() *Map { return new(Map) }

// Len returns the number of entries; a nil map has none.
func (m *Map) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// Get returns the value under key.
func (m *Map) Get(key string) (Value, bool) {
	if m == nil {
		return Value{}, false
	}
	for i := range m.entries {
		if m.entries[i].Key == key {
			return m.entries[i].Value, true
		}
	}
	return Value{}, false
}

// Set puts v under key, in place when the key is present, else at the end.
func (m *Map) Set(key string, v Value) {
	for i := range m.entries {
		if m.entries[i].Key == key {
			m.entries[i].Value = v
			return
		}
	}
	m.entries = append(m.entries, MapEntry{Key: key, Value: v})
}

// Delete removes key.
func (m *Map) Delete(key string) {
	for i := range m.entries {
		if m.entries[i].Key == key {
			m.entries = append(m.entries[:i], m.entries[i+1:]...)
			return
		}
	}
}

// All yields the entries in order.
func (m *Map) All() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if m == nil {
			return
		}
		for _, e := range m.entries {
			if !yield(e.Key, e.Value) {
				return
			}
		}
	}
}

// DecodeMap decodes a marshalled primitive map. A map written as null
// (size -1) yields a nil *Map. Every byte of b must belong to the map.
func DecodeMap(b []byte) (*Map, error) {
	d := &decoder{buf: b}
	m := d.primitiveMap()
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d bytes after the map", d.remaining())
	}
	if d.err != nil {
		return nil, d.error()
	}
	return m, nil
}

// AppendMap appends the marshalled form of m to dst; a nil m is written as
// null.
func AppendMap(dst []byte, m *Map) ([]byte, error) {
	e := &encoder{buf: dst}
	e.primitiveMap(m, true)
	if e.err != nil {
		return dst, e.err
	}
	return e.buf, nil
}

// DecodeStream decodes a StreamMessage body: values one after another to
// the end. Maps and lists are refused, as the Java client cannot read them
// from a stream.
func DecodeStream(b []byte) ([]Value, error) {
	d := &decoder{buf: b}
	vs := []Value{}
	for d.err == nil && d.remaining() > 0 {
		v := d.primitive()
		if v.t == ValueMap || v.t == ValueList {
			d.fail("a %v in a stream message body", v.t)
		}
		vs = append(vs, v)
	}
	if d.err != nil {
		return nil, d.error()
	}
	return vs, nil
}

// AppendStream appends a StreamMessage body holding vs to dst.
func AppendStream(dst []byte, vs []Value) ([]byte, error) {
	e := &encoder{buf: dst}
	for _, v := range vs {
		if v.t == ValueMap || v.t == ValueList {
			return dst, fmt.Errorf("%w: a %v in a stream message body", ErrInvalid, v.t)
		}
		e.primitive(v, false)
	}
	if e.err != nil {
		return dst, e.err
	}
	return e.buf, nil
}

// primitiveMap writes a map; top says it is the outermost one, whose string
// values ActiveMQ reads as standard UTF-8.
func (e *encoder) primitiveMap(m *Map, top bool) {
	if m == nil {
		e.i32(-1)
		return
	}
	if e.depth >= maxDepth {
		e.fail("maps and lists nested more than %d deep", maxDepth)
		return
	}
	e.depth++
	e.i32(int32(len(m.entries)))
	for _, en := range m.entries {
		e.utf(en.Key)
		e.primitive(en.Value, top)
	}
	e.depth--
}

// primitive writes a tagged value; standard says a Go string is written in
// standard UTF-8 rather than modified UTF-8.
func (e *encoder) primitive(v Value, standard bool) {
	e.u8(byte(v.t))
	switch v.t {
	case ValueNull:
	case ValueBool, ValueByte:
		e.u8(byte(v.n))
	case ValueChar, ValueShort:
		e.i16(int16(v.n))
	case ValueInt, ValueFloat:
		e.i32(int32(v.n))
	case ValueLong, ValueDouble:
		e.i64(int64(v.n))
	case ValueString, ValueBigString:
		e.stringValue(v, standard)
	case ValueBytes:
		b := v.ref.([]byte)
		e.i32(int32(len(b)))
		e.buf = append(e.buf, b...)
	case ValueMap:
		e.primitiveMap(v.ref.(*Map), false)
	case ValueList:
		if e.depth >= maxDepth {
			e.fail("maps and lists nested more than %d deep", maxDepth)
			return
		}
		e.depth++
		l := v.ref.([]Value)
		e.i32(int32(len(l)))
		for _, x := range l {
			e.primitive(x, false)
		}
		e.depth--
	default:
		e.fail("value type %d", v.t)
	}
}

// stringValue writes a string value's length (16 or 32 bits, by its tag)
// and bytes: as received, or the Go string encoded for its context.
func (e *encoder) stringValue(v Value, standard bool) {
	at := len(e.buf)
	lenSize := 2
	if v.t == ValueBigString {
		lenSize = 4
	}
	e.buf = append(e.buf, make([]byte, lenSize)...)
	switch {
	case v.n == wireString:
		e.buf = append(e.buf, v.s...)
	case standard:
		e.buf = appendJavaStandardUTF8(e.buf, v.s)
	default:
		e.buf = appendMUTF8(e.buf, v.s)
	}
	n := len(e.buf) - at - lenSize
	if (lenSize == 2 && n > math.MaxUint16) || n > math.MaxInt32 {
		e.buf = e.buf[:at]
		e.fail("a string value of %d bytes is too long for a %v", n, v.t)
		return
	}
	if lenSize == 2 {
		binary.BigEndian.PutUint16(e.buf[at:], uint16(n))
	} else {
		binary.BigEndian.PutUint32(e.buf[at:], uint32(n))
	}
}

func (d *decoder) primitiveMap() *Map {
	n := int(d.i32())
	if d.err != nil {
		return nil
	}
	if n < 0 {
		return nil
	}
	// An entry takes at least a 2-byte key length and a type tag.
	if n > d.remaining()/3 {
		d.fail("a map of %d entries with %d bytes left", n, d.remaining())
		return nil
	}
	if d.depth >= maxDepth {
		d.fail("maps and lists nested more than %d deep", maxDepth)
		return nil
	}
	d.depth++
	defer func() { d.depth-- }()
	m := &Map{entries: make([]MapEntry, 0, n)}
	var index map[string]int // for large maps, to find repeated keys fast
	if n > 16 {
		index = make(map[string]int, n)
	}
	for range n {
		k := d.utf()
		v := d.primitive()
		if d.err != nil {
			return nil
		}
		// A repeated key replaces the earlier value, as a Java HashMap
		// does; Java never writes one.
		i := -1
		if index != nil {
			if j, ok := index[k]; ok {
				i = j
			} else {
				index[k] = len(m.entries)
			}
		} else {
			for j := range m.entries {
				if m.entries[j].Key == k {
					i = j
					break
				}
			}
		}
		if i >= 0 {
			m.entries[i].Value = v
		} else {
			m.entries = append(m.entries, MapEntry{Key: k, Value: v})
		}
	}
	return m
}

func (d *decoder) primitive() Value {
	t := ValueType(d.u8())
	if d.err != nil {
		return Value{}
	}
	switch t {
	case ValueNull:
		return Value{}
	case ValueBool:
		return Bool(d.bool())
	case ValueByte:
		return Value{t: t, n: uint64(d.u8())}
	case ValueChar, ValueShort:
		return Value{t: t, n: uint64(uint16(d.i16()))}
	case ValueInt, ValueFloat:
		return Value{t: t, n: uint64(uint32(d.i32()))}
	case ValueLong, ValueDouble:
		return Value{t: t, n: uint64(d.i64())}
	case ValueString, ValueBigString:
		var n int
		if t == ValueString {
			n = int(uint16(d.i16()))
		} else {
			n = int(d.i32())
		}
		b := d.take(n, "a string value")
		if b == nil {
			return Value{}
		}
		if !isASCII(b) {
			if _, err := decodeMUTF8(b); err != nil {
				d.setErr(err)
				return Value{}
			}
		}
		return Value{t: t, n: wireString, s: string(b)}
	case ValueBytes:
		b := d.take(int(d.i32()), "a byte[] value")
		if b == nil {
			return Value{}
		}
		return Value{t: t, ref: append(make([]byte, 0, len(b)), b...)}
	case ValueMap:
		return Value{t: t, ref: d.primitiveMap()}
	case ValueList:
		n := int(d.i32())
		if d.err != nil {
			return Value{}
		}
		if n < 0 || n > d.remaining() {
			d.fail("a list of %d values with %d bytes left", n, d.remaining())
			return Value{}
		}
		if d.depth >= maxDepth {
			d.fail("maps and lists nested more than %d deep", maxDepth)
			return Value{}
		}
		d.depth++
		l := make([]Value, n)
		for i := range l {
			l[i] = d.primitive()
		}
		d.depth--
		return Value{t: t, ref: l}
	}
	d.fail("unknown value type %d at offset %d", t, d.off-1)
	return Value{}
}

func isASCII(b []byte) bool { return asciiPrefix(b) == len(b) }

// be32 reads a big-endian int32; used by the body helpers.
func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }
