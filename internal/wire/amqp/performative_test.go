package amqp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fullPerformatives returns one of each performative with every field set,
// and a few with only the mandatory ones.
func fullPerformatives() []Performative {
	return []Performative{
		&Open{
			ContainerID: "c1", Hostname: "localhost", MaxFrameSize: 65536, ChannelMax: Some(uint16(0)), IdleTimeout: 30000,
			OutgoingLocales: []Symbol{"en-US"}, IncomingLocales: []Symbol{"en-US", "fr-FR"},
			OfferedCapabilities: []Symbol{CapabilityAnonymousRelay, CapabilitySharedSubs}, DesiredCapabilities: []Symbol{CapabilitySoleConnection},
			Properties: Map{
				{PropertyFailoverServerList, List{Map{{Symbol("network-host"), "backup"}, {Symbol("port"), int32(5673)}}}},
				{Symbol("product"), "tandem"},
			},
		},
		&Open{ContainerID: ""},
		&Begin{RemoteChannel: Some(uint16(0)), NextOutgoingID: 1, IncomingWindow: 2147483647, OutgoingWindow: 0,
			HandleMax: Some(uint32(255)), OfferedCapabilities: []Symbol{"x"}, DesiredCapabilities: []Symbol{"y"}, Properties: Map{{Symbol("k"), "v"}}},
		&Begin{NextOutgoingID: 0, IncomingWindow: 0, OutgoingWindow: 0},
		&Attach{
			Name: "sub", Handle: 0, Role: RoleReceiver, SndSettleMode: Some(SenderSettleUnsettled), RcvSettleMode: Some(ReceiverSettleFirst),
			Source: &Source{
				Address: "orders", Durable: DurableUnsettled, ExpiryPolicy: ExpiryNever, Timeout: 10, Dynamic: true,
				DynamicNodeProperties: Map{{PropertyLifetimePolicy, DeleteOnClose()}}, DistributionMode: DistributionCopy,
				Filter: Map{
					{Symbol("jms-selector"), SelectorFilter("color = 'red'")},
					{Symbol("no-local"), NoLocalFilter()},
				},
				DefaultOutcome: &Modified{DeliveryFailed: true},
				Outcomes:       []Symbol{"amqp:accepted:list", "amqp:rejected:list"}, Capabilities: []Symbol{CapabilityTopic, CapabilityShared},
			},
			Target:               &Target{Address: "t", Durable: DurableConfiguration, ExpiryPolicy: ExpiryLinkDetach, Timeout: 5, Dynamic: true, DynamicNodeProperties: Map{}, Capabilities: []Symbol{CapabilityQueue}},
			Unsettled:            Map{{[]byte{1}, Described{Descriptor: descAccepted, Value: List{}}}},
			IncompleteUnsettled:  true,
			InitialDeliveryCount: Some(uint32(0)),
			MaxMessageSize:       1 << 40,
			OfferedCapabilities:  []Symbol{"a"}, DesiredCapabilities: []Symbol{"b"}, Properties: Map{{Symbol("p"), int64(1)}},
		},
		&Attach{Name: "coord", Handle: 7, Role: RoleSender, Source: &Source{Outcomes: []Symbol{"amqp:accepted:list"}},
			Coordinator: &Coordinator{Capabilities: []Symbol{TxnCapabilityLocal}}},
		&Attach{Name: "refused", Handle: 1, Role: RoleSender},
		&Flow{NextIncomingID: Some(uint32(0)), IncomingWindow: 5000, NextOutgoingID: 1, OutgoingWindow: 2, Handle: Some(uint32(0)),
			DeliveryCount: Some(uint32(0)), LinkCredit: Some(uint32(0)), Available: Some(uint32(9)), Drain: true, Echo: true, Properties: Map{{Symbol("x"), nil}}},
		&Flow{IncomingWindow: 1, NextOutgoingID: 1, OutgoingWindow: 1},
		&Transfer{Handle: 3, DeliveryID: Some(uint32(0)), DeliveryTag: []byte{0, 0, 0, 1}, MessageFormat: Some(uint32(0)), Settled: true, More: true,
			RcvSettleMode: Some(ReceiverSettleSecond), State: &TransactionalState{TxnID: []byte("tx1"), Outcome: &Accepted{}}, Resume: true, Aborted: true, Batchable: true},
		&Transfer{Handle: 0},
		&Disposition{Role: RoleReceiver, First: 0, Last: Some(uint32(10)), Settled: true, State: &Rejected{Error: &Error{Condition: ErrorDecode, Description: "bad", Info: Map{{Symbol("a"), "b"}}}}, Batchable: true},
		&Disposition{Role: RoleSender, First: 1, State: &Received{SectionNumber: 1, SectionOffset: 2}},
		&Disposition{Role: RoleSender, First: 2, State: &Released{}},
		&Disposition{Role: RoleSender, First: 3, State: &Declared{TxnID: []byte{9}}},
		&Disposition{Role: RoleSender, First: 4, State: &Modified{DeliveryFailed: true, UndeliverableHere: true, MessageAnnotations: Map{{Symbol("x-opt-a"), "b"}}}},
		&Detach{Handle: 4, Closed: true, Error: &Error{Condition: ErrorStolen}},
		&Detach{Handle: 0},
		&End{Error: &Error{Condition: ErrorWindowViolation, Description: "window"}},
		&End{},
		&Close{Error: &Error{Condition: ErrorConnectionForced}},
		&Close{},
	}
}

