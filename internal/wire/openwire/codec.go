package openwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// maxDepth bounds the nesting of objects inside a frame (a message carried
// in a message, a throwable's causes, maps in maps). Java has no limit, but
// real traffic nests two or three levels; a hostile frame must not recurse
// without bound.
const maxDepth = 32

// nullMask records, one bit per string field of a struct in wire order,
// which fields arrived as empty strings rather than as null. OpenWire
// distinguishes the two and Go strings do not; with the mask, a decoded
// command re-encodes to the very same bytes, while a string field left empty
// by the caller is written as null, which is what Java clients send for an
// unset field.
type nullMask uint64

// encoder appends the loose encoding of data structures to buf. Errors are
// sticky: the first is kept, whatever is appended after it is cut off again
// (see body), and the caller checks err once at the end.
type encoder struct {
	buf        []byte
	err        error
	stackTrace bool // write stack traces and causes of throwables
	depth      int
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
}

func (e *encoder) u8(v byte) { e.buf = append(e.buf, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) i16(v int16) { e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(v)) }
func (e *encoder) i32(v int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v)) }
func (e *encoder) i64(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

// utf writes s as Java's writeUTF does: an unsigned 16-bit length and the
// modified UTF-8 bytes.
func (e *encoder) utf(s string) {
	if e.err != nil {
		return
	}
	at := len(e.buf)
	e.buf = append(e.buf, 0, 0)
	e.buf = appendMUTF8(e.buf, s)
	n := len(e.buf) - at - 2
	if n > math.MaxUint16 {
		e.buf = e.buf[:at]
		e.fail("a string of %d bytes in modified UTF-8 exceeds OpenWire's 65535", n)
		return
	}
	binary.BigEndian.PutUint16(e.buf[at:], uint16(n))
}

// bytes writes a present flag, then the length and the bytes; nil is absent.
func (e *encoder) bytes(b []byte) {
	e.bool(b != nil)
	if b != nil {
		if len(b) > math.MaxInt32 {
			e.fail("a byte array of %d bytes", len(b))
			return
		}
		e.i32(int32(len(b)))
		e.buf = append(e.buf, b...)
	}
}

// nested writes a present flag, then the object's type and body.
func (e *encoder) nested(ds DataStructure) {
	if ds == nil || ds.isNil() {
		e.bool(false)
		return
	}
	if e.depth >= maxDepth {
		e.fail("objects nested more than %d deep", maxDepth)
		return
	}
	e.bool(true)
	e.u8(byte(ds.DataType()))
	e.depth++
	ds.marshal(e)
	e.depth--
}

// stringWriter writes the string fields of one struct, consulting its
// nullMask to write an empty string where one was received.
type stringWriter struct {
	e    *encoder
	mask nullMask
	i    uint
}

func (e *encoder) strings(m nullMask) stringWriter { return stringWriter{e: e, mask: m} }

func (w *stringWriter) put(s string) {
	present := s != "" || w.mask&(1<<w.i) != 0
	w.i++
	w.e.bool(present)
	if present {
		w.e.utf(s)
	}
}

// putArray writes an array of objects: a present flag, a 16-bit count and
// each element as a nested object (elements may be nil).
func putArray[T DataStructure](e *encoder, a []T) {
	e.bool(a != nil)
	if a == nil {
		return
	}
	if len(a) > math.MaxInt16 {
		e.fail("an array of %d objects exceeds OpenWire's 32767", len(a))
		return
	}
	e.i16(int16(len(a)))
	for _, x := range a {
		e.nested(x)
	}
}

// decoder reads the loose encoding from buf. Errors are sticky, like the
// encoder's: after the first, take returns nothing (so no length read from
// the wire allocates anything), nested objects and arrays stop, and what
// the fixed-size readers still return is discarded with the frame.
type decoder struct {
	buf        []byte
	off        int
	err        error
	stackTrace bool
	depth      int
	recent     *recentStrings // nil: allocate every string
	// arena, when set, is where messages and acks are decoded (see
	// ReaderOptions.Reuse); inArena is set while one is.
	arena   *arena
	inArena bool
	cut     cutField // describes errCut
}

// recentStrings remembers the last few short strings a Reader decoded. The
// same connection, producer and destination names come in frame after
// frame; handing out the remembered string saves an allocation each time.
type recentStrings struct {
	s    [8]string
	next int
}

// maxRecentLen bounds the strings worth remembering: IDs and destination
// names, not message text.
const maxRecentLen = 128

// lookup returns the remembered string equal to b, if any.
func (r *recentStrings) lookup(b []byte) (string, bool) {
	for i := range r.s {
		if r.s[i] == string(b) { // compared without allocating
			return r.s[i], true
		}
	}
	return "", false
}

// add remembers b as a string, in place of the oldest.
func (r *recentStrings) add(b []byte) string {
	s := string(b)
	r.s[r.next] = s
	r.next = (r.next + 1) % len(r.s)
	return s
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.setErr(fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...))
	}
}

