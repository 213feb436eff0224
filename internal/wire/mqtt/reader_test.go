package mqtt

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// patch returns a copy of b with b[i] replaced.
func patch(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

// rawPublish builds a PUBLISH with the given property bytes, which the
// writer might refuse to write.
func rawPublish(t *testing.T, topic string, props []byte, qos QoS) []byte {
	t.Helper()
	body := appendString(nil, topic)
	if qos > 0 {
		body = appendUint16(body, 1)
	}
	body = appendVarint(body, len(props))
	body = append(body, props...)
	out := []byte{byte(TypePublish)<<4 | byte(qos)<<1}
	out = appendVarint(out, len(body))
	return append(out, body...)
}

func TestReaderErrors(t *testing.T) {
	c5 := connectBytes(t, V5)
	c4 := connectBytes(t, V311)
	// In connectBytes' CONNECT the protocol level is byte 8 and the
	// connect flags byte 9.
	tests := []struct {
		name   string
		role   Role
		v      Version // client side version
		in     []byte
		kind   error
		reason ReasonCode
		before bool
	}{
		{"reserved type 0", ServerSide, 0, hexb(t, "00 00"), ErrMalformed, MalformedPacket, true},
		{"publish before connect", ServerSide, 0, hexb(t, "30 03 00 01 61"), ErrProtocol, ProtocolError, true},
		{"five-byte remaining length", ServerSide, 0, hexb(t, "10 ff ff ff ff 7f"), ErrMalformed, MalformedPacket, true},
		{"non-minimal remaining length", ServerSide, 0, hexb(t, "10 80 00"), ErrMalformed, MalformedPacket, true},
		{"connect fixed flags", ServerSide, 0, patch(c4, 0, 0x11), ErrMalformed, MalformedPacket, true},
		{"unsupported level", ServerSide, 0, patch(c4, 8, 6), ErrUnsupportedVersion, UnsupportedProtocolVersion, true},
		{"MQIsdp with level 4", ServerSide, 0, patch(encode(t, &Connect{Version: V31, ProtocolName: ProtocolNameV31, ClientID: "c"}, V31), 10, 4), ErrUnsupportedVersion, UnsupportedProtocolVersion, true},
		{"connect reserved flag 5", ServerSide, 0, patch(c5, 9, 0x03), ErrMalformed, MalformedPacket, true},
		{"connect reserved flag 3.1.1", ServerSide, 0, patch(c4, 9, 0x03), ErrMalformed, MalformedPacket, true},
		{"will qos 3", ServerSide, 0, patch(c4, 9, 0x1e), ErrMalformed, MalformedPacket, true},
		{"will qos without will", ServerSide, 0, patch(c4, 9, 0x0a), ErrMalformed, MalformedPacket, true},
		{"password without user name 3.1.1", ServerSide, 0, encodeUnchecked(t, &Connect{Version: V311, HasPassword: true}), ErrProtocol, ProtocolError, true},
		{"second connect", ServerSide, 0, append(bytes.Clone(c4), c4...), ErrProtocol, ProtocolError, false},
		{"client sends connack", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "20 02 00 00")...), ErrProtocol, ProtocolError, false},
		{"auth in 3.1.1", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "f0 00")...), ErrMalformed, MalformedPacket, false},
		{"publish qos 3", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "36 05 00 01 61 00 01")...), ErrMalformed, MalformedPacket, false},
		{"dup on qos 0", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "38 03 00 01 61")...), ErrMalformed, MalformedPacket, false},
		{"pubrel flags 0", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "60 02 00 01")...), ErrMalformed, MalformedPacket, false},
		{"subscribe flags 0", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "80 06 00 01 00 01 61 00")...), ErrMalformed, MalformedPacket, false},
		{"pingreq with a body", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "c0 01 00")...), ErrMalformed, MalformedPacket, false},
		{"puback 3.1.1 too long", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "40 03 00 01 00")...), ErrMalformed, MalformedPacket, false},
		{"packet id 0", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "40 02 00 00")...), ErrProtocol, ProtocolError, false},
		{"qos 1 publish with packet id 0", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "32 05 00 01 61 00 00")...), ErrProtocol, ProtocolError, false},
		{"wildcard in topic", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "30 05 00 03 61 2f 2b")...), ErrProtocol, TopicNameInvalid, false},
		{"empty topic 3.1.1", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "30 02 00 00")...), ErrProtocol, TopicNameInvalid, false},
		{"surrogate in topic", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "30 05 00 03 ed a0 80")...), ErrMalformed, MalformedPacket, false},
		{"U+0000 in topic", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "30 04 00 02 61 00")...), ErrMalformed, MalformedPacket, false},
		{"overlong in topic", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "30 04 00 02 c0 af")...), ErrMalformed, MalformedPacket, false},
		{"topic longer than packet", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "30 03 00 05 61")...), ErrMalformed, MalformedPacket, false},
		{"subscribe without filters", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "82 02 00 01")...), ErrProtocol, ProtocolError, false},
		{"subscribe 3.1.1 reserved qos bits", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "82 06 00 01 00 01 61 04")...), ErrMalformed, MalformedPacket, false},
		{"subscribe 3.1.1 qos 3", ServerSide, 0, append(bytes.Clone(c4), hexb(t, "82 06 00 01 00 01 61 03")...), ErrMalformed, MalformedPacket, false},
		{"subscribe 5 reserved option bits", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "82 07 00 01 00 00 01 61 40")...), ErrMalformed, MalformedPacket, false},
		{"subscribe 5 retain handling 3", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "82 07 00 01 00 00 01 61 30")...), ErrProtocol, ProtocolError, false},
		{"subscribe 5 qos 3", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "82 07 00 01 00 00 01 61 03")...), ErrProtocol, ProtocolError, false},
		{"no local on a shared subscription", ServerSide, 0, append(bytes.Clone(c5),
			encodeUnchecked(t, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/a", NoLocal: true}}})...), ErrProtocol, ProtocolError, false},
		{"two subscription ids in subscribe", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "82 0b 00 01 04 0b 01 0b 02 00 01 61 00")...), ErrProtocol, ProtocolError, false},
		{"subscription id 0", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "82 09 00 01 02 0b 00 00 01 61 00")...), ErrProtocol, ProtocolError, false},
		{"property not allowed in publish", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "11 00 00 00 01"), 0)...), ErrMalformed, MalformedPacket, false},
		{"unknown property", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "05 00"), 0)...), ErrMalformed, MalformedPacket, false},
		{"duplicate message expiry", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "02 00 00 00 01 02 00 00 00 02"), 0)...), ErrProtocol, ProtocolError, false},
		{"payload format 2", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "01 02"), 0)...), ErrProtocol, ProtocolError, false},
		{"topic alias 0", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "23 00 00"), 0)...), ErrProtocol, TopicAliasInvalid, false},
		{"empty topic without alias 5", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "", nil, 0)...), ErrProtocol, ProtocolError, false},
		{"subscription id from a client", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "0b 01"), 0)...), ErrProtocol, ProtocolError, false},
		{"wildcard in response topic", ServerSide, 0, append(bytes.Clone(c5), rawPublish(t, "a", hexb(t, "08 00 01 23"), 0)...), ErrProtocol, ProtocolError, false},
		{"property length past the end", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "30 04 00 01 61 05")...), ErrMalformed, MalformedPacket, false},
		{"receive maximum 0", ServerSide, 0, encodeUnchecked(t, &Connect{Version: V5, Properties: Properties{IntProp(PropReceiveMaximum, 0)}}), ErrProtocol, ProtocolError, true},
		{"auth data without method", ServerSide, 0, encodeUnchecked(t, &Connect{Version: V5, Properties: Properties{BinaryProp(PropAuthData, []byte("x"))}}), ErrProtocol, ProtocolError, true},
		{"will topic with wildcard", ServerSide, 0, encodeUnchecked(t, &Connect{Version: V5, Will: &Will{Topic: "a/#"}}), ErrProtocol, TopicNameInvalid, true},
		{"puback 5 bad reason", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "40 03 00 01 05")...), ErrProtocol, ProtocolError, false},
		{"disconnect 5 bad reason", ServerSide, 0, append(bytes.Clone(c5), hexb(t, "e0 01 01")...), ErrProtocol, ProtocolError, false},
		{"client side: publish first", ClientSide, V311, hexb(t, "30 03 00 01 61"), ErrProtocol, ProtocolError, true},
		{"client side: server sends connect", ClientSide, V311, append(hexb(t, "20 02 00 00"), c4...), ErrProtocol, ProtocolError, false},
		{"client side: second connack", ClientSide, V311, hexb(t, "20 02 00 00 20 02 00 00"), ErrProtocol, ProtocolError, false},
		{"client side: connack reserved flags", ClientSide, V311, hexb(t, "20 02 02 00"), ErrMalformed, MalformedPacket, true},
		{"client side: connack 3.1.1 return code 6", ClientSide, V311, hexb(t, "20 02 00 06"), ErrProtocol, ProtocolError, true},
		{"client side: session present in 3.1", ClientSide, V31, hexb(t, "20 02 01 00"), ErrMalformed, MalformedPacket, true},
		{"client side: session present with refusal", ClientSide, V311, hexb(t, "20 02 01 05"), ErrProtocol, ProtocolError, true},
		{"client side: session expiry in server disconnect", ClientSide, V5, hexb(t, "20 03 00 00 00 e0 07 00 05 11 00 00 00 01"), ErrProtocol, ProtocolError, false},
		{"client side: suback 3.1.1 code 3", ClientSide, V311, hexb(t, "20 02 00 00 90 03 00 01 03"), ErrProtocol, ProtocolError, false},
		{"client side: unsuback 5 without codes", ClientSide, V5, hexb(t, "20 03 00 00 00 b0 03 00 01 00"), ErrProtocol, ProtocolError, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in), ReaderOptions{Role: tc.role, Version: tc.v})
			var err error
			for err == nil {
				_, err = r.ReadPacket()
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if !errors.Is(err, tc.kind) || e.Reason != tc.reason || e.BeforeConnect != tc.before {
				t.Fatalf("got %v (reason %v, before connect %v), want %v, %v, %v", err, e.Reason, e.BeforeConnect, tc.kind, tc.reason, tc.before)
			}
			t.Log(err)
			if code, ok := ReasonFor(err); !ok || code != tc.reason {
				t.Fatalf("ReasonFor = %v, %v", code, ok)
			}
		})
	}
}

