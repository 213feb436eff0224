package mqtt

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestVarint(t *testing.T) {
	tests := []struct {
		n   int
		enc []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7F}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xFF, 0x7F}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2097151, []byte{0xFF, 0xFF, 0x7F}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}},
		{MaxVarint, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	}
	for _, tc := range tests {
		if got := appendVarint(nil, tc.n); !slices.Equal(got, tc.enc) || varintLen(tc.n) != len(tc.enc) {
			t.Errorf("encode %d = % x (len %d), want % x", tc.n, got, varintLen(tc.n), tc.enc)
		}
		if v, n := decodeVarint(tc.enc); v != tc.n || n != len(tc.enc) {
			t.Errorf("decode % x = %d, %d", tc.enc, v, n)
		}
		if _, n := decodeVarint(tc.enc[:len(tc.enc)-1]); n != 0 {
			t.Errorf("decode of truncated % x: n = %d, want 0", tc.enc, n)
		}
	}
	for _, bad := range [][]byte{{0x80, 0x00}, {0xFF, 0x80, 0x00}, {0x80, 0x80, 0x80, 0x00}, {0xFF, 0xFF, 0xFF, 0xFF, 0x01}} {
		if _, n := decodeVarint(bad); n != -1 {
			t.Errorf("decode % x: n = %d, want -1", bad, n)
		}
	}
}

func TestValidUTF8(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"", true},
		{"plain", true},
		{"\u00e9\u4e2d\U0001F600", true},
		{"\uFFFD", true}, // an encoded U+FFFD is valid
		{"\uFEFF", true},
		{"\x01\x7f", true}, // disallowed but accepted: SHOULD NOT, not MUST NOT
		{"\x00", false},
		{"a\u00e9\x00", false},
		{"\xed\xa0\x80", false}, // U+D800
		{"\xed\xbf\xbf", false}, // U+DFFF
		{"\xc0\x80", false},     // overlong U+0000
		{"\xe0\x80\xaf", false}, // overlong '/'
		{"\xf4\x90\x80\x80", false},
		{"\xff", false},
		{"\xe4\xb8", false},
	}
	for _, tc := range tests {
		if got := validUTF8(tc.s); got != tc.ok {
			t.Errorf("validUTF8(%q) = %v", tc.s, got)
		}
		if got := validUTF8Bytes([]byte(tc.s)); got != tc.ok {
			t.Errorf("validUTF8Bytes(%q) = %v", tc.s, got)
		}
	}
}

func TestPropertiesHelpers(t *testing.T) {
	var ps Properties
	ps.Add(UserProp("k", "1"))
	ps.Add(IntProp(PropMessageExpiry, 5))
	ps.Add(UserProp("k", "2"))
	ps.Add(IntProp(PropSubscriptionID, 3))
	ps.Add(IntProp(PropSubscriptionID, 3))
	if v, ok := ps.Int(PropMessageExpiry); !ok || v != 5 {
		t.Fatalf("Int = %d, %v", v, ok)
	}
	if _, ok := ps.String(PropContentType); ok {
		t.Fatal("absent property found")
	}
	if got := userProps(ps); !slices.Equal(got, [][2]string{{"k", "1"}, {"k", "2"}}) {
		t.Fatalf("users %v", got)
	}
	if got := subIDs(ps); !slices.Equal(got, []uint32{3, 3}) {
		t.Fatalf("repeated subscription ids collapsed: %v", got)
	}
	ps.Set(IntProp(PropMessageExpiry, 9))
	ps.Set(StringProp(PropContentType, "c"))
	if v, _ := ps.Int(PropMessageExpiry); v != 9 || len(ps) != 6 {
		t.Fatalf("after Set: %v", ps)
	}
	ps.Set(UserProp("only", "one"))
	if got := userProps(ps); !slices.Equal(got, [][2]string{{"only", "one"}}) {
		t.Fatalf("Set of a repeatable property: %v", got)
	}
	ps.Delete(PropSubscriptionID)
	if ps.Has(PropSubscriptionID) || len(ps) != 3 {
		t.Fatalf("after Delete: %v", ps)
	}
	if s := fmt.Sprint(ps); s == "" {
		t.Fatal("no string form")
	}
}

