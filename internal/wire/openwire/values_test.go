package openwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

func TestValueRoundTrip(t *testing.T) {
	inner := NewMap()
	inner.Set("x", Int(1))
	values := []struct {
		v    Value
		typ  ValueType
		want any
	}{
		{Null(), ValueNull, nil},
		{Bool(true), ValueBool, true},
		{Bool(false), ValueBool, false},
		{Byte(-128), ValueByte, int8(-128)},
		{Char(0xFFFF), ValueChar, uint16(0xFFFF)},
		{Short(math.MinInt16), ValueShort, int16(math.MinInt16)},
		{Int(-1), ValueInt, int32(-1)},
		{Long(math.MinInt64), ValueLong, int64(math.MinInt64)},
		{Float(float32(math.Inf(-1))), ValueFloat, float32(math.Inf(-1))},
		{Double(-0.5), ValueDouble, -0.5},
		{String(""), ValueString, ""},
		{String("a\x00😀"), ValueString, "a\x00😀"},
		{String(alphabet(bigStringChars - 1)), ValueString, alphabet(bigStringChars - 1)},
		{String(alphabet(bigStringChars)), ValueBigString, alphabet(bigStringChars)},
		{MapValue(inner), ValueMap, inner},
	}
	m := NewMap()
	for i, tc := range values {
		if tc.v.Type() != tc.typ {
			t.Errorf("value %d is a %v, want %v", i, tc.v.Type(), tc.typ)
		}
		m.Set(string(rune('a'+i)), tc.v)
	}
	m.Set("bytes", Bytes([]byte{1, 2}))
	m.Set("list", List(Int(1), String("two"), Null()))
	b, err := AppendMap(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeMap(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != m.Len() {
		t.Fatalf("%d entries, want %d", back.Len(), m.Len())
	}
	i := 0
	for k, v := range back.All() {
		if i < len(values) {
			if k != string(rune('a'+i)) || v.Type() != values[i].typ {
				t.Errorf("entry %d: %s is a %v", i, k, v.Type())
			}
			if _, isMap := values[i].want.(*Map); !isMap && v.Any() != values[i].want {
				t.Errorf("entry %d: %#v, want %#v", i, v.Any(), values[i].want)
			}
		}
		i++
	}
	if v, _ := back.Get("bytes"); !bytes.Equal(v.Any().([]byte), []byte{1, 2}) {
		t.Errorf("bytes: %v", v)
	}
	if v, _ := back.Get("list"); !slices.Equal(anys(v.Any().([]Value)), []any{int32(1), "two", nil}) {
		t.Errorf("list: %v", v)
	}
	again, _ := AppendMap(nil, back)
	if !bytes.Equal(again, b) {
		t.Error("a decoded map does not re-encode to the same bytes")
	}
}

func TestMapOrderAndEdits(t *testing.T) {
	m := NewMap()
	m.Set("b", Int(1))
	m.Set("a", Int(2))
	m.Set("b", Int(3)) // in place
	m.Set("c", Int(4))
	m.Delete("a")
	var keys []string
	for k := range m.All() {
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"b", "c"}) {
		t.Fatalf("keys %v", keys)
	}
	if v, _ := m.Get("b"); v.Any() != int32(3) {
		t.Fatalf("b = %v", v)
	}
	var nilMap *Map
	if nilMap.Len() != 0 {
		t.Fatal("nil map has entries")
	}
	if _, ok := nilMap.Get("x"); ok {
		t.Fatal("nil map has x")
	}
}

func TestMapNullAndEmpty(t *testing.T) {
	b, _ := AppendMap(nil, nil)
	if !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("nil map = %x", b)
	}
	m, err := DecodeMap(b)
	if err != nil || m != nil {
		t.Fatalf("null map decoded to %v, %v", m, err)
	}
	m, err = DecodeMap([]byte{0, 0, 0, 0})
	if err != nil || m == nil || m.Len() != 0 {
		t.Fatalf("empty map decoded to %v, %v", m, err)
	}
}

func TestMapRepeatedKeyKeepsTheLast(t *testing.T) {
	for _, n := range []int{2, 40} { // below and above the indexed size
		var b []byte
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		for i := range n {
			b = append(b, 0, 1, 'k', byte(ValueInt))
			b = binary.BigEndian.AppendUint32(b, uint32(i))
		}
		m, err := DecodeMap(b)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Get("k"); m.Len() != 1 || v.Any() != int32(n-1) {
			t.Fatalf("%d repeats: len %d, k = %v", n, m.Len(), v)
		}
	}
}

