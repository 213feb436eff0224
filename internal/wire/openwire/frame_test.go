package openwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func sampleMessage() *Message {
	pid := &ProducerID{ConnectionID: "ID:c-1", Value: 1, SessionID: 1}
	m := &Message{
		BaseCommand: BaseCommand{CommandID: 7, ResponseRequired: true},
		Kind:        TypeTextMessage,
		ProducerID:  pid,
		Destination: NewQueue("orders"),
		MessageID:   &MessageID{ProducerID: pid, ProducerSequenceID: 1},
		Persistent:  true,
		Priority:    4,
		Timestamp:   1700000000000,
	}
	m.SetText("hello")
	return m
}

func TestReaderWriterManyFrames(t *testing.T) {
	cmds := []DataStructure{
		sampleMessage(),
		&Response{CorrelationID: 7},
		&KeepAliveInfo{},
		&ExceptionResponse{CorrelationID: 8, Exception: NewThrowable("javax.jms.JMSSecurityException", "User name [x] or password is invalid.")},
		&MessageDispatch{ConsumerID: &ConsumerID{ConnectionID: "c", SessionID: 1, Value: 2}, Destination: NewQueue("orders"), Message: sampleMessage()},
	}
	var conn bytes.Buffer
	w := NewWriter(&conn)
	for _, c := range cmds {
		if err := w.WriteCommand(c); err != nil {
			t.Fatal(err)
		}
	}
	if conn.Len() != 0 {
		t.Fatal("WriteCommand wrote before Flush")
	}
	n := w.Buffered()
	if err := w.Flush(); err != nil || conn.Len() != n || w.Buffered() != 0 {
		t.Fatalf("flush: %v, %d of %d bytes", err, conn.Len(), n)
	}
	// A one-byte-at-a-time stream and a small buffer: frames bigger than
	// the buffer take the copying path.
	r := NewReader(iotest.OneByteReader(&conn), ReaderOptions{BufferSize: 16})
	for i, want := range cmds {
		got, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		a, _ := Marshal(got)
		b, _ := Marshal(want)
		if !bytes.Equal(a, b) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if _, err := r.ReadCommand(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

// failingReader fails the test if more than limit bytes are read from it.
type failingReader struct {
	t     *testing.T
	data  []byte
	limit int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	f.limit -= n
	if f.limit < 0 {
		f.t.Fatal("the reader read past the size prefix of an oversized frame")
	}
	return n, nil
}

func TestReaderRefusesLargeFramesBeforeReadingThem(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, 1<<30)
	data := append(hdr, make([]byte, 1<<16)...)
	r := NewReader(&failingReader{t: t, data: data, limit: 16}, ReaderOptions{MaxFrameSize: 1 << 20, BufferSize: 16})
	if _, err := r.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
	// At the limit exactly is fine.
	frame, _ := AppendFrame(nil, &KeepAliveInfo{})
	r = NewReader(bytes.NewReader(frame), ReaderOptions{MaxFrameSize: len(frame) - 4})
	if _, err := r.ReadCommand(); err != nil {
		t.Fatalf("a frame at the limit: %v", err)
	}
	r = NewReader(bytes.NewReader(frame), ReaderOptions{MaxFrameSize: len(frame) - 5})
	if _, err := r.ReadCommand(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a frame one over the limit: %v", err)
	}
}

func TestReaderStreamErrors(t *testing.T) {
	frame, _ := AppendFrame(nil, &KeepAliveInfo{BaseCommand{CommandID: 3}})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"half a size", frame[:2], io.ErrUnexpectedEOF},
		{"half a frame", frame[:len(frame)-1], io.ErrUnexpectedEOF},
		{"zero size", []byte{0, 0, 0, 0}, ErrMalformed},
		{"negative size", []byte{0x80, 0, 0, 0}, ErrMalformed},
	} {
		r := NewReader(bytes.NewReader(tc.in), ReaderOptions{})
		if _, err := r.ReadCommand(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestReaderSkipsBadFramesAndStaysInStep(t *testing.T) {
	good, _ := AppendFrame(nil, &KeepAliveInfo{BaseCommand{CommandID: 9}})
	var in []byte
	in = append(in, 0, 0, 0, 2, 13, 0)                                     // type 13 does not exist
	in = append(in, 0, 0, 0, 7, byte(TypeKeepAliveInfo), 0, 0, 0, 1, 2, 0) // boolean 2, a trailing byte
	in = append(in, 0, 0, 0, 1, 0)                                         // a null frame
	in = append(in, good...)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	for _, want := range []error{ErrUnsupportedType, ErrMalformed, ErrMalformed} {
		if _, err := r.ReadCommand(); !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
	c, err := r.ReadCommand()
	if err != nil || c.(*KeepAliveInfo).CommandID != 9 {
		t.Fatalf("the good frame after bad ones: %v, %v", c, err)
	}
}

func TestReadFrameThenDecodeKeepsTheHeaderOfABadFrame(t *testing.T) {
	good, _ := AppendFrame(nil, &KeepAliveInfo{BaseCommand{CommandID: 9}})
	var in []byte
	in = append(in, 0, 0, 0, 6, 15, 0, 0, 0, 5, 1) // FlushCommand (15), not decoded here, asking for a response
	in = append(in, good...)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	frame, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decode(frame); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("decoding a FlushCommand: %v", err)
	}
	if h, ok := ParseHeader(frame); !ok || h.CommandID != 5 || !h.ResponseRequired {
		t.Fatalf("header of the frame that failed: %+v %t", h, ok)
	}
	frame, err = r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Decode(frame)
	if err != nil || c.(*KeepAliveInfo).CommandID != 9 {
		t.Fatalf("the frame after it: %v, %v", c, err)
	}
}

func TestReaderBuffered(t *testing.T) {
	one, _ := AppendFrame(nil, &KeepAliveInfo{BaseCommand{CommandID: 1}})
	r := NewReader(bytes.NewReader(append(append([]byte{}, one...), one...)), ReaderOptions{})
	if n := r.Buffered(); n != 0 {
		t.Fatalf("%d buffered before reading", n)
	}
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if n := r.Buffered(); n != len(one) {
		t.Fatalf("%d buffered after the first of two frames, want %d", n, len(one))
	}
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if n := r.Buffered(); n != 0 {
		t.Fatalf("%d buffered after both frames", n)
	}
}

func TestMalformedFrames(t *testing.T) {
	ci, _ := Marshal(&ConsumerInfo{ConsumerID: &ConsumerID{ConnectionID: "c"}, Destination: NewQueue("q")})
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"truncated", ci[:len(ci)-3], ErrMalformed},
		{"trailing byte", append(append([]byte{}, ci...), 0), ErrMalformed},
		{"a session ID where a consumer ID belongs", func() []byte {
			b, _ := Marshal(&SessionInfo{SessionID: &SessionID{ConnectionID: "c"}})
			b[0] = byte(TypeRemoveSubscriptionInfo) // its first nested field must be a ConnectionId
			return b
		}(), ErrMalformed},
		{"nested type not implemented", []byte{byte(TypeSessionInfo), 0, 0, 0, 1, 0, 1, 77}, ErrUnsupportedType},
		{"nested null type", []byte{byte(TypeSessionInfo), 0, 0, 0, 1, 0, 1, 0}, ErrUnsupportedType},
		{"negative array", []byte{byte(TypeProducerInfo), 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff}, ErrMalformed},
		// A tight-encoded KeepAliveInfo: type, a boolean stream of one
		// byte, then the command ID.
		{"tight encoding", []byte{byte(TypeKeepAliveInfo), 1, 0x01, 0, 0, 0, 5}, ErrMalformed},
	} {
		if ds, err := Unmarshal(tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, ds, err, tc.want)
		}
	}
}

