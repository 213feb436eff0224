package amqp

import (
	"encoding/binary"
	"math"
	"slices"
	"time"
)

// AppendValue appends the encoding of v to b, choosing the most compact
// form the type allows (uint0 or smalluint for small uints, str8 for short
// strings, list8 for small lists...). It accepts the Go types DecodeValue
// returns, plus conveniences: int and uint (as long and ulong), time.Time
// (as timestamp), []any (as list), map[string]any and map[Symbol]any (as
// maps with sorted keys), typed slices ([]Symbol, []string, []int32,
// []uint32, []int64, []uint64) as arrays, and the package's composite
// types (*Error, *Source, *Target, delivery states...). Any other type
// yields an error wrapping ErrEncode.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, codeNull), nil
	case bool:
		return appendBool(b, v), nil
	case uint8:
		return append(b, codeUbyte, v), nil
	case uint16:
		return appendUshort(b, v), nil
	case uint32:
		return appendUint(b, v), nil
	case uint64:
		return appendUlong(b, v), nil
	case uint:
		return appendUlong(b, uint64(v)), nil
	case int8:
		return append(b, codeByte, byte(v)), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(b, codeShort), uint16(v)), nil
	case int32:
		return appendInt(b, v), nil
	case int64:
		return appendLong(b, v), nil
	case int:
		return appendLong(b, int64(v)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, codeFloat), math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, codeDouble), math.Float64bits(v)), nil
	case Decimal32:
		return append(append(b, codeDecimal32), v[:]...), nil
	case Decimal64:
		return append(append(b, codeDecimal64), v[:]...), nil
	case Decimal128:
		return append(append(b, codeDecimal128), v[:]...), nil
	case Char:
		return binary.BigEndian.AppendUint32(append(b, codeChar), uint32(v)), nil
	case Timestamp:
		return appendTimestamp(b, v), nil
	case time.Time:
		return appendTimestamp(b, TimestampOf(v)), nil
	case UUID:
		return append(append(b, codeUUID), v[:]...), nil
	case []byte:
		return appendBinary(b, v), nil
	case string:
		return appendString(b, v), nil
	case Symbol:
		return appendSymbol(b, v), nil
	case List:
		return appendList(b, v)
	case []any:
		return appendList(b, v)
	case Map:
		return appendMap(b, v)
	case map[string]any:
		return appendGoMap(b, v, func(k string) any { return k })
	case map[Symbol]any:
		return appendGoMap(b, v, func(k Symbol) any { return k })
	case Array:
		return appendArray(b, v)
	case []Symbol:
		return appendArray(b, Array{Elems: anySlice(v)})
	case []string:
		return appendArray(b, Array{Elems: anySlice(v)})
	case []int32:
		return appendArray(b, Array{Elems: anySlice(v)})
	case []uint32:
		return appendArray(b, Array{Elems: anySlice(v)})
	case []int64:
		return appendArray(b, Array{Elems: anySlice(v)})
	case []uint64:
		return appendArray(b, Array{Elems: anySlice(v)})
	case Described:
		return appendDescribed(b, v)
	case *Described:
		if v == nil {
			return append(b, codeNull), nil
		}
		return appendDescribed(b, *v)
	case composite:
		return v.appendTo(b)
	}
	return b, encodeErr("no AMQP encoding for Go type %T", v)
}

// composite is implemented by the package's described composite types so
// that they can appear inside generic values (a filter, an outcome in a
// map...).
type composite interface {
	appendTo(b []byte) ([]byte, error)
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, codeTrue)
	}
	return append(b, codeFalse)
}

func appendUshort(b []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, codeUshort), v)
}

func appendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, codeUint0)
	case v < 256:
		return append(b, codeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, codeUint), v)
}

func appendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, codeUlong0)
	case v < 256:
		return append(b, codeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUlong), v)
}

func appendInt(b []byte, v int32) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, codeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, codeInt), uint32(v))
}

func appendLong(b []byte, v int64) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, codeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, codeLong), uint64(v))
}

