package mqtt

import (
	"testing"
	"time"

	"tandem/internal/broker"
	wire "tandem/internal/wire/mqtt"
)

// TestBadInputGetsItsReasonCodeAndHarmsNobodyElse sends each kind of bad
// input the specification classifies, after a valid CONNECT (or in
// place of one), and checks the reason code of the DISCONNECT or CONNACK
// that answers it, while a bystander keeps receiving.
func TestBadInputGetsItsReasonCodeAndHarmsNobodyElse(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.MaxPacketSize = 4096 })
	bystander := r.connect(&wire.Connect{ClientID: "bystander", CleanStart: true})
	bystander.sub(1, wire.QoS1, "ok")
	feed := r.connect(&wire.Connect{ClientID: "feed", CleanStart: true})

	connect5 := func() []byte {
		b, _ := wire.AppendPacket(nil, &wire.Connect{Version: wire.V5, ClientID: "bad", CleanStart: true}, wire.V5)
		return b
	}
	cases := []struct {
		name   string
		bytes  []byte
		want   wire.ReasonCode
		packet wire.Type // DISCONNECT or CONNACK
	}{
		{"malformed remaining length", append(connect5(), 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), wire.MalformedPacket, wire.TypeDisconnect},
		{"reserved flags", append(connect5(), 0x60, 0x02, 0x00, 0x01), wire.MalformedPacket, wire.TypeDisconnect}, // PUBREL's are 0010
		{"subscribe reserved flags", append(connect5(), 0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'), wire.MalformedPacket, wire.TypeDisconnect},
		{"second CONNECT", append(connect5(), connect5()...), wire.ProtocolError, wire.TypeDisconnect},
		{"oversize", append(connect5(), 0x30, 0x80, 0x40, 0x00), wire.PacketTooLarge, wire.TypeDisconnect},
		{"topic alias 0", append(connect5(), 0x30, 0x08, 0x00, 0x01, 'a', 0x03, 0x23, 0x00, 0x00, 'x'), wire.TopicAliasInvalid, wire.TypeDisconnect},
		{"topic alias unknown", append(connect5(), 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'x'), wire.ProtocolError, wire.TypeDisconnect},
		{"invalid UTF-8 topic", append(connect5(), 0x30, 0x06, 0x00, 0x02, 0xC0, 0xAF, 0x00, 'x'), wire.MalformedPacket, wire.TypeDisconnect},
		{"wildcard in a topic name", append(connect5(), 0x30, 0x06, 0x00, 0x02, 'a', '#', 0x00, 'x'), wire.TopicNameInvalid, wire.TypeDisconnect},
		{"bad property in CONNECT", []byte{0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00, 0x02, 0x23, 0x00, 0x00, 0x01, 'c'}, wire.MalformedPacket, wire.TypeConnack},
		{"unsupported version", []byte{0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x07, 0x02, 0x00, 0x00, 0x00, 0x01, 'c'}, wire.RefusedProtocolVersion, wire.TypeConnack},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := r.dialRaw()
			c.t = t
			c.r = wire.NewReader(c.nc, wire.ReaderOptions{Role: wire.ClientSide, Version: wire.V5})
			if tc.want == wire.RefusedProtocolVersion {
				c.r = wire.NewReader(c.nc, wire.ReaderOptions{Role: wire.ClientSide, Version: wire.V311})
			}
			if _, err := c.nc.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			var last wire.Packet
			for _, pk := range c.closed() {
				if pk.Type() == tc.packet {
					last = pk
				}
			}
			var code wire.ReasonCode
			switch pk := last.(type) {
			case *wire.Disconnect:
				code = pk.Reason
			case *wire.Connack:
				code = pk.Reason
			default:
				t.Fatalf("got %T, want %v", last, tc.packet)
			}
			if code != tc.want {
				t.Fatalf("reason %v, want %v", code, tc.want)
			}
			feed.pub("ok", wire.QoS1, uint16(i+1), tc.name)
			if m := bystander.publish(); string(m.Payload) != tc.name {
				t.Fatalf("bystander got %+v", m)
			} else {
				bystander.ack(m)
			}
		})
	}
	// A 3.1.1 client's bad input closes the connection without a word.
	c := r.dialRaw()
	b, _ := wire.AppendPacket(nil, &wire.Connect{Version: wire.V311, ClientID: "bad3", CleanStart: true}, wire.V311)
	c.r = wire.NewReader(c.nc, wire.ReaderOptions{Role: wire.ClientSide, Version: wire.V311})
	c.nc.Write(append(b, b...)) // a second CONNECT
	pk := c.closed()
	if len(pk) != 1 || pk[0].Type() != wire.TypeConnack {
		t.Fatalf("3.1.1: got %v, want CONNACK then close", pk)
	}
	bystander.nothing(100 * time.Millisecond)
}
