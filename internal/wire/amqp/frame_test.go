package amqp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		in   string
		want Detection
	}{
		{"", DetectNeedMore},
		{"A", DetectNeedMore},
		{"AMQ", DetectNeedMore},
		{"AMQP\x00\x01\x00", DetectNeedMore},
		{"AMQP\x00\x01\x00\x00", DetectAMQP},
		{"AMQP\x03\x01\x00\x00", DetectSASL},
		{"AMQP\x02\x01\x00\x00", DetectTLS},
		{"AMQP\x00\x00\x09\x01", DetectAMQP091},
		{"AMQP\x01\x01\x00\x0a", DetectOtherVersion},
		{"AMQP\x00\x01\x00\x00trailing frames", DetectAMQP},
		{"CONNECT\n", DetectNotAMQP},
		{"AMX", DetectNotAMQP},
		{"\x16\x03\x01", DetectNotAMQP},
	}
	for _, tt := range tests {
		if got := Detect([]byte(tt.in)); got != tt.want {
			t.Errorf("Detect(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestProtocolHeaders(t *testing.T) {
	for h, want := range map[ProtocolHeader]string{
		HeaderAMQP: "AMQP\x00\x01\x00\x00",
		HeaderSASL: "AMQP\x03\x01\x00\x00",
		HeaderTLS:  "AMQP\x02\x01\x00\x00",
	} {
		b := h.Bytes()
		if string(b[:]) != want {
			t.Errorf("%s: % x", h, b)
		}
		r := NewReader(strings.NewReader(want), 0)
		got, err := r.ReadProtocolHeader()
		if err != nil || got != h || !got.Is10() {
			t.Errorf("%s read back as %s (%v)", h, got, err)
		}
	}
	if _, err := NewReader(strings.NewReader("HTTP/1.1"), 0).ReadProtocolHeader(); !errors.Is(err, ErrBadHeader) {
		t.Errorf("HTTP read as a header: %v", err)
	}
	if _, err := NewReader(strings.NewReader("AMQP"), 0).ReadProtocolHeader(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short header: %v", err)
	}
}

func TestReaderFrames(t *testing.T) {
	var stream []byte
	stream, err := AppendFrame(stream, 7, &Begin{NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stream = AppendHeartbeat(stream)
	stream, _ = AppendFrame(stream, 0, &SASLOutcome{Code: SASLOK}, nil)
	// A frame with an extended header (data offset 3): the four extra
	// bytes must be skipped.
	body, _ := AppendPerformative(nil, &Close{})
	ext := append([]byte{0, 0, 0, byte(12 + len(body)), 3, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef}, body...)
	stream = append(stream, ext...)
	large := bytes.Repeat([]byte{'x'}, DefaultReadBufferSize+100)
	stream, _ = AppendFrame(stream, 1, &Transfer{Handle: 2, DeliveryID: Some(uint32(0)), DeliveryTag: []byte{1}}, large)

	r := NewReader(bytes.NewReader(stream), 0)
	f, err := r.ReadFrame()
	if err != nil || f.Type != FrameAMQP || f.Channel != 7 {
		t.Fatalf("begin frame: %+v %v", f, err)
	}
	p, _, err := DecodePerformative(f.Body)
	if err != nil || p.(*Begin).OutgoingWindow != 3 {
		t.Fatalf("begin: %#v %v", p, err)
	}
	if f, err = r.ReadFrame(); err != nil || !f.IsHeartbeat() {
		t.Fatalf("heartbeat: %+v %v", f, err)
	}
	if f, err = r.ReadFrame(); err != nil || f.Type != FrameSASL {
		t.Fatalf("sasl frame: %+v %v", f, err)
	}
	if s, err := DecodeSASL(f.Body); err != nil || s.(*SASLOutcome).Code != SASLOK {
		t.Fatalf("sasl outcome: %#v %v", s, err)
	}
	if f, err = r.ReadFrame(); err != nil || f.Channel != 9 || !bytes.Equal(f.Body, body) {
		t.Fatalf("extended header frame: %+v %v", f, err)
	}
	if f, err = r.ReadFrame(); err != nil || f.Channel != 1 {
		t.Fatalf("large frame: %+v %v", f, err)
	}
	var tr Transfer
	payload, err := DecodeTransfer(f.Body, &tr)
	if err != nil || !bytes.Equal(payload, large) {
		t.Fatalf("large payload: %d bytes, %v", len(payload), err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

// failingReader returns its data, then fails the test if read again: the
// reader must decide from the header alone.
type failingReader struct {
	t    *testing.T
	data []byte
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		f.t.Error("reader read past the frame header")
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReaderRefusesBeforeAllocating(t *testing.T) {
	// A header announcing 4 GiB: refused from the header, without reading
	// or allocating the body.
	r := NewReader(&failingReader{t: t, data: []byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0}}, 1<<20)
	_, err := r.ReadFrame()
	if !errors.Is(err, ErrFrameTooLarge) || ConditionFor(err) != ErrorFramingError {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "4294967295") {
		t.Fatalf("error %q does not give the size", err)
	}
}

func TestReaderFramingErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		is   error
	}{
		{"size below 8", []byte{0, 0, 0, 7, 2, 0, 0, 0}, ErrFraming},
		{"doff below 2", []byte{0, 0, 0, 8, 1, 0, 0, 0}, ErrFraming},
		{"doff past the end", []byte{0, 0, 0, 8, 3, 0, 0, 0}, ErrFraming},
		{"unknown type", []byte{0, 0, 0, 8, 2, 5, 0, 0}, ErrFraming},
		{"over the limit", []byte{0, 0, 2, 1, 2, 0, 0, 0}, ErrFrameTooLarge},
		{"eof in header", []byte{0, 0, 0}, io.ErrUnexpectedEOF},
		{"eof in body", []byte{0, 0, 0, 10, 2, 0, 0, 0, 1}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), 512).ReadFrame()
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
		})
	}
}

func TestParseFrame(t *testing.T) {
	enc, _ := AppendFrame(nil, 3, &End{}, nil)
	for i := range len(enc) {
		if _, n, err := ParseFrame(enc[:i], 0); n != 0 || err != nil {
			t.Fatalf("prefix of %d bytes: n=%d err=%v", i, n, err)
		}
	}
	f, n, err := ParseFrame(append(enc, 0xff), 0)
	if err != nil || n != len(enc) || f.Channel != 3 {
		t.Fatalf("%+v %d %v", f, n, err)
	}
	if _, _, err := ParseFrame(enc, 9); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("limit not applied: %v", err)
	}
}

type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("broken pipe")
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.WriteProtocolHeader(HeaderAMQP)
	if err := w.WriteFrame(0, &Open{ContainerID: "tandem"}, nil); err != nil {
		t.Fatal(err)
	}
	w.WriteHeartbeat()
	if out.Len() != 0 {
		t.Fatal("the writer wrote before Flush")
	}
	buffered := w.Buffered()
	w.SetMaxFrameSize(MinMaxFrameSize)
	big := &Open{ContainerID: strings.Repeat("c", 600)}
	if err := w.WriteFrame(0, big, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("oversized frame: %v", err)
	}
	if err := w.WriteFrame(0, &Attach{Target: &Target{}, Coordinator: &Coordinator{}}, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("bad attach: %v", err)
	}
	if w.Buffered() != buffered {
		t.Fatal("a refused frame left bytes in the buffer")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&out, 0)
	if h, err := r.ReadProtocolHeader(); err != nil || h != HeaderAMQP {
		t.Fatalf("%v %v", h, err)
	}
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := DecodePerformative(f.Body)
	if err != nil || !reflect.DeepEqual(p, &Open{ContainerID: "tandem"}) {
		t.Fatalf("%#v %v", p, err)
	}
	if f, err := r.ReadFrame(); err != nil || !f.IsHeartbeat() {
		t.Fatalf("%+v %v", f, err)
	}

	ew := &errWriter{}
	w = NewWriter(ew)
	w.WriteHeartbeat()
	if err := w.Flush(); err == nil {
		t.Fatal("flush to a broken writer succeeded")
	}
	w.WriteHeartbeat()
	if err := w.Flush(); err == nil || ew.n != 1 {
		t.Fatalf("the error is not sticky: %v after %d writes", err, ew.n)
	}
}
