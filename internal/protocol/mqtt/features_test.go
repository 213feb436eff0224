package mqtt

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

func TestTopicAliasesFromTheClient(t *testing.T) {
	r := newRig(t, nil)
	got := r.consume("long.topic.name", message.Multicast, 10)
	c := r.connect(&wire.Connect{ClientID: "a", CleanStart: true})
	c.pub("long/topic/name", wire.QoS1, 1, "set", wire.IntProp(wire.PropTopicAlias, 3))
	c.pub("", wire.QoS1, 2, "use", wire.IntProp(wire.PropTopicAlias, 3))
	for _, want := range []string{"set", "use"} {
		if m := recv(t, got); string(m.Body) != want || m.Address != "long.topic.name" {
			t.Fatalf("got %q on %q", m.Body, m.Address)
		}
	}
	c.send(&wire.Publish{Topic: "x", QoS: wire.QoS0, Properties: wire.Properties{wire.IntProp(wire.PropTopicAlias, 11)}})
	pk := c.closed()
	if d, ok := pk[0].(*wire.Disconnect); !ok || d.Reason != wire.TopicAliasInvalid {
		t.Fatalf("alias above the maximum: %+v, want DISCONNECT 0x94", pk)
	}
}

func TestTopicAliasesToClientsThatAskForThem(t *testing.T) {
	r := newRig(t, nil)
	asks := r.connect(&wire.Connect{ClientID: "asks", CleanStart: true, Properties: wire.Properties{wire.IntProp(wire.PropTopicAliasMaximum, 5)}})
	asks.sub(1, wire.QoS0, "al/#")
	plain := r.connect(&wire.Connect{ClientID: "plain", CleanStart: true})
	plain.sub(1, wire.QoS0, "al/#")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("al/x", wire.QoS1, 1, "1")
	p.pub("al/x", wire.QoS1, 2, "2")
	aliases := wire.NewInboundAliases(5)
	first, second := asks.publish(), asks.publish()
	if a, _ := first.Properties.Int(wire.PropTopicAlias); a == 0 || first.Topic != "al/x" {
		t.Fatalf("first: %+v, want the topic with an alias", first)
	}
	if second.Topic != "" {
		t.Fatalf("second: %+v, want the alias alone", second)
	}
	for _, m := range []*wire.Publish{first, second} {
		if err := aliases.Resolve(m); err != nil || m.Topic != "al/x" {
			t.Fatalf("resolve: %v, %q", err, m.Topic)
		}
	}
	for i := 0; i < 2; i++ {
		if m := plain.publish(); m.Topic != "al/x" || m.Properties.Has(wire.PropTopicAlias) {
			t.Fatalf("a client that asked for no aliases got %+v", m)
		}
	}
}

func TestReceiveMaximumIsEnforced(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.ReceiveMaximum = 2 })
	c := r.connect(&wire.Connect{ClientID: "rm", CleanStart: true})
	for pid := uint16(1); pid <= 3; pid++ {
		c.send(&wire.Publish{Topic: "rm", QoS: wire.QoS2, PacketID: pid, Payload: []byte("x")})
	}
	var gotDisconnect *wire.Disconnect
	for _, pk := range c.closed() {
		if d, ok := pk.(*wire.Disconnect); ok {
			gotDisconnect = d
		}
	}
	if gotDisconnect == nil || gotDisconnect.Reason != wire.ReceiveMaximumExceeded {
		t.Fatalf("got %+v, want DISCONNECT 0x93", gotDisconnect)
	}
}

// TestA311ClientPastTheReceiveMaximumWaits: a 3.1.1 client was told no
// maximum, so the connection stops reading instead, and QoS 2 exchanges,
// whose PUBREL must still be read, go on.
func TestA311ClientPastTheReceiveMaximumWaits(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.ReceiveMaximum = 2 })
	got := r.consume("rm3", message.Multicast, 10)
	c := r.connect(&wire.Connect{Version: wire.V311, ClientID: "rm3", CleanStart: true})
	for pid := uint16(1); pid <= 6; pid++ {
		c.send(&wire.Publish{Topic: "rm3", QoS: wire.QoS2, PacketID: pid, Payload: []byte("x")})
	}
	for pid := uint16(1); pid <= 6; pid++ {
		if rec, ok := c.next().(*wire.Pubrec); !ok || rec.PacketID != pid {
			t.Fatalf("got %+v, want PUBREC %d", rec, pid)
		}
		c.send(&wire.Pubrel{PacketID: pid})
	}
	for pid := uint16(1); pid <= 6; pid++ {
		if comp, ok := c.next().(*wire.Pubcomp); !ok {
			t.Fatalf("got %+v, want PUBCOMP", comp)
		}
		recv(t, got)
	}
}

