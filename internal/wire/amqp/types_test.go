package amqp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// unhex turns "c0 06 02" (spaces allowed) into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestEncodeCompactForms(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"null", nil, "40"},
		{"true", true, "41"},
		{"false", false, "42"},
		{"ubyte", uint8(7), "50 07"},
		{"ushort", uint16(0x1234), "60 1234"},
		{"uint0", uint32(0), "43"},
		{"smalluint", uint32(255), "52 ff"},
		{"uint", uint32(256), "70 00000100"},
		{"ulong0", uint64(0), "44"},
		{"smallulong", uint64(255), "53 ff"},
		{"ulong", uint64(1) << 40, "80 0000010000000000"},
		{"byte", int8(-1), "51 ff"},
		{"short", int16(-2), "61 fffe"},
		{"smallint", int32(-128), "54 80"},
		{"int", int32(128), "71 00000080"},
		{"smalllong", int64(127), "55 7f"},
		{"long", int64(-129), "81 ffffffffffffff7f"},
		{"go int is long", 5, "55 05"},
		{"go uint is ulong", uint(5), "53 05"},
		{"float", float32(1.5), "72 3fc00000"},
		{"double", 1.5, "82 3ff8000000000000"},
		{"decimal32", Decimal32{1, 2, 3, 4}, "74 01020304"},
		{"decimal64", Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, "84 0102030405060708"},
		{"decimal128", Decimal128{15: 9}, "94 00000000000000000000000000000009"},
		{"char", Char('é'), "73 000000e9"},
		{"timestamp", Timestamp(1700000000000), "83 0000018bcfe56800"},
		{"time.Time", time.UnixMilli(1700000000000), "83 0000018bcfe56800"},
		{"uuid", UUID{0: 0xde, 15: 0xef}, "98 de0000000000000000000000000000ef"},
		{"vbin8", []byte{1, 2}, "a0 02 0102"},
		{"str8", "hi", "a1 02 6869"},
		{"sym8", Symbol("ab"), "a3 02 6162"},
		{"str32", long, "b1 0000012c " + hex.EncodeToString([]byte(long))},
		{"list0", List{}, "45"},
		{"list8", List{uint32(1), "a"}, "c0 06 02 5201 a10161"},
		{"[]any is a list", []any{true}, "c0 02 01 41"},
		{"map8", Map{{Symbol("k"), int32(1)}}, "c1 06 02 a3016b 5401"},
		{"empty map", Map{}, "c1 01 00"},
		{"go map sorted", map[string]any{"b": true, "a": false}, "c1 09 04 a10161 42 a10162 41"},
		{"array of sym8", Array{Elems: []any{Symbol("a"), Symbol("bc")}}, "e0 07 02 a3 0161 026263"},
		{"[]Symbol", []Symbol{"a"}, "e0 04 01 a3 0161"},
		{"array of smalluint", []uint32{1, 2}, "e0 04 02 52 01 02"},
		{"array of uint", []uint32{1, 256}, "e0 0a 02 70 00000001 00000100"},
		{"array of bool", Array{Elems: []any{true, false}}, "e0 04 02 56 01 00"},
		{"described ulong", Described{Descriptor: uint64(0x24), Value: List{}}, "00 53 24 45"},
		{"described symbol", Described{Descriptor: Symbol("x"), Value: "y"}, "00 a30178 a10179"},
		{"accepted composite", &Accepted{}, "00 53 24 45"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendValue(nil, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("got  % x\nwant % x", got, want)
			}
		})
	}
}

