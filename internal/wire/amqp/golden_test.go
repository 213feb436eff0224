package amqp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// capturedFrame is one frame of a golden capture with what decoding it
// gave.
type capturedFrame struct {
	index   int
	typ     FrameType
	channel uint16
	raw     []byte // the frame body as the client sent it
	perf    FrameBody
	payload []byte
}

// name is the frame's performative name, for reports.
func (f capturedFrame) name() string {
	if f.perf == nil {
		return "empty"
	}
	return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", f.perf), "*amqp."))
}

// readCapture splits a captured client stream into protocol headers and
// frames, decoding every frame body.
func readCapture(t *testing.T, data []byte) ([]ProtocolHeader, []capturedFrame) {
	t.Helper()
	r := NewReader(bytes.NewReader(data), 0)
	var headers []ProtocolHeader
	var frames []capturedFrame
	expectHeader := true
	for i := 0; ; i++ {
		if expectHeader {
			h, err := r.ReadProtocolHeader()
			if err == io.EOF {
				return headers, frames
			}
			if err != nil {
				t.Fatalf("header: %v", err)
			}
			headers = append(headers, h)
			expectHeader = false
			continue
		}
		f, err := r.ReadFrame()
		if err == io.EOF {
			return headers, frames
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		cf := capturedFrame{index: len(frames), typ: f.Type, channel: f.Channel, raw: bytes.Clone(f.Body)}
		switch {
		case f.IsHeartbeat():
		case f.Type == FrameSASL:
			p, err := DecodeSASL(f.Body)
			if err != nil {
				t.Fatalf("frame %d: %v\n% x", cf.index, err, f.Body)
			}
			cf.perf = p
			// The AMQP header follows sasl-init from the client (PLAIN
			// and ANONYMOUS take one round) and sasl-outcome from the
			// server.
			switch p.(type) {
			case *SASLInit, *SASLOutcome:
				expectHeader = true
			}
		default:
			p, payload, err := DecodePerformative(f.Body)
			if err != nil {
				t.Fatalf("frame %d: %v\n% x", cf.index, err, f.Body)
			}
			cf.perf, cf.payload = p, bytes.Clone(payload)
		}
		frames = append(frames, cf)
	}
}

// The golden test sorts every frame of a capture into one of three
// classes, after decoding it and encoding the result with this package:
//
//   - identical: our bytes are the client's bytes.
//   - same form: the bytes differ only in encoding choices the
//     specification leaves free: the 32-bit forms of lists, maps and
//     arrays where the 8-bit forms fit (go-amqp, rhea), full-width
//     integers where a compact form exists, and trailing null fields of a
//     composite (proton), which this package leaves out. canonical()
//     erases exactly those differences.
//   - semantically equal: the client also writes a field's default value
//     explicitly (proton writes durable 0, expiry-policy session-end,
//     timeout 0, dynamic false in every terminus; rhea writes settled
//     false and more false in transfers, closed false in detach), where
//     this package writes null, or sends a "multiple" field as a single
//     value where this package writes an array (proton's coordinator
//     capabilities). Decoding our bytes gives the same struct.
//
// goldenExpectations lists, per capture, the performatives in the last
// class; any other performative must be identical or the same form. The
// messages (transfer payloads) must all be identical or the same form.
var goldenExpectations = map[string][]string{
	"proton-receive": {"attach", "disposition", "flow"},
	"proton-send":    {"attach"},
	"proton-tx":      {"attach"}, // also: the coordinator's capabilities as one symbol, not an array
	"rhea-receive":   {"detach"},
	"rhea-send":      {"transfer"},
}

// canonical re-encodes b (one or more values, e.g. message sections) in
// the compact forms this package writes, with the trailing nulls of every
// described list removed.
func canonical(t *testing.T, b []byte) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		v, n, err := DecodeValue(b)
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		if out, err = AppendValue(out, trimComposites(v)); err != nil {
			t.Fatalf("canonical: %v", err)
		}
		b = b[n:]
	}
	return out
}

func trimComposites(v any) any {
	switch x := v.(type) {
	case Described:
		if l, ok := x.Value.(List); ok {
			for len(l) > 0 && l[len(l)-1] == nil {
				l = l[:len(l)-1]
			}
			x.Value = l
		}
		x.Value = trimComposites(x.Value)
		return x
	case List:
		out := make(List, len(x))
		for i, e := range x {
			out[i] = trimComposites(e)
		}
		return out
	case Map:
		out := make(Map, len(x))
		for i, e := range x {
			out[i] = MapEntry{Key: trimComposites(e.Key), Value: trimComposites(e.Value)}
		}
		return out
	}
	return v
}