func TestTheClientsReceiveMaximumBoundsDeliveriesInFlight(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "slow", CleanStart: true, Properties: wire.Properties{wire.IntProp(wire.PropReceiveMaximum, 2)}})
	c.sub(1, wire.QoS1, "f")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	for i := 0; i < 5; i++ {
		p.pub("f", wire.QoS1, uint16(i+1), itoa(uint64(i)))
	}
	a, b := c.publish(), c.publish()
	c.nothing(300 * time.Millisecond)
	c.ack(a)
	m := c.publish()
	if string(m.Payload) != "2" {
		t.Fatalf("got %q, want the third message", m.Payload)
	}
	c.nothing(200 * time.Millisecond)
	c.ack(b)
	c.ack(m)
	for _, want := range []string{"3", "4"} {
		if m := c.publish(); string(m.Payload) != want {
			t.Fatalf("got %q, want %q", m.Payload, want)
		} else {
			c.ack(m)
		}
	}
}

func TestMaximumPacketSizeBothWays(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.MaxPacketSize = 1024 })
	small := r.connect(&wire.Connect{ClientID: "small", CleanStart: true, Properties: wire.Properties{wire.IntProp(wire.PropMaximumPacketSize, 100)}})
	small.sub(1, wire.QoS1, "m")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("m", wire.QoS1, 1, strings.Repeat("x", 200)) // too large for small: dropped, as if sent
	p.pub("m", wire.QoS1, 2, "fits")
	if m := small.publish(); string(m.Payload) != "fits" {
		t.Fatalf("got %d bytes, want the message that fits", len(m.Payload))
	} else {
		small.ack(m)
	}
	waitFor(t, "the dropped message settled", func() bool { return r.queueDepth("small.m") == 0 })
	p.send(&wire.Publish{Topic: "m", QoS: wire.QoS0, Payload: bytes.Repeat([]byte("y"), 2000)})
	pk := p.closed()
	if d, ok := pk[len(pk)-1].(*wire.Disconnect); !ok || d.Reason != wire.PacketTooLarge {
		t.Fatalf("got %+v, want DISCONNECT 0x95", pk)
	}
}

func TestEverySubscriptionIdentifierThatMatches(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "ids", CleanStart: true})
	for i, f := range []string{"a/#", "a/+", "b"} {
		c.send(&wire.Subscribe{PacketID: uint16(i + 1), Properties: wire.Properties{wire.IntProp(wire.PropSubscriptionID, uint32(i+1))},
			Subscriptions: []wire.Subscription{{Filter: f, QoS: 1}}})
		c.next()
	}
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("a/x", wire.QoS1, 1, "m")
	for i := 0; i < 2; i++ { // one copy per matching subscription, as Artemis
		m := c.publish()
		var ids []uint32
		for pr := range m.Properties.All(wire.PropSubscriptionID) {
			ids = append(ids, pr.Int)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []uint32{1, 2}) {
			t.Fatalf("subscription identifiers %v, want 1 and 2", ids)
		}
		c.ack(m)
	}
}

func TestNoLocalAndPayloadFormat(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "nl", CleanStart: true})
	c.send(&wire.Subscribe{PacketID: 1, Subscriptions: []wire.Subscription{{Filter: "chat", QoS: 1, NoLocal: true}}})
	c.next()
	c.pub("chat", wire.QoS1, 1, "mine")
	o := r.connect(&wire.Connect{ClientID: "o", CleanStart: true})
	o.pub("chat", wire.QoS1, 1, "theirs", wire.IntProp(wire.PropPayloadFormat, 1), wire.StringProp(wire.PropContentType, "text/plain"),
		wire.StringProp(wire.PropResponseTopic, "replies/o"), wire.BinaryProp(wire.PropCorrelationData, []byte{1, 2}),
		wire.IntProp(wire.PropMessageExpiry, 60))
	m := c.publish()
	if string(m.Payload) != "theirs" {
		t.Fatalf("got %q, want only the other client's message", m.Payload)
	}
	if v, _ := m.Properties.Int(wire.PropPayloadFormat); v != 1 {
		t.Errorf("payload format %d", v)
	}
	if v, _ := m.Properties.String(wire.PropContentType); v != "text/plain" {
		t.Errorf("content type %q", v)
	}
	if v, _ := m.Properties.String(wire.PropResponseTopic); v != "replies/o" {
		t.Errorf("response topic %q", v)
	}
	if v, _ := m.Properties.Binary(wire.PropCorrelationData); !bytes.Equal(v, []byte{1, 2}) {
		t.Errorf("correlation data %v", v)
	}
	if v, ok := m.Properties.Int(wire.PropMessageExpiry); !ok || v == 0 || v > 60 {
		t.Errorf("message expiry %d", v)
	}
	o.send(&wire.Publish{Topic: "chat", QoS: wire.QoS1, PacketID: 2, Payload: []byte{0xff},
		Properties: wire.Properties{wire.IntProp(wire.PropPayloadFormat, 1)}})
	if a, ok := o.next().(*wire.Puback); !ok || a.Reason != wire.PayloadFormatInvalid {
		t.Fatalf("got %+v, want PUBACK 0x99", a)
	}
}

