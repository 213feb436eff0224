package amqp

import (
	"encoding/binary"
	"math"
)

// maxDepth bounds the nesting of lists, maps, arrays and described values.
// Each level costs the peer two bytes but the decoder a stack frame, so
// without a bound a single frame could exhaust the goroutine's stack. No
// real client nests more than a handful of levels.
const maxDepth = 64

// decoder reads AMQP values from b starting at i. Every method checks
// bounds before reading, and returns an error wrapping ErrDecode when the
// bytes end early or do not form a valid encoding.
type decoder struct {
	b     []byte
	i     int
	depth int
	// alias makes binary values sub-slices of b instead of copies. It is
	// set when the caller keeps b alive and unchanged for as long as the
	// values (a stored message); frame bodies are reused, so performatives
	// are decoded with copies.
	alias bool
}

// DecodeValue decodes the one value at the start of b and returns it with
// the number of bytes it took. Types map as described in doc.go; binary
// values are copies, so b may be reused afterwards.
func DecodeValue(b []byte) (any, int, error) {
	d := decoder{b: b}
	v, err := d.value()
	return v, d.i, err
}

func (d *decoder) remaining() int { return len(d.b) - d.i }

func (d *decoder) need(n int) error {
	if n < 0 || d.remaining() < n {
		return decodeErr("data ends %d bytes early at offset %d", n-d.remaining(), d.i)
	}
	return nil
}

func (d *decoder) readByte() (byte, error) {
	if d.i >= len(d.b) {
		return 0, decodeErr("data ends early at offset %d", d.i)
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

func (d *decoder) peek() (byte, error) {
	if d.i >= len(d.b) {
		return 0, decodeErr("data ends early at offset %d", d.i)
	}
	return d.b[d.i], nil
}

func (d *decoder) u16() (uint16, error) {
	if err := d.need(2); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint16(d.b[d.i:])
	d.i += 2
	return v, nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(d.b[d.i:])
	d.i += 4
	return v, nil
}

func (d *decoder) u64() (uint64, error) {
	if err := d.need(8); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint64(d.b[d.i:])
	d.i += 8
	return v, nil
}

// take returns the next n bytes, copied unless d.alias.
func (d *decoder) take(n int) ([]byte, error) {
	if err := d.need(n); err != nil {
		return nil, err
	}
	s := d.b[d.i : d.i+n : d.i+n]
	d.i += n
	if d.alias {
		return s, nil
	}
	c := make([]byte, n)
	copy(c, s)
	return c, nil
}

// variableLen reads the length prefix of a variable-width value whose
// format code is code (the 0xa? codes have a one-byte length, the 0xb?
// codes four bytes) and checks that many bytes follow.
func (d *decoder) variableLen(code byte) (int, error) {
	var n int
	if code&0xf0 == 0xa0 {
		c, err := d.readByte()
		if err != nil {
			return 0, err
		}
		n = int(c)
	} else {
		c, err := d.u32()
		if err != nil {
			return 0, err
		}
		if uint64(c) > uint64(d.remaining()) {
			return 0, decodeErr("length %d at offset %d runs past the end of the data", c, d.i-4)
		}
		n = int(c)
	}
	if err := d.need(n); err != nil {
		return 0, err
	}
	return n, nil
}

// value decodes the next value of any type.
func (d *decoder) value() (any, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	return d.valueOf(code)
}

// valueOf decodes a value whose constructor code has been read.
func (d *decoder) valueOf(code byte) (any, error) {
	switch code {
	case codeDescribed:
		return d.describedBody()
	case codeNull:
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		c, err := d.readByte()
		if err != nil {
			return nil, err
		}
		if c > 1 {
			return nil, decodeErr("boolean byte 0x%02x is neither 0 nor 1", c)
		}
		return c == 1, nil
	case codeUbyte:
		return d.readByte()
	case codeByte:
		c, err := d.readByte()
		return int8(c), err
	case codeUshort:
		return d.u16()
	case codeShort:
		v, err := d.u16()
		return int16(v), err
	case codeUint0:
		return uint32(0), nil
	case codeSmallUint:
		c, err := d.readByte()
		return uint32(c), err
	case codeUint:
		return d.u32()
	case codeUlong0:
		return uint64(0), nil
	case codeSmallUlong:
		c, err := d.readByte()
		return uint64(c), err
	case codeUlong:
		return d.u64()
	case codeSmallInt:
		c, err := d.readByte()
		return int32(int8(c)), err
	case codeInt:
		v, err := d.u32()
		return int32(v), err
	case codeSmallLong:
		c, err := d.readByte()
		return int64(int8(c)), err
	case codeLong:
		v, err := d.u64()
		return int64(v), err
	case codeFloat:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case codeDouble:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case codeDecimal32:
		var v Decimal32
		err := d.fixed(v[:])
		return v, err
	case codeDecimal64:
		var v Decimal64
		err := d.fixed(v[:])
		return v, err
	case codeDecimal128:
		var v Decimal128
		err := d.fixed(v[:])
		return v, err
	case codeChar:
		v, err := d.u32()
		return Char(v), err
	case codeTimestamp:
		v, err := d.u64()
		return Timestamp(v), err
	case codeUUID:
		var v UUID
		err := d.fixed(v[:])
		return v, err
	case codeVbin8, codeVbin32:
		n, err := d.variableLen(code)
		if err != nil {
			return nil, err
		}
		return d.take(n)
	case codeStr8, codeStr32:
		n, err := d.variableLen(code)
		if err != nil {
			return nil, err
		}
		s := string(d.b[d.i : d.i+n])
		d.i += n
		return s, nil
	case codeSym8, codeSym32:
		n, err := d.variableLen(code)
		if err != nil {
			return nil, err
		}
		s := Symbol(d.b[d.i : d.i+n])
		d.i += n
		return s, nil
	case codeList0:
		return List{}, nil
	case codeList8, codeList32:
		return d.listBody(code)
	case codeMap8, codeMap32:
		return d.mapBody(code)
	case codeArray8, codeArray32:
		return d.arrayBody(code)
	}
	return nil, decodeErr("unknown format code 0x%02x at offset %d", code, d.i-1)
}

func (d *decoder) fixed(dst []byte) error {
	if err := d.need(len(dst)); err != nil {
		return err
	}
	copy(dst, d.b[d.i:])
	d.i += len(dst)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return decodeErr("values nested deeper than %d levels", maxDepth)
	}
	return nil
}

func (d *decoder) leave() { d.depth-- }

// describedBody decodes a described value after its 0x00 constructor.
func (d *decoder) describedBody() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	desc, err := d.value()
	if err != nil {
		return nil, err
	}
	switch desc.(type) {
	case uint64, Symbol:
	default:
		return nil, decodeErr("descriptor of type %T; only ulong and symbol descriptors exist", desc)
	}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	return Described{Descriptor: desc, Value: v}, nil
}