func TestGoldenCaptures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden captures in " + goldenDir)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".bin")
		// The server side of a capture was encoded by this package: it must
		// re-encode byte for byte.
		ours := strings.HasSuffix(name, ".server")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			headers, frames := readCapture(t, data)
			if len(headers) == 0 || headers[len(headers)-1] != HeaderAMQP {
				t.Fatalf("headers %v", headers)
			}
			nonCanonical := map[string]bool{}
			assemblers := map[[2]uint32]*Assembler{}
			for _, f := range frames {
				if f.perf == nil {
					continue
				}
				enc, err := AppendPerformative(nil, f.perf)
				if err != nil {
					t.Fatalf("frame %d (%s): %v", f.index, f.name(), err)
				}
				clientPerf := f.raw[:len(f.raw)-len(f.payload)]
				if ours && !bytes.Equal(enc, clientPerf) {
					t.Fatalf("frame %d (%s) that this package encoded re-encodes differently\nfirst % x\nnow   % x", f.index, f.name(), clientPerf, enc)
				}
				if !bytes.Equal(canonical(t, enc), canonical(t, clientPerf)) {
					nonCanonical[f.name()] = true
					// Semantically equal: our encoding decodes to the same value.
					var back any
					if f.typ == FrameSASL {
						back, err = DecodeSASL(enc)
					} else {
						back, _, err = DecodePerformative(enc)
					}
					if err != nil || !reflect.DeepEqual(back, f.perf) {
						t.Fatalf("frame %d (%s): re-encoding changed it (%v)\nclient % x\nours   % x\n%#v\n%#v", f.index, f.name(), err, clientPerf, enc, f.perf, back)
					}
				}
				tr, ok := f.perf.(*Transfer)
				if !ok {
					continue
				}
				key := [2]uint32{uint32(f.channel), tr.Handle}
				if assemblers[key] == nil {
					assemblers[key] = &Assembler{}
				}
				d, err := assemblers[key].Add(tr, f.payload)
				if err != nil {
					t.Fatalf("frame %d: %v", f.index, err)
				}
				if d != nil && !d.Aborted {
					checkGoldenMessage(t, f.index, d.Payload, ours)
				}
			}
			var got []string
			for n := range nonCanonical {
				got = append(got, n)
			}
			sort.Strings(got)
			want := goldenExpectations[name]
			if !slices.Equal(got, want) {
				t.Errorf("performatives that re-encode to other values than the client's: %q, expected %q", got, want)
			}
		})
	}
}

// checkGoldenMessage parses a client's message, checks its sections
// survive a decode and re-encode, and that delivering it unchanged is
// byte-identical.
func checkGoldenMessage(t *testing.T, frame int, payload []byte, ours bool) {
	t.Helper()
	m, err := ParseMessage(payload)
	if err != nil {
		t.Fatalf("frame %d: message: %v\n% x", frame, err, payload)
	}
	s, err := m.Sections()
	if err != nil {
		t.Fatalf("frame %d: sections: %v", frame, err)
	}
	enc, err := s.Encode()
	if err != nil {
		t.Fatalf("frame %d: encode: %v", frame, err)
	}
	if ours && !bytes.Equal(enc, payload) {
		t.Fatalf("frame %d: a message this package encoded re-encodes differently", frame)
	}
	if !bytes.Equal(canonical(t, enc), canonical(t, payload)) {
		t.Fatalf("frame %d: message re-encodes to other values\nclient % x\nours   % x", frame, payload, enc)
	}
	m2, err := ParseMessage(enc)
	if err != nil {
		t.Fatalf("frame %d: our encoding: %v", frame, err)
	}
	s2, err := m2.Sections()
	if err != nil || !reflect.DeepEqual(s, s2) {
		t.Fatalf("frame %d: sections changed by re-encoding (%v)\n%#v\n%#v", frame, err, s, s2)
	}
	if _, hasDA := m.Span(SectionDeliveryAnnotations); !hasDA {
		h := m.Header()
		if got := m.AppendForDelivery(nil, h.DeliveryCount, h.FirstAcquirer); !bytes.Equal(got, payload) {
			t.Fatalf("frame %d: unchanged delivery is not byte-identical", frame)
		}
	}
}