// TestPropertyPlacement checks every property against the packets the
// specification allows it in (table 2-4), written out independently of
// propSpecs.
func TestPropertyPlacement(t *testing.T) {
	const will = 0
	allowed := map[PropID][]Type{
		PropPayloadFormat:           {TypePublish, will},
		PropMessageExpiry:           {TypePublish, will},
		PropContentType:             {TypePublish, will},
		PropResponseTopic:           {TypePublish, will},
		PropCorrelationData:         {TypePublish, will},
		PropSubscriptionID:          {TypePublish, TypeSubscribe},
		PropSessionExpiry:           {TypeConnect, TypeConnack, TypeDisconnect},
		PropAssignedClientID:        {TypeConnack},
		PropServerKeepAlive:         {TypeConnack},
		PropAuthMethod:              {TypeConnect, TypeConnack, TypeAuth},
		PropAuthData:                {TypeConnect, TypeConnack, TypeAuth},
		PropRequestProblemInfo:      {TypeConnect},
		PropWillDelay:               {will},
		PropRequestResponseInfo:     {TypeConnect},
		PropResponseInfo:            {TypeConnack},
		PropServerReference:         {TypeConnack, TypeDisconnect},
		PropReasonString:            {TypeConnack, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSuback, TypeUnsuback, TypeDisconnect, TypeAuth},
		PropReceiveMaximum:          {TypeConnect, TypeConnack},
		PropTopicAliasMaximum:       {TypeConnect, TypeConnack},
		PropTopicAlias:              {TypePublish},
		PropMaximumQoS:              {TypeConnack},
		PropRetainAvailable:         {TypeConnack},
		PropUser:                    {TypeConnect, TypeConnack, TypePublish, will, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypeDisconnect, TypeAuth},
		PropMaximumPacketSize:       {TypeConnect, TypeConnack},
		PropWildcardSubAvailable:    {TypeConnack},
		PropSubscriptionIDAvailable: {TypeConnack},
		PropSharedSubAvailable:      {TypeConnack},
	}
	for id := PropID(0); id < 0x30; id++ {
		ok := allowed[id]
		for pt := Type(0); pt <= TypeAuth; pt++ {
			where := uint32(1) << pt
			if pt == will {
				where = whereWill
			}
			p := Property{ID: id, Int: 1, Str: "x", Name: "n"}
			var seen uint64
			err := checkProp(p, where, &seen, true)
			want := slices.Contains(ok, pt)
			if (err == nil) != want {
				t.Errorf("%v in %s: %v, want allowed=%v", id, whereName(where), err, want)
			}
			if err != nil && !want && !errors.Is(err, ErrMalformed) {
				t.Errorf("%v in %s: %v, want a malformed packet (section 2.2.2.2)", id, whereName(where), err)
			}
		}
	}
}

