package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/amqp"
)

func TestSASL(t *testing.T) {
	r := startRig(t, rigOptions{auth: testAuth{noAnonymous: true}})
	for _, tc := range []struct {
		name string
		sasl goamqp.SASLType
		ok   bool
	}{
		{"plain", goamqp.SASLTypePlain("admin", "secret"), true},
		{"bad password", goamqp.SASLTypePlain("admin", "wrong"), false},
		{"anonymous refused", goamqp.SASLTypeAnonymous(), false},
		{"no sasl refused", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := goamqp.Dial(testCtx(t), "amqp://"+r.addr, &goamqp.ConnOptions{SASLType: tc.sasl})
			if err == nil {
				// Without SASL the refusal comes as a close after the open.
				_, err = c.NewSession(testCtx(t), nil)
				c.Close()
			}
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.name == "no sasl refused" {
				var ce *goamqp.ConnError
				var ae *goamqp.Error
				if !errors.As(err, &ce) || !errors.As(ce.RemoteErr, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
					t.Fatalf("err = %v, want a close with amqp:unauthorized-access", err)
				}
			}
		})
	}
	ra := startRig(t, rigOptions{})
	c, err := goamqp.Dial(testCtx(t), "amqp://"+ra.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatalf("SASL ANONYMOUS on a broker that allows it: %v", err)
	}
	c.Close()
}

