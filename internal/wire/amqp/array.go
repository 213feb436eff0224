package amqp

import (
	"encoding/binary"
	"math"
)

// appendArray encodes an Array. With a zero Code, the element code is
// chosen from the elements' Go type, as compact as every element allows.
// Zero-width element codes (uint0, true, list0...) are never chosen, and
// refused for more than one element: the decoder refuses arrays that hold
// more elements than bytes, to bound what a peer can make it allocate.
// Only an array of nulls (or an empty one) gets the null code.
func appendArray(b []byte, a Array) ([]byte, error) {
	code := a.Code
	if code == 0 {
		var err error
		if code, err = arrayCode(a.Elems); err != nil {
			return b, err
		}
	}
	if code == codeDescribed {
		return b, encodeErr("array element code 0x00; set Array.Descriptor instead")
	}
	if w, ok := fixedWidth(code); ok && w == 0 && len(a.Elems) > 1 {
		return b, encodeErr("array of %d zero-width elements (code 0x%02x): no decoder that bounds its allocations accepts it", len(a.Elems), code)
	}
	b, c := beginCompound(b, codeArray32)
	var err error
	if a.Descriptor != nil {
		switch a.Descriptor.(type) {
		case uint64, Symbol:
		default:
			return b, encodeErr("array descriptor of type %T; use uint64 or Symbol", a.Descriptor)
		}
		b = append(b, codeDescribed)
		if b, err = AppendValue(b, a.Descriptor); err != nil {
			return b, err
		}
	}
	b = append(b, code)
	for i, v := range a.Elems {
		if b, err = appendElem(b, code, v); err != nil {
			return b, encodeErr("array element %d: %w", i, err)
		}
	}
	return c.finishArray(b, len(a.Elems))
}

// finishArray is finish for arrays: the 8-bit form counts the size from
// after the size byte, like lists, and has no empty form.
func (c compound) finishArray(b []byte, count int) ([]byte, error) {
	size := len(b) - c.start
	if size+1 <= math.MaxUint8 && count <= math.MaxUint8 {
		copy(b[c.hdr+3:], b[c.start:])
		b[c.hdr], b[c.hdr+1], b[c.hdr+2] = codeArray8, byte(size+1), byte(count)
		return b[:c.hdr+3+size], nil
	}
	if uint64(size)+4 > math.MaxUint32 {
		return b, encodeErr("array of %d bytes is too large", size)
	}
	binary.BigEndian.PutUint32(b[c.hdr+1:], uint32(size+4))
	binary.BigEndian.PutUint32(b[c.hdr+5:], uint32(count))
	return b, nil
}

// arrayCode picks the element code for elems, which must all have the
// same Go type.
func arrayCode(elems []any) (byte, error) {
	if len(elems) == 0 {
		return codeNull, nil
	}
	first := elems[0]
	fits8 := true // every element fits the one-byte form
	for _, v := range elems {
		if !sameType(first, v) {
			return 0, encodeErr("array mixes %T and %T", first, v)
		}
		switch v := v.(type) {
		case uint32:
			fits8 = fits8 && v < 256
		case uint64:
			fits8 = fits8 && v < 256
		case int32:
			fits8 = fits8 && v >= math.MinInt8 && v <= math.MaxInt8
		case int64:
			fits8 = fits8 && v >= math.MinInt8 && v <= math.MaxInt8
		case []byte:
			fits8 = fits8 && len(v) < 256
		case string:
			fits8 = fits8 && len(v) < 256
		case Symbol:
			fits8 = fits8 && len(v) < 256
		}
	}
	pick := func(small, big byte) byte {
		if fits8 {
			return small
		}
		return big
	}
	switch first.(type) {
	case nil:
		return codeNull, nil
	case bool:
		return codeBool, nil
	case uint8:
		return codeUbyte, nil
	case uint16:
		return codeUshort, nil
	case uint32:
		return pick(codeSmallUint, codeUint), nil
	case uint64:
		return pick(codeSmallUlong, codeUlong), nil
	case int8:
		return codeByte, nil
	case int16:
		return codeShort, nil
	case int32:
		return pick(codeSmallInt, codeInt), nil
	case int64:
		return pick(codeSmallLong, codeLong), nil
	case float32:
		return codeFloat, nil
	case float64:
		return codeDouble, nil
	case Decimal32:
		return codeDecimal32, nil
	case Decimal64:
		return codeDecimal64, nil
	case Decimal128:
		return codeDecimal128, nil
	case Char:
		return codeChar, nil
	case Timestamp:
		return codeTimestamp, nil
	case UUID:
		return codeUUID, nil
	case []byte:
		return pick(codeVbin8, codeVbin32), nil
	case string:
		return pick(codeStr8, codeStr32), nil
	case Symbol:
		return pick(codeSym8, codeSym32), nil
	case List, []any:
		return codeList32, nil
	case Map:
		return codeMap32, nil
	case Array:
		return codeArray32, nil
	}
	return 0, encodeErr("no AMQP array encoding for Go type %T", first)
}