func TestNestingIsBounded(t *testing.T) {
	// Messages inside messages, deeper than maxDepth.
	var m DataStructure = &KeepAliveInfo{}
	for range maxDepth + 1 {
		m = &Message{Kind: TypeMessage, DataStructure: m}
	}
	if _, err := Marshal(m); !errors.Is(err, ErrInvalid) {
		t.Fatalf("encoding: %v", err)
	}
	// A hand-made frame nesting message headers until it runs out.
	frame := []byte{byte(TypeDataResponse), 0, 0, 0, 1, 0, 0, 0, 0, 1}
	for range 1000 {
		frame = append(frame, 1, byte(TypeDataResponse), 0, 0, 0, 1, 0, 0, 0, 0, 1)
	}
	if _, err := Unmarshal(frame); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoding: %v", err)
	}
}

func TestWriterLimitsAndErrors(t *testing.T) {
	var conn bytes.Buffer
	w := NewWriter(&conn)
	w.SetMaxFrameSize(100)
	if err := w.WriteCommand(&Response{CorrelationID: 1}); err != nil {
		t.Fatal(err)
	}
	before := w.Buffered()
	big := sampleMessage()
	big.SetContent(make([]byte, 200))
	if err := w.WriteCommand(big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	bad := sampleMessage()
	bad.Kind = TypeQueue
	if err := w.WriteCommand(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a message of kind Queue: %v", err)
	}
	if err := w.WriteCommand(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil: %v", err)
	}
	if w.Buffered() != before {
		t.Fatal("a refused command left bytes in the buffer")
	}
	// A broken connection is sticky.
	w = NewWriter(errWriter{})
	w.WriteCommand(&KeepAliveInfo{})
	if err := w.Flush(); err == nil {
		t.Fatal("flush to a broken writer succeeded")
	}
	if err := w.WriteCommand(&KeepAliveInfo{}); err == nil {
		t.Fatal("write after a failed flush succeeded")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestTypedNilFieldsAreAbsent(t *testing.T) {
	var pid *ProducerID
	var tx *LocalTransactionID
	m := &Message{Kind: TypeMessage, ProducerID: pid, TransactionID: tx, DataStructure: (*ConnectionInfo)(nil)}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got := back.(*Message)
	if got.ProducerID != nil || got.TransactionID != nil || got.DataStructure != nil {
		t.Fatalf("typed nils came back as %+v", got)
	}
}

func TestEmptyAndNullStrings(t *testing.T) {
	// A string field left empty by the caller is written as null, as the
	// Java client writes an unset field.
	b, _ := Marshal(&RemoveSubscriptionInfo{ConnectionID: &ConnectionID{Value: "c"}, SubscriptionName: "s"})
	if b[len(b)-1] != 0 {
		t.Fatalf("an empty client ID was written as present: %x", b)
	}
	// One that arrived empty goes back out empty.
	present := append(b[:len(b)-1:len(b)-1], 1, 0, 0)
	ds, err := Unmarshal(present)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Marshal(ds)
	if !bytes.Equal(again, present) {
		t.Fatalf("empty string lost: %x, want %x", again, present)
	}
}

func TestStackTraces(t *testing.T) {
	ex := &ExceptionResponse{CorrelationID: 2, Exception: &Throwable{
		Class: "java.io.IOException", Message: "outer",
		StackTrace: []StackTraceElement{{ClassName: "a.B", MethodName: "m", FileName: "B.java", LineNumber: 12}},
		Cause:      &Throwable{Class: "java.lang.RuntimeException", StackTrace: []StackTraceElement{}},
	}}
	var conn bytes.Buffer
	w := NewWriter(&conn)
	w.SetStackTraceEnabled(true)
	w.WriteCommand(ex)
	w.Flush()
	r := NewReader(&conn, ReaderOptions{})
	r.SetStackTraceEnabled(true)
	got, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	th := got.(*ExceptionResponse).Exception
	if th.StackTrace[0].LineNumber != 12 || th.Cause == nil || th.Cause.Class != "java.lang.RuntimeException" || th.Error() != "java.io.IOException: outer" {
		t.Fatalf("throwable %+v", th)
	}
	// Without stack traces only the class and message travel.
	b, _ := Marshal(ex)
	back, _ := Unmarshal(b)
	if th := back.(*ExceptionResponse).Exception; th.StackTrace != nil || th.Cause != nil || th.Message != "outer" {
		t.Fatalf("without stack traces: %+v", th)
	}
}

func TestParseHeader(t *testing.T) {
	b, _ := Marshal(&ConnectionInfo{BaseCommand: BaseCommand{CommandID: 42, ResponseRequired: true}})
	h, ok := ParseHeader(b)
	if !ok || h != (Header{Type: TypeConnectionInfo, CommandID: 42, ResponseRequired: true}) {
		t.Fatalf("header %+v, %t", h, ok)
	}
	// A command this codec does not decode (FlushCommand, 15).
	if h, ok := ParseHeader([]byte{15, 0, 0, 0, 5, 1}); !ok || h.CommandID != 5 || !h.ResponseRequired {
		t.Fatalf("flush command: %+v, %t", h, ok)
	}
	wfi, _ := Marshal(&WireFormatInfo{Magic: Magic, Version: 9})
	for _, frame := range [][]byte{wfi, {byte(TypeQueue), 0, 0, 0, 0, 0}, {3, 0, 0}, {3, 0, 0, 0, 1, 7}} {
		if h, ok := ParseHeader(frame); ok {
			t.Errorf("%x parsed as %+v", frame, h)
		}
	}
}

func TestDetect(t *testing.T) {
	wfi, err := NewWireFormatInfo(DefaultClientWireFormat())
	if err != nil {
		t.Fatal(err)
	}
	frame, _ := AppendFrame(nil, wfi)
	for n := 0; n < DetectLen; n++ {
		if got := Detect(frame[:n]); got != DetectNeedMore {
			t.Fatalf("%d bytes of a WireFormatInfo: %v", n, got)
		}
	}
	if got := Detect(frame); got != DetectOpenWire {
		t.Fatalf("a whole WireFormatInfo: %v", got)
	}
	for _, in := range []string{"CONNECT\naccept-version:1.2\n\n\x00", "GET / HTTP/1.1\r\n", "\x10\x0c\x00\x04MQTT", "AMQP\x00\x01\x00\x00", "\x00\x00\x00\x05\x02ActiveMQ", "\x00\x00\x00\x20\x01ActiveMX", "\x00\x00\x00\x02\x01"} {
		if got := Detect([]byte(in)); got != DetectNotOpenWire {
			t.Errorf("%q: %v", in, got)
		}
	}
	// The golden client frame, as the Java client sends it.
	golden := goldenFiles(t)["c2b-WireFormatInfo"]
	sized := binary.BigEndian.AppendUint32(nil, uint32(len(golden)))
	if got := Detect(append(sized, golden...)); got != DetectOpenWire {
		t.Fatalf("the Java client's first frame: %v", got)
	}
}

func TestNegotiation(t *testing.T) {
	broker := DefaultBrokerWireFormat(1 << 20)
	for _, tc := range []struct {
		name    string
		client  WireFormat
		version int32
		err     error
	}{
		{"java 5.17 defaults", WireFormat{Version: 12, TightEncodingEnabled: true, CacheEnabled: true, StackTraceEnabled: true, MaxInactivityDuration: 30000, MaxFrameSize: math.MaxInt64}, 12, nil},
		{"a future version", WireFormat{Version: 13}, 12, nil},
		{"version 11", WireFormat{Version: 11}, 11, nil},
		{"version 10", WireFormat{Version: 10}, 10, nil},
		{"version 9", WireFormat{Version: 9}, 9, ErrUnsupportedVersion},
		{"version 1", WireFormat{Version: 1}, 1, ErrUnsupportedVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := NewWireFormatInfo(tc.client)
			if err != nil {
				t.Fatal(err)
			}
			answer, agreed, err := AnswerClient(info, broker)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			var ve *VersionError
			if tc.err != nil && (!errors.As(err, &ve) || ve.Version != tc.client.Version || !strings.Contains(err.Error(), "10 to 12")) {
				t.Fatalf("version error %v", err)
			}
			if answer.Version != tc.version || agreed.Version != tc.version {
				t.Fatalf("answer v%d, agreed v%d, want v%d", answer.Version, agreed.Version, tc.version)
			}
			af, err := answer.WireFormat()
			if err != nil || af.TightEncodingEnabled || af.CacheEnabled || af.StackTraceEnabled || af.MaxFrameSize != 1<<20 || af.MaxInactivityDuration != 30000 {
				t.Fatalf("the answer proposes %+v, %v", af, err)
			}
			if agreed.TightEncodingEnabled || agreed.CacheEnabled || agreed.StackTraceEnabled {
				t.Fatalf("agreed %+v", agreed)
			}
		})
	}
	// Both sides wanting tight encoding cannot be served.
	tight := WireFormat{Version: 12, TightEncodingEnabled: true}
	if _, err := Negotiate(tight, tight); !errors.Is(err, ErrUnsupportedEncoding) {
		t.Fatalf("tight with tight: %v", err)
	}
	// A side sending 0 turns inactivity monitoring off; frame sizes take
	// the smaller positive one.
	f, _ := Negotiate(WireFormat{Version: 12, MaxInactivityDuration: 30000, MaxFrameSize: 0}, WireFormat{Version: 12, MaxFrameSize: 500})
	if f.MaxInactivityDuration != 0 || f.MaxFrameSize != 500 {
		t.Fatalf("negotiated %+v", f)
	}
	// A bad magic is refused before anything is sent.
	bad := &WireFormatInfo{Magic: [8]byte{'A', 'c', 't', 'i', 'v', 'e', 'M', 'X'}, Version: 12}
	if a, _, err := AnswerClient(bad, broker); !errors.Is(err, ErrBadMagic) || a != nil {
		t.Fatalf("bad magic: %v, %v", a, err)
	}
}

// TestEveryTypeRoundTrips encodes and decodes the Go-built samples of every
// type that java_test.go sends to Java, so the decoders of the types no
// golden file holds are exercised without Java too.
func TestEveryTypeRoundTrips(t *testing.T) {
	for name, s := range javaSamples(t) {
		b, err := Marshal(s.ds)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back, s.ds) {
			t.Errorf("%s: decoded\n%#v\nwant\n%#v", name, back, s.ds)
		}
		if again, _ := Marshal(back); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoded differently", name)
		}
	}
}

