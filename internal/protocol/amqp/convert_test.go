package amqp

import (
	"testing"
	"time"

	"tandem/internal/message"
	wire "tandem/internal/wire/amqp"
)

func TestToMessage(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	uuid := wire.UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}
	tests := []struct {
		name  string
		in    wire.Sections
		check func(t *testing.T, m *message.Message)
	}{
		{"text with headers", wire.Sections{
			Header: &wire.Header{Durable: true, Priority: wire.Some(uint8(200)), TTL: wire.Some(uint32(1000))},
			MessageAnnotations: wire.Map{{Key: wire.AnnotationJMSReplyTo, Value: wire.JMSDestTopic},
				{Key: wire.AnnotationDeliveryDelay, Value: int64(500)}},
			Properties: &wire.Properties{MessageID: uint64(7), CorrelationID: uuid, ReplyTo: "answers", Subject: "type-x",
				ContentType: "text/plain", UserID: []byte("alice"), GroupID: "g", GroupSequence: wire.Some(uint32(3)),
				CreationTime: 1_600_000_000_000},
			ApplicationProperties: wire.Map{{Key: "s", Value: "v"}, {Key: "i", Value: int32(-4)}, {Key: "u", Value: uint64(1 << 63)},
				{Key: "b", Value: []byte{1, 2}}, {Key: "sym", Value: wire.Symbol("S")}, {Key: "n", Value: nil}},
			Body: wire.ValueBody("héllo"),
		}, func(t *testing.T, m *message.Message) {
			if !m.Durable || m.Priority != 9 || m.BodyKind != message.BodyText || string(m.Body) != "héllo" {
				t.Errorf("durable %v priority %d kind %v body %q", m.Durable, m.Priority, m.BodyKind, m.Body)
			}
			if m.Expiration != now.UnixMilli()+1000 || m.ScheduledTime != now.UnixMilli()+500 || m.Timestamp != 1_600_000_000_000 {
				t.Errorf("times %d %d %d", m.Expiration, m.ScheduledTime, m.Timestamp)
			}
			x := m.Extra
			if x.MessageID != "AMQP_ULONG:7" || x.CorrelationID != "AMQP_UUID:12345678-9abc-def0-1234-56789abcdef0" ||
				x.ReplyTo != "topic://answers" || x.Type != "type-x" || x.UserID != "alice" || x.GroupID != "g" || x.GroupSeq != 3 ||
				x.ContentType != "text/plain" {
				t.Errorf("extra %+v", x)
			}
			want := []message.Property{message.Str("s", "v"), message.Int64("i", message.KindInt, -4),
				message.Uint64("u", message.KindULong, 1<<63), message.Binary("b", []byte{1, 2}),
				{Key: "sym", Value: "S", Kind: message.KindSymbol}, message.Null("n")}
			if len(m.Properties) != len(want) {
				t.Fatalf("properties %v", m.Properties)
			}
			for i := range want {
				if m.Properties[i] != want[i] {
					t.Errorf("property %d: %+v, want %+v", i, m.Properties[i], want[i])
				}
			}
		}},
		{"data is bytes", wire.Sections{Body: wire.Body{Kind: wire.BodyData, Data: [][]byte{[]byte("ab"), []byte("cd")}}},
			func(t *testing.T, m *message.Message) {
				if m.BodyKind != message.BodyBytes || string(m.Body) != "abcd" {
					t.Errorf("%v %q", m.BodyKind, m.Body)
				}
			}},
		{"serialized object", wire.Sections{Properties: &wire.Properties{ContentType: contentTypeJavaObject}, Body: wire.DataBody([]byte{0xac, 0xed})},
			func(t *testing.T, m *message.Message) {
				if m.BodyKind != message.BodyObject {
					t.Errorf("kind %v", m.BodyKind)
				}
			}},
		{"map", wire.Sections{Body: wire.ValueBody(wire.Map{{Key: "k", Value: int64(1)}, {Key: "nested", Value: wire.List{"a"}}})},
			func(t *testing.T, m *message.Message) {
				entries, err := message.DecodeMap(m.Body)
				if m.BodyKind != message.BodyMap || err != nil || len(entries) != 2 || entries[1].Value != "[a]" {
					t.Errorf("%v %v %v", m.BodyKind, entries, err)
				}
			}},
		{"sequence", wire.Sections{Body: wire.Body{Kind: wire.BodySequence, Sequence: []wire.List{{int32(1)}, {"x"}}}},
			func(t *testing.T, m *message.Message) {
				vals, err := message.DecodeList(m.Body)
				if m.BodyKind != message.BodyList || err != nil || len(vals) != 2 {
					t.Errorf("%v %v %v", m.BodyKind, vals, err)
				}
			}},
		{"no body", wire.Sections{}, func(t *testing.T, m *message.Message) {
			if m.BodyKind != message.BodyNone {
				t.Errorf("kind %v", m.BodyKind)
			}
		}},
		{"absolute expiry and delivery time win", wire.Sections{
			Header:             &wire.Header{TTL: wire.Some(uint32(5))},
			MessageAnnotations: wire.Map{{Key: wire.AnnotationDeliveryTime, Value: wire.Timestamp(1_800_000_000_000)}, {Key: wire.AnnotationDeliveryDelay, Value: int64(9)}},
			Properties:         &wire.Properties{AbsoluteExpiryTime: 1_900_000_000_000},
			Body:               wire.ValueBody(nil),
		}, func(t *testing.T, m *message.Message) {
			if m.Expiration != 1_900_000_000_000 || m.ScheduledTime != 1_800_000_000_000 {
				t.Errorf("expiration %d scheduled %d", m.Expiration, m.ScheduledTime)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := tc.in.Encode()
			if err != nil {
				t.Fatal(err)
			}
			pm, err := wire.ParseMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			m, err := toMessage(pm, dest{address: "a"}, now)
			if err != nil {
				t.Fatal(err)
			}
			if n := m.Native(); n == nil || n.Format != message.NativeAMQP || string(n.Data) != string(raw) {
				t.Errorf("native encoding not kept as sent")
			}
			tc.check(t, m)
		})
	}
}

