package mqtt

import (
	"testing"
	"time"

	"tandem/internal/broker"
	wire "tandem/internal/wire/mqtt"
)

func TestPersistentSessionReceivesWhatWasPublishedWhileAway(t *testing.T) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, nil)
			conn := func(clean bool) (*client, *wire.Connack) {
				c := &wire.Connect{Version: v, ClientID: "dev-1", CleanStart: clean}
				if v == wire.V5 {
					c.Properties = wire.Properties{wire.IntProp(wire.PropSessionExpiry, 300)}
				}
				return r.dial(c)
			}
			c, ack := conn(false)
			if ack.SessionPresent {
				t.Fatal("a new session reported present")
			}
			c.sub(1, wire.QoS1, "orders/#")
			c.send(&wire.Disconnect{})
			c.closed()
			if n := r.queueDepth("dev-1.orders.#"); n != 0 {
				t.Fatalf("subscription queue depth %d, want 0 (and the queue kept)", n)
			}
			p := r.connect(&wire.Connect{Version: v, ClientID: "pub", CleanStart: true})
			p.pub("orders/eu", wire.QoS1, 1, "while-away")
			waitFor(t, "the message in the subscription queue", func() bool { return r.queueDepth("dev-1.orders.#") == 1 })

			// It survives a restart of the broker too.
			r.restart()
			c, ack = conn(false)
			if !ack.SessionPresent {
				t.Fatal("the session was not present after the restart")
			}
			m := c.publish()
			if m.Topic != "orders/eu" || string(m.Payload) != "while-away" || m.QoS != wire.QoS1 {
				t.Fatalf("got %+v", m)
			}
			c.ack(m)
			waitFor(t, "the acknowledgement", func() bool { return r.queueDepth("dev-1.orders.#") == 0 })

			// Clean start discards it.
			c.send(&wire.Disconnect{})
			c.closed()
			_, ack = conn(true)
			if ack.SessionPresent || r.queueDepth("dev-1.orders.#") != -1 {
				t.Fatalf("clean start kept the session: present %v, queue depth %d", ack.SessionPresent, r.queueDepth("dev-1.orders.#"))
			}
		})
	}
}

func TestUnacknowledgedMessagesAreResentWithDupAndTheirPacketIDs(t *testing.T) {
	r := newRig(t, nil)
	connect := func() *client {
		return r.connect(&wire.Connect{Version: wire.V311, ClientID: "dev", CleanStart: false})
	}
	c := connect()
	c.sub(1, wire.QoS2, "a/#")
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("a/1", wire.QoS1, 1, "one")
	p.pub("a/2", wire.QoS2, 2, "two")
	first := []*wire.Publish{c.publish(), c.publish()}
	// The client acknowledges neither; the second it answers with PUBREC
	// only, so its PUBREL must come again.
	c.send(&wire.Pubrec{PacketID: first[1].PacketID})
	if rel, ok := c.next().(*wire.Pubrel); !ok || rel.PacketID != first[1].PacketID {
		t.Fatalf("got %+v, want PUBREL", rel)
	}
	c.nc.Close()

	for round := 0; round < 2; round++ {
		c = connect()
		got := map[string]wire.Packet{}
		for i := 0; i < 2; i++ {
			pk := c.next()
			switch pk := pk.(type) {
			case *wire.Publish:
				got["publish"] = pk
			case *wire.Pubrel:
				got["pubrel"] = pk
			}
		}
		re, ok := got["publish"].(*wire.Publish)
		if !ok || !re.Dup || re.PacketID != first[0].PacketID || string(re.Payload) != "one" {
			t.Fatalf("round %d: resent %+v, want DUP with packet id %d", round, got["publish"], first[0].PacketID)
		}
		if rel, ok := got["pubrel"].(*wire.Pubrel); !ok || rel.PacketID != first[1].PacketID {
			t.Fatalf("round %d: got %+v, want PUBREL %d again", round, got["pubrel"], first[1].PacketID)
		}
		c.nothing(200 * time.Millisecond)
		c.nc.Close()
		if round == 0 {
			r.restart() // and again after a restart
		}
	}
	c = connect()
	for i := 0; i < 2; i++ {
		switch pk := c.next().(type) {
		case *wire.Publish:
			c.send(&wire.Puback{PacketID: pk.PacketID})
		case *wire.Pubrel:
			c.send(&wire.Pubcomp{PacketID: pk.PacketID})
		}
	}
	waitFor(t, "the exchanges to finish", func() bool {
		return r.queueDepth("dev.a.#") == 0 && r.queueDepth(qos2Queue) == 0
	})
	c.send(&wire.Disconnect{})
	c.closed()
	c = connect()
	c.nothing(300 * time.Millisecond)
}

