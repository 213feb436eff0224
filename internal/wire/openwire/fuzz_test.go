package openwire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// The fuzz targets are seeded with the golden frames captured from the
// real client and broker, and with the property maps and bodies inside
// them.

func seedFrames(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, b := range goldenFiles(f) {
		out = append(out, b)
	}
	return out
}

// isDecodeError reports whether err is one a decoder may return for bad
// input held in memory.
func isDecodeError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupportedType)
}

// FuzzUnmarshal decodes arbitrary frames. The properties: no panic; only
// the decoding sentinels as errors; and whatever decodes encodes again
// (unless a string grew past 65535 bytes on re-encoding, which lenient
// decoding of four-byte UTF-8 allows) into a frame that decodes and encodes
// to itself.
func FuzzUnmarshal(f *testing.F) {
	for _, b := range seedFrames(f) {
		f.Add(b, false)
	}
	f.Add([]byte{byte(TypeExceptionResponse), 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 'a', 0, 0, 1, 1, 0, 1, 'b', 1, 0, 1, 'c', 1, 0, 1, 'd', 0, 0, 0, 1, 0}, true)
	f.Fuzz(func(t *testing.T, frame []byte, stackTrace bool) {
		ds, err := unmarshalFrame(frame, stackTrace)
		// A Reader with Reuse decodes into its arena: it must accept and
		// refuse the same frames, into commands that encode the same.
		reused := decoder{stackTrace: stackTrace, arena: new(arena), recent: new(recentStrings)}
		rds, rerr := reused.frame(frame)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("decoding without reuse: %v; with reuse: %v", err, rerr)
		}
		if err != nil {
			if !isDecodeError(err) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		once, err := appendBody(nil, ds, stackTrace)
		if rOnce, rerr := appendBody(nil, rds, stackTrace); !bytes.Equal(once, rOnce) || (err == nil) != (rerr == nil) {
			t.Fatalf("a %v decoded with reuse encodes differently: %v, %v\n%x\n%x", ds.DataType(), err, rerr, once, rOnce)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("a decoded %v does not encode: %v", ds.DataType(), err)
			}
			return
		}
		ds2, err := unmarshalFrame(once, stackTrace)
		if err != nil {
			t.Fatalf("a re-encoded %v does not decode: %v\n%x", ds.DataType(), err, once)
		}
		twice, err := appendBody(nil, ds2, stackTrace)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable for a %v: %v\n%x\n%x", ds.DataType(), err, once, twice)
		}
	})
}

// FuzzReader feeds an arbitrary byte stream to a Reader with small limits,
// with and without Reuse. The properties: no panic, and only stream or
// decoding errors.
func FuzzReader(f *testing.F) {
	for i, b := range seedFrames(f) {
		sized := append([]byte{byte(len(b) >> 24), byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...)
		f.Add(append(sized, sized...), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, stream []byte, reuse bool) {
		r := NewReader(bytes.NewReader(stream), ReaderOptions{MaxFrameSize: 4096, BufferSize: 64, Reuse: reuse})
		for range 64 {
			_, err := r.ReadCommand()
			switch {
			case err == nil, isDecodeError(err):
			case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrFrameTooLarge):
				return
			default:
				t.Fatalf("unexpected kind of error: %v", err)
			}
		}
	})
}

// FuzzDecodeMap decodes arbitrary primitive maps. Whatever decodes
// re-encodes into a map that decodes and encodes to itself.
func FuzzDecodeMap(f *testing.F) {
	for _, b := range seedFrames(f) {
		ds, err := Unmarshal(b)
		if err != nil {
			continue
		}
		switch x := ds.(type) {
		case *Message:
			addMapSeeds(f, x)
		case *MessageDispatch:
			if x.Message != nil {
				addMapSeeds(f, x.Message)
			}
		case *WireFormatInfo:
			f.Add(x.MarshalledProperties)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMap(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		once, err := AppendMap(nil, m)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("a decoded map does not encode: %v", err)
			}
			return
		}
		m2, err := DecodeMap(once)
		if err != nil {
			t.Fatalf("a re-encoded map does not decode: %v", err)
		}
		twice, _ := AppendMap(nil, m2)
		if !bytes.Equal(once, twice) {
			t.Fatalf("map encoding is not stable\n%x\n%x", once, twice)
		}
		for _, v := range m.All() {
			_ = v.String() // never panics, whatever the type
		}
	})
}

func addMapSeeds(f *testing.F, m *Message) {
	if m.MarshalledProperties != nil {
		f.Add(m.MarshalledProperties)
	}
	if m.Kind == TypeMapMessage && !m.Compressed && m.Content != nil {
		f.Add(m.Content)
	}
}

// FuzzDecodeStream decodes arbitrary StreamMessage bodies, with the same
// properties as FuzzDecodeMap.
func FuzzDecodeStream(f *testing.F) {
	for _, b := range seedFrames(f) {
		ds, err := Unmarshal(b)
		if err != nil {
			continue
		}
		if m, ok := ds.(*Message); ok && m.Kind == TypeStreamMessage && !m.Compressed {
			f.Add(m.Content)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := DecodeStream(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		once, err := AppendStream(nil, vs)
		if err != nil {
			t.Fatalf("a decoded stream does not encode: %v", err)
		}
		// Stream values keep their bytes, so the body comes back exactly.
		if !bytes.Equal(once, b) {
			t.Fatalf("stream body changed\n%x\n%x", b, once)
		}
	})
}

// FuzzModifiedUTF8 converts arbitrary bytes both ways: as modified UTF-8
// to decode, and as a Go string to encode. Decoding is stable after one
// round, and any Go string survives a round trip up to the replacement of
// bytes that are not UTF-8.
func FuzzModifiedUTF8(f *testing.F) {
	f.Add([]byte("a\x00é€😀\xed\xa0\xbd\xff"))
	f.Add([]byte{0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeMUTF8(b); err == nil {
			enc := appendMUTF8(nil, s)
			s2, err := decodeMUTF8(enc)
			if err != nil || s2 != s {
				t.Fatalf("decoded %q, re-encoded %x, decoded again %q, %v", s, enc, s2, err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected kind of error: %v", err)
		}
		s := string(b)
		enc := appendMUTF8(nil, s)
		if bytes.IndexByte(enc, 0) >= 0 {
			t.Fatalf("a raw NUL in %x", enc)
		}
		back, err := decodeMUTF8(enc)
		if err != nil {
			t.Fatalf("%q encoded to %x, which does not decode: %v", s, enc, err)
		}
		if again := appendMUTF8(nil, back); !bytes.Equal(again, enc) {
			t.Fatalf("%q: %x then %x", s, enc, again)
		}
		if javaLength(back) != javaLength(s) {
			t.Fatalf("java length %d became %d", javaLength(s), javaLength(back))
		}
		// The standard UTF-8 written for property values reads back as
		// the same text.
		std, err := decodeMUTF8(appendJavaStandardUTF8(nil, s))
		if err != nil || std != back {
			t.Fatalf("%q in standard UTF-8 reads back as %q, %v; want %q", s, std, err, back)
		}
	})
}