// TestConvertedRoundTrip converts a message from another protocol into
// AMQP sections and back: the neutral fields survive.
func TestConvertedRoundTrip(t *testing.T) {
	in := &message.Message{ID: 9, Address: "orders", Durable: true, Priority: 6, BodyKind: message.BodyMap,
		Timestamp: 1_600_000_000_000, Expiration: 1_700_000_000_000,
		Body: message.EncodeMap([]message.Property{message.Str("a", "b"), message.Int64("n", message.KindLong, 5)}),
		Properties: []message.Property{message.Str("color", "red"), message.Str("color", "second is dropped"),
			message.Double("d", 1.5), message.Char("c", 'x'), {Key: "id", Value: "12345678-9abc-def0-1234-56789abcdef0", Kind: message.KindUUID}}}
	in.SetHeaders("application/x", "AMQP_BINARY:0A0B", "temp-queue://tq", "T")
	in.EditExtra(func(x *message.Extra) { x.MessageID, x.GroupID, x.GroupSeq = "AMQP_ULONG:77", "grp", 4 })
	s, err := sectionsOf(in, in.Body, 2)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := wire.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h := pm.Header(); h.DeliveryCount != 2 || !h.Durable || h.EffectivePriority() != 6 {
		t.Errorf("header %+v", h)
	}
	p := pm.Properties()
	if p.MessageID != uint64(77) || string(p.CorrelationID.([]byte)) != "\x0a\x0b" || p.ReplyTo != "tq" || p.To != "orders" {
		t.Errorf("properties %+v", p)
	}
	out, err := toMessage(pm, dest{address: "orders"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out.Extra.ReplyTo != "temp-queue://tq" || out.Extra.CorrelationID != "AMQP_BINARY:0A0B" || out.Extra.MessageID != "AMQP_ULONG:77" ||
		out.Extra.GroupID != "grp" || out.Extra.GroupSeq != 4 || out.Extra.Type != "T" || out.Extra.ContentType != "application/x" {
		t.Errorf("extra %+v", out.Extra)
	}
	if out.BodyKind != message.BodyMap || string(out.Body) != string(in.Body) {
		t.Errorf("body %v %q", out.BodyKind, out.Body)
	}
	if out.Expiration != in.Expiration || out.Timestamp != in.Timestamp {
		t.Errorf("times %d %d", out.Expiration, out.Timestamp)
	}
	if len(out.Properties) != 4 || out.Properties[0] != message.Str("color", "red") || out.Properties[1] != message.Double("d", 1.5) ||
		out.Properties[2] != message.Char("c", 'x') || out.Properties[3].Kind != message.KindUUID {
		t.Errorf("properties %+v", out.Properties)
	}
}
