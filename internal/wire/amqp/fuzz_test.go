package amqp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets are seeded with what real clients sent (the golden
// captures in testdata/golden): whole streams for the frame reader, frame
// bodies for the performative decoders, messages for the message parser,
// and every one of those for the type decoder.

// goldenSeeds returns the captured streams, frame bodies and assembled
// messages.
func goldenSeeds(f *testing.F) (streams, bodies, messages [][]byte) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.bin"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden captures to seed from: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		streams = append(streams, data)
		r := NewReader(bytes.NewReader(data), 0)
		if _, err := r.ReadProtocolHeader(); err != nil {
			f.Fatal(err)
		}
		asm := map[[2]uint32]*Assembler{}
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				break // a header in the middle ends the walk; enough seeds
			}
			bodies = append(bodies, bytes.Clone(fr.Body))
			var tr Transfer
			payload, err := DecodeTransfer(fr.Body, &tr)
			if err != nil {
				continue
			}
			key := [2]uint32{uint32(fr.Channel), tr.Handle}
			if asm[key] == nil {
				asm[key] = &Assembler{}
			}
			if d, err := asm[key].Add(&tr, payload); err == nil && d != nil {
				messages = append(messages, d.Payload)
			}
		}
	}
	return streams, bodies, messages
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader. Properties: no
// panic; every error wraps a sentinel or is an EOF; every frame read back
// from its own encoding is the same frame; and decoding its body never
// panics.
func FuzzReadFrame(f *testing.F) {
	streams, _, _ := goldenSeeds(f)
	for _, s := range streams {
		f.Add(s[HeaderSize:]) // past the first protocol header
	}
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 4096)
		for range 64 {
			fr, err := r.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFraming) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected kind of error: %v", err)
				}
				return
			}
			enc := append([]byte{0, 0, 0, 0, 2, byte(fr.Type), byte(fr.Channel >> 8), byte(fr.Channel)}, fr.Body...)
			patchFrameSize(enc)
			back, n, err := ParseFrame(enc, 0)
			if err != nil || n != len(enc) || back.Type != fr.Type || back.Channel != fr.Channel || !bytes.Equal(back.Body, fr.Body) {
				t.Fatalf("frame %+v re-read as %+v (%d, %v)", fr, back, n, err)
			}
			if fr.Type == FrameSASL {
				_, _ = DecodeSASL(fr.Body)
			} else if !fr.IsHeartbeat() {
				_, _, _ = DecodePerformative(fr.Body)
			}
		}
	})
}

// FuzzDecodeValue: no panic; a decoded value re-encodes, and the
// re-encoding is a fixed point (decoding and encoding it again gives the
// same bytes). Comparing bytes rather than values keeps NaN out of the way.
func FuzzDecodeValue(f *testing.F) {
	_, bodies, messages := goldenSeeds(f)
	for _, b := range append(bodies, messages...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := DecodeValue(data)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		if n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		enc, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("decoded %#v from % x, cannot encode it: %v", v, data[:n], err)
		}
		v2, n2, err := DecodeValue(enc)
		if err != nil || n2 != len(enc) {
			t.Fatalf("our encoding % x of %#v does not decode (%d, %v)", enc, v, n2, err)
		}
		enc2, err := AppendValue(nil, v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point:\n% x\n% x (%v)", enc, enc2, err)
		}
	})
}

// FuzzDecodePerformative: no panic; errors wrap the codec's sentinels; a
// decoded performative (AMQP or SASL) re-encodes to bytes that are a fixed
// point of decode and encode.
func FuzzDecodePerformative(f *testing.F) {
	_, bodies, _ := goldenSeeds(f)
	for _, b := range bodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(p FrameBody, decode func([]byte) (FrameBody, error)) {
			enc, err := AppendPerformative(nil, p)
			if err != nil {
				t.Fatalf("decoded %#v, cannot encode it: %v", p, err)
			}
			p2, err := decode(enc)
			if err != nil {
				t.Fatalf("our encoding of %#v does not decode: %v\n% x", p, err, enc)
			}
			enc2, err := AppendPerformative(nil, p2)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding is not a fixed point:\n% x\n% x (%v)", enc, enc2, err)
			}
		}
		sentinel := func(err error) {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrUnknownPerformative) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
		}
		if p, _, err := DecodePerformative(data); err == nil {
			check(p, func(b []byte) (FrameBody, error) { p, _, err := DecodePerformative(b); return p, err })
		} else {
			sentinel(err)
		}
		if p, err := DecodeSASL(data); err == nil {
			check(p, func(b []byte) (FrameBody, error) { return DecodeSASL(b) })
		} else {
			sentinel(err)
		}
		var tr Transfer
		if _, err := DecodeTransfer(data, &tr); err != nil {
			sentinel(err)
		}
	})
}

// FuzzParseMessage: no panic; a message that parses and decodes
// re-encodes to a fixed point; delivering it rewrites only the header and
// drops only the delivery-annotations.
func FuzzParseMessage(f *testing.F) {
	_, _, messages := goldenSeeds(f)
	for _, m := range messages {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		// Delivery: count 3 then back to the original values.
		redelivered := m.AppendForDelivery(nil, 3, true)
		m2, err := ParseMessage(redelivered)
		if err != nil {
			t.Fatalf("redelivered message does not parse: %v", err)
		}
		if h := m2.Header(); h.DeliveryCount != 3 || !h.FirstAcquirer {
			t.Fatalf("header after rewrite: %+v", h)
		}
		if _, ok := m2.Span(SectionDeliveryAnnotations); ok {
			t.Fatal("delivery-annotations survived delivery")
		}
		if _, hasDA := m.Span(SectionDeliveryAnnotations); !hasDA {
			h := m.Header()
			if again := m.AppendForDelivery(nil, h.DeliveryCount, h.FirstAcquirer); !bytes.Equal(again, data) {
				t.Fatal("an unchanged delivery is not byte-identical")
			}
		}
		s, err := m.Sections()
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		enc, err := s.Encode()
		if err != nil {
			t.Fatalf("decoded sections do not encode: %v", err)
		}
		m3, err := ParseMessage(enc)
		if err != nil {
			t.Fatalf("our encoding does not parse: %v\n% x", err, enc)
		}
		s3, err := m3.Sections()
		if err != nil {
			t.Fatalf("our encoding does not decode: %v", err)
		}
		enc3, err := s3.Encode()
		if err != nil || !bytes.Equal(enc, enc3) {
			t.Fatalf("encoding is not a fixed point:\n% x\n% x (%v)", enc, enc3, err)
		}
	})
}