func sameType(a, b any) bool {
	switch a.(type) {
	case List, []any:
		switch b.(type) {
		case List, []any:
			return true
		}
		return false
	}
	switch a.(type) {
	case nil:
		return b == nil
	case bool:
		_, ok := b.(bool)
		return ok
	case uint8:
		_, ok := b.(uint8)
		return ok
	case uint16:
		_, ok := b.(uint16)
		return ok
	case uint32:
		_, ok := b.(uint32)
		return ok
	case uint64:
		_, ok := b.(uint64)
		return ok
	case int8:
		_, ok := b.(int8)
		return ok
	case int16:
		_, ok := b.(int16)
		return ok
	case int32:
		_, ok := b.(int32)
		return ok
	case int64:
		_, ok := b.(int64)
		return ok
	case float32:
		_, ok := b.(float32)
		return ok
	case float64:
		_, ok := b.(float64)
		return ok
	case Decimal32:
		_, ok := b.(Decimal32)
		return ok
	case Decimal64:
		_, ok := b.(Decimal64)
		return ok
	case Decimal128:
		_, ok := b.(Decimal128)
		return ok
	case Char:
		_, ok := b.(Char)
		return ok
	case Timestamp:
		_, ok := b.(Timestamp)
		return ok
	case UUID:
		_, ok := b.(UUID)
		return ok
	case []byte:
		_, ok := b.([]byte)
		return ok
	case string:
		_, ok := b.(string)
		return ok
	case Symbol:
		_, ok := b.(Symbol)
		return ok
	case Map:
		_, ok := b.(Map)
		return ok
	case Array:
		_, ok := b.(Array)
		return ok
	}
	return false
}

// appendElem appends the data of one array element (everything but the
// constructor) for element code code.
func appendElem(b []byte, code byte, v any) ([]byte, error) {
	bad := func() ([]byte, error) {
		return b, encodeErr("value %T does not fit element code 0x%02x", v, code)
	}
	switch code {
	case codeNull:
		if v != nil {
			return bad()
		}
		return b, nil
	case codeTrue, codeFalse:
		if x, ok := v.(bool); !ok || x != (code == codeTrue) {
			return bad()
		}
		return b, nil
	case codeBool:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case codeUbyte:
		x, ok := v.(uint8)
		if !ok {
			return bad()
		}
		return append(b, x), nil
	case codeByte:
		x, ok := v.(int8)
		if !ok {
			return bad()
		}
		return append(b, byte(x)), nil
	case codeUshort:
		x, ok := v.(uint16)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint16(b, x), nil
	case codeShort:
		x, ok := v.(int16)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint16(b, uint16(x)), nil
	case codeUint0, codeSmallUint, codeUint:
		x, ok := v.(uint32)
		if !ok {
			return bad()
		}
		switch {
		case code == codeUint0 && x == 0:
			return b, nil
		case code == codeSmallUint && x < 256:
			return append(b, byte(x)), nil
		case code == codeUint:
			return binary.BigEndian.AppendUint32(b, x), nil
		}
		return bad()
	case codeUlong0, codeSmallUlong, codeUlong:
		x, ok := v.(uint64)
		if !ok {
			return bad()
		}
		switch {
		case code == codeUlong0 && x == 0:
			return b, nil
		case code == codeSmallUlong && x < 256:
			return append(b, byte(x)), nil
		case code == codeUlong:
			return binary.BigEndian.AppendUint64(b, x), nil
		}
		return bad()
	case codeSmallInt, codeInt:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		if code == codeSmallInt {
			if x < math.MinInt8 || x > math.MaxInt8 {
				return bad()
			}
			return append(b, byte(int8(x))), nil
		}
		return binary.BigEndian.AppendUint32(b, uint32(x)), nil
	case codeSmallLong, codeLong:
		x, ok := v.(int64)
		if !ok {
			return bad()
		}
		if code == codeSmallLong {
			if x < math.MinInt8 || x > math.MaxInt8 {
				return bad()
			}
			return append(b, byte(int8(x))), nil
		}
		return binary.BigEndian.AppendUint64(b, uint64(x)), nil
	case codeFloat:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint32(b, math.Float32bits(x)), nil
	case codeDouble:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x)), nil
	case codeDecimal32:
		x, ok := v.(Decimal32)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeDecimal64:
		x, ok := v.(Decimal64)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeDecimal128:
		x, ok := v.(Decimal128)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeChar:
		x, ok := v.(Char)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint32(b, uint32(x)), nil
	case codeTimestamp:
		x, ok := v.(Timestamp)
		if !ok {
			return bad()
		}
		return binary.BigEndian.AppendUint64(b, uint64(x)), nil
	case codeUUID:
		x, ok := v.(UUID)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case codeVbin8, codeVbin32:
		x, ok := v.([]byte)
		if !ok {
			return bad()
		}
		return appendVariableData(b, code, x)
	case codeStr8, codeStr32:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendVariableData(b, code, x)
	case codeSym8, codeSym32:
		x, ok := v.(Symbol)
		if !ok {
			return bad()
		}
		return appendVariableData(b, code, string(x))
	case codeList0:
		if l, ok := v.(List); !ok || len(l) != 0 {
			return bad()
		}
		return b, nil
	case codeList8, codeList32, codeMap8, codeMap32, codeArray8, codeArray32:
		return appendCompoundElem(b, code, v)
	}
	return bad()
}

