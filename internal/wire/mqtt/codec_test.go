package mqtt

import (
	"bytes"
	"encoding/hex"
	"io"
	"reflect"
	"strings"
	"testing"
)

// hexb decodes hex with spaces, for hand-written packets.
func hexb(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(t testing.TB, p Packet, v Version) []byte {
	t.Helper()
	b, err := AppendPacket(nil, p, v)
	if err != nil {
		t.Fatalf("encoding %v: %v", p.Type(), err)
	}
	return b
}

func connectBytes(t testing.TB, v Version) []byte {
	return encode(t, &Connect{Version: v, CleanStart: true, ClientID: "c"}, v)
}

// normalize clears what legitimately differs between a built packet and
// the same packet decoded: the recorded short form, and nil versus empty
// slices.
func normalize(p Packet) Packet {
	switch p := p.(type) {
	case *Publish:
		q := *p
		if len(q.Payload) == 0 {
			q.Payload = nil
		}
		return &q
	case *Puback:
		q := *p
		q.form = 0
		return &q
	case *Pubrec:
		q := *p
		q.form = 0
		return &q
	case *Pubrel:
		q := *p
		q.form = 0
		return &q
	case *Pubcomp:
		q := *p
		q.form = 0
		return &q
	case *Disconnect:
		q := *p
		q.form = 0
		return &q
	case *Auth:
		q := *p
		q.form = 0
		return &q
	case *Connect:
		q := *p
		if q.Will != nil {
			w := *q.Will
			if len(w.Payload) == 0 {
				w.Payload = nil
			}
			q.Will = &w
		}
		if len(q.Password) == 0 {
			q.Password = nil
		}
		return &q
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	longTopic := strings.Repeat("x/", 200) + "end"
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // a three-byte remaining length
	v5props := Properties{UserProp("a", "1"), UserProp("a", "2"), StringProp(PropReasonString, "why")}
	tests := []struct {
		name string
		v    Version
		p    Packet
		role Role // the side that reads it
	}{
		{"connect 3.1", V31, &Connect{Version: V31, ProtocolName: ProtocolNameV31, ClientID: "legacy", KeepAlive: 10}, ServerSide},
		{"connect 3.1.1 full", V311, &Connect{Version: V311, CleanStart: true, KeepAlive: 60, ClientID: "id",
			Will:        &Will{QoS: 2, Retain: true, Topic: "w/t", Payload: []byte("bye")},
			HasUsername: true, Username: "u", HasPassword: true, Password: []byte{0, 1, 2}}, ServerSide},
		{"connect 3.1.1 empty user and password", V311, &Connect{Version: V311, HasUsername: true, HasPassword: true}, ServerSide},
		{"connect 5 props", V5, &Connect{Version: V5, ClientID: "x",
			Properties: Properties{IntProp(PropSessionExpiry, 0xFFFFFFFF), IntProp(PropReceiveMaximum, 10),
				IntProp(PropMaximumPacketSize, 1024), IntProp(PropTopicAliasMaximum, 0), IntProp(PropRequestProblemInfo, 0),
				IntProp(PropRequestResponseInfo, 1), StringProp(PropAuthMethod, "SCRAM"), BinaryProp(PropAuthData, []byte{9}),
				UserProp("k", "v")},
			Will: &Will{QoS: 1, Topic: "w", Properties: Properties{IntProp(PropWillDelay, 5), IntProp(PropPayloadFormat, 1),
				IntProp(PropMessageExpiry, 9), StringProp(PropContentType, "t"), StringProp(PropResponseTopic, "r"),
				BinaryProp(PropCorrelationData, []byte("c")), UserProp("w", "1")}},
			HasPassword: true, Password: []byte("token")}, ServerSide},
		{"connack 3.1.1", V311, &Connack{SessionPresent: true}, ClientSide},
		{"connack 3.1.1 refused", V311, &Connack{Reason: RefusedNotAuthorized}, ClientSide},
		{"connack 5", V5, &Connack{Reason: Success, Properties: Properties{
			IntProp(PropSessionExpiry, 10), StringProp(PropAssignedClientID, "gen"), IntProp(PropServerKeepAlive, 30),
			StringProp(PropResponseInfo, "ri"), StringProp(PropServerReference, "other:1883"), IntProp(PropMaximumQoS, 1),
			IntProp(PropRetainAvailable, 0), IntProp(PropWildcardSubAvailable, 0), IntProp(PropSubscriptionIDAvailable, 0),
			IntProp(PropSharedSubAvailable, 0), StringProp(PropReasonString, "ok")}}, ClientSide},
		{"connack 5 refused", V5, &Connack{Reason: BadAuthenticationMethod}, ClientSide},
		{"publish qos0", V311, &Publish{Topic: "a/b", Payload: []byte("hi")}, ServerSide},
		{"publish qos1 dup retain", V311, &Publish{QoS: 1, Dup: true, Retain: true, PacketID: 7, Topic: "a", Payload: []byte{}}, ServerSide},
		{"publish qos2 long topic big payload", V311, &Publish{QoS: 2, PacketID: 65535, Topic: longTopic, Payload: big}, ServerSide},
		{"publish 5 props", V5, &Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("p"), Properties: Properties{
			IntProp(PropPayloadFormat, 1), IntProp(PropMessageExpiry, 3), IntProp(PropTopicAlias, 4),
			StringProp(PropResponseTopic, "r/t"), BinaryProp(PropCorrelationData, []byte{}), StringProp(PropContentType, "ct"),
			UserProp("", ""), UserProp("k", "v")}}, ServerSide},
		{"publish 5 alias only", V5, &Publish{Topic: "", Properties: Properties{IntProp(PropTopicAlias, 1)}}, ServerSide},
		{"publish 5 from server, two subscription ids", V5, &Publish{Topic: "t", Properties: Properties{
			IntProp(PropSubscriptionID, 1), IntProp(PropSubscriptionID, MaxVarint), IntProp(PropSubscriptionID, 1)}}, ClientSide},
		{"puback 3.1.1", V311, &Puback{PacketID: 1}, ServerSide},
		{"puback 5 short", V5, &Puback{PacketID: 2}, ServerSide},
		{"puback 5 reason", V5, &Puback{PacketID: 2, Reason: NoMatchingSubscribers}, ClientSide},
		{"puback 5 props", V5, &Puback{PacketID: 2, Reason: NotAuthorized, Properties: v5props}, ClientSide},
		{"pubrec 5", V5, &Pubrec{PacketID: 3, Reason: QuotaExceeded, Properties: v5props}, ClientSide},
		{"pubrel 3.1.1", V311, &Pubrel{PacketID: 4}, ServerSide},
		{"pubrel 5", V5, &Pubrel{PacketID: 4, Reason: PacketIdentifierNotFound}, ServerSide},
		{"pubcomp 5", V5, &Pubcomp{PacketID: 5, Properties: v5props}, ServerSide},
		{"subscribe 3.1.1", V311, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}}, ServerSide},
		{"subscribe 5", V5, &Subscribe{PacketID: 9, Properties: Properties{IntProp(PropSubscriptionID, 300), UserProp("s", "1")},
			Subscriptions: []Subscription{{Filter: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/x", QoS: 0, RetainHandling: 1}}}, ServerSide},
		{"subscribe invalid filter still decodes", V5, &Subscribe{PacketID: 9, Subscriptions: []Subscription{{Filter: "a/b#"}, {Filter: ""}}}, ServerSide},
		{"suback 3.1.1", V311, &Suback{PacketID: 1, Reasons: []ReasonCode{0, 1, 2, SubackFailure}}, ClientSide},
		{"suback 5", V5, &Suback{PacketID: 1, Reasons: []ReasonCode{GrantedQoS2, TopicFilterInvalid, WildcardSubscriptionsNotSupported}, Properties: v5props}, ClientSide},
		{"unsubscribe 3.1.1", V311, &Unsubscribe{PacketID: 3, Filters: []string{"a", "b/#"}}, ServerSide},
		{"unsubscribe 5", V5, &Unsubscribe{PacketID: 3, Filters: []string{"a"}, Properties: Properties{UserProp("u", "")}}, ServerSide},
		{"unsuback 3.1.1", V311, &Unsuback{PacketID: 3}, ClientSide},
		{"unsuback 5", V5, &Unsuback{PacketID: 3, Reasons: []ReasonCode{Success, NoSubscriptionExisted}, Properties: v5props}, ClientSide},
		{"pingreq", V311, &Pingreq{}, ServerSide},
		{"pingresp", V5, &Pingresp{}, ClientSide},
		{"disconnect 3.1.1", V311, &Disconnect{}, ServerSide},
		{"disconnect 5 short", V5, &Disconnect{}, ServerSide},
		{"disconnect 5 reason", V5, &Disconnect{Reason: DisconnectWithWillMessage}, ServerSide},
		{"disconnect 5 props", V5, &Disconnect{Reason: ServerShuttingDown, Properties: Properties{
			StringProp(PropServerReference, "b:1883"), StringProp(PropReasonString, "bye")}}, ClientSide},
		{"auth short", V5, &Auth{}, ServerSide},
		{"auth continue", V5, &Auth{Reason: ContinueAuthentication, Properties: Properties{
			StringProp(PropAuthMethod, "SCRAM"), BinaryProp(PropAuthData, []byte("x")), StringProp(PropReasonString, "r")}}, ClientSide},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := encode(t, tc.p, tc.v)
			var stream []byte
			opts := ReaderOptions{Role: tc.role, Version: tc.v}
			switch {
			case tc.p.Type() == TypeConnect:
			case tc.role == ServerSide:
				stream = connectBytes(t, tc.v)
			case tc.p.Type() != TypeConnack && tc.p.Type() != TypeAuth:
				stream = encode(t, &Connack{}, tc.v)
			}
			stream = append(stream, enc...)
			r := NewReader(bytes.NewReader(stream), opts)
			var got Packet
			for {
				p, err := r.ReadPacket()
				if err != nil {
					t.Fatalf("reading % x: %v", stream, err)
				}
				if p.Type() == tc.p.Type() {
					got = p
					break
				}
			}
			if _, err := r.ReadPacket(); err != io.EOF {
				t.Fatalf("after the packet: %v, want EOF", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tc.p)) {
				t.Fatalf("decoded\n %#v\nwant\n %#v", normalize(got), normalize(tc.p))
			}
			if again := encode(t, got, tc.v); !bytes.Equal(again, enc) {
				t.Fatalf("re-encoded\n % x\nwant\n % x", again, enc)
			}
			if n, err := PacketSize(tc.p, tc.v); err != nil || n != len(enc) {
				t.Fatalf("PacketSize = %d, %v; encoded %d bytes", n, err, len(enc))
			}
		})
	}
}

// TestShortForms checks the encodings the specification lets a sender
// shorten, and that each form read is written back as it came.
func TestShortForms(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want string
	}{
		{"puback success", &Puback{PacketID: 1}, "40 02 00 01"},
		{"puback reason", &Puback{PacketID: 1, Reason: 0x10}, "40 03 00 01 10"},
		{"puback props", &Puback{PacketID: 1, Properties: Properties{StringProp(PropReasonString, "r")}}, "40 08 00 01 00 04 1f 00 01 72"},
		{"pubrel success", &Pubrel{PacketID: 1}, "62 02 00 01"},
		{"disconnect normal", &Disconnect{}, "e0 00"},
		{"disconnect reason", &Disconnect{Reason: 0x8e}, "e0 01 8e"},
		{"auth success", &Auth{}, "f0 00"},
		{"auth continue", &Auth{Reason: 0x18}, "f0 01 18"},
	}
	for _, tc := range tests {
		if got := encode(t, tc.p, V5); !bytes.Equal(got, hexb(t, tc.want)) {
			t.Errorf("%s: % x, want %s", tc.name, got, tc.want)
		}
	}
	// The long forms a peer may send instead come back unchanged.
	for _, in := range []string{
		"40 03 00 01 00",    // PUBACK success with the reason code
		"40 04 00 01 00 00", // and an empty property length
		"40 04 00 01 10 00", // a reason code and an empty property length
		"e0 01 00",          // DISCONNECT normal with the reason code
		"e0 02 04 00",       // DISCONNECT with an empty property length
	} {
		data := append(connectBytes(t, V5), hexb(t, in)...)
		r := NewReader(bytes.NewReader(data), ReaderOptions{})
		if _, err := r.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := encode(t, p, V5); !bytes.Equal(got, hexb(t, in)) {
			t.Errorf("%s re-encoded as % x", in, got)
		}
	}
}