// setErr records the first error.
func (d *decoder) setErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// take returns the next n bytes, or nil after recording an error when fewer
// remain. Every length read from the wire passes through here before
// anything is allocated for it.
func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.fail("%s needs %d bytes at offset %d but the frame has %d left", what, n, d.off, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

func (d *decoder) remaining() int { return len(d.buf) - d.off }

// The readers of fixed-size values below are small enough to be inlined:
// they make no call, not even to record an error. A read that finds the
// frame too short, or a boolean that is neither 0 nor 1, records errCut
// with what is needed to describe it, and (*decoder).error makes the
// description once the frame is given up. Like any recorded error, errCut
// makes take return nothing, so whatever is read after it is discarded.

// errCut is the error a fixed-size reader records; error describes it.
var errCut = errors.New("openwire: a field the frame cannot hold")

// error is the error recorded, errCut described.
func (d *decoder) error() error {
	if d.err != errCut {
		return d.err
	}
	if d.cut.n == 0 {
		return fmt.Errorf("%w: byte 0x%02x at offset %d where a boolean belongs (corrupt, or not loose encoding)",
			ErrMalformed, d.cut.b, d.cut.at)
	}
	return fmt.Errorf("%w: %s needs %d bytes at offset %d but the frame has %d left",
		ErrMalformed, d.cut.what, d.cut.n, d.cut.at, len(d.buf)-d.cut.at)
}

// cutField describes errCut: the field at offset at, of what, needs n
// bytes; n 0 means a boolean byte b that is neither 0 nor 1.
type cutField struct {
	what string
	at   int
	n    int
	b    byte
}

func (d *decoder) u8() byte {
	if d.off < len(d.buf) {
		d.off++
		return d.buf[d.off-1]
	}
	if d.err == nil {
		d.err, d.cut = errCut, cutField{what: "a byte", at: d.off, n: 1}
	}
	return 0
}

// bool reads a boolean. Java writes only 0 and 1; any other byte means the
// frame is not what the layout says it is (often: it is tightly encoded),
// and reporting it beats misreading every field after it.
func (d *decoder) bool() bool {
	if d.off < len(d.buf) {
		if c := d.buf[d.off]; c <= 1 {
			d.off++
			return c != 0
		} else if d.err == nil {
			d.err, d.cut = errCut, cutField{at: d.off, b: c}
		}
	} else if d.err == nil {
		d.err, d.cut = errCut, cutField{what: "a boolean", at: d.off, n: 1}
	}
	return false
}

func (d *decoder) i16() int16 {
	if b := d.buf[d.off:]; len(b) >= 2 {
		d.off += 2
		return int16(binary.BigEndian.Uint16(b))
	}
	if d.err == nil {
		d.err, d.cut = errCut, cutField{what: "a short", at: d.off, n: 2}
	}
	return 0
}

func (d *decoder) i32() int32 {
	if b := d.buf[d.off:]; len(b) >= 4 {
		d.off += 4
		return int32(binary.BigEndian.Uint32(b))
	}
	if d.err == nil {
		d.err, d.cut = errCut, cutField{what: "an int", at: d.off, n: 4}
	}
	return 0
}

func (d *decoder) i64() int64 {
	if b := d.buf[d.off:]; len(b) >= 8 {
		d.off += 8
		return int64(binary.BigEndian.Uint64(b))
	}
	if d.err == nil {
		d.err, d.cut = errCut, cutField{what: "a long", at: d.off, n: 8}
	}
	return 0
}

// utf reads an unsigned 16-bit length and that many bytes of modified UTF-8.
func (d *decoder) utf() string {
	n := d.take(2, "a string length")
	if n == nil {
		return ""
	}
	b := d.take(int(binary.BigEndian.Uint16(n)), "a string")
	if b == nil {
		return ""
	}
	if d.recent != nil && len(b) <= maxRecentLen {
		// Only ASCII is remembered, so a string equal to a remembered one
		// needs no check.
		if s, ok := d.recent.lookup(b); ok {
			return s
		}
		if isASCII(b) {
			return d.recent.add(b)
		}
	}
	s, err := decodeMUTF8(b)
	if err != nil {
		d.setErr(err)
	}
	return s
}

// bytes reads a present flag, a length and the bytes, copied out of the
// frame buffer, or pointing into it while decoding into the arena. An
// absent array is nil; a present empty one is not.
func (d *decoder) bytes() []byte {
	if !d.bool() {
		return nil
	}
	n := d.i32()
	b := d.take(int(n), "a byte array")
	if b == nil || d.inArena {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}

// nested reads a present flag, then a type byte and the object's body.
func (d *decoder) nested() DataStructure {
	if !d.bool() {
		return nil
	}
	t := DataType(d.u8())
	if d.err != nil {
		return nil
	}
	var ds DataStructure
	if d.inArena {
		ds = d.arena.nested(t)
	}
	if ds == nil {
		ds = newDataStructure(t)
	}
	if ds == nil {
		d.setErr(fmt.Errorf("%w: nested object of %v at offset %d", ErrUnsupportedType, t, d.off-1))
		return nil
	}
	if d.depth >= maxDepth {
		d.fail("objects nested more than %d deep", maxDepth)
		return nil
	}
	d.depth++
	ds.unmarshal(d)
	d.depth--
	if d.err != nil {
		return nil
	}
	return ds
}

// nestedAs reads a nested object that must be of type T; field names it in
// the error otherwise.
func nestedAs[T DataStructure](d *decoder, field string) T {
	var zero T
	ds := d.nested()
	if ds == nil {
		return zero
	}
	t, ok := ds.(T)
	if !ok {
		d.fail("%s holds a %v", field, ds.DataType())
		return zero
	}
	return t
}

// arrayOf reads an array of nested objects of type T.
func arrayOf[T DataStructure](d *decoder, field string) []T {
	if !d.bool() {
		return nil
	}
	n := int(d.i16())
	if d.err != nil {
		return nil
	}
	// Every element takes at least its one-byte present flag.
	if n < 0 || n > d.remaining() {
		d.fail("%s has %d elements, with %d bytes left in the frame", field, n, d.remaining())
		return nil
	}
	a := make([]T, n)
	for i := range a {
		a[i] = nestedAs[T](d, field)
	}
	if d.err != nil {
		return nil
	}
	return a
}

// stringReader reads the string fields of one struct, recording in its
// nullMask which arrived empty but present.
type stringReader struct {
	d    *decoder
	mask *nullMask
	i    uint
}

func (d *decoder) strings(m *nullMask) stringReader { return stringReader{d: d, mask: m} }

func (r *stringReader) next() string {
	i := r.i
	r.i++
	if !r.d.bool() {
		return ""
	}
	s := r.d.utf()
	if s == "" && r.d.err == nil {
		*r.mask |= 1 << i
	}
	return s
}