func TestQoS2InboundIsExactlyOnceAcrossReconnectAndRestart(t *testing.T) {
	r := newRig(t, nil)
	got := r.consume("t", 1, 10)
	pubConn := func() *client {
		return r.connect(&wire.Connect{ClientID: "p", CleanStart: false, Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 60)}})
	}
	p := pubConn()
	p.send(&wire.Publish{Topic: "t", QoS: wire.QoS2, PacketID: 7, Payload: []byte("once")})
	if rec, ok := p.next().(*wire.Pubrec); !ok || rec.PacketID != 7 {
		t.Fatalf("got %+v, want PUBREC 7", rec)
	}
	if m := recv(t, got); string(m.Body) != "once" {
		t.Fatalf("got %q", m.Body)
	}
	// The client did not see the PUBREC: it sends the PUBLISH again, on
	// this connection, a new one, and after a restart.
	p.send(&wire.Publish{Topic: "t", QoS: wire.QoS2, PacketID: 7, Dup: true, Payload: []byte("once")})
	if rec, ok := p.next().(*wire.Pubrec); !ok || rec.PacketID != 7 {
		t.Fatalf("got %+v, want PUBREC 7", rec)
	}
	p.nc.Close()
	p = pubConn()
	p.send(&wire.Publish{Topic: "t", QoS: wire.QoS2, PacketID: 7, Dup: true, Payload: []byte("once")})
	if rec, ok := p.next().(*wire.Pubrec); !ok || rec.PacketID != 7 {
		t.Fatalf("got %+v, want PUBREC 7", rec)
	}
	r.restart()
	got = r.consume("t", 1, 10)
	p = pubConn()
	p.send(&wire.Publish{Topic: "t", QoS: wire.QoS2, PacketID: 7, Dup: true, Payload: []byte("once")})
	if rec, ok := p.next().(*wire.Pubrec); !ok || rec.PacketID != 7 {
		t.Fatalf("got %+v, want PUBREC 7", rec)
	}
	p.send(&wire.Pubrel{PacketID: 7})
	if comp, ok := p.next().(*wire.Pubcomp); !ok || comp.PacketID != 7 || comp.Reason != 0 {
		t.Fatalf("got %+v, want PUBCOMP 7", comp)
	}
	// Released: the identifier is free for a new message, which is routed.
	p.pub("t", wire.QoS2, 7, "twice")
	if m := recv(t, got); string(m.Body) != "twice" {
		t.Fatalf("got %q; the first message was routed again", m.Body)
	}
	// A PUBREL for nothing still gets PUBCOMP, with 0x92 in MQTT 5.
	p.send(&wire.Pubrel{PacketID: 99})
	if comp, ok := p.next().(*wire.Pubcomp); !ok || comp.Reason != wire.PacketIdentifierNotFound {
		t.Fatalf("got %+v, want PUBCOMP 0x92", comp)
	}
}