func TestEnhancedAuthenticationIsRefused(t *testing.T) {
	r := newRig(t, nil)
	_, ack := r.dial(&wire.Connect{ClientID: "x", CleanStart: true, Properties: wire.Properties{wire.StringProp(wire.PropAuthMethod, "SCRAM-SHA-1")}})
	if ack.Reason != wire.BadAuthenticationMethod {
		t.Fatalf("CONNACK %v, want 0x8C", ack.Reason)
	}
}

func TestCredentials(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.Auth = testAuth{noAnonymous: true} })
	for _, tc := range []struct {
		c    wire.Connect
		want wire.ReasonCode
	}{
		{wire.Connect{Version: wire.V5, HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("pw")}, wire.Success},
		{wire.Connect{Version: wire.V5, HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("no")}, wire.BadUserNameOrPassword},
		{wire.Connect{Version: wire.V5}, wire.NotAuthorized},
		{wire.Connect{Version: wire.V311, HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("no")}, wire.RefusedBadUserNameOrPassword},
		{wire.Connect{Version: wire.V311}, wire.RefusedNotAuthorized},
		{wire.Connect{Version: wire.V311, CleanStart: false}, wire.RefusedNotAuthorized},
	} {
		c := tc.c
		c.CleanStart = true
		_, ack := r.dial(&c)
		if ack.Reason != tc.want {
			t.Errorf("%+v: CONNACK %v, want %v", tc.c, ack.Reason, tc.want)
		}
	}
	_, ack := r.dial(&wire.Connect{Version: wire.V311, HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("pw")})
	if ack.Reason != wire.RefusedIdentifierRejected {
		t.Fatalf("3.1.1 empty client id with Clean Session 0: %v, want return code 2", ack.Reason)
	}
}

func TestPermissions(t *testing.T) {
	r := newRig(t, func(_ *Options, b *broker.Options) {
		b.Authorizer = rules{"bob": {
			broker.PermSend: {"open."}, broker.PermConsume: {"open."}, broker.PermCreateAddress: {"open."},
			broker.PermCreateNonDurableQueue: {"open."}, broker.PermCreateDurableQueue: {"open."},
			broker.PermDeleteNonDurableQueue: {"open."}, broker.PermDeleteDurableQueue: {"open."},
		}}
	})
	bob := &wire.Connect{HasUsername: true, Username: "bob", HasPassword: true, Password: []byte("pw"), CleanStart: true}
	c5 := *bob
	c5.ClientID = "b5"
	v5 := r.connect(&c5)
	v5.send(&wire.Subscribe{PacketID: 1, Subscriptions: []wire.Subscription{{Filter: "open/x", QoS: 1}, {Filter: "closed/x", QoS: 1}}})
	if ack, ok := v5.next().(*wire.Suback); !ok || !slices.Equal(ack.Reasons, []wire.ReasonCode{1, wire.NotAuthorized}) {
		t.Fatalf("SUBACK %+v, want 1 and 0x87", ack)
	}
	v5.send(&wire.Publish{Topic: "closed/x", QoS: 1, PacketID: 1, Payload: []byte("no")})
	if a, ok := v5.next().(*wire.Puback); !ok || a.Reason != wire.NotAuthorized {
		t.Fatalf("got %+v, want PUBACK 0x87", a)
	}
	v5.send(&wire.Publish{Topic: "closed/x", QoS: 2, PacketID: 2, Payload: []byte("no")})
	if a, ok := v5.next().(*wire.Pubrec); !ok || a.Reason != wire.NotAuthorized {
		t.Fatalf("got %+v, want PUBREC 0x87", a)
	}
	// The client subscribes to what it publishes: its PUBACK and the
	// delivery may come in either order.
	v5.send(&wire.Publish{Topic: "open/x", QoS: 1, PacketID: 3, Payload: []byte("yes")})
	var acked, delivered bool
	for i := 0; i < 2; i++ {
		switch pk := v5.next().(type) {
		case *wire.Puback:
			acked = pk.PacketID == 3 && pk.Reason == 0
		case *wire.Publish:
			delivered = string(pk.Payload) == "yes"
		}
	}
	if !acked || !delivered {
		t.Fatalf("allowed publish: acknowledged %v, delivered %v", acked, delivered)
	}

	c3 := *bob
	c3.Version, c3.ClientID = wire.V311, "b3"
	v3 := r.connect(&c3)
	v3.send(&wire.Subscribe{PacketID: 1, Subscriptions: []wire.Subscription{{Filter: "closed/y", QoS: 1}}})
	if ack, ok := v3.next().(*wire.Suback); !ok || !slices.Equal(ack.Reasons, []wire.ReasonCode{wire.SubackFailure}) {
		t.Fatalf("3.1.1 SUBACK %+v, want 0x80", ack)
	}
	v3.send(&wire.Publish{Topic: "closed/y", QoS: 1, PacketID: 1, Payload: []byte("no")})
	if pk := v3.closed(); len(pk) != 0 {
		t.Fatalf("3.1.1 refused publish: got %v, want the connection closed", pk)
	}
}

