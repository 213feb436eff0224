package mqtt

import (
	"testing"

	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

func TestPublishToMessage(t *testing.T) {
	p := &wire.Publish{Topic: "a/b", QoS: 2, Retain: true, Payload: []byte("héllo"), Properties: wire.Properties{
		wire.IntProp(wire.PropPayloadFormat, 1), wire.IntProp(wire.PropMessageExpiry, 30),
		wire.StringProp(wire.PropContentType, "text/plain"), wire.StringProp(wire.PropResponseTopic, "re/ply.x"),
		wire.BinaryProp(wire.PropCorrelationData, []byte{0, 1}), wire.UserProp("k", "1"), wire.UserProp("k", "2")}}
	m, bad := toMessage(p, "a.b", message.Multicast, 1000)
	if bad {
		t.Fatal("valid UTF-8 reported bad")
	}
	if m.Address != "a.b" || !m.Durable || m.BodyKind != message.BodyText || m.Expiration != 31000 || m.Timestamp != 1000 {
		t.Fatalf("message %+v", m)
	}
	if m.ContentType() != "text/plain" || m.ReplyTo() != `topic://re.ply\.x` || m.CorrelationID() != "\x00\x01" {
		t.Fatalf("extra %+v", m.Extra)
	}
	if len(m.Properties) != 2 || m.Properties[0].Value != "1" || m.Properties[1].Value != "2" {
		t.Fatalf("properties %v", m.Properties)
	}
	if q, retain, cp := mqttFlags(m); q != 2 || !retain || cp {
		t.Fatalf("flags %d %v %v", q, retain, cp)
	}
	if _, bad := toMessage(&wire.Publish{Topic: "x", Payload: []byte{0xff}, Properties: wire.Properties{wire.IntProp(wire.PropPayloadFormat, 1)}},
		"x", message.Multicast, 0); !bad {
		t.Fatal("invalid UTF-8 with payload format 1 not reported")
	}
}

func TestMessageToPublish(t *testing.T) {
	m := &message.Message{ID: 9, Address: "a.b", BodyKind: message.BodyMap, Body: message.EncodeMap([]message.Property{
		message.Int64("n", message.KindInt, 3)}), Expiration: 10_500, Properties: []message.Property{
		message.Str("s", "v"), message.Binary("bin", []byte{1, 2}), message.Str("bad\x00key", "x"), message.Str("k", "\xff")}}
	m.SetHeaders("", "corr", "queue://replies.q", "")
	p, ok := buildPublish(m, delivery{topic: "a/b", qos: 1, dup: true, pid: 4, subIDs: []uint32{5, 6}}, wire.V5, 10_000)
	if !ok {
		t.Fatal("not delivered")
	}
	if string(p.Payload) != `{"n":3}` || !p.Dup || p.PacketID != 4 || p.QoS != 1 {
		t.Fatalf("publish %+v", p)
	}
	want := map[wire.PropID]any{wire.PropPayloadFormat: uint32(1), wire.PropMessageExpiry: uint32(1),
		wire.PropContentType: "application/json", wire.PropResponseTopic: "replies/q"}
	for id, v := range want {
		got, _ := p.Properties.Get(id)
		if got.Int != v && got.Str != v {
			t.Errorf("%v = %+v, want %v", id, got, v)
		}
	}
	var users []string
	for u := range p.Properties.All(wire.PropUser) {
		users = append(users, u.Name+"="+u.Str)
	}
	if len(users) != 2 || users[0] != "s=v" || users[1] != "bin=AQI=" {
		t.Errorf("user properties %v: binary as base64, unsendable ones left out", users)
	}
	var ids []uint32
	for s := range p.Properties.All(wire.PropSubscriptionID) {
		ids = append(ids, s.Int)
	}
	if len(ids) != 2 {
		t.Errorf("subscription ids %v", ids)
	}
	if _, err := wire.PacketSize(p, wire.V5); err != nil {
		t.Fatalf("the PUBLISH cannot be sent: %v", err)
	}
	p3, _ := buildPublish(m, delivery{topic: "a/b", qos: 0, dup: true}, wire.V311, 10_000)
	if len(p3.Properties) != 0 || p3.Dup || p3.PacketID != 0 {
		t.Fatalf("3.1.1 QoS 0 publish %+v", p3)
	}
	if _, ok := buildPublish(m, delivery{topic: "a/b"}, wire.V5, 10_500); ok {
		t.Fatal("an expired message was delivered")
	}
	if q, _, _ := mqttFlags(m); q != 2 {
		t.Fatalf("a message from another protocol has QoS %d, want 2", q)
	}
}

func TestPacketIdentifiersAreStablePerMessage(t *testing.T) {
	seen := map[uint16]uint64{}
	for id := uint64(1); id <= 70000; id++ {
		pid := pidFor(id)
		if pid == 0 {
			t.Fatalf("message %d gets packet id 0", id)
		}
		if prev, dup := seen[pid]; dup && id-prev < 65535 {
			t.Fatalf("messages %d and %d, fewer than 65535 apart, share packet id %d", prev, id, pid)
		}
		seen[pid] = id
	}
}
