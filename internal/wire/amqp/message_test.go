package amqp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fullSections returns a message with every section.
func fullSections() *Sections {
	return &Sections{
		Header:              &Header{Durable: true, Priority: Some(uint8(9)), TTL: Some(uint32(60000)), FirstAcquirer: true, DeliveryCount: 2},
		DeliveryAnnotations: Map{{Symbol("x-opt-da"), "for the broker"}},
		MessageAnnotations: Map{
			{AnnotationJMSDest, uint8(JMSDestTopic)},
			{AnnotationJMSMsgType, uint8(JMSMsgTypeText)},
			{AnnotationDeliveryDelay, int64(1500)},
			{AnnotationDeliveryTime, Timestamp(1700000000000)},
		},
		Properties: &Properties{
			MessageID: "ID:1", UserID: []byte("guest"), To: "orders", Subject: "s", ReplyTo: "replies",
			CorrelationID: UUID{1}, ContentType: "text/plain", ContentEncoding: "utf-8",
			AbsoluteExpiryTime: 1700000060000, CreationTime: 1700000000000, GroupID: "g", GroupSequence: Some(uint32(0)), ReplyToGroupID: "rg",
		},
		ApplicationProperties: Map{{"color", "red"}, {"n", int32(7)}, {"ok", true}},
		Body:                  ValueBody("hello"),
		Footer:                Map{{Symbol("x-opt-checksum"), uint32(1)}},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	bodies := []Body{
		ValueBody("hello"),
		ValueBody(nil),
		ValueBody(Map{{"k", List{int64(1)}}}),
		{Kind: BodyData, Data: [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{1}, 300)}},
		{Kind: BodySequence, Sequence: []List{{uint32(1)}, {}}},
	}
	for _, body := range bodies {
		s := fullSections()
		s.Body = body
		raw, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseMessage(raw)
		if err != nil {
			t.Fatalf("%v body: %v", body.Kind, err)
		}
		if m.BodyKind() != body.Kind {
			t.Fatalf("body kind %v, want %v", m.BodyKind(), body.Kind)
		}
		got, err := m.Sections()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("%v body: round trip changed\n%#v\ninto\n%#v", body.Kind, s, got)
		}
		again, err := got.Encode()
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("%v body: re-encoding differs (%v)", body.Kind, err)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMessageSpansAndAccessors(t *testing.T) {
	s := fullSections()
	raw, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	// The spans tile the message in order.
	at := 0
	for k := SectionHeader; k < numSections; k++ {
		if k.isBody() {
			if k == SectionAMQPValue {
				for _, sp := range m.BodySpans() {
					if sp.Start != at {
						t.Fatalf("body span starts at %d, want %d", sp.Start, at)
					}
					at = sp.End
				}
			}
			continue
		}
		sp, ok := m.Span(k)
		if !ok {
			t.Fatalf("%s missing", k)
		}
		if sp.Start != at {
			t.Fatalf("%s starts at %d, want %d", k, sp.Start, at)
		}
		at = sp.End
	}
	if at != len(raw) {
		t.Fatalf("spans end at %d of %d", at, len(raw))
	}
	h := m.Header()
	if !m.HasHeader() || h.EffectivePriority() != 9 || h.DeliveryCount != 2 {
		t.Fatalf("header %+v", h)
	}
	if p := m.Properties(); p == nil || p.To != "orders" || p.CorrelationID != (UUID{1}) {
		t.Fatalf("properties %+v", p)
	}
	ap, err := m.ApplicationProperties()
	if err != nil || !reflect.DeepEqual(ap, map[string]any{"color": "red", "n": int32(7), "ok": true}) {
		t.Fatalf("application properties %v %v", ap, err)
	}
	a, err := m.Annotations()
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := a.JMSDest(); !ok || d != JMSDestTopic {
		t.Errorf("jms dest %v %v", d, ok)
	}
	if d, ok := a.JMSMsgType(); !ok || d != JMSMsgTypeText {
		t.Errorf("jms msg type %v %v", d, ok)
	}
	if d, ok := a.DeliveryDelay(); !ok || d != 1500 {
		t.Errorf("delivery delay %v %v", d, ok)
	}
	if d, ok := a.DeliveryTime(); !ok || d != 1700000000000 {
		t.Errorf("delivery time %v %v", d, ok)
	}
	if _, ok := a.JMSReplyTo(); ok {
		t.Error("jms reply-to found")
	}
	// Delivery time as a long, as some clients send it.
	a = Annotations{Map: Map{{AnnotationDeliveryTime, int64(5)}}}
	if d, ok := a.DeliveryTime(); !ok || d != 5 {
		t.Errorf("delivery time as long %v %v", d, ok)
	}
}

func TestMessageWithoutSections(t *testing.T) {
	m, err := ParseMessage(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.HasHeader() || m.Properties() != nil || m.BodyKind() != BodyNone {
		t.Fatal("an empty message has sections")
	}
	if h := m.Header(); h.EffectivePriority() != DefaultPriority {
		t.Fatal("default priority")
	}
	ap, err := m.ApplicationProperties()
	if ap != nil || err != nil {
		t.Fatal(ap, err)
	}
}

func TestParseMessageRefuses(t *testing.T) {
	enc := func(s *Sections) []byte {
		b, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	header := enc(&Sections{Header: &Header{Durable: true}})
	props := enc(&Sections{Properties: &Properties{To: "a"}})
	value := enc(&Sections{Body: ValueBody("v")})
	data := enc(&Sections{Body: DataBody([]byte("d"))})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		is   error
		msg  string
	}{
		{"not described", []byte{0x40}, ErrBadMessage, "where a section starts"},
		{"unknown section", unhex(t, "00 53 79 45"), ErrBadMessage, "unknown section"},
		{"symbol descriptor of a non-section", unhex(t, "00 a3 01 78 45"), ErrBadMessage, "unknown section"},
		{"header twice", cat(header, header), ErrBadMessage, "after a header"},
		{"properties before header", cat(props, header), ErrBadMessage, "header section at offset"},
		{"two amqp-values", cat(value, value), ErrBadMessage, "a second amqp-value"},
		{"data then value", cat(data, value), ErrBadMessage, "mixes data and amqp-value"},
		{"properties after body", cat(value, props), ErrBadMessage, "after a amqp-value"},
		{"data not binary", unhex(t, "00 53 75 a1 01 61"), ErrDecode, "a binary"},
		{"annotations not a map", unhex(t, "00 53 72 45"), ErrDecode, "a map"},
		{"sequence not a list", unhex(t, "00 53 76 40"), ErrDecode, "a list"},
		{"truncated value", unhex(t, "00 53 77 a1 05 61"), ErrDecode, "early"},
		{"bad message id", enc(&Sections{Properties: &Properties{}})[:3], ErrDecode, ""},
		{"message id of type bool", unhex(t, "00 53 73 c0 02 01 41"), ErrDecode, "message id of type bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage(tt.in)
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestApplicationPropertiesMustHaveStringKeys(t *testing.T) {
	for _, ap := range []Map{{{Symbol("k"), 1}}, {{"k", 1}, {"k", 2}}} {
		raw, _ := (&Sections{ApplicationProperties: ap}).Encode()
		m, err := ParseMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.ApplicationProperties(); !errors.Is(err, ErrDecode) {
			t.Errorf("%v: %v", ap, err)
		}
	}
}

func TestAppendForDelivery(t *testing.T) {
	noHeader := &Sections{Properties: &Properties{MessageID: uint64(1)}, Body: DataBody([]byte("x"))}
	withDA := fullSections()
	// A header in a non-canonical form (uint in four bytes, a trailing
	// null): copied as is while unchanged.
	oddHeader := unhex(t, "00 53 70 c0 0a 04 41 50 04 70 00000000 40")
	oddRaw := append(append([]byte{}, oddHeader...), unhex(t, "00 53 77 a1 01 61")...)

	t.Run("first delivery is byte-identical", func(t *testing.T) {
		raw, _ := noHeader.Encode()
		m, _ := ParseMessage(raw)
		if got := m.AppendForDelivery(nil, 0, false); !bytes.Equal(got, raw) {
			t.Fatalf("got % x\nwant % x", got, raw)
		}
		m, err := ParseMessage(oddRaw)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AppendForDelivery(nil, 0, false); !bytes.Equal(got, oddRaw) {
			t.Fatalf("odd header rewritten: % x", got)
		}
	})
	t.Run("redelivery adds a header", func(t *testing.T) {
		raw, _ := noHeader.Encode()
		got, err := RewriteForDelivery([]byte("prefix"), raw, 3, true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatal("prefix lost")
		}
		m, err := ParseMessage(got[6:])
		if err != nil {
			t.Fatal(err)
		}
		if h := m.Header(); h != (Header{DeliveryCount: 3, FirstAcquirer: true}) {
			t.Fatalf("header %+v", h)
		}
		if !bytes.HasSuffix(got, raw) {
			t.Fatal("the rest of the message changed")
		}
	})
	t.Run("header rewritten, delivery-annotations stripped, rest identical", func(t *testing.T) {
		raw, _ := withDA.Encode()
		m, _ := ParseMessage(raw)
		got := m.AppendForDelivery(nil, 5, false)
		back, err := ParseMessage(got)
		if err != nil {
			t.Fatal(err)
		}
		want := *withDA.Header
		want.DeliveryCount, want.FirstAcquirer = 5, false
		if back.Header() != want {
			t.Fatalf("header %+v, want %+v", back.Header(), want)
		}
		if _, ok := back.Span(SectionDeliveryAnnotations); ok {
			t.Fatal("delivery-annotations kept")
		}
		ma, _ := m.Span(SectionMessageAnnotations)
		gotMA, _ := back.Span(SectionMessageAnnotations)
		if !bytes.Equal(got[gotMA.Start:], raw[ma.Start:]) {
			t.Fatal("sections after the header changed")
		}
		// The odd header is re-encoded once the count changes.
		m, _ = ParseMessage(oddRaw)
		got = m.AppendForDelivery(nil, 1, false)
		back, err = ParseMessage(got)
		if err != nil || back.Header() != (Header{Durable: true, Priority: Some(uint8(4)), TTL: Some(uint32(0)), DeliveryCount: 1}) {
			t.Fatalf("%+v %v", back.Header(), err)
		}
	})
	t.Run("annotations merged", func(t *testing.T) {
		for _, s := range []*Sections{noHeader, withDA} {
			raw, _ := s.Encode()
			m, _ := ParseMessage(raw)
			got, err := m.AppendRewritten(nil, Rewrite{DeliveryCount: 1, KeepDeliveryAnnotations: true,
				Annotations: Map{{AnnotationOrigAddress, "orders"}, {AnnotationJMSDest, uint8(0)}}})
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseMessage(got)
			if err != nil {
				t.Fatal(err)
			}
			all, err := back.Sections()
			if err != nil {
				t.Fatal(err)
			}
			want := *s
			want.Header = &Header{DeliveryCount: 1}
			if s.Header != nil {
				h := *s.Header
				h.DeliveryCount, h.FirstAcquirer = 1, false
				want.Header = &h
			}
			want.MessageAnnotations = append(Map(nil), s.MessageAnnotations...)
			want.MessageAnnotations.Set(AnnotationOrigAddress, "orders")
			want.MessageAnnotations.Set(AnnotationJMSDest, uint8(0))
			if !reflect.DeepEqual(all, &want) {
				t.Fatalf("got %#v\nwant %#v", all, &want)
			}
		}
	})
}

func TestCoordinatorRequest(t *testing.T) {
	for _, req := range []any{&Declare{}, &Discharge{TxnID: []byte{1, 2}, Fail: true}, &Discharge{TxnID: []byte{}}} {
		raw, err := (&Sections{Body: ValueBody(req)}).Encode()
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.CoordinatorRequest()
		if err != nil || !reflect.DeepEqual(got, req) {
			t.Fatalf("%#v decoded as %#v (%v)", req, got, err)
		}
	}
	for _, body := range []Body{DataBody(nil), ValueBody("x"), ValueBody(&Accepted{}), ValueBody(nil)} {
		raw, _ := (&Sections{Body: body}).Encode()
		m, _ := ParseMessage(raw)
		if _, err := m.CoordinatorRequest(); err == nil {
			t.Errorf("%v accepted as a coordinator request", body)
		}
	}
}