func appendTimestamp(b []byte, v Timestamp) []byte {
	return binary.BigEndian.AppendUint64(append(b, codeTimestamp), uint64(v))
}

// appendVariable appends a variable-width value with the one-byte length
// code c8 when it fits, else the four-byte one c32.
func appendVariable[T string | []byte](b []byte, c8, c32 byte, v T) []byte {
	if len(v) < 256 {
		b = append(b, c8, byte(len(v)))
	} else {
		b = binary.BigEndian.AppendUint32(append(b, c32), uint32(len(v)))
	}
	return append(b, v...)
}

func appendBinary(b []byte, v []byte) []byte { return appendVariable(b, codeVbin8, codeVbin32, v) }
func appendString(b []byte, v string) []byte { return appendVariable(b, codeStr8, codeStr32, v) }
func appendSymbol(b []byte, v Symbol) []byte {
	return appendVariable(b, codeSym8, codeSym32, string(v))
}

func appendDescribed(b []byte, v Described) ([]byte, error) {
	switch v.Descriptor.(type) {
	case uint64, Symbol:
	default:
		return b, encodeErr("descriptor of type %T; use uint64 or Symbol", v.Descriptor)
	}
	b = append(b, codeDescribed)
	b, err := AppendValue(b, v.Descriptor)
	if err != nil {
		return b, err
	}
	return AppendValue(b, v.Value)
}

// compound tracks a list or map being appended: its header is written as
// the 32-bit form and shrunk to the 8-bit form (or list0) once the size is
// known. Shrinking moves the elements a few bytes back; that is cheaper
// than encoding them twice to measure them first.
type compound struct {
	hdr   int // offset of the format code
	start int // offset of the first element
}

func beginCompound(b []byte, code32 byte) ([]byte, compound) {
	c := compound{hdr: len(b), start: len(b) + 9}
	return append(b, code32, 0, 0, 0, 0, 0, 0, 0, 0), c
}

// finish writes the header for count elements ending at len(b), choosing
// the 8-bit form when size and count fit (and list0 for an empty list).
func (c compound) finish(b []byte, count int, code8, code32 byte) ([]byte, error) {
	size := len(b) - c.start
	if count == 0 && code32 == codeList32 {
		b[c.hdr] = codeList0
		return b[:c.hdr+1], nil
	}
	if size+1 <= math.MaxUint8 && count <= math.MaxUint8 {
		copy(b[c.hdr+3:], b[c.start:])
		b[c.hdr], b[c.hdr+1], b[c.hdr+2] = code8, byte(size+1), byte(count)
		return b[:c.hdr+3+size], nil
	}
	if uint64(size)+4 > math.MaxUint32 {
		return b, encodeErr("compound of %d bytes is too large", size)
	}
	b[c.hdr] = code32
	binary.BigEndian.PutUint32(b[c.hdr+1:], uint32(size+4))
	binary.BigEndian.PutUint32(b[c.hdr+5:], uint32(count))
	return b, nil
}

func appendList(b []byte, l []any) ([]byte, error) {
	b, c := beginCompound(b, codeList32)
	var err error
	for _, v := range l {
		if b, err = AppendValue(b, v); err != nil {
			return b, err
		}
	}
	return c.finish(b, len(l), codeList8, codeList32)
}

func appendMap(b []byte, m Map) ([]byte, error) {
	b, c := beginCompound(b, codeMap32)
	var err error
	for _, e := range m {
		if b, err = AppendValue(b, e.Key); err != nil {
			return b, err
		}
		if b, err = AppendValue(b, e.Value); err != nil {
			return b, err
		}
	}
	return c.finish(b, 2*len(m), codeMap8, codeMap32)
}

// appendGoMap encodes a Go map with its keys sorted, so that the same map
// always encodes to the same bytes.
func appendGoMap[K ~string](b []byte, m map[K]any, key func(K) any) ([]byte, error) {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(Map, len(keys))
	for i, k := range keys {
		out[i] = MapEntry{Key: key(k), Value: m[k]}
	}
	return appendMap(b, out)
}
