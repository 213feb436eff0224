package openwire

import (
	"bytes"
	"errors"
	"testing"
)

func TestModifiedUTF8(t *testing.T) {
	tests := []struct {
		name string
		s    string
		java []byte // what DataOutput.writeUTF writes, without the length
	}{
		{"empty", "", []byte{}},
		{"ascii", "queue.A", []byte("queue.A")},
		{"NUL in two bytes", "a\x00b", []byte{'a', 0xC0, 0x80, 'b'}},
		{"two-byte", "é", []byte{0xC3, 0xA9}},
		{"three-byte BMP", "€", []byte{0xE2, 0x82, 0xAC}},
		{"U+FFFF", "\uffff", []byte{0xEF, 0xBF, 0xBF}},
		{"supplementary as a surrogate pair", "😀", []byte{0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}},
		{"highest code point", "\U0010FFFF", []byte{0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF}},
		{"lone high surrogate kept", "x\xed\xa0\xbdy", []byte{'x', 0xED, 0xA0, 0xBD, 'y'}},
		{"lone low surrogate kept", "\xed\xb8\x80", []byte{0xED, 0xB8, 0x80}},
		// Long strings take the eight-bytes-at-a-time path first.
		{"long ascii", "ID:tandem-perf-0123456789:1", []byte("ID:tandem-perf-0123456789:1")},
		{"NUL in the second word", "abcdefghij\x00kl", []byte("abcdefghij\xc0\x80kl")},
		{"NUL ending the first word", "abcdefg\x00hijkl", []byte("abcdefg\xc0\x80hijkl")},
		{"NUL in the tail", "abcdefgh\x00", []byte("abcdefgh\xc0\x80")},
		{"two-byte in the second word", "abcdefghijklé", []byte("abcdefghijkl\xc3\xa9")},
		{"0x7F and 0x01 are plain", "\x7f\x01\x7f\x01\x7f\x01\x7f\x01\x7f", []byte("\x7f\x01\x7f\x01\x7f\x01\x7f\x01\x7f")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendMUTF8(nil, tc.s)
			if !bytes.Equal(got, tc.java) {
				t.Fatalf("encode %q = %x, want %x", tc.s, got, tc.java)
			}
			back, err := decodeMUTF8(tc.java)
			if err != nil || back != tc.s {
				t.Fatalf("decode %x = %q, %v; want %q", tc.java, back, err, tc.s)
			}
		})
	}
}

func TestModifiedUTF8Lenient(t *testing.T) {
	// What Java's readUTF also accepts, and standard four-byte UTF-8.
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"raw NUL", []byte{'a', 0, 'b'}, "a\x00b"},
		{"over-long A", []byte{0xC1, 0x81}, "A"},
		{"three-byte over-long", []byte{0xE0, 0x81, 0x81}, "A"},
		{"standard four-byte", []byte{0xF0, 0x9F, 0x98, 0x80}, "😀"},
	} {
		got, err := decodeMUTF8(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestModifiedUTF8Invalid(t *testing.T) {
	for _, in := range [][]byte{
		{0x80},                   // a continuation byte first
		{0xC3},                   // truncated two-byte
		{0xC3, 0x41},             // bad continuation
		{0xE2, 0x82},             // truncated three-byte
		{0xE2, 0x41, 0x82},       // bad continuation
		{0xF0, 0x9F, 0x98},       // truncated four-byte
		{0xF0, 0x80, 0x80, 0x80}, // four-byte below U+10000
		{0xF4, 0x90, 0x80, 0x80}, // above U+10FFFF
		{0xF8, 0x80, 0x80, 0x80, 0x80},
		{0xFF},
	} {
		if s, err := decodeMUTF8(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x decoded to %q, %v", in, s, err)
		}
	}
}

func TestModifiedUTF8InvalidGoStrings(t *testing.T) {
	// Bytes Java could not have produced become U+FFFD.
	if got := appendMUTF8(nil, "a\xffb"); !bytes.Equal(got, []byte{'a', 0xEF, 0xBF, 0xBD, 'b'}) {
		t.Errorf("got %x", got)
	}
}

func TestJavaLength(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "é€": 2, "😀": 2, "a\x00": 2, "\xed\xa0\xbd": 1, "\xff": 1} {
		if got := javaLength(s); got != want {
			t.Errorf("javaLength(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestStringLimit(t *testing.T) {
	// writeUTF refuses more than 65535 bytes; so does the encoder, before
	// writing anything.
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{alphabet(65535), true},
		{alphabet(65536), false},
		{string(bytes.Repeat([]byte("€"), 21845)), true}, // 65535 bytes
		{string(bytes.Repeat([]byte("€"), 21846)), false},
		{string(bytes.Repeat([]byte{0}, 32768)), false}, // NUL takes two bytes
	} {
		frame, err := Marshal(&ConnectionInfo{ConnectionID: &ConnectionID{Value: "c"}, ClientID: tc.s})
		if tc.ok != (err == nil) {
			t.Errorf("a %d-byte string: %v", len(tc.s), err)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || frame != nil) {
			t.Errorf("error %v with %d bytes", err, len(frame))
		}
	}
}