// encodeUnchecked encodes p without the writer's checks, to build packets
// the writer would refuse.
func encodeUnchecked(t *testing.T, p Packet) []byte {
	t.Helper()
	v := V5
	if c, ok := p.(*Connect); ok {
		v = c.Version
	}
	n := p.size(v)
	out := []byte{byte(p.Type())<<4 | p.flags()}
	out = appendVarint(out, n)
	return p.appendBody(out, v)
}

func TestConnackFor(t *testing.T) {
	c4, c5 := connectBytes(t, V311), connectBytes(t, V5)
	tests := []struct {
		name string
		in   []byte
		ok   bool
		v    Version
		code ReasonCode
	}{
		{"unsupported level", patch(c4, 8, 9), true, V311, RefusedProtocolVersion},
		{"unknown protocol name", patch(c4, 4, 'X'), true, V311, RefusedProtocolVersion},
		{"malformed 5", patch(c5, 9, 0x01), true, V5, MalformedPacket},
		{"protocol error 5", encodeUnchecked(t, &Connect{Version: V5, Properties: Properties{IntProp(PropReceiveMaximum, 0)}}), true, V5, ProtocolError},
		{"bad will topic 5", encodeUnchecked(t, &Connect{Version: V5, Will: &Will{Topic: "+"}}), true, V5, TopicNameInvalid},
		{"malformed 3.1.1", patch(c4, 9, 0x01), false, 0, 0},
		{"not a connect", hexb(t, "30 03 00 01 61"), false, 0, 0},
		{"remaining length", hexb(t, "10 80 80 80 80"), false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.in), ReaderOptions{}).ReadPacket()
			ack, v, ok := ConnackFor(err)
			if ok != tc.ok {
				t.Fatalf("ConnackFor(%v) ok = %v", err, ok)
			}
			if ok && (v != tc.v || ack.Reason != tc.code || ack.SessionPresent) {
				t.Fatalf("ConnackFor(%v) = %+v in %v", err, ack, v)
			}
			if ok {
				// The CONNACK must be encodable in its version.
				encode(t, ack, v)
			}
		})
	}
	if _, _, ok := ConnackFor(io.EOF); ok {
		t.Error("ConnackFor(io.EOF) is ok")
	}
}