// TestNativeMessageIsDeliveredByteForByte sends a message with every
// section and checks an AMQP consumer gets the bytes sent, and on
// redelivery the same bytes but for the header.
func TestNativeMessageIsDeliveredByteForByte(t *testing.T) {
	r := startRig(t, rigOptions{})
	msg, err := (&wire.Sections{
		Header:                &wire.Header{Durable: true, Priority: wire.Some(uint8(7))},
		DeliveryAnnotations:   wire.Map{{Key: wire.Symbol("x-hop"), Value: "only"}},
		MessageAnnotations:    wire.Map{{Key: wire.Symbol("x-app"), Value: int64(5)}},
		Properties:            &wire.Properties{MessageID: uint64(42), To: "native", Subject: "s", GroupID: "g"},
		ApplicationProperties: wire.Map{{Key: "n", Value: int32(1)}, {Key: "list", Value: wire.List{"a", int8(1)}}},
		Body:                  wire.ValueBody(wire.Map{{Key: "k", Value: wire.List{int64(1), wire.Map{{Key: "deep", Value: true}}}}}),
		Footer:                wire.Map{{Key: wire.Symbol("x-f"), Value: "foot"}},
	}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := (&wire.Sections{
		Header:                &wire.Header{Durable: true, Priority: wire.Some(uint8(7))},
		MessageAnnotations:    wire.Map{{Key: wire.Symbol("x-app"), Value: int64(5)}},
		Properties:            &wire.Properties{MessageID: uint64(42), To: "native", Subject: "s", GroupID: "g"},
		ApplicationProperties: wire.Map{{Key: "n", Value: int32(1)}, {Key: "list", Value: wire.List{"a", int8(1)}}},
		Body:                  wire.ValueBody(wire.Map{{Key: "k", Value: wire.List{int64(1), wire.Map{{Key: "deep", Value: true}}}}}),
		Footer:                wire.Map{{Key: wire.Symbol("x-f"), Value: "foot"}},
	}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, r.addr)
	c.open(nil)
	c.begin()
	c.write(0, &wire.Attach{Name: "p", Handle: 0, Role: wire.RoleSender, Target: &wire.Target{Address: "native"},
		InitialDeliveryCount: wire.Some(uint32(0))})
	c.next() // attach
	c.next() // flow
	if err := c.w.WriteTransfer(0, &wire.Transfer{Handle: 0, DeliveryID: wire.Some(uint32(0)), DeliveryTag: []byte{1},
		MessageFormat: wire.Some(uint32(0))}, msg); err != nil {
		t.Fatal(err)
	}
	c.write(0, &wire.Attach{Name: "c", Handle: 1, Role: wire.RoleReceiver, Source: &wire.Source{Address: "native"}})
	c.write(0, &wire.Flow{IncomingWindow: 100, OutgoingWindow: 100, NextIncomingID: wire.Some(uint32(0)),
		Handle: wire.Some(uint32(1)), DeliveryCount: wire.Some(uint32(0)), LinkCredit: wire.Some(uint32(2))})
	var got [][]byte
	var ids []uint32
	for len(got) < 2 {
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := c.r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.IsHeartbeat() {
			continue
		}
		var tr wire.Transfer
		payload, err := wire.DecodeTransfer(f.Body, &tr)
		if err != nil {
			continue // attach, flow, disposition
		}
		got = append(got, append([]byte(nil), payload...))
		ids = append(ids, tr.DeliveryID.Value)
		if len(got) == 1 {
			// Give it back as failed: it comes again with delivery-count 1.
			c.write(0, &wire.Disposition{Role: wire.RoleReceiver, First: tr.DeliveryID.Value, Settled: true,
				State: &wire.Modified{DeliveryFailed: true}})
		}
	}
	if !bytes.Equal(got[0], stored) {
		t.Fatalf("first delivery differs from what was sent (less its delivery-annotations):\n got % x\nwant % x", got[0], stored)
	}
	pm, err := wire.ParseMessage(got[1])
	if err != nil {
		t.Fatal(err)
	}
	if h := pm.Header(); h.DeliveryCount != 1 || !h.Durable || h.EffectivePriority() != 7 {
		t.Fatalf("redelivered header %+v", h)
	}
	hs, _ := pm.Span(wire.SectionHeader)
	want, _ := wire.ParseMessage(stored)
	ws, _ := want.Span(wire.SectionHeader)
	if !bytes.Equal(got[1][hs.End:], stored[ws.End:]) {
		t.Fatal("redelivery changed more than the header")
	}
	if ids[0] == ids[1] {
		t.Fatalf("both deliveries have id %d", ids[0])
	}
}

func TestDynamicReplyQueueAndAnonymousRelay(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	replies := newReceiver(t, s, "", &goamqp.ReceiverOptions{DynamicAddress: true})
	addr := replies.Address()
	if addr == "" {
		t.Fatal("the dynamic receiver got no address")
	}
	relay := newSender(t, s, "", nil)
	for _, to := range []string{"requests", addr} {
		send(t, relay, &goamqp.Message{Data: [][]byte{[]byte("to " + to)}, Properties: &goamqp.MessageProperties{To: &to,
			ReplyTo: &addr}})
	}
	m := receive(t, replies)
	if got := string(m.GetData()); got != "to "+addr {
		t.Fatalf("reply queue got %q", got)
	}
	_ = replies.AcceptMessage(testCtx(t), m)
	req := receive(t, newReceiver(t, s, "requests", nil))
	if req.Properties == nil || req.Properties.ReplyTo == nil || *req.Properties.ReplyTo != addr {
		t.Fatalf("request reply-to %+v", req.Properties)
	}
	// A message without to on the anonymous link is rejected.
	err := relay.Send(testCtx(t), goamqp.NewMessage([]byte("nowhere")), nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInvalidField {
		t.Fatalf("send without to: %v, want rejected with amqp:invalid-field", err)
	}
	c.Close()
	waitFor(t, "the dynamic queue to go with its connection", func() bool {
		_, err := r.b.Queue(addr)
		return errors.Is(err, broker.ErrNoSuchQueue)
	})
}

func TestSelectorNoLocalAndBrowse(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	snd := newSender(t, s, "colors", nil)
	for _, color := range []string{"red", "blue", "red"} {
		send(t, snd, &goamqp.Message{Data: [][]byte{[]byte(color)}, ApplicationProperties: map[string]any{"color": color}})
	}
	browser := newReceiver(t, s, "colors", &goamqp.ReceiverOptions{SourceDistributionMode: goamqp.SourceDistributionModeCopy, Credit: 10})
	for i := 0; i < 3; i++ {
		m := receive(t, browser)
		_ = browser.AcceptMessage(testCtx(t), m)
	}
	expectNone(t, browser, 200*time.Millisecond)
	if d := r.depth(t, "colors"); d != 3 {
		t.Fatalf("after browsing the queue holds %d, want 3", d)
	}
	red := newReceiver(t, s, "colors", &goamqp.ReceiverOptions{Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = 'red'")}})
	for i := 0; i < 2; i++ {
		m := receive(t, red)
		if string(m.GetData()) != "red" {
			t.Fatalf("selector let through %q", m.GetData())
		}
		_ = red.AcceptMessage(testCtx(t), m)
	}
	expectNone(t, red, 200*time.Millisecond)
	if _, err := s.NewReceiver(testCtx(t), "colors", &goamqp.ReceiverOptions{Filters: []goamqp.LinkFilter{
		goamqp.NewSelectorFilter("color = = 'red'")}}); err == nil {
		t.Fatal("a bad selector was accepted")
	}

	// no-local on a topic: this connection's messages are skipped.
	noLocal := goamqp.NewLinkFilter("no-local", 0x0000468C00000003, "NoLocalFilter{}")
	local := newReceiver(t, s, "news", &goamqp.ReceiverOptions{SourceCapabilities: []string{"topic"},
		Filters: []goamqp.LinkFilter{noLocal}})
	topic := []string{"topic"}
	newSender(t, s, "news", &goamqp.SenderOptions{TargetCapabilities: topic}).Send(testCtx(t), goamqp.NewMessage([]byte("mine")), nil)
	other := newSession(t, r.dialGo(t, nil))
	send(t, newSender(t, other, "news", &goamqp.SenderOptions{TargetCapabilities: topic}), goamqp.NewMessage([]byte("theirs")))
	if got := string(receive(t, local).GetData()); got != "theirs" {
		t.Fatalf("no-local receiver got %q", got)
	}
}

func TestDelayTTLPriorityAndGroups(t *testing.T) {
	r := startRig(t, rigOptions{})
	s := newSession(t, r.dialGo(t, nil))
	snd := newSender(t, s, "timed", nil)
	start := time.Now()
	send(t, snd, &goamqp.Message{Data: [][]byte{[]byte("later")},
		Annotations: goamqp.Annotations{"x-opt-delivery-delay": int64(700)}})
	send(t, snd, &goamqp.Message{Data: [][]byte{[]byte("short-lived")}, Header: &goamqp.MessageHeader{TTL: 100 * time.Millisecond}})
	abs := time.Now().Add(100 * time.Millisecond)
	send(t, snd, &goamqp.Message{Data: [][]byte{[]byte("absolute")}, Properties: &goamqp.MessageProperties{AbsoluteExpiryTime: &abs}})
	at := time.Now().Add(400 * time.Millisecond)
	send(t, snd, &goamqp.Message{Data: [][]byte{[]byte("at")}, Annotations: goamqp.Annotations{"x-opt-delivery-time": at}})
	time.Sleep(200 * time.Millisecond) // let the two short-lived messages expire
	rcv := newReceiver(t, s, "timed", &goamqp.ReceiverOptions{Credit: 10})
	for _, want := range []string{"at", "later"} {
		m := receive(t, rcv)
		if got := string(m.GetData()); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		_ = rcv.AcceptMessage(testCtx(t), m)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("the delayed message came after %v, before its 700 ms delay", d)
	}
	expectNone(t, rcv, 200*time.Millisecond)

	// Priority: with both waiting, 9 goes before 1; group ids reach the
	// broker's message groups.
	pr := newSender(t, s, "prio", nil)
	for _, p := range []uint8{1, 9} {
		send(t, pr, &goamqp.Message{Data: [][]byte{[]byte(fmt.Sprint(p))}, Header: &goamqp.MessageHeader{Priority: p},
			Properties: &goamqp.MessageProperties{GroupID: ptr("g1")}})
	}
	prcv := newReceiver(t, s, "prio", nil)
	m := receive(t, prcv)
	if string(m.GetData()) != "9" || m.Header.Priority != 9 {
		t.Fatalf("first out: %q priority %d", m.GetData(), m.Header.Priority)
	}
}

func TestSoleConnectionForContainer(t *testing.T) {
	r := startRig(t, rigOptions{})
	first := dialRaw(t, r.addr)
	first.open(&wire.Open{ContainerID: "only-me", DesiredCapabilities: []wire.Symbol{wire.CapabilitySoleConnection}})
	second := dialRaw(t, r.addr)
	o := second.open(&wire.Open{ContainerID: "only-me", DesiredCapabilities: []wire.Symbol{wire.CapabilitySoleConnection}})
	if v, _ := o.Properties.Get(propConnectionFailed); v != true {
		t.Errorf("the refusing open lacks %s: %v", propConnectionFailed, o.Properties)
	}
	e := second.expectClose(wire.ErrorInvalidField)
	if v, _ := e.Info.Get(wire.Symbol("invalid-field")); v != wire.Symbol("container-id") {
		t.Errorf("close info %v, want invalid-field: container-id", e.Info)
	}
	first.write(0, &wire.Close{})
	first.expectCloseOK()
	third := dialRaw(t, r.addr)
	if o := third.open(&wire.Open{ContainerID: "only-me", DesiredCapabilities: []wire.Symbol{wire.CapabilitySoleConnection}}); o.Properties != nil {
		if v, _ := o.Properties.Get(propConnectionFailed); v == true {
			t.Fatal("the container id is still taken after its connection closed")
		}
	}
}

func TestOpenAnnouncesCapabilitiesAndFailoverList(t *testing.T) {
	topo := protocol.Topology{NodeID: "n1", Epoch: 3,
		Live: protocol.Node{Name: "live", Endpoints: []protocol.Endpoint{{URL: "tcp://live:61616"}}},
		Backups: []protocol.Node{
			{Name: "b1", Endpoints: []protocol.Endpoint{{URL: "tcp://backup1:61617"}}},
			{Name: "b2", Endpoints: []protocol.Endpoint{{URL: "ssl://backup2:61618", Protocols: []string{"AMQP"}}}},
			{Name: "b3", Endpoints: []protocol.Endpoint{{URL: "tcp://stomp-only:61619", Protocols: []string{"STOMP"}}}},
		}}
	r := startRig(t, rigOptions{opts: Options{Env: protocol.Env{Topology: func() protocol.Topology { return topo }}}})
	c := dialRaw(t, r.addr)
	o := c.open(nil)
	for _, cap := range []wire.Symbol{wire.CapabilityAnonymousRelay, wire.CapabilityDelayedDelivery, wire.CapabilitySharedSubs,
		wire.CapabilitySoleConnection} {
		if !wire.HasCapability(o.OfferedCapabilities, cap) {
			t.Errorf("open does not offer %s: %v", cap, o.OfferedCapabilities)
		}
	}
	v, ok := o.Properties.Get(wire.PropertyFailoverServerList)
	if !ok {
		t.Fatalf("no failover-server-list in %v", o.Properties)
	}
	list := v.(wire.List)
	if len(list) != 2 {
		t.Fatalf("failover-server-list %v, want the two AMQP backups", list)
	}
	want := []struct {
		host, scheme string
		port         int32
	}{{"backup1", "amqp", 61617}, {"backup2", "amqps", 61618}}
	for i, w := range want {
		m := list[i].(wire.Map)
		host, _ := m.Get(wire.Symbol("network-host"))
		port, _ := m.Get(wire.Symbol("port"))
		scheme, _ := m.Get(wire.Symbol("scheme"))
		if host != w.host || port != w.port || scheme != w.scheme {
			t.Errorf("entry %d: %v, want %+v", i, m, w)
		}
	}
}

// TestNullSourceRecoversAndUnsubscribes does what Qpid JMS does to
// unsubscribe: attach a receiver with the subscription's name and no
// source, get the subscription described back, close the link.
func TestNullSourceRecoversAndUnsubscribes(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	c.open(&wire.Open{ContainerID: "cid"})
	c.begin()
	c.write(0, &wire.Attach{Name: "gone", Handle: 0, Role: wire.RoleReceiver})
	if a := c.next().(*wire.Attach); a.Source != nil {
		t.Fatalf("attach for a subscription that does not exist has source %+v", a.Source)
	}
	if d := c.next().(*wire.Detach); d.Error == nil || d.Error.Condition != wire.ErrorNotFound {
		t.Fatalf("detach %+v, want amqp:not-found", d.Error)
	}
	c.write(0, &wire.Detach{Handle: 0, Closed: true})
	c.write(0, &wire.Attach{Name: "sub", Handle: 1, Role: wire.RoleReceiver, Source: &wire.Source{Address: "events",
		Durable: wire.DurableUnsettled, ExpiryPolicy: wire.ExpiryNever, Capabilities: []wire.Symbol{wire.CapabilityTopic},
		Filter: wire.Map{{Key: wire.Symbol("jms-selector"), Value: wire.SelectorFilter("a > 1")}}}})
	c.next()
	c.write(0, &wire.Detach{Handle: 1})
	c.next()
	if _, err := r.b.Queue("cid.sub"); err != nil {
		t.Fatalf("the durable subscription went with a detach: %v", err)
	}
	c.write(0, &wire.Attach{Name: "sub", Handle: 2, Role: wire.RoleReceiver})
	a := c.next().(*wire.Attach)
	if a.Source == nil || a.Source.Address != "events" || a.Source.Durable != wire.DurableUnsettled {
		t.Fatalf("recovered source %+v", a.Source)
	}
	if sel, _ := a.Source.Selector(); sel != "a > 1" {
		t.Errorf("recovered selector %q", sel)
	}
	c.write(0, &wire.Detach{Handle: 2, Closed: true})
	c.next()
	waitFor(t, "the subscription to go", func() bool {
		_, err := r.b.Queue("cid.sub")
		return errors.Is(err, broker.ErrNoSuchQueue)
	})
}

func TestAMQP091ClientIsToldTheVersion(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	c.writeRaw([]byte("AMQP\x00\x00\x09\x01"))
	h, err := c.r.ReadProtocolHeader()
	if err != nil || h != wire.HeaderAMQP {
		t.Fatalf("answer %v %v, want the AMQP 1.0 header", h, err)
	}
	if _, err := c.tryNext(); err == nil {
		t.Fatal("the connection stayed open")
	}
}

// TestListenerRefusalIsToldInAMQP fills the listener's max-connections:
// the next AMQP client, with or without SASL, gets an open and a close
// saying why, rather than a reset.
func TestListenerRefusalIsToldInAMQP(t *testing.T) {
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{NewServer(Options{Env: protocol.Env{Broker: b, Auth: testAuth{}}})},
		MaxConnections: 1})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	first, err := goamqp.Dial(testCtx(t), "amqp://"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, sasl := range []goamqp.SASLType{nil, goamqp.SASLTypeAnonymous()} {
		c, err := goamqp.Dial(testCtx(t), "amqp://"+ln.Addr().String(), &goamqp.ConnOptions{SASLType: sasl})
		if err == nil {
			_, err = c.NewSession(testCtx(t), nil)
			c.Close()
		}
		var ae *goamqp.Error
		if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondResourceLimitExceeded || !strings.Contains(ae.Description, "max-connections") {
			t.Fatalf("refused connection (sasl %v): %v, want amqp:resource-limit-exceeded naming max-connections", sasl != nil, err)
		}
	}
}