func TestEncodeLargeCompoundsUse32BitForms(t *testing.T) {
	l := make(List, 300)
	enc, err := AppendValue(nil, l)
	if err != nil {
		t.Fatal(err)
	}
	// 300 nulls: list32, size = 4 (count) + 300, count 300.
	if want := unhex(t, "d0 00000130 0000012c"); !bytes.Equal(enc[:9], want) || len(enc) != 9+300 {
		t.Fatalf("header % x, length %d", enc[:9], len(enc))
	}
	m := Map{{"k", strings.Repeat("v", 260)}}
	enc, err = AppendValue(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if enc[0] != codeMap32 {
		t.Fatalf("map of 260 bytes encoded with code 0x%02x", enc[0])
	}
	a := Array{Elems: []any{Symbol(strings.Repeat("s", 256))}}
	enc, err = AppendValue(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	if enc[0] != codeArray32 || enc[9] != codeSym32 {
		t.Fatalf("array of a long symbol: codes 0x%02x 0x%02x", enc[0], enc[9])
	}
}

func TestDecodeEveryForm(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"null", "40", nil},
		{"bool 56 01", "56 01", true},
		{"bool 56 00", "56 00", false},
		{"uint full", "70 00000005", uint32(5)},
		{"uint0", "43", uint32(0)},
		{"ulong full", "80 0000000000000005", uint64(5)},
		{"smalllong negative", "55 ff", int64(-1)},
		{"int full", "71 ffffffff", int32(-1)},
		{"vbin32", "b0 00000001 ff", []byte{0xff}},
		{"str32", "b1 00000002 6869", "hi"},
		{"sym32", "b3 00000002 6869", Symbol("hi")},
		{"list32", "d0 00000006 00000002 41 42", List{true, false}},
		{"list8 of list0", "c0 02 01 45", List{List{}}},
		{"map32", "d1 00000008 00000002 a10161 43", Map{{"a", uint32(0)}}},
		{"array32 of int", "f0 0000000d 00000002 71 00000001 ffffffff", Array{Code: codeInt, Elems: []any{int32(1), int32(-1)}}},
		{"array8 of str8", "e0 05 01 a1 02 6869", Array{Code: codeStr8, Elems: []any{"hi"}}},
		{"array of list8", "e0 06 01 c0 03 02 41 42", Array{Code: codeList8, Elems: []any{List{true, false}}}},
		{"array of described", "e0 07 02 00 53 01 52 07 08", Array{Code: codeSmallUint, Descriptor: uint64(1), Elems: []any{uint32(7), uint32(8)}}},
		{"described in list", "c0 05 01 00 53 26 45", List{Described{Descriptor: uint64(0x26), Value: List{}}}},
		{"nested map", "c1 07 02 a10161 c1 01 00 ", Map{{"a", Map{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.in)
			got, n, err := DecodeValue(in)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(in) {
				t.Errorf("consumed %d of %d bytes", n, len(in))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeRefusesBadEncodings(t *testing.T) {
	var nested []byte
	for range maxDepth + 1 {
		nested = append(nested, codeDescribed, codeSmallUlong, 1)
	}
	nested = append(nested, codeNull)
	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"empty", nil, "ends early"},
		{"unknown code", unhex(t, "01"), "unknown format code 0x01"},
		{"truncated uint", unhex(t, "70 0000"), "ends 2 bytes early"},
		{"str8 past end", unhex(t, "a1 05 6869"), "ends 3 bytes early"},
		{"str32 past end", unhex(t, "b1 ffffffff 00"), "runs past the end"},
		{"bool byte 2", unhex(t, "56 02"), "neither 0 nor 1"},
		{"list8 size 0", unhex(t, "c0 00"), "no room for its count"},
		{"list32 size 3", unhex(t, "d0 00000003 000000"), "no room for its count"},
		{"list past end", unhex(t, "c0 05 01 40"), "runs past the end"},
		{"count above size", unhex(t, "c0 02 05 40"), "claims 5 elements in 1 bytes"},
		{"array32 of nulls bomb", unhex(t, "f0 00000005 ffffffff 40"), "claims 4294967295 elements"},
		{"list elements short of size", unhex(t, "c0 03 01 40 40"), "size says"},
		{"list element past size", unhex(t, "c0 02 01 a1 01 61"), "ends early"},
		{"odd map", unhex(t, "c1 02 01 40"), "odd number"},
		{"string descriptor", unhex(t, "00 a1 01 61 40"), "only ulong and symbol descriptors"},
		{"array described twice", unhex(t, "e0 05 01 00 53 01 00"), "described twice"},
		{"deep nesting", nested, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeValue(tt.in)
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestValuesRoundTrip(t *testing.T) {
	values := []any{
		nil, true, false, uint8(0), uint8(255), uint16(65535), uint32(0), uint32(math.MaxUint32), uint64(math.MaxUint64),
		int8(math.MinInt8), int16(math.MinInt16), int32(math.MinInt32), int32(math.MaxInt32), int64(math.MinInt64),
		float32(-0.25), math.Inf(1), Decimal32{9}, Decimal64{8}, Decimal128{7}, Char(0x1F600), Timestamp(-1),
		UUID{1, 2, 3}, []byte{}, []byte(strings.Repeat("b", 70000)), "", "ü", Symbol(""), Symbol("amqp:accepted:list"),
		List{}, List{nil, List{Map{}}}, Map{{[]byte{1}, List{}}, {List{}, nil}, {uint64(1), "x"}},
		Array{Code: codeSym8, Elems: []any{Symbol("a")}},
		Array{Code: codeList32, Elems: []any{List{uint32(1)}, List{}}},
		Array{Code: codeMap8, Elems: []any{Map{{"a", "b"}}}},
		Array{Code: codeArray8, Elems: []any{Array{Code: codeBool, Elems: []any{true}}}},
		Array{Code: codeUUID, Descriptor: Symbol("d"), Elems: []any{UUID{}, UUID{1}}},
		Described{Descriptor: uint64(SelectorFilterCode), Value: "a = 1"},
		Described{Descriptor: Symbol("x"), Value: Described{Descriptor: uint64(2), Value: nil}},
	}
	for _, v := range values {
		enc, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		got, n, err := DecodeValue(enc)
		if err != nil {
			t.Fatalf("%#v: decoding % x: %v", v, enc, err)
		}
		if n != len(enc) {
			t.Fatalf("%#v: consumed %d of %d", v, n, len(enc))
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip changed %#v into %#v", v, got)
		}
		again, err := AppendValue(nil, got)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("%#v re-encodes as % x, first % x (%v)", v, again, enc, err)
		}
	}
}

func TestEncodeRefusesUnsupported(t *testing.T) {
	for _, v := range []any{
		struct{}{},
		Array{Elems: []any{uint32(1), "x"}},
		Array{Code: codeSym8, Elems: []any{"not a symbol"}},
		Array{Code: codeSym8, Elems: []any{Symbol(strings.Repeat("s", 256))}},
		Described{Descriptor: "string descriptor", Value: nil},
		List{make(chan int)},
	} {
		if _, err := AppendValue(nil, v); !errors.Is(err, ErrEncode) {
			t.Errorf("%#v: error %v, want ErrEncode", v, err)
		}
	}
}

func TestMapHelpers(t *testing.T) {
	m := Map{{Symbol("a"), 1}, {"a", 2}, {[]byte("x"), 3}}
	if v, ok := m.Get(Symbol("a")); !ok || v != 1 {
		t.Fatalf("Get(Symbol a) = %v %v", v, ok)
	}
	if v, ok := m.Get("a"); !ok || v != 2 {
		t.Fatalf("Get(string a) = %v %v", v, ok)
	}
	if _, ok := m.Get([]byte("x")); ok {
		t.Fatal("Get found an incomparable key")
	}
	m.Set("a", 5)
	m.Set("b", 6)
	m.Delete(Symbol("a"))
	want := Map{{"a", 5}, {[]byte("x"), 3}, {"b", 6}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v", m)
	}
}

func TestUUIDString(t *testing.T) {
	u := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got := u.String(); got != "12345678-9abc-def0-0123-456789abcdef" {
		t.Fatal(got)
	}
}

// TestArraysOfEveryType encodes an array of each element type, with the
// code chosen by the encoder and, where one exists, the other width, and
// checks each decodes to the same elements.
func TestArraysOfEveryType(t *testing.T) {
	tests := []struct {
		elems []any
		codes []byte // acceptable explicit codes; the first is what the encoder picks
	}{
		{[]any{nil}, []byte{codeNull}},
		{[]any{true, false}, []byte{codeBool}},
		{[]any{uint8(1), uint8(2)}, []byte{codeUbyte}},
		{[]any{uint16(1), uint16(65535)}, []byte{codeUshort}},
		{[]any{uint32(1), uint32(2)}, []byte{codeSmallUint, codeUint}},
		{[]any{uint32(1), uint32(1 << 20)}, []byte{codeUint}},
		{[]any{uint64(1), uint64(2)}, []byte{codeSmallUlong, codeUlong}},
		{[]any{uint64(1), uint64(1 << 40)}, []byte{codeUlong}},
		{[]any{int8(-1), int8(1)}, []byte{codeByte}},
		{[]any{int16(-1), int16(300)}, []byte{codeShort}},
		{[]any{int32(-1), int32(1)}, []byte{codeSmallInt, codeInt}},
		{[]any{int32(-1), int32(1 << 20)}, []byte{codeInt}},
		{[]any{int64(-1), int64(1)}, []byte{codeSmallLong, codeLong}},
		{[]any{int64(-1), int64(1 << 40)}, []byte{codeLong}},
		{[]any{float32(1), float32(2)}, []byte{codeFloat}},
		{[]any{1.0, 2.0}, []byte{codeDouble}},
		{[]any{Decimal32{1}, Decimal32{2}}, []byte{codeDecimal32}},
		{[]any{Decimal64{1}}, []byte{codeDecimal64}},
		{[]any{Decimal128{1}}, []byte{codeDecimal128}},
		{[]any{Char('a'), Char('b')}, []byte{codeChar}},
		{[]any{Timestamp(1), Timestamp(2)}, []byte{codeTimestamp}},
		{[]any{UUID{1}, UUID{2}}, []byte{codeUUID}},
		{[]any{[]byte("a"), []byte{}}, []byte{codeVbin8, codeVbin32}},
		{[]any{[]byte(strings.Repeat("b", 300))}, []byte{codeVbin32}},
		{[]any{"a", ""}, []byte{codeStr8, codeStr32}},
		{[]any{Symbol("a")}, []byte{codeSym8, codeSym32}},
		{[]any{List{uint32(1)}, List{}}, []byte{codeList32, codeList8}},
		{[]any{Map{{"k", "v"}}}, []byte{codeMap32, codeMap8}},
		{[]any{Array{Code: codeSym8, Elems: []any{Symbol("x")}}}, []byte{codeArray32, codeArray8}},
	}
	for _, tt := range tests {
		codes := append([]byte{0}, tt.codes...)
		for _, code := range codes {
			enc, err := AppendValue(nil, Array{Code: code, Elems: tt.elems})
			if err != nil {
				t.Fatalf("%T code 0x%02x: %v", tt.elems[0], code, err)
			}
			got, _, err := DecodeValue(enc)
			if err != nil {
				t.Fatalf("%T code 0x%02x: % x: %v", tt.elems[0], code, enc, err)
			}
			want := code
			if want == 0 {
				want = tt.codes[0]
			}
			a := got.(Array)
			if a.Code != want || !reflect.DeepEqual(a.Elems, tt.elems) {
				t.Fatalf("%T code 0x%02x: decoded %#v", tt.elems[0], code, a)
			}
		}
	}
	// Elements that do not fit the code asked for.
	for _, a := range []Array{
		{Code: codeSmallUint, Elems: []any{uint32(256)}},
		{Code: codeSmallLong, Elems: []any{int64(200)}},
		{Code: codeSmallInt, Elems: []any{int32(200)}},
		{Code: codeUint0, Elems: []any{uint32(1)}},
		{Code: codeBool, Elems: []any{1}},
		{Code: codeList8, Elems: []any{List{strings.Repeat("x", 300)}}},
		{Code: codeMap8, Elems: []any{List{}}},
		{Code: codeNull, Elems: []any{1}},
		{Code: codeNull, Elems: []any{nil, nil}},
		{Code: codeUint0, Elems: []any{uint32(0), uint32(0)}},
		{Code: 0x01, Elems: []any{1}},
		{Elems: []any{struct{}{}}},
		{Elems: []any{Described{}}},
	} {
		if _, err := AppendValue(nil, a); !errors.Is(err, ErrEncode) {
			t.Errorf("%#v: %v", a, err)
		}
	}
	for _, elems := range [][]any{
		{true, 1}, {uint8(1), 1}, {uint16(1), 1}, {uint64(1), 1}, {int8(1), 1}, {int16(1), 1}, {int64(1), 1},
		{float32(1), 1}, {1.0, 1}, {Decimal32{}, 1}, {Decimal64{}, 1}, {Decimal128{}, 1}, {Char(1), 1},
		{Timestamp(1), 1}, {UUID{}, 1}, {[]byte{}, 1}, {"", 1}, {Symbol(""), 1}, {Map{}, 1}, {Array{}, 1}, {List{}, 1}, {nil, 1},
	} {
		if _, err := AppendValue(nil, Array{Elems: elems}); !errors.Is(err, ErrEncode) {
			t.Errorf("mixed array %#v: %v", elems, err)
		}
	}
}

func TestDescribedString(t *testing.T) {
	if s := (Described{Descriptor: uint64(0x24), Value: List{}}).String(); !strings.Contains(s, "0x0000000000000024") {
		t.Error(s)
	}
	if s := (Described{Descriptor: Symbol("x"), Value: 1}).String(); s != "described(x: 1)" {
		t.Error(s)
	}
}