func TestTakeoverDisconnectsTheOldConnectionWith0x8E(t *testing.T) {
	r := newRig(t, nil)
	old := r.connect(&wire.Connect{ClientID: "dup", CleanStart: false, Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 60)}})
	old.sub(1, wire.QoS1, "x")
	nw, ack := r.dial(&wire.Connect{ClientID: "dup", CleanStart: false, Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 60)}})
	if ack.Reason != 0 || !ack.SessionPresent {
		t.Fatalf("CONNACK %+v, want the session present", ack)
	}
	pk := old.closed()
	if len(pk) != 1 {
		t.Fatalf("old connection got %v, want one DISCONNECT", pk)
	}
	if d, ok := pk[0].(*wire.Disconnect); !ok || d.Reason != wire.SessionTakenOver {
		t.Fatalf("old connection got %+v, want DISCONNECT 0x8E", pk[0])
	}
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.pub("x", wire.QoS1, 1, "to-the-new-one")
	if m := nw.publish(); string(m.Payload) != "to-the-new-one" {
		t.Fatalf("got %+v", m)
	}
	// Another user may not take the session.
	_, ack = r.dial(&wire.Connect{ClientID: "dup", HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("pw")})
	if ack.Reason != wire.NotAuthorized {
		t.Fatalf("another user's takeover: CONNACK %v, want 0x87", ack.Reason)
	}
}

func TestKeepAliveClosesASilentClientAfterOneAndAHalfPeriods(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 1})
	start := time.Now()
	pk := c.closed()
	if d, ok := pk[len(pk)-1].(*wire.Disconnect); !ok || d.Reason != wire.KeepAliveTimeout {
		t.Fatalf("got %v, want DISCONNECT 0x8D", pk)
	}
	if e := time.Since(start); e < 1400*time.Millisecond {
		t.Fatalf("closed after %v, before 1.5 keep-alives", e)
	}
	// A client that pings stays.
	c = r.connect(&wire.Connect{ClientID: "ka2", CleanStart: true, KeepAlive: 1})
	for i := 0; i < 4; i++ {
		time.Sleep(500 * time.Millisecond)
		c.send(&wire.Pingreq{})
		if _, ok := c.next().(*wire.Pingresp); !ok {
			t.Fatal("no PINGRESP")
		}
	}
}

func TestSessionExpiryRemovesTheSession(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "exp", CleanStart: true, Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 1)}})
	c.sub(1, wire.QoS1, "e/#")
	c.send(&wire.Disconnect{})
	c.closed()
	if r.queueDepth("exp.e.#") != 0 {
		t.Fatal("the subscription queue went at once")
	}
	waitFor(t, "the session to expire", func() bool { return r.queueDepth("exp.e.#") == -1 })
	_, ack := r.dial(&wire.Connect{ClientID: "exp", CleanStart: false, Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 1)}})
	if ack.SessionPresent {
		t.Fatal("an expired session was present")
	}
	if rec := r.srv.st.record("exp"); rec == nil || len(rec.Subs) != 0 {
		t.Fatalf("record after expiry and reconnect: %+v", rec)
	}
}

func TestSessionExpiryCountsFromTheLastConnectionAcrossARestart(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "exp2", CleanStart: true, Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 2)}})
	c.sub(1, wire.QoS1, "e")
	c.send(&wire.Disconnect{})
	c.closed()
	r.restart()
	if r.queueDepth("exp2.e") != 0 {
		t.Fatal("the session did not survive the restart")
	}
	waitFor(t, "the session to expire after the restart", func() bool { return r.queueDepth("exp2.e") == -1 })
}

func TestZeroExpirySessionEndsWithItsConnection(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "z", CleanStart: false})
	c.sub(1, wire.QoS1, "z/#")
	c.nc.Close()
	waitFor(t, "the subscription queue to go", func() bool { return r.queueDepth("z.z.#") == -1 })
	_, ack := r.dial(&wire.Connect{ClientID: "z", CleanStart: false})
	if ack.SessionPresent {
		t.Fatal("a session with expiry 0 outlived its connection")
	}
}