func TestSharedSubscriptionSplitsMessages(t *testing.T) {
	r := newRig(t, nil)
	a := r.connect(&wire.Connect{ClientID: "a", CleanStart: true})
	b := r.connect(&wire.Connect{ClientID: "b", CleanStart: true})
	a.sub(1, wire.QoS1, "$share/g/jobs/#")
	b.sub(1, wire.QoS1, "$share/g/jobs/#")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	const n = 20
	for i := 0; i < n; i++ {
		p.pub("jobs/x", wire.QoS1, uint16(i+1), itoa(uint64(i)))
	}
	counts := map[string]int{}
	seen := map[string]bool{}
	for len(seen) < n {
		for name, c := range map[string]*client{"a": a, "b": b} {
			pk, err := c.read(100 * time.Millisecond)
			if err != nil {
				continue
			}
			m := pk.(*wire.Publish)
			if seen[string(m.Payload)] {
				t.Fatalf("%s got %q twice", name, m.Payload)
			}
			seen[string(m.Payload)] = true
			counts[name]++
			c.ack(m)
		}
	}
	if counts["a"] == 0 || counts["b"] == 0 {
		t.Fatalf("shares %v, want both members to get some", counts)
	}
	if r.queueDepth("g.jobs.#") < 0 {
		t.Fatal("no shared queue g.jobs.#")
	}
}

func TestWildcardsDoNotMatchDollarTopics(t *testing.T) {
	r := newRig(t, nil)
	all := r.connect(&wire.Connect{ClientID: "all", CleanStart: true})
	all.sub(1, wire.QoS0, "#")
	sys := r.connect(&wire.Connect{ClientID: "sys", CleanStart: true})
	sys.sub(1, wire.QoS0, "$SYS/#")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("$SYS/uptime", wire.QoS1, 1, "dollar")
	p.pub("plain", wire.QoS1, 2, "plain")
	if m := sys.publish(); m.Topic != "$SYS/uptime" {
		t.Fatalf("got %+v", m)
	}
	if m := all.publish(); m.Topic != "plain" {
		t.Fatalf("'#' got %+v, want only the plain topic", m)
	}
}

func TestASubscriberToAnAnycastAddressCompetesOnItsQueue(t *testing.T) {
	r := newRig(t, nil)
	s := r.session()
	if err := s.EnsureQueue(broker.QueueConfig{Name: "work", RoutingType: message.Anycast, Durable: true}); err != nil {
		t.Fatal(err)
	}
	other := make(chan *message.Message, 100)
	if _, err := s.Subscribe(broker.SubscribeOptions{Address: "work", RoutingType: message.Anycast,
		Deliver: func(d broker.Delivery) { other <- d.Message }}); err != nil {
		t.Fatal(err)
	}
	c := r.connect(&wire.Connect{ClientID: "w", CleanStart: true})
	c.sub(1, wire.QoS1, "work")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	const n = 20
	for i := 0; i < n; i++ {
		p.pub("work", wire.QoS1, uint16(i+1), itoa(uint64(i)))
	}
	mq := 0
	for {
		pk, err := c.read(300 * time.Millisecond)
		if err != nil {
			break
		}
		mq++
		c.ack(pk.(*wire.Publish))
	}
	if mq == 0 || mq == n || mq+len(other) != n {
		t.Fatalf("MQTT got %d, the other consumer %d, of %d: want them shared", mq, len(other), n)
	}
}

func TestDotsInTopicsStayInOneLevel(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "d", CleanStart: true})
	c.sub(1, wire.QoS0, "v1.2/+", "+/+/x")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("v1.2/x", wire.QoS1, 1, "escaped")
	if m := c.publish(); m.Topic != "v1.2/x" || string(m.Payload) != "escaped" {
		t.Fatalf("got %+v", m)
	}
	c.nothing(200 * time.Millisecond) // "+/+/x" must not see it as three levels
}
