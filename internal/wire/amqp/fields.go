package amqp

import (
	"math"
	"reflect"
)

// This file holds the typed readers and writers the composite types
// (performatives, termini, outcomes, message sections) are built from.
//
// Readers are lenient where the specification leaves room and peers
// differ: a field may be null (the default applies), an unsigned field may
// come in any unsigned encoding whose value fits, a symbol field may come as
// a string, and a "multiple" field may be a single value or an array.

// readUnsigned reads any unsigned integer encoding, or null.
func (d *decoder) readUnsigned() (v uint64, ok bool, err error) {
	code, err := d.readByte()
	if err != nil {
		return 0, false, err
	}
	switch code {
	case codeNull:
		return 0, false, nil
	case codeUint0, codeUlong0:
		return 0, true, nil
	case codeUbyte, codeSmallUint, codeSmallUlong:
		c, err := d.readByte()
		return uint64(c), true, err
	case codeUshort:
		x, err := d.u16()
		return uint64(x), true, err
	case codeUint:
		x, err := d.u32()
		return uint64(x), true, err
	case codeUlong:
		x, err := d.u64()
		return x, true, err
	}
	return 0, false, decodeErr("format code 0x%02x where an unsigned integer belongs", code)
}

func (d *decoder) readUint64() (uint64, bool, error) { return d.readUnsigned() }

func (d *decoder) readUint32() (uint32, bool, error) {
	v, ok, err := d.readUnsigned()
	if err == nil && v > math.MaxUint32 {
		err = decodeErr("value %d does not fit a uint", v)
	}
	return uint32(v), ok, err
}

func (d *decoder) readUint16() (uint16, bool, error) {
	v, ok, err := d.readUnsigned()
	if err == nil && v > math.MaxUint16 {
		err = decodeErr("value %d does not fit a ushort", v)
	}
	return uint16(v), ok, err
}

func (d *decoder) readUint8() (uint8, bool, error) {
	v, ok, err := d.readUnsigned()
	if err == nil && v > math.MaxUint8 {
		err = decodeErr("value %d does not fit a ubyte", v)
	}
	return uint8(v), ok, err
}

// readBool reads a boolean or null (ok false).
func (d *decoder) readBool() (v, ok bool, err error) {
	code, err := d.readByte()
	if err != nil {
		return false, false, err
	}
	switch code {
	case codeNull:
		return false, false, nil
	case codeTrue:
		return true, true, nil
	case codeFalse:
		return false, true, nil
	case codeBool:
		c, err := d.readByte()
		if err == nil && c > 1 {
			err = decodeErr("boolean byte 0x%02x is neither 0 nor 1", c)
		}
		return c == 1, true, err
	}
	return false, false, decodeErr("format code 0x%02x where a boolean belongs", code)
}

// readVariable reads a variable-width value whose code is one of c8, c32,
// alt8 and alt32 (or null) and returns its bytes, aliasing d.b.
func (d *decoder) readVariable(what string, c8, c32, alt8, alt32 byte) (data []byte, ok bool, err error) {
	code, err := d.readByte()
	if err != nil {
		return nil, false, err
	}
	switch code {
	case codeNull:
		return nil, false, nil
	case c8, c32, alt8, alt32:
		n, err := d.variableLen(code)
		if err != nil {
			return nil, false, err
		}
		s := d.b[d.i : d.i+n : d.i+n]
		d.i += n
		return s, true, nil
	}
	return nil, false, decodeErr("format code 0x%02x where %s belongs", code, what)
}

// readString reads a string or null. Symbols are accepted too.
func (d *decoder) readString() (string, bool, error) {
	s, ok, err := d.readVariable("a string", codeStr8, codeStr32, codeSym8, codeSym32)
	return string(s), ok, err
}

// readSymbol reads a symbol or null. Strings are accepted too.
func (d *decoder) readSymbol() (Symbol, bool, error) {
	s, ok, err := d.readVariable("a symbol", codeSym8, codeSym32, codeStr8, codeStr32)
	return Symbol(s), ok, err
}

// readBinary reads a binary or null, copied unless d.alias.
func (d *decoder) readBinary() ([]byte, bool, error) {
	s, ok, err := d.readVariable("a binary", codeVbin8, codeVbin32, codeVbin8, codeVbin32)
	if err != nil || !ok || d.alias {
		return s, ok, err
	}
	c := make([]byte, len(s))
	copy(c, s)
	return c, true, nil
}