func TestPerformativesRoundTrip(t *testing.T) {
	for _, p := range fullPerformatives() {
		enc, err := AppendPerformative(nil, p)
		if err != nil {
			t.Fatalf("%#v: %v", p, err)
		}
		got, payload, err := DecodePerformative(enc)
		if err != nil {
			t.Fatalf("%T: decoding % x: %v", p, enc, err)
		}
		if len(payload) != 0 {
			t.Fatalf("%T: payload % x", p, payload)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip changed\n%#v\ninto\n%#v", p, got)
		}
		again, err := AppendPerformative(nil, got)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("%T re-encodes differently (%v)\n% x\n% x", p, err, enc, again)
		}
	}
}

func TestSASLRoundTrip(t *testing.T) {
	for _, p := range []SASLPerformative{
		&SASLMechanisms{Mechanisms: []Symbol{SASLMechanismPlain, SASLMechanismAnonymous}},
		&SASLMechanisms{Mechanisms: []Symbol{}},
		&SASLInit{Mechanism: SASLMechanismPlain, InitialResponse: PlainResponse("u", "p"), Hostname: "h"},
		&SASLInit{Mechanism: SASLMechanismAnonymous},
		&SASLChallenge{Challenge: []byte("c")},
		&SASLResponse{Response: []byte{}},
		&SASLOutcome{Code: SASLAuth, AdditionalData: []byte("x")},
		&SASLOutcome{Code: SASLOK},
	} {
		enc, err := AppendPerformative(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSASL(enc)
		if err != nil {
			t.Fatalf("%T: % x: %v", p, enc, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip changed\n%#v\ninto\n%#v", p, got)
		}
	}
}

func TestPlainCredentials(t *testing.T) {
	tests := []struct {
		in             string
		authz, u, pass string
		ok             bool
	}{
		{"\x00user\x00pw", "", "user", "pw", true},
		{"az\x00user\x00", "az", "user", "", true},
		{"user\x00pw", "", "", "", false},
		{"a\x00b\x00c\x00d", "", "", "", false},
	}
	for _, tt := range tests {
		authz, u, p, ok := PlainCredentials([]byte(tt.in))
		if authz != tt.authz || u != tt.u || p != tt.pass || ok != tt.ok {
			t.Errorf("%q: got %q %q %q %v", tt.in, authz, u, p, ok)
		}
	}
}

// TestPerformativeTolerance covers the shapes the specification allows
// and real peers send, which a strict decoder would refuse.
func TestPerformativeTolerance(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Performative
	}{
		{
			"open with only container-id (truncated list)",
			"00 53 10 c0 04 01 a1 01 63",
			&Open{ContainerID: "c"},
		},
		{
			"open by symbol descriptor",
			"00 a3 0e " + hexOf("amqp:open:list") + " c0 04 01 a1 01 63",
			&Open{ContainerID: "c"},
		},
		{
			"open by ulong descriptor in 8 bytes",
			"00 80 0000000000000010 c0 04 01 a1 01 63",
			&Open{ContainerID: "c"},
		},
		{
			"begin with uints in ulong and ushort encodings",
			"00 53 11 c0 0f 04 40 80 0000000000000001 60 0005 43",
			&Begin{NextOutgoingID: 1, IncomingWindow: 5, OutgoingWindow: 0},
		},
		{
			"capabilities as a single symbol",
			"00 53 11 c0 0d 06 40 43 43 43 40 a3 05 " + hexOf("hello"),
			&Begin{OfferedCapabilities: []Symbol{"hello"}},
		},
		{
			"capabilities as a string array",
			"00 53 11 c0 0c 06 40 43 43 43 40 e0 04 01 a1 01 61",
			&Begin{OfferedCapabilities: []Symbol{"a"}},
		},
		{
			"flow with an unknown trailing field",
			"00 53 13 c0 0e 0c 40 43 43 43 40 40 40 40 40 40 40 a1 00",
			&Flow{},
		},
		{
			"detach with all-null list",
			"00 53 16 c0 04 03 43 40 40",
			&Detach{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := DecodePerformative(unhex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func hexOf(s string) string {
	return bytesHex([]byte(s))
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

func TestSelectorAndNoLocal(t *testing.T) {
	for _, desc := range []any{SelectorFilterCode, SelectorFilterSymbol} {
		a := &Attach{Name: "n", Role: RoleReceiver, Source: &Source{Filter: Map{
			{Symbol("any-key"), Described{Descriptor: desc, Value: "x > 1"}},
			{Symbol("nl"), Described{Descriptor: Symbol(NoLocalFilterSymbol), Value: List{}}},
		}}}
		enc, err := AppendPerformative(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := DecodePerformative(enc)
		if err != nil {
			t.Fatal(err)
		}
		src := p.(*Attach).Source
		if sel, ok := src.Selector(); !ok || sel != "x > 1" {
			t.Errorf("descriptor %v: selector %q %v", desc, sel, ok)
		}
		if !src.NoLocal() {
			t.Errorf("descriptor %v: no-local not found", desc)
		}
	}
	if _, ok := (&Source{}).Selector(); ok {
		t.Error("selector found in an empty filter set")
	}
}

func TestLifetimePolicy(t *testing.T) {
	for _, v := range []Described{DeleteOnClose(), {Descriptor: Symbol("amqp:delete-on-no-links:list"), Value: List{}}} {
		got := LifetimePolicy(Map{{PropertyLifetimePolicy, v}})
		if got != "delete-on-close" && got != "delete-on-no-links" {
			t.Errorf("%v: %q", v, got)
		}
	}
	if LifetimePolicy(nil) != "" {
		t.Error("policy found in nil properties")
	}
}

func TestPerformativeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		is   error
		msg  string
	}{
		{"not described", "45", ErrDecode, "not a described performative"},
		{"unknown descriptor", "00 53 19 45", ErrUnknownPerformative, "0x19"},
		{"unknown symbol descriptor", "00 a3 03 616263 45", ErrUnknownPerformative, "abc"},
		{"sasl descriptor in AMQP frame", "00 53 40 45", ErrUnknownPerformative, "sasl-mechanisms"},
		{"open without container-id", "00 53 10 45", ErrDecode, "container-id missing"},
		{"attach without role", "00 53 12 c0 05 02 a1 01 6e 43", ErrDecode, "name, handle or role missing"},
		{"flow without windows", "00 53 13 c0 02 01 40", ErrDecode, "mandatory"},
		{"transfer without handle", "00 53 14 45", ErrDecode, "handle missing"},
		{"disposition without first", "00 53 15 c0 02 01 41", ErrDecode, "role or first missing"},
		{"fields not a list", "00 53 17 a1 00", ErrDecode, "list of fields"},
		{"handle as string", "00 53 16 c0 03 01 a1 00", ErrDecode, "detach.handle"},
		{"handle too big", "00 53 16 c0 0a 01 80 0000000100000000", ErrDecode, "does not fit a uint"},
		{"bytes after close", "00 53 18 45 00", ErrDecode, "1 bytes after"},
		{"snd-settle-mode 3", "00 53 12 c0 08 04 a1 01 6e 43 41 50 03", ErrDecode, "snd-settle-mode 3"},
		{"delivery state unknown", "00 53 15 c0 09 05 41 43 40 40 00 53 99 45", ErrDecode, "delivery state"},
		{"error without condition", "00 53 18 c0 05 01 00 53 1d 45", ErrDecode, "condition missing"},
		{"long delivery tag", "00 53 14 c0 26 03 43 43 a0 21 " + strings.Repeat("00", 33), ErrDecode, "delivery-tag of 33 bytes"},
		{"list shorter than fields", "00 53 18 c0 03 01 00", ErrDecode, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodePerformative(unhex(t, tt.in))
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
			if c := ConditionFor(err); c != ErrorDecode {
				t.Fatalf("condition %s, want %s", c, ErrorDecode)
			}
		})
	}
}

func TestTransactionalStateOutcomeMustBeAnOutcome(t *testing.T) {
	enc, err := AppendPerformative(nil, &Disposition{First: 1, State: &TransactionalState{TxnID: []byte{1}, Outcome: &Received{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodePerformative(enc); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "not an outcome") {
		t.Fatalf("error %v", err)
	}
}

func TestDecodeTransferReusesStruct(t *testing.T) {
	body, err := AppendPerformative(nil, &Transfer{Handle: 1, DeliveryID: Some(uint32(5)), DeliveryTag: []byte{1}, Settled: true})
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, "payload"...)
	tr := Transfer{More: true, Aborted: true, State: &Accepted{}}
	payload, err := DecodeTransfer(body, &tr)
	if err != nil {
		t.Fatal(err)
	}
	want := Transfer{Handle: 1, DeliveryID: Some(uint32(5)), DeliveryTag: []byte{1}, Settled: true}
	if !reflect.DeepEqual(tr, want) || string(payload) != "payload" {
		t.Fatalf("got %#v %q", tr, payload)
	}
	flow, _ := AppendPerformative(nil, &Flow{})
	if _, err := DecodeTransfer(flow, &tr); !errors.Is(err, ErrUnknownPerformative) {
		t.Fatalf("flow decoded as transfer: %v", err)
	}
}

func TestEncodeAttachRefusesTargetAndCoordinator(t *testing.T) {
	_, err := AppendPerformative(nil, &Attach{Target: &Target{}, Coordinator: &Coordinator{}})
	if !errors.Is(err, ErrEncode) {
		t.Fatal(err)
	}
}

func TestConditionFor(t *testing.T) {
	tests := []struct {
		err  error
		want Condition
	}{
		{ErrFraming, ErrorFramingError},
		{ErrFrameTooLarge, ErrorFramingError},
		{ErrMessageTooLarge, ErrorMessageSizeExceeded},
		{ErrBadMessage, ErrorDecode},
		{ErrTransferSequence, ErrorIllegalState},
		{NewError(ErrorNotFound, "queue %s", "q"), ErrorNotFound},
		{errors.New("other"), ErrorInternal},
	}
	for _, tt := range tests {
		if got := ConditionFor(tt.err); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestAsDeliveryState(t *testing.T) {
	enc, _ := AppendPerformative(nil, &Attach{Name: "n", Role: RoleReceiver, Unsettled: Map{
		{[]byte{1}, &Modified{DeliveryFailed: true}},
		{[]byte{2}, &Accepted{}},
	}})
	p, _, err := DecodePerformative(enc)
	if err != nil {
		t.Fatal(err)
	}
	u := p.(*Attach).Unsettled
	s, err := AsDeliveryState(u[0].Value)
	if err != nil || !reflect.DeepEqual(s, &Modified{DeliveryFailed: true}) {
		t.Fatalf("%#v %v", s, err)
	}
	if s, err := AsDeliveryState(u[1].Value); err != nil || !reflect.DeepEqual(s, &Accepted{}) {
		t.Fatalf("%#v %v", s, err)
	}
	if s, err := AsDeliveryState(&Released{}); err != nil || !reflect.DeepEqual(s, &Released{}) {
		t.Fatalf("%#v %v", s, err)
	}
	if s, err := AsDeliveryState(nil); s != nil || err != nil {
		t.Fatal(s, err)
	}
	for _, bad := range []any{"x", Described{Descriptor: uint64(0x99), Value: List{}}} {
		if _, err := AsDeliveryState(bad); !errors.Is(err, ErrDecode) {
			t.Errorf("%#v: %v", bad, err)
		}
	}
}