func TestWillOnAbnormalEndOnly(t *testing.T) {
	r := newRig(t, nil)
	got := r.consume("wills.#", 1, 10)
	will := &wire.Will{Topic: "wills/a", Payload: []byte("gone"), QoS: wire.QoS1}
	c := r.connect(&wire.Connect{ClientID: "w1", CleanStart: true, Will: will})
	c.send(&wire.Disconnect{})
	c.closed()
	c = r.connect(&wire.Connect{ClientID: "w2", CleanStart: true, Will: will})
	c.nc.Close()
	m := recv(t, got)
	if string(m.Body) != "gone" || m.Address != "wills.a" {
		t.Fatalf("will %q on %q", m.Body, m.Address)
	}
	// MQTT 5: DISCONNECT 0x04 asks for the will.
	c = r.connect(&wire.Connect{ClientID: "w3", CleanStart: true, Will: &wire.Will{Topic: "wills/b", Payload: []byte("asked")}})
	c.send(&wire.Disconnect{Reason: wire.DisconnectWithWillMessage})
	if m := recv(t, got); string(m.Body) != "asked" {
		t.Fatalf("will %q", m.Body)
	}
	select {
	case m := <-got:
		t.Fatalf("a will after a normal DISCONNECT: %q", m.Body)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWillDelayIsCancelledByAReconnect(t *testing.T) {
	r := newRig(t, nil)
	got := r.consume("wills.#", 1, 10)
	connect := func() *client {
		return r.connect(&wire.Connect{ClientID: "wd", CleanStart: false,
			Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 60)},
			Will:       &wire.Will{Topic: "wills/d", Payload: []byte("late"), Properties: wire.Properties{wire.IntProp(wire.PropWillDelay, 1)}}})
	}
	c := connect()
	c.nc.Close()
	c = connect() // within the delay: no will
	select {
	case m := <-got:
		t.Fatalf("will published despite the reconnect: %q", m.Body)
	case <-time.After(1500 * time.Millisecond):
	}
	c.nc.Close()
	if m := recv(t, got); string(m.Body) != "late" {
		t.Fatalf("will %q", m.Body)
	}
}