// readSymbols reads a "multiple" symbol field: null, one symbol, or an
// array of symbols.
func (d *decoder) readSymbols() ([]Symbol, error) {
	code, err := d.peek()
	if err != nil {
		return nil, err
	}
	if code != codeArray8 && code != codeArray32 {
		s, ok, err := d.readSymbol()
		if err != nil || !ok {
			return nil, err
		}
		return []Symbol{s}, nil
	}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	a := v.(Array)
	if a.Descriptor != nil {
		return nil, decodeErr("array of described values where symbols belong")
	}
	out := make([]Symbol, 0, len(a.Elems))
	for _, e := range a.Elems {
		switch s := e.(type) {
		case Symbol:
			out = append(out, s)
		case string:
			out = append(out, Symbol(s))
		default:
			return nil, decodeErr("array of %T where symbols belong", e)
		}
	}
	return out, nil
}

// readMap reads a map or null.
func (d *decoder) readMap() (Map, error) {
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	switch code {
	case codeNull:
		return nil, nil
	case codeMap8, codeMap32:
		return d.mapBody(code)
	}
	return nil, decodeErr("format code 0x%02x where a map belongs", code)
}

// readTimestamp reads a timestamp or null.
func (d *decoder) readTimestamp() (Timestamp, bool, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, false, err
	}
	switch code {
	case codeNull:
		return 0, false, nil
	case codeTimestamp:
		v, err := d.u64()
		return Timestamp(v), true, err
	}
	return 0, false, decodeErr("format code 0x%02x where a timestamp belongs", code)
}

// descriptor reads the descriptor after a 0x00 constructor and returns the
// numeric code it stands for: a ulong as is, a symbol looked up among the
// descriptors this package knows (0 and the symbol when unknown).
func (d *decoder) descriptor() (uint64, Symbol, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, "", err
	}
	switch code {
	case codeUlong0:
		return 0, "", nil
	case codeSmallUlong:
		c, err := d.readByte()
		return uint64(c), "", err
	case codeUlong:
		v, err := d.u64()
		return v, "", err
	case codeSym8, codeSym32:
		n, err := d.variableLen(code)
		if err != nil {
			return 0, "", err
		}
		s := d.b[d.i : d.i+n]
		d.i += n
		if c, ok := descriptorBySymbol[string(s)]; ok {
			return c, "", nil
		}
		return 0, Symbol(s), nil
	}
	return 0, "", decodeErr("descriptor with format code 0x%02x; only ulong and symbol descriptors exist", code)
}

// describedHeader reads a described constructor and its descriptor. A
// null instead reports ok false.
func (d *decoder) describedHeader() (desc uint64, sym Symbol, ok bool, err error) {
	code, err := d.readByte()
	if err != nil {
		return 0, "", false, err
	}
	switch code {
	case codeNull:
		return 0, "", false, nil
	case codeDescribed:
		desc, sym, err = d.descriptor()
		return desc, sym, true, err
	}
	return 0, "", false, decodeErr("format code 0x%02x where a described type belongs", code)
}

// fields walks the fields of a composite type's list. Fields missing at
// the end of a short list take their defaults: the caller's struct starts
// zeroed and fields.next simply reports no more.
type fields struct {
	d       *decoder
	count   int
	n       int // fields read so far
	end     int
	entered bool   // d.enter was called and done must leave
	outer   []byte // d.b before the fields narrowed it to the list
}

// compositeFields reads the list that carries a composite's fields.
func (d *decoder) compositeFields(name string) (fields, error) {
	code, err := d.readByte()
	if err != nil {
		return fields{}, err
	}
	switch code {
	case codeList0:
		return fields{d: d, end: d.i}, nil
	case codeList8, codeList32:
		count, end, err := d.compoundHeader(code)
		if err != nil {
			return fields{}, err
		}
		if err := d.enter(); err != nil {
			return fields{}, err
		}
		// Narrow the decoder to the list, so that no field can read past
		// it into what follows (a transfer's payload, the next section).
		f := fields{d: d, count: count, end: end, entered: true, outer: d.b}
		d.b = d.b[:end]
		return f, nil
	}
	return fields{}, decodeErr("%s: format code 0x%02x where its list of fields belongs", name, code)
}

// next reports whether another field follows, and returns its index.
func (f *fields) next() (int, bool) {
	if f.n >= f.count {
		return 0, false
	}
	f.n++
	return f.n - 1, true
}

// skip moves past a field this package does not know (from a later
// version of the specification).
func (f *fields) skip() error { return f.d.skip() }