// compoundHeader reads the size and count of a list, map or array whose
// code has been read, and returns the count and the offset where the
// compound ends. The count can never exceed the size in bytes (every
// element takes at least one byte, and arrays of zero-width elements are
// refused the same way), which bounds what a peer can make the decoder
// allocate.
func (d *decoder) compoundHeader(code byte) (count, end int, err error) {
	var size, n uint32
	if code&0xf0 == 0xc0 || code&0xf0 == 0xe0 {
		s, err := d.readByte()
		if err != nil {
			return 0, 0, err
		}
		if s < 1 {
			return 0, 0, decodeErr("compound of size 0 at offset %d has no room for its count", d.i-1)
		}
		c, err := d.readByte()
		if err != nil {
			return 0, 0, err
		}
		size, n = uint32(s)-1, uint32(c)
	} else {
		s, err := d.u32()
		if err != nil {
			return 0, 0, err
		}
		if s < 4 {
			return 0, 0, decodeErr("compound of size %d at offset %d has no room for its count", s, d.i-4)
		}
		c, err := d.u32()
		if err != nil {
			return 0, 0, err
		}
		size, n = s-4, c
	}
	if uint64(size) > uint64(d.remaining()) {
		return 0, 0, decodeErr("compound of %d bytes at offset %d runs past the end of the data (%d left)", size, d.i, d.remaining())
	}
	if n > size {
		return 0, 0, decodeErr("compound at offset %d claims %d elements in %d bytes", d.i, n, size)
	}
	return int(n), d.i + int(size), nil
}

// checkEnd checks that the elements of a compound used exactly its
// declared size.
func (d *decoder) checkEnd(end int, what string) error {
	if d.i != end {
		return decodeErr("%s elements end at offset %d, but its size says %d", what, d.i, end)
	}
	return nil
}