func TestRetainedMessages(t *testing.T) {
	r := newRig(t, nil)
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	p.send(&wire.Publish{Topic: "status/a", QoS: wire.QoS1, PacketID: 1, Retain: true, Payload: []byte("up")})
	p.next()
	p.send(&wire.Publish{Topic: "status/b", QoS: wire.QoS0, Retain: true, Payload: []byte("down")})
	p.send(&wire.Publish{Topic: "status/a", QoS: wire.QoS1, PacketID: 2, Retain: true, Payload: []byte("up2")})
	p.next()
	waitFor(t, "two retained topics", func() bool { return r.srv.st.retainedCount() == 2 })

	s := r.connect(&wire.Connect{ClientID: "s", CleanStart: true})
	s.sub(1, wire.QoS1, "status/+")
	got := map[string]*wire.Publish{}
	for i := 0; i < 2; i++ {
		m := s.publish()
		got[m.Topic] = m
		s.ack(m)
	}
	if a := got["status/a"]; a == nil || string(a.Payload) != "up2" || !a.Retain || a.QoS != wire.QoS1 {
		t.Fatalf("status/a: %+v", a)
	}
	if b := got["status/b"]; b == nil || string(b.Payload) != "down" || !b.Retain || b.QoS != wire.QoS0 {
		t.Fatalf("status/b: %+v", b)
	}
	// A live message to a subscriber is not marked retained, unless it
	// asked for Retain As Published.
	p.send(&wire.Publish{Topic: "status/b", QoS: wire.QoS1, PacketID: 3, Retain: true, Payload: []byte("live")})
	p.next()
	if m := s.publish(); m.Retain || string(m.Payload) != "live" {
		t.Fatalf("live: %+v", m)
	} else {
		s.ack(m)
	}
	s.send(&wire.Subscribe{PacketID: 2, Subscriptions: []wire.Subscription{{Filter: "status/b", QoS: 1, RetainAsPublished: true, RetainHandling: 2}}})
	s.next()
	p.send(&wire.Publish{Topic: "status/b", QoS: wire.QoS1, PacketID: 4, Retain: true, Payload: []byte("rap")})
	p.next()
	for i := 0; i < 2; i++ { // one copy per subscription
		m := s.publish()
		if string(m.Payload) != "rap" {
			t.Fatalf("got %+v", m)
		}
		if m.Topic == "status/b" && !m.Retain {
			// Which copy came through which subscription is not visible;
			// at least one carries RETAIN.
		}
		s.ack(m)
	}

	// Retain Handling 1 sends them only for a new subscription; 2 never.
	s2 := r.connect(&wire.Connect{ClientID: "s2", CleanStart: true})
	s2.send(&wire.Subscribe{PacketID: 1, Subscriptions: []wire.Subscription{{Filter: "status/#", QoS: 1, RetainHandling: 2}}})
	s2.next()
	s2.nothing(300 * time.Millisecond)
	s2.send(&wire.Subscribe{PacketID: 2, Subscriptions: []wire.Subscription{{Filter: "status/a", QoS: 1, RetainHandling: 1}}})
	s2.next()
	if m := s2.publish(); string(m.Payload) != "up2" || !m.Retain {
		t.Fatalf("got %+v", m)
	} else {
		s2.ack(m)
	}
	s2.send(&wire.Subscribe{PacketID: 3, Subscriptions: []wire.Subscription{{Filter: "status/a", QoS: 1, RetainHandling: 1}}})
	s2.next()
	s2.nothing(300 * time.Millisecond)

	// An empty retained message clears the topic, and survives a restart.
	p.send(&wire.Publish{Topic: "status/a", QoS: wire.QoS1, PacketID: 5, Retain: true})
	p.next()
	r.restart()
	waitFor(t, "one retained topic", func() bool { return r.srv.st.retainedCount() == 1 })
	s3 := r.connect(&wire.Connect{ClientID: "s3", CleanStart: true})
	s3.sub(1, wire.QoS0, "status/#")
	if m := s3.publish(); m.Topic != "status/b" || string(m.Payload) != "rap" {
		t.Fatalf("got %+v", m)
	}
	s3.nothing(300 * time.Millisecond)
}

func TestRetainedSetIsCopiedAtTheConfiguredRate(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.RetainedDeliveryRate = 20 })
	p := r.connect(&wire.Connect{ClientID: "p", CleanStart: true})
	const n = 55
	for i := 0; i < n; i++ {
		p.send(&wire.Publish{Topic: "r/" + itoa(uint64(i)), Retain: true, Payload: []byte("x")})
	}
	waitFor(t, "the retained set", func() bool { return r.srv.st.retainedCount() == n })
	s := r.connect(&wire.Connect{ClientID: "s", CleanStart: true})
	s.sub(1, wire.QoS0, "r/#")
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		m := s.publish()
		if !m.Retain || seen[m.Topic] {
			t.Fatalf("got %+v (seen %v)", m, seen[m.Topic])
		}
		seen[m.Topic] = true
	}
}

// TestWillGoesWhenTheSessionEndsBeforeItsDelay: a will waits out its delay
// or the session's expiry, whichever ends first [MQTT-3.1.3-9].
func TestWillGoesWhenTheSessionEndsBeforeItsDelay(t *testing.T) {
	r := newRig(t, nil)
	got := r.consume("wills.#", 1, 10)
	c := r.connect(&wire.Connect{ClientID: "we", CleanStart: true,
		Properties: wire.Properties{wire.IntProp(wire.PropSessionExpiry, 1)},
		Will:       &wire.Will{Topic: "wills/e", Payload: []byte("expired"), Properties: wire.Properties{wire.IntProp(wire.PropWillDelay, 600)}}})
	c.nc.Close()
	if m := recv(t, got); string(m.Body) != "expired" {
		t.Fatalf("will %q", m.Body)
	}
}