// done checks that the fields filled the list exactly.
func (f *fields) done(name string) error {
	if f.entered {
		f.d.leave()
		f.d.b = f.outer
	}
	if f.d.i != f.end {
		return decodeErr("%s: fields end at offset %d, but the list's size says %d", name, f.d.i, f.end)
	}
	return nil
}

// listWriter appends a composite's fields to b. Null fields at the end are
// dropped (the receiver applies the defaults), as the specification allows.
type listWriter struct {
	c     compound
	n     int // fields written
	count int // fields up to the last non-null one
	end   int // offset after the last non-null field
}

// beginComposite appends the described constructor with the ulong
// descriptor desc, and starts the field list.
func beginComposite(b []byte, desc uint64) ([]byte, *listWriter) {
	b = appendUlong(append(b, codeDescribed), desc)
	b, c := beginCompound(b, codeList32)
	return b, &listWriter{c: c, end: len(b)}
}

func (w *listWriter) null(b []byte) []byte {
	w.n++
	return append(b, codeNull)
}

func (w *listWriter) set(b []byte) []byte {
	w.n++
	w.count, w.end = w.n, len(b)
	return b
}

func (w *listWriter) finish(b []byte) ([]byte, error) {
	return w.c.finish(b[:w.end], w.count, codeList8, codeList32)
}

func (w *listWriter) uint(b []byte, v uint32, present bool) []byte {
	if !present {
		return w.null(b)
	}
	return w.set(appendUint(b, v))
}

func (w *listWriter) uintOpt(b []byte, v Optional[uint32]) []byte {
	return w.uint(b, v.Value, v.Set)
}

func (w *listWriter) ulong(b []byte, v uint64, present bool) []byte {
	if !present {
		return w.null(b)
	}
	return w.set(appendUlong(b, v))
}

func (w *listWriter) ushortOpt(b []byte, v Optional[uint16]) []byte {
	if !v.Set {
		return w.null(b)
	}
	return w.set(appendUshort(b, v.Value))
}

func (w *listWriter) ubyte(b []byte, v uint8, present bool) []byte {
	if !present {
		return w.null(b)
	}
	return w.set(append(b, codeUbyte, v))
}

// bool writes a boolean; false (every boolean field's default) is null.
func (w *listWriter) bool(b []byte, v bool) []byte {
	if !v {
		return w.null(b)
	}
	return w.set(append(b, codeTrue))
}

// boolAlways writes a boolean even when false (mandatory fields).
func (w *listWriter) boolAlways(b []byte, v bool) []byte {
	return w.set(appendBool(b, v))
}

func (w *listWriter) str(b []byte, v string, present bool) []byte {
	if !present {
		return w.null(b)
	}
	return w.set(appendString(b, v))
}

func (w *listWriter) sym(b []byte, v Symbol) []byte {
	if v == "" {
		return w.null(b)
	}
	return w.set(appendSymbol(b, v))
}

func (w *listWriter) binary(b []byte, v []byte, present bool) []byte {
	if !present {
		return w.null(b)
	}
	return w.set(appendBinary(b, v))
}

func (w *listWriter) timestamp(b []byte, v Timestamp) []byte {
	if v == 0 {
		return w.null(b)
	}
	return w.set(appendTimestamp(b, v))
}

// symbols writes a "multiple" symbol field as an array (nil is null).
func (w *listWriter) symbols(b []byte, v []Symbol) ([]byte, error) {
	if v == nil {
		return w.null(b), nil
	}
	b, err := appendSymbolArray(b, v)
	return w.set(b), err
}

func appendSymbolArray(b []byte, v []Symbol) ([]byte, error) {
	elems := make([]any, len(v))
	code := byte(codeSym8)
	for i, s := range v {
		elems[i] = s
		if len(s) > math.MaxUint8 {
			code = codeSym32
		}
	}
	return appendArray(b, Array{Code: code, Elems: elems})
}

func (w *listWriter) mapField(b []byte, m Map) ([]byte, error) {
	if m == nil {
		return w.null(b), nil
	}
	b, err := appendMap(b, m)
	return w.set(b), err
}

// value writes any value; nil is null.
func (w *listWriter) value(b []byte, v any) ([]byte, error) {
	if v == nil {
		return w.null(b), nil
	}
	b, err := AppendValue(b, v)
	return w.set(b), err
}

// composite writes one of the package's composite types; nil is null.
func (w *listWriter) composite(b []byte, v composite) ([]byte, error) {
	if isNil(v) {
		return w.null(b), nil
	}
	b, err := v.appendTo(b)
	return w.set(b), err
}

// isNil reports whether v is nil or a nil pointer in an interface.
func isNil(v composite) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