func (d *decoder) listBody(code byte) (List, error) {
	count, end, err := d.compoundHeader(code)
	if err != nil {
		return nil, err
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	l := make(List, 0, count)
	sub := decoder{b: d.b[:end], i: d.i, depth: d.depth, alias: d.alias}
	for range count {
		v, err := sub.value()
		if err != nil {
			return nil, err
		}
		l = append(l, v)
	}
	d.i = sub.i
	return l, d.checkEnd(end, "list")
}

func (d *decoder) mapBody(code byte) (Map, error) {
	count, end, err := d.compoundHeader(code)
	if err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, decodeErr("map at offset %d has an odd number of elements (%d)", d.i, count)
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	m := make(Map, 0, count/2)
	sub := decoder{b: d.b[:end], i: d.i, depth: d.depth, alias: d.alias}
	for range count / 2 {
		k, err := sub.value()
		if err != nil {
			return nil, err
		}
		v, err := sub.value()
		if err != nil {
			return nil, err
		}
		m = append(m, MapEntry{Key: k, Value: v})
	}
	d.i = sub.i
	return m, d.checkEnd(end, "map")
}

func (d *decoder) arrayBody(code byte) (Array, error) {
	count, end, err := d.compoundHeader(code)
	if err != nil {
		return Array{}, err
	}
	if err := d.enter(); err != nil {
		return Array{}, err
	}
	defer d.leave()
	sub := decoder{b: d.b[:end], i: d.i, depth: d.depth, alias: d.alias}
	var a Array
	elem, err := sub.readByte()
	if err != nil {
		return Array{}, err
	}
	if elem == codeDescribed {
		desc, err := sub.value()
		if err != nil {
			return Array{}, err
		}
		switch desc.(type) {
		case uint64, Symbol:
		default:
			return Array{}, decodeErr("array descriptor of type %T; only ulong and symbol descriptors exist", desc)
		}
		a.Descriptor = desc
		if elem, err = sub.readByte(); err != nil {
			return Array{}, err
		}
	}
	if elem == codeDescribed {
		return Array{}, decodeErr("array element constructor at offset %d is described twice", sub.i-1)
	}
	a.Code = elem
	a.Elems = make([]any, 0, count)
	for range count {
		v, err := sub.valueOf(elem)
		if err != nil {
			return Array{}, err
		}
		a.Elems = append(a.Elems, v)
	}
	d.i = sub.i
	return a, d.checkEnd(end, "array")
}

// skip moves past the next value without building it.
func (d *decoder) skip() error {
	code, err := d.readByte()
	if err != nil {
		return err
	}
	return d.skipOf(code)
}

// skipOf moves past a value whose constructor code has been read.
func (d *decoder) skipOf(code byte) error {
	if w, ok := fixedWidth(code); ok {
		return d.advance(w)
	}
	switch code {
	case codeDescribed:
		if err := d.enter(); err != nil {
			return err
		}
		defer d.leave()
		if err := d.skip(); err != nil {
			return err
		}
		return d.skip()
	case codeVbin8, codeVbin32, codeStr8, codeStr32, codeSym8, codeSym32:
		n, err := d.variableLen(code)
		if err != nil {
			return err
		}
		d.i += n
		return nil
	case codeList8, codeList32, codeMap8, codeMap32, codeArray8, codeArray32:
		// The element structure is validated by decoding it: skipping by
		// size alone would accept garbage inside the compound.
		_, err := d.valueOf(code)
		return err
	}
	return decodeErr("unknown format code 0x%02x at offset %d", code, d.i-1)
}

func (d *decoder) advance(n int) error {
	if err := d.need(n); err != nil {
		return err
	}
	d.i += n
	return nil
}

// fixedWidth returns the width of the data following a fixed-width
// format code.
func fixedWidth(code byte) (int, bool) {
	switch code {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return 0, true
	case codeUbyte, codeByte, codeSmallUint, codeSmallUlong, codeSmallInt, codeSmallLong, codeBool:
		return 1, true
	case codeUshort, codeShort:
		return 2, true
	case codeUint, codeInt, codeFloat, codeChar, codeDecimal32:
		return 4, true
	case codeUlong, codeLong, codeDouble, codeTimestamp, codeDecimal64:
		return 8, true
	case codeDecimal128, codeUUID:
		return 16, true
	}
	return 0, false
}