// appendVariableData appends a length prefix (one or four bytes, as code
// says) and the data.
func appendVariableData[T string | []byte](b []byte, code byte, v T) ([]byte, error) {
	if code&0xf0 == 0xa0 {
		if len(v) > math.MaxUint8 {
			return b, encodeErr("%d bytes do not fit a one-byte length", len(v))
		}
		b = append(b, byte(len(v)))
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	}
	return append(b, v...), nil
}

// appendCompoundElem encodes a list, map or array as an array element: in
// the exact width code asks for and without its constructor.
func appendCompoundElem(b []byte, code byte, v any) ([]byte, error) {
	var enc []byte
	var err error
	switch x := v.(type) {
	case List:
		if code != codeList8 && code != codeList32 {
			return b, encodeErr("list in an array of code 0x%02x", code)
		}
		enc, err = appendList(nil, x)
	case []any:
		if code != codeList8 && code != codeList32 {
			return b, encodeErr("list in an array of code 0x%02x", code)
		}
		enc, err = appendList(nil, x)
	case Map:
		if code != codeMap8 && code != codeMap32 {
			return b, encodeErr("map in an array of code 0x%02x", code)
		}
		enc, err = appendMap(nil, x)
	case Array:
		if code != codeArray8 && code != codeArray32 {
			return b, encodeErr("array in an array of code 0x%02x", code)
		}
		enc, err = appendArray(nil, x)
	default:
		return b, encodeErr("value %T does not fit element code 0x%02x", v, code)
	}
	if err != nil {
		return b, err
	}
	// enc starts with the compact form AppendValue chose; rewrite its
	// header into the width of the array's code.
	var count, size uint32
	var body []byte
	switch enc[0] {
	case codeList0:
		count, body = 0, nil
	case codeList8, codeMap8, codeArray8:
		count, body = uint32(enc[2]), enc[3:]
	default:
		count, body = binary.BigEndian.Uint32(enc[5:]), enc[9:]
	}
	size = uint32(len(body))
	if code&0xf0 == 0xc0 || code&0xf0 == 0xe0 {
		if size+1 > math.MaxUint8 || count > math.MaxUint8 {
			return b, encodeErr("element of %d bytes does not fit the 8-bit array code 0x%02x", size, code)
		}
		b = append(b, byte(size+1), byte(count))
	} else {
		b = binary.BigEndian.AppendUint32(b, size+4)
		b = binary.BigEndian.AppendUint32(b, count)
	}
	return append(b, body...), nil
}