func TestReaderMaxPacketSize(t *testing.T) {
	c := connectBytes(t, V311)
	pub := encode(t, &Publish{Topic: "a", Payload: make([]byte, 100)}, V311)
	// The limit counts the whole packet: exactly its size passes.
	for _, tc := range []struct {
		max int
		ok  bool
	}{{len(pub), true}, {len(pub) - 1, false}} {
		r := NewReader(bytes.NewReader(append(bytes.Clone(c), pub...)), ReaderOptions{MaxPacketSize: tc.max})
		if _, err := r.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		_, err := r.ReadPacket()
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrPacketTooLarge)) {
			t.Errorf("max %d: %v", tc.max, err)
		}
		if !tc.ok {
			if code, _ := ReasonFor(err); code != PacketTooLarge {
				t.Errorf("reason %v", code)
			}
		}
	}
}

// failingReader fails the test if more than n bytes are read from it.
type failingReader struct {
	t    *testing.T
	data []byte
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		f.t.Error("the reader read past the fixed header of a packet it had to refuse")
		return 0, io.EOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReaderRefusesBeforeReadingTheBody shows that an oversize packet is
// refused from its fixed header alone.
func TestReaderRefusesBeforeReadingTheBody(t *testing.T) {
	in := append(connectBytes(t, V311), hexb(t, "30 ff ff ff 7f")...)
	r := NewReader(&failingReader{t: t, data: in}, ReaderOptions{MaxPacketSize: 1 << 20, BufferSize: 16})
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// TestReaderDoesNotTrustTheLength shows that a packet claiming the
// protocol's largest size but sending little costs little memory.
func TestReaderDoesNotTrustTheLength(t *testing.T) {
	in := append(connectBytes(t, V311), hexb(t, "30 ff ff ff 7f 00 01 61")...)
	in = append(in, make([]byte, 100<<10)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	_, err := r.ReadPacket()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want an unexpected EOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("reading 100 KiB of a packet claiming 256 MiB allocated %d bytes", grew)
	}
}

func TestReaderEOF(t *testing.T) {
	r := NewReader(bytes.NewReader(nil), ReaderOptions{})
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	c := connectBytes(t, V311)
	for cut := 1; cut < len(c); cut++ {
		_, err := NewReader(bytes.NewReader(c[:cut]), ReaderOptions{}).ReadPacket()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
}

func TestReaderState(t *testing.T) {
	r := NewReader(bytes.NewReader(connectBytes(t, V5)), ReaderOptions{})
	if r.Connected() || r.Version() != 0 {
		t.Fatal("connected before CONNECT")
	}
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if !r.Connected() || r.Version() != V5 {
		t.Fatalf("after CONNECT: connected %v, version %v", r.Connected(), r.Version())
	}
}

func TestDisconnectFor(t *testing.T) {
	read := func(in []byte) error {
		r := NewReader(bytes.NewReader(in), ReaderOptions{})
		for {
			if _, err := r.ReadPacket(); err != nil {
				return err
			}
		}
	}
	bad := hexb(t, "30 06 00 03 61 2f 23 00") // a wildcard topic, in 5.0 form
	if d, ok := DisconnectFor(read(append(connectBytes(t, V5), bad...))); !ok || d.Reason != TopicNameInvalid {
		t.Errorf("5.0: %+v, %v", d, ok)
	}
	err := read(append(connectBytes(t, V311), hexb(t, "30 05 00 03 61 2f 23")...))
	if _, ok := DisconnectFor(err); ok || !errors.Is(err, ErrProtocol) {
		t.Errorf("a DISCONNECT for 3.1.1 (%v)", err)
	}
	if _, ok := DisconnectFor(read(patch(connectBytes(t, V5), 9, 1))); ok {
		t.Error("a DISCONNECT before CONNACK")
	}
	if _, ok := DisconnectFor(read(connectBytes(t, V5)[:5])); ok {
		t.Error("a DISCONNECT for a truncated stream")
	}
}