// TestDecodeErrorsSayWhereAndWhat checks the errors the inlined readers of
// fixed-size fields record: a frame cut short inside a field and a boolean
// byte other than 0 or 1 are reported with the field and the offset, and
// only the first error of a frame is.
func TestDecodeErrorsSayWhereAndWhat(t *testing.T) {
	resp, err := Marshal(&Response{CorrelationID: 7})
	if err != nil {
		t.Fatal(err)
	}
	badBool := append([]byte(nil), resp...)
	badBool[5] = 2 // response required
	msg, err := Marshal(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	props, err := AppendMap(nil, func() *Map { m := NewMap(); m.Set("n", Long(5)); return m }())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		decode func() error
		want   string
	}{
		{"an int cut short", func() error { _, err := Unmarshal(resp[:3]); return err }, "an int needs 4 bytes at offset 1 but the frame has 2 left"},
		{"no boolean left", func() error { _, err := Unmarshal(resp[:5]); return err }, "a boolean needs 1 bytes at offset 5 but the frame has 0 left"},
		{"a boolean of 2", func() error { _, err := Unmarshal(badBool); return err }, "byte 0x02 at offset 5 where a boolean belongs"},
		{"a message cut in its timestamp", func() error { _, err := Unmarshal(msg[:len(msg)-40]); return err }, "needs"},
		{"a map cut in a long", func() error { _, err := DecodeMap(props[:len(props)-3]); return err }, "a long needs 8 bytes"},
		{"a reusing reader", func() error {
			r := NewReader(bytes.NewReader(sized(t, badBool)), ReaderOptions{Reuse: true})
			_, err := r.ReadCommand()
			return err
		}, "byte 0x02 at offset 5 where a boolean belongs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode()
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errCut) {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, tc.want)
			}
		})
	}
}
