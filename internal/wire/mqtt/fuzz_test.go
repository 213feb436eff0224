package mqtt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets are seeded with the golden streams captured from real
// clients (testdata/golden), so the fuzzer starts from packets that
// mosquitto and paho really send.

// fuzzModes are the reader configurations a fuzz input's first byte
// selects: the server side (which learns the version from CONNECT) or the
// client side of each version.
var fuzzModes = []ReaderOptions{
	{Role: ServerSide},
	{Role: ClientSide, Version: V31},
	{Role: ClientSide, Version: V311},
	{Role: ClientSide, Version: V5},
}

func addGoldenSeeds(f *testing.F, add func(mode byte, data []byte)) {
	for _, e := range loadManifest(f) {
		c2s, err := os.ReadFile(filepath.Join("testdata/golden", e.C2S))
		if err != nil {
			f.Fatal(err)
		}
		s2c, err := os.ReadFile(filepath.Join("testdata/golden", e.S2C))
		if err != nil {
			f.Fatal(err)
		}
		add(0, c2s)
		mode := byte(2)
		switch Version(e.Version) {
		case V31:
			mode = 1
		case V5:
			mode = 3
		}
		add(mode, s2c)
	}
}

// FuzzReader feeds arbitrary streams to the Reader in every role and
// version. Properties: it never panics; it fails only with an *Error, a
// clean io.EOF, or an error wrapping io.ErrUnexpectedEOF; every packet it
// returns is accepted by the writer and encodes to exactly the bytes it
// was read from, so decoding is exact and the writer and reader agree on
// every rule.
func FuzzReader(f *testing.F) {
	addGoldenSeeds(f, func(mode byte, data []byte) { f.Add(append([]byte{mode}, data...)) })
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		opts := fuzzModes[int(data[0])%len(fuzzModes)]
		// Small limits, so that the fuzzer reaches them.
		opts.MaxPacketSize = 4096
		opts.BufferSize = 16
		stream := data[1:]
		r := NewReader(bytes.NewReader(stream), opts)
		off := 0
		for range 64 {
			p, err := r.ReadPacket()
			if err != nil {
				var e *Error
				switch {
				case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
				case errors.As(err, &e):
					if e.Reason < 0x80 || e.Kind == nil {
						t.Fatalf("error without a failure reason code: %#v", e)
					}
				default:
					t.Fatalf("unexpected kind of error: %v", err)
				}
				return
			}
			enc, err := AppendPacket(nil, p, r.Version())
			if err != nil {
				t.Fatalf("the reader accepted %v %#v but the writer refuses it: %v", p.Type(), p, err)
			}
			end := off + len(enc)
			if end > len(stream) || !bytes.Equal(enc, stream[off:end]) {
				t.Fatalf("%v re-encodes differently\n got: % x\nwant: % x", p.Type(), enc, stream[off:min(end, len(stream))])
			}
			off = end
		}
	})
}

// whereModes are the property lists a FuzzProperties input's first byte
// selects: the will properties, then each packet type.
var whereModes = func() []uint32 {
	m := []uint32{whereWill}
	for t := TypeConnect; t <= TypeAuth; t++ {
		m = append(m, 1<<t)
	}
	return m
}()

// FuzzProperties feeds arbitrary property blocks (a property length and
// properties) to the property decoder for every packet type. Properties:
// no panic; failures are malformed packets or protocol errors; a block it
// accepts passes the writer's property checks and encodes back to the
// same bytes.
func FuzzProperties(f *testing.F) {
	addGoldenSeeds(f, func(_ byte, data []byte) {
		// Seed with the property blocks of the golden packets.
		for _, opts := range fuzzModes {
			r := NewReader(bytes.NewReader(data), opts)
			for {
				p, err := r.ReadPacket()
				if err != nil {
					break
				}
				for _, ps := range packetProperties(p) {
					for i, w := range whereModes {
						if w == whereFor(p, ps) {
							f.Add(append([]byte{byte(i)}, appendProperties(nil, ps, propertiesLen(ps))...))
						}
					}
				}
			}
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		where := whereModes[int(data[0])%len(whereModes)]
		block := data[1:]
		d := &decoder{b: block}
		ps := decodeProperties(d, where)
		if d.err != nil {
			if !errors.Is(d.err, ErrMalformed) && !errors.Is(d.err, ErrProtocol) {
				t.Fatalf("unexpected kind of error: %v", d.err)
			}
			return
		}
		if e := checkProperties(ps, where); e != nil {
			t.Fatalf("decoded %v but the writer refuses them: %v", ps, e)
		}
		enc := appendProperties(nil, ps, propertiesLen(ps))
		if !bytes.Equal(enc, block[:d.off]) {
			t.Fatalf("re-encoded\n % x\nwant\n % x", enc, block[:d.off])
		}
	})
}

// packetProperties returns the property lists a packet carries.
func packetProperties(p Packet) []Properties {
	switch p := p.(type) {
	case *Connect:
		out := []Properties{p.Properties}
		if p.Will != nil {
			out = append(out, p.Will.Properties)
		}
		return out
	case *Connack:
		return []Properties{p.Properties}
	case *Publish:
		return []Properties{p.Properties}
	case *Puback:
		return []Properties{p.Properties}
	case *Pubrec:
		return []Properties{p.Properties}
	case *Pubrel:
		return []Properties{p.Properties}
	case *Pubcomp:
		return []Properties{p.Properties}
	case *Subscribe:
		return []Properties{p.Properties}
	case *Suback:
		return []Properties{p.Properties}
	case *Unsubscribe:
		return []Properties{p.Properties}
	case *Unsuback:
		return []Properties{p.Properties}
	case *Disconnect:
		return []Properties{p.Properties}
	case *Auth:
		return []Properties{p.Properties}
	}
	return nil
}

// whereFor returns the where bit of a property list found in p.
func whereFor(p Packet, ps Properties) uint32 {
	if c, ok := p.(*Connect); ok && c.Will != nil && len(ps) > 0 && len(c.Will.Properties) > 0 && &ps[0] == &c.Will.Properties[0] {
		return whereWill
	}
	return 1 << p.Type()
}
