package openwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestBodyHelpers(t *testing.T) {
	m := &Message{Kind: TypeMapMessage}
	if err := m.SetMapBody(NewMap()); err != nil || m.Content != nil {
		t.Fatalf("an empty map body: %x, %v", m.Content, err)
	}
	if body, err := m.MapBody(); err != nil || body.Len() != 0 {
		t.Fatalf("no body read as a map: %v, %v", body, err)
	}
	s := &Message{Kind: TypeStreamMessage}
	if err := s.SetStreamBody(nil); err != nil || s.Content != nil {
		t.Fatalf("an empty stream body: %x, %v", s.Content, err)
	}
	if vs, err := s.StreamBody(); err != nil || len(vs) != 0 {
		t.Fatalf("no body read as a stream: %v, %v", vs, err)
	}
	tm := &Message{Kind: TypeTextMessage}
	if text, err := tm.Text(); err != nil || text != "" {
		t.Fatalf("no body read as text: %q, %v", text, err)
	}
	tm.Content = []byte{0xff, 0xff, 0xff, 0xff} // Java's null text
	if text, err := tm.Text(); err != nil || text != "" {
		t.Fatalf("a null text: %q, %v", text, err)
	}
	props := NewMap()
	props.Set("k", Int(1))
	if err := tm.SetProperties(props); err != nil || tm.MarshalledProperties == nil {
		t.Fatal(err)
	}
	if err := tm.SetProperties(nil); err != nil || tm.MarshalledProperties != nil {
		t.Fatal("clearing properties kept them")
	}
	if p, err := tm.Properties(); err != nil || p.Len() != 0 {
		t.Fatalf("no properties: %v, %v", p, err)
	}
}

func TestBadBodies(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, MaxInflatedSize+1)
	for _, tc := range []struct {
		name string
		m    *Message
		read func(*Message) error
	}{
		{"short text", &Message{Kind: TypeTextMessage, Content: []byte{0, 0}}, textErr},
		{"text longer than its body", &Message{Kind: TypeTextMessage, Content: []byte{0, 0, 0, 9, 'a'}}, textErr},
		{"text in bad UTF-8", &Message{Kind: TypeTextMessage, Content: []byte{0, 0, 0, 1, 0x80}}, textErr},
		{"compressed bytes without a length", &Message{Kind: TypeBytesMessage, Compressed: true, Content: []byte{0, 0}}, contentErr},
		{"compressed bytes claiming too much", &Message{Kind: TypeBytesMessage, Compressed: true, Content: append(huge, 0x78, 0x9c)}, contentErr},
		{"compressed text that is not zlib", &Message{Kind: TypeTextMessage, Compressed: true, Content: []byte("plain")}, textErr},
		{"a corrupt map body", &Message{Kind: TypeMapMessage, Content: []byte{0, 0, 0, 1}}, func(m *Message) error { _, err := m.MapBody(); return err }},
		{"corrupt properties", &Message{Kind: TypeMessage, MarshalledProperties: []byte{0, 0, 0, 1}}, func(m *Message) error { _, err := m.Properties(); return err }},
	} {
		if err := tc.read(tc.m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func textErr(m *Message) error    { _, err := m.Text(); return err }
func contentErr(m *Message) error { _, err := m.UncompressedContent(); return err }

func TestCompressLeavesWhatItCannotImprove(t *testing.T) {
	m := &Message{Kind: TypeBytesMessage}
	if err := m.Compress(); err != nil || m.Compressed || m.Content != nil {
		t.Fatal("compressing no body changed the message")
	}
	m.SetContent([]byte("abc"))
	if err := m.Compress(); err != nil || !m.Compressed {
		t.Fatal(err)
	}
	first := slices.Clone(m.Content)
	if err := m.Compress(); err != nil || !bytes.Equal(m.Content, first) {
		t.Fatal("compressing twice changed the body")
	}
	if got, err := m.UncompressedContent(); err != nil || string(got) != "abc" {
		t.Fatalf("%q, %v", got, err)
	}
}

func TestDestinations(t *testing.T) {
	d := NewQueue(" a, topic://b ,, a,temp-queue://c")
	if !d.IsComposite() {
		t.Fatal("not composite")
	}
	if got := names(d.Members()); !slices.Equal(got, []string{"queue://a", "topic://b", "temp-queue://c"}) {
		t.Fatalf("members %v", got)
	}
	if got := names(NewTopic("x").Members()); !slices.Equal(got, []string{"topic://x"}) {
		t.Fatalf("a plain topic's members: %v", got)
	}
	for _, tc := range []struct {
		d                  *Destination
		queue, topic, temp bool
		str                string
	}{
		{NewQueue("q"), true, false, false, "queue://q"},
		{NewTopic("t"), false, true, false, "topic://t"},
		{NewTempQueue("tq"), true, false, true, "temp-queue://tq"},
		{NewTempTopic("tt"), false, true, true, "temp-topic://tt"},
	} {
		if tc.d.IsQueue() != tc.queue || tc.d.IsTopic() != tc.topic || tc.d.IsTemporary() != tc.temp || tc.d.String() != tc.str {
			t.Errorf("%v: queue %t topic %t temp %t", tc.d, tc.d.IsQueue(), tc.d.IsTopic(), tc.d.IsTemporary())
		}
		if back := ParseDestination(tc.str, TypeQueue); *back != *tc.d {
			t.Errorf("ParseDestination(%q) = %v", tc.str, back)
		}
	}
}

func TestIDStrings(t *testing.T) {
	pid := &ProducerID{ConnectionID: "ID:h-1", Value: 3, SessionID: 2}
	cid := &ConsumerID{ConnectionID: "ID:h-1", SessionID: 2, Value: 5}
	for _, tc := range []struct {
		got, want string
	}{
		{pid.String(), "ID:h-1:2:3"},
		{cid.String(), "ID:h-1:2:5"},
		{cid.ParentID().String(), "ID:h-1:2"},
		{pid.ParentID().String(), "ID:h-1:2"},
		{(&MessageID{ProducerID: pid, ProducerSequenceID: 9}).String(), "ID:h-1:2:3:9"},
		{(&MessageID{TextView: "abc"}).String(), "ID:abc"},
		{(&MessageID{TextView: "ID:abc"}).String(), "ID:abc"},
		{(&LocalTransactionID{Value: 4, ConnectionID: &ConnectionID{Value: "ID:h-1"}}).String(), "TX:ID:h-1:4"},
		{(&XATransactionID{FormatID: 1, GlobalTransactionID: []byte{0xab}, BranchQualifier: []byte{1}}).String(), "XID:[1,ab,01]"},
		{TypeConsumerInfo.String(), "ConsumerInfo"},
		{DataType(200).String(), "type 200"},
		{ValueBigString.String(), "big string"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}
