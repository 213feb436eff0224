package mqtt

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// countingWriter records each Write call.
type countingWriter struct {
	writes int
	buf    bytes.Buffer
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	if c.err != nil {
		return 0, c.err
	}
	return c.buf.Write(p)
}

func TestWriterBurstIsOneWrite(t *testing.T) {
	var out countingWriter
	w := NewWriter(&out)
	w.SetVersion(V5)
	for i := range 50 {
		if err := w.WritePacket(&Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "a/b", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if out.writes != 0 {
		t.Fatalf("%d writes before Flush", out.writes)
	}
	n := w.Buffered()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if out.writes != 1 || out.buf.Len() != n || w.Buffered() != 0 {
		t.Fatalf("%d writes of %d bytes (buffered %d)", out.writes, out.buf.Len(), n)
	}
	if err := w.Flush(); err != nil || out.writes != 1 {
		t.Fatalf("an empty Flush wrote: %v, %d writes", err, out.writes)
	}
}

func TestWriterRefusalsLeaveTheBufferAlone(t *testing.T) {
	var out countingWriter
	w := NewWriter(&out)
	if err := w.WritePacket(&Pingresp{}); err != nil {
		t.Fatal(err)
	}
	before := w.Buffered()
	tests := []struct {
		name string
		v    Version
		p    Packet
		want error
	}{
		{"wildcard topic", V311, &Publish{Topic: "a/#"}, ErrBadPacket},
		{"empty topic 3.1.1", V311, &Publish{}, ErrBadPacket},
		{"empty topic without alias", V5, &Publish{}, ErrBadPacket},
		{"qos 3", V311, &Publish{Topic: "a", QoS: 3, PacketID: 1}, ErrBadPacket},
		{"qos 1 without packet id", V311, &Publish{Topic: "a", QoS: 1}, ErrBadPacket},
		{"qos 0 with packet id", V311, &Publish{Topic: "a", PacketID: 3}, ErrBadPacket},
		{"dup on qos 0", V311, &Publish{Topic: "a", Dup: true}, ErrBadPacket},
		{"bad utf-8 topic", V311, &Publish{Topic: "a\xff"}, ErrBadPacket},
		{"U+0000 in topic", V311, &Publish{Topic: "a\x00"}, ErrBadPacket},
		{"topic too long", V311, &Publish{Topic: strings.Repeat("a", 65536)}, ErrBadPacket},
		{"properties in 3.1.1", V311, &Publish{Topic: "a", Properties: Properties{UserProp("k", "v")}}, ErrBadPacket},
		{"property not allowed", V5, &Publish{Topic: "a", Properties: Properties{IntProp(PropSessionExpiry, 1)}}, ErrBadPacket},
		{"single property twice", V5, &Publish{Topic: "a", Properties: Properties{IntProp(PropMessageExpiry, 1), IntProp(PropMessageExpiry, 2)}}, ErrBadPacket},
		{"two-byte property too big", V5, &Publish{Topic: "a", Properties: Properties{IntProp(PropTopicAlias, 70000)}}, ErrBadPacket},
		{"unknown property", V5, &Publish{Topic: "a", Properties: Properties{{ID: 0x05}}}, ErrBadPacket},
		{"bad user property", V5, &Publish{Topic: "a", Properties: Properties{UserProp("k", "\xed\xa0\x80")}}, ErrBadPacket},
		{"reason code in 3.1.1", V311, &Puback{PacketID: 1, Reason: NotAuthorized}, ErrBadPacket},
		{"reason code not for the packet", V5, &Pubrel{PacketID: 1, Reason: NotAuthorized}, ErrBadPacket},
		{"auth in 3.1.1", V311, &Auth{}, ErrBadPacket},
		{"subscription options in 3.1.1", V311, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", NoLocal: true}}}, ErrBadPacket},
		{"no local on shared", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/a", NoLocal: true}}}, ErrBadPacket},
		{"subscribe without filters", V5, &Subscribe{PacketID: 1}, ErrBadPacket},
		{"unsuback codes in 3.1.1", V311, &Unsuback{PacketID: 1, Reasons: []ReasonCode{0}}, ErrBadPacket},
		{"connack 3.1.1 code 6", V311, &Connack{Reason: 6}, ErrBadPacket},
		{"connect level 6", V5, &Connect{Version: 6}, ErrBadPacket},
		{"connect wrong name", V5, &Connect{Version: V5, ProtocolName: "MQIsdp"}, ErrBadPacket},
		{"connect user name without flag", V311, &Connect{Version: V311, Username: "u"}, ErrBadPacket},
		{"password too long", V5, &Connect{Version: V5, HasPassword: true, Password: make([]byte, 65536)}, ErrBadPacket},
		{"payload beyond the protocol", V311, &Publish{Topic: "a", Payload: make([]byte, MaxVarint)}, ErrPacketTooLarge},
	}
	for _, tc := range tests {
		w.SetVersion(tc.v)
		err := w.WritePacket(tc.p)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if w.Buffered() != before {
			t.Fatalf("%s: the buffer changed from %d to %d bytes", tc.name, before, w.Buffered())
		}
		if _, err := PacketSize(tc.p, tc.v); !errors.Is(err, tc.want) {
			t.Errorf("%s: PacketSize: %v", tc.name, err)
		}
	}
}

func TestWriterMaxPacketSize(t *testing.T) {
	var out countingWriter
	w := NewWriter(&out)
	p := &Publish{Topic: "a", Payload: make([]byte, 100)}
	n, err := PacketSize(p, V311)
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxPacketSize(n)
	if err := w.WritePacket(p); err != nil {
		t.Fatalf("a packet of exactly the maximum: %v", err)
	}
	w.SetMaxPacketSize(n - 1)
	if err := w.WritePacket(p); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
	if w.Buffered() != n {
		t.Fatalf("buffered %d, want %d", w.Buffered(), n)
	}
}

func TestWriterConnectSetsTheVersion(t *testing.T) {
	var out countingWriter
	w := NewWriter(&out)
	if err := w.WritePacket(&Connect{Version: V5, ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	if w.Version() != V5 {
		t.Fatalf("version %v after a 5.0 CONNECT", w.Version())
	}
	if err := w.WritePacket(&Disconnect{Reason: DisconnectWithWillMessage}); err != nil {
		t.Fatal(err)
	}
}

func TestWriterStickyError(t *testing.T) {
	boom := errors.New("boom")
	out := countingWriter{err: boom}
	w := NewWriter(&out)
	if err := w.WritePacket(&Pingreq{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: %v", err)
	}
	if err := w.WritePacket(&Pingreq{}); !errors.Is(err, boom) {
		t.Fatalf("WritePacket after a failed Flush: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) || out.writes != 1 {
		t.Fatalf("second Flush: %v after %d writes", err, out.writes)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }

func TestWriterShortWrite(t *testing.T) {
	w := NewWriter(shortWriter{})
	_ = w.WritePacket(&Pingreq{})
	if err := w.Flush(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("got %v", err)
	}
}

// TestWriterOutboundAliases sends a sequence of topics through a writer
// with a table of two aliases and checks that a reader resolving aliases
// recovers every topic, and which packets carried names.
func TestWriterOutboundAliases(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetVersion(V5)
	w.SetOutboundAliases(NewOutboundAliases(2))
	topics := []string{"a", "b", "a", "c", "b", "b", "c"}
	// With two aliases, least recently used first out:
	// a→1 new, b→2 new, a known, c evicts b (2), b evicts a (1), b known, c known.
	wantNamed := []bool{true, true, false, true, true, false, false}
	for i, topic := range topics {
		if err := w.WritePacket(&Publish{QoS: 1, PacketID: uint16(i + 1), Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	in := append(encode(t, &Connack{}, V5), out.Bytes()...)
	r := NewReader(bytes.NewReader(in), ReaderOptions{Role: ClientSide, Version: V5})
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	aliases := NewInboundAliases(2)
	for i, want := range topics {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		pub := p.(*Publish)
		if named := pub.Topic != ""; named != wantNamed[i] {
			t.Errorf("packet %d (%s): topic sent %v, want %v", i, want, named, wantNamed[i])
		}
		if err := aliases.Resolve(pub); err != nil {
			t.Fatal(err)
		}
		if pub.Topic != want {
			t.Errorf("packet %d resolved to %q, want %q", i, pub.Topic, want)
		}
	}
}

// TestWriterAliasNotRecordedWhenRefused: a packet refused as too large must
// not leave its alias in the table, or the next packet would be sent by an
// alias the peer never learned.
func TestWriterAliasNotRecordedWhenRefused(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetVersion(V5)
	w.SetMaxPacketSize(64)
	w.SetOutboundAliases(NewOutboundAliases(5))
	if err := w.WritePacket(&Publish{Topic: "t", Payload: make([]byte, 100)}); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("got %v", err)
	}
	if err := w.WritePacket(&Publish{Topic: "t", Payload: []byte("small")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	in := append(encode(t, &Connack{}, V5), out.Bytes()...)
	r := NewReader(bytes.NewReader(in), ReaderOptions{Role: ClientSide, Version: V5})
	_, _ = r.ReadPacket()
	p, err := r.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if p.(*Publish).Topic != "t" {
		t.Fatalf("the first packet the peer sees has topic %q; it must carry the name", p.(*Publish).Topic)
	}
}

// TestWriterAliasesOffIn311 checks that aliases are never used in 3.1.1,
// and that a PUBLISH the caller aliased itself is left alone.
func TestWriterAliasesOffIn311(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetOutboundAliases(NewOutboundAliases(5))
	if err := w.WritePacket(&Publish{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if want := encode(t, &Publish{Topic: "t"}, V311); !bytes.Equal(out.Bytes(), nil) || !bytes.Equal(w.buf, want) {
		t.Fatalf("3.1.1 with aliases: % x, want % x", w.buf, want)
	}
	w.SetVersion(V5)
	w.buf = w.buf[:0]
	own := &Publish{Topic: "t", Properties: Properties{IntProp(PropTopicAlias, 4)}}
	if err := w.WritePacket(own); err != nil {
		t.Fatal(err)
	}
	if want := encode(t, own, V5); !bytes.Equal(w.buf, want) {
		t.Fatalf("caller's alias: % x, want % x", w.buf, want)
	}
}

// TestWriterDoesNotAllocate: once its buffer has grown, writing a PUBLISH,
// aliased or not, allocates nothing.
func TestWriterDoesNotAllocate(t *testing.T) {
	w := NewWriter(io.Discard)
	w.SetVersion(V5)
	w.SetOutboundAliases(NewOutboundAliases(4))
	topics := []string{"a/1", "a/2", "a/3"}
	p := &Publish{QoS: 1, PacketID: 1, Payload: make([]byte, 512), Properties: Properties{UserProp("k", "v")}}
	i := 0
	write := func() {
		p.Topic = topics[i%len(topics)]
		i++
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write()
	write()
	write()
	if n := testing.AllocsPerRun(100, write); n != 0 {
		t.Fatalf("%v allocations per aliased PUBLISH", n)
	}
	if len(p.Properties) != 1 || p.Topic == "" {
		t.Fatalf("the caller's packet changed: %+v", p)
	}
}