func TestDecodeMapErrors(t *testing.T) {
	deep := []byte{}
	for range maxDepth + 1 {
		deep = append(deep, 0, 0, 0, 1, 0, 1, 'm', byte(ValueMap))
	}
	deep = append(deep, 0, 0, 0, 0)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"short size", []byte{0, 0}},
		{"more entries than bytes", []byte{0x7f, 0xff, 0xff, 0xff}},
		{"truncated key", []byte{0, 0, 0, 1, 0, 5, 'a'}},
		{"unknown tag", []byte{0, 0, 0, 1, 0, 1, 'a', 99}},
		{"bool of 2", []byte{0, 0, 0, 1, 0, 1, 'a', 1, 2}},
		{"negative byte array", []byte{0, 0, 0, 1, 0, 1, 'a', 10, 0xff, 0xff, 0xff, 0xff}},
		{"huge byte array", []byte{0, 0, 0, 1, 0, 1, 'a', 10, 0x7f, 0xff, 0xff, 0xff}},
		{"negative big string", []byte{0, 0, 0, 1, 0, 1, 'a', 13, 0xff, 0xff, 0xff, 0xfe}},
		{"bad UTF-8 value", []byte{0, 0, 0, 1, 0, 1, 'a', 9, 0, 1, 0x80}},
		{"bad UTF-8 key", []byte{0, 0, 0, 1, 0, 1, 0xff, 0}},
		{"negative list", []byte{0, 0, 0, 1, 0, 1, 'a', 12, 0xff, 0xff, 0xff, 0xff}},
		{"trailing bytes", []byte{0, 0, 0, 0, 1}},
		{"nested too deep", deep},
	} {
		if m, err := DecodeMap(tc.in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, %v", tc.name, m, err)
		}
	}
}

func TestStreamBody(t *testing.T) {
	vs := []Value{Bool(true), Char('x'), String("s"), Bytes(nil), Null(), Double(1)}
	b, err := AppendStream(nil, vs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeStream(b)
	if err != nil || !slices.EqualFunc(anys(back), anys(vs), func(a, b any) bool {
		if x, ok := a.([]byte); ok {
			return bytes.Equal(x, b.([]byte))
		}
		return a == b
	}) {
		t.Fatalf("stream %v, %v", anys(back), err)
	}
	if _, err := AppendStream(nil, []Value{List()}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a list in a stream: %v", err)
	}
	if _, err := DecodeStream([]byte{byte(ValueMap), 0, 0, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("a map in a stream: %v", err)
	}
	if vs, err := DecodeStream(nil); err != nil || len(vs) != 0 {
		t.Errorf("empty stream: %v, %v", vs, err)
	}
}

func TestFromAny(t *testing.T) {
	for _, x := range []any{nil, true, int8(1), uint16(2), int16(3), int32(4), int64(5), float32(6), 7.0, "8", []byte{9}} {
		v, err := FromAny(x)
		if err != nil {
			t.Fatalf("%T: %v", x, err)
		}
		if b, ok := x.([]byte); ok {
			if !bytes.Equal(v.Any().([]byte), b) {
				t.Errorf("[]byte changed")
			}
			continue
		}
		if v.Any() != x {
			t.Errorf("%T %v came back as %T %v", x, x, v.Any(), v.Any())
		}
	}
	if v, _ := FromAny(42); v.Type() != ValueLong {
		t.Errorf("int is a %v", v.Type())
	}
	if _, err := FromAny(struct{}{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("struct: %v", err)
	}
}

func TestValueString(t *testing.T) {
	for v, want := range map[*Value]string{
		new(Null()): "null", new(Bool(true)): "true", new(Int(-3)): "-3", new(Char('é')): "é",
		new(Float(1.5)): "1.5", new(Double(0.1)): "0.1", new(String("x\x00")): "x\x00",
	} {
		if got := v.String(); got != want {
			t.Errorf("%v: %q, want %q", v.Type(), got, want)
		}
	}
}

func TestStringValueEncodingFollowsHowJavaReadsIt(t *testing.T) {
	// Top-level property and map values: standard UTF-8. Nested values,
	// keys and stream values: modified UTF-8. (java_test.go checks what
	// ActiveMQ's client makes of both.)
	const s = "a\x00😀"
	std := []byte{'a', 0, 0xF0, 0x9F, 0x98, 0x80}
	mod := []byte{'a', 0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}
	m := NewMap()
	m.Set(s, String(s))
	m.Set("l", List(String(s)))
	b, err := AppendMap(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 2, 0, 9}
	want = append(want, mod...) // the key
	want = append(want, byte(ValueString), 0, 6)
	want = append(want, std...) // the top-level value
	want = append(want, 0, 1, 'l', byte(ValueList), 0, 0, 0, 1, byte(ValueString), 0, 9)
	want = append(want, mod...) // the nested value
	if !bytes.Equal(b, want) {
		t.Fatalf("got  %x\nwant %x", b, want)
	}
	st, _ := AppendStream(nil, []Value{String(s)})
	if !bytes.Equal(st, append([]byte{byte(ValueString), 0, 9}, mod...)) {
		t.Fatalf("stream %x", st)
	}
	// Either form reads back as the same text, and a received value keeps
	// its bytes whichever form it came in.
	back, err := DecodeMap(b)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := back.Get(s)
	l, _ := back.Get("l")
	if v.String() != s || l.Any().([]Value)[0].String() != s {
		t.Fatalf("read back %q and %q", v.String(), l.Any().([]Value)[0].String())
	}
	if again, _ := AppendMap(nil, back); !bytes.Equal(again, b) {
		t.Fatal("received values did not keep their bytes")
	}
}