func TestInboundAliases(t *testing.T) {
	a := NewInboundAliases(3)
	pub := func(topic string, alias uint32) *Publish {
		return &Publish{Topic: topic, Properties: Properties{UserProp("k", "v"), IntProp(PropTopicAlias, alias)}}
	}
	steps := []struct {
		p      *Publish
		topic  string
		reason ReasonCode // 0: no error
	}{
		{pub("", 1), "", ProtocolError}, // not set yet
		{pub("a/b", 1), "a/b", 0},
		{pub("", 1), "a/b", 0},
		{pub("c", 1), "c", 0}, // remapped
		{pub("", 1), "c", 0},
		{pub("x", 3), "x", 0},
		{pub("x", 4), "", TopicAliasInvalid}, // above the maximum
		{pub("x", 0), "", TopicAliasInvalid},
		{&Publish{Topic: "plain"}, "plain", 0},
	}
	for i, s := range steps {
		err := a.Resolve(s.p)
		if s.reason != 0 {
			if code, _ := ReasonFor(err); code != s.reason || !errors.Is(err, ErrProtocol) {
				t.Errorf("step %d: %v, want reason %v", i, err, s.reason)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if s.p.Topic != s.topic || s.p.Properties.Has(PropTopicAlias) || (i < len(steps)-1 && !s.p.Properties.Has(PropUser)) {
			t.Errorf("step %d: topic %q properties %v", i, s.p.Topic, s.p.Properties)
		}
	}
	none := NewInboundAliases(0)
	if err := none.Resolve(pub("a", 1)); err == nil {
		t.Error("an alias accepted with a maximum of 0")
	}
}

func TestOutboundAliasesAssign(t *testing.T) {
	a := NewOutboundAliases(3)
	type step struct {
		topic string
		alias uint16
		known bool
	}
	steps := []step{
		{"a", 1, false}, {"b", 2, false}, {"c", 3, false},
		{"a", 1, true},  // a is now the most recent; b the least
		{"d", 2, false}, // evicts b
		{"b", 3, false}, // evicts c
		{"a", 1, true}, {"d", 2, true}, {"b", 3, true},
		{"e", 1, false}, // evicts a, the least recent after a, d, b
	}
	for i, s := range steps {
		alias, known := a.Assign(s.topic)
		if alias != s.alias || known != s.known {
			t.Fatalf("step %d (%s): alias %d known %v, want %d %v", i, s.topic, alias, known, s.alias, s.known)
		}
	}
	if alias, _ := NewOutboundAliases(0).Assign("a"); alias != 0 {
		t.Errorf("alias %d with a maximum of 0", alias)
	}
	// A large table hands out every alias before reusing any.
	big := NewOutboundAliases(1000)
	for i := range 1000 {
		if alias, known := big.Assign(fmt.Sprint(i)); int(alias) != i+1 || known {
			t.Fatalf("topic %d got alias %d", i, alias)
		}
	}
	if alias, known := big.Assign("new"); alias != 1 || known {
		t.Fatalf("after filling: alias %d known %v, want the least recent (1)", alias, known)
	}
}

func TestDetect(t *testing.T) {
	c4 := connectBytes(t, V311)
	c31 := encode(t, &Connect{Version: V31, ClientID: "x"}, V31)
	big := encode(t, &Connect{Version: V5, ClientID: strings.Repeat("c", 300)}, V5) // a two-byte remaining length
	tests := []struct {
		name string
		in   []byte
		want Detection
	}{
		{"empty", nil, NeedMore},
		{"stomp", []byte("CONNECT\n"), NotMQTT},
		{"http", []byte("GET / HTTP/1.1\r\n"), NotMQTT},
		{"amqp", []byte("AMQP\x00\x01\x00\x00"), NotMQTT},
		{"publish first", hexb(t, "30 05 00 01 61 62 63"), NotMQTT},
		{"connect with flags", hexb(t, "11 0c 00 04"), NotMQTT},
		{"bad length", hexb(t, "10 80 00"), NotMQTT},
		{"too short for a connect", hexb(t, "10 03 00 04 4d"), NotMQTT},
		{"wrong name", hexb(t, "10 0c 00 04 4d 51 54 58"), NotMQTT},
		{"wrong name length", hexb(t, "10 0c 00 05 4d 51 54 54"), NotMQTT},
		{"one byte", c4[:1], NeedMore},
		{"half the name", c4[:6], NeedMore},
		{"3.1.1", c4, IsMQTT},
		{"3.1.1 name only", c4[:8], IsMQTT},
		{"3.1", c31, IsMQTT},
		{"3.1 partial", c31[:7], NeedMore},
		{"5 two-byte length", big[:10], IsMQTT},
		{"5 two-byte length partial", big[:2], NeedMore},
		{"unsupported level still MQTT", patch(c4, 8, 9), IsMQTT},
	}
	for _, tc := range tests {
		if got := Detect(tc.in); got != tc.want {
			t.Errorf("%s: Detect(% x) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	if TypeUnsuback.String() != "UNSUBACK" || Type(0).String() != "packet type 0" {
		t.Error(TypeUnsuback.String(), Type(0).String())
	}
	if V311.String() != "3.1.1" || Version(9).String() != "level 9" {
		t.Error(V311.String(), Version(9).String())
	}
	if PropUser.String() != "User Property" || PropID(0x30).String() != "property 0x30" {
		t.Error(PropUser.String(), PropID(0x30).String())
	}
	if TopicAliasInvalid.String() != "topic alias invalid (0x94)" || !PacketTooLarge.IsError() || GrantedQoS2.IsError() {
		t.Error(TopicAliasInvalid.String())
	}
}
