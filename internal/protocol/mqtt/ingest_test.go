package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	"tandem/internal/protocol"
	"tandem/internal/protocol/protocoltest"
	wire "tandem/internal/wire/mqtt"
)

// gatedRig is a rig whose adapter shares a gate of one slot and refuses
// packets over 1 MiB, with an anycast queue on each of the given
// addresses.
func gatedRig(t *testing.T, settings func(string) broker.AddressSettings, queues ...string) (*rig, *protocol.IngestGate) {
	t.Helper()
	gate := protocol.NewIngestGate(1)
	r := newRig(t, func(o *Options, b *broker.Options) {
		o.Ingest = gate
		o.MaxPacketSize = 1 << 20
		b.Settings = settings
	})
	for _, q := range queues {
		if err := r.b.CreateQueue(broker.QueueConfig{Name: q, Address: q, RoutingType: message.Anycast}); err != nil {
			t.Fatal(err)
		}
	}
	return r, gate
}

// flood encodes n QoS 0 PUBLISHes to topic with payloads prefix-0,
// prefix-1..., as a client pipelines them; with sync, one last QoS 1
// PUBLISH, with packet identifier 1, asks for a PUBACK.
func flood(t *testing.T, topic, prefix string, n, body int, sync bool) []byte {
	t.Helper()
	var raw []byte
	pad := strings.Repeat("p", body)
	for i := 0; i <= n; i++ {
		p := &wire.Publish{Topic: topic, Payload: []byte(fmt.Sprintf("%s-%d %s", prefix, i, pad))}
		if i == n {
			if !sync {
				break
			}
			p.QoS, p.PacketID = wire.QoS1, 1
		}
		var err error
		if raw, err = wire.AppendPacket(raw, p, wire.V5); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

// pipeline writes raw in one go and waits for the PUBACK of packet
// identifier 1, on a goroutine; the result arrives on the returned
// channel.
func (c *client) pipeline(raw []byte, within time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		if _, err := c.nc.Write(raw); err != nil {
			done <- err
			return
		}
		deadline := time.Now().Add(within)
		for {
			p, err := c.read(time.Until(deadline))
			if err != nil {
				done <- fmt.Errorf("waiting for the PUBACK: %w", err)
				return
			}
			if a, ok := p.(*wire.Puback); ok && a.PacketID == 1 {
				if a.Reason.IsError() {
					err = errors.New(a.Reason.String())
				}
				done <- err
				return
			}
		}
	}()
	return done
}

// ackAll reads n PUBLISHes on c and acknowledges each, checking that each
// producer's (by the payload's prefix) arrive in order.
func ackAll(t *testing.T, c *client, n int) {
	t.Helper()
	next := map[string]int{}
	for got := 0; got < n; got++ {
		p, err := c.read(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		pub, ok := p.(*wire.Publish)
		if !ok {
			t.Fatalf("got %T, want PUBLISH", p)
		}
		var prod string
		var i int
		if _, err := fmt.Sscanf(string(pub.Payload), "%2s-%d ", &prod, &i); err != nil {
			t.Fatalf("message %.20q: %v", pub.Payload, err)
		}
		if i != next[prod] {
			t.Fatalf("producer %s's message %d arrived, want %d", prod, i, next[prod])
		}
		next[prod]++
		c.ack(pub)
	}
}

// TestFloodingProducersAndAConsumerShareAOneSlotGate: two producers that
// pipeline QoS 0 PUBLISHes and a consumer that acknowledges each message
// (QoS 1) all make progress through a gate of one slot: every message
// arrives, in each producer's order, and each producer's final QoS 1
// PUBLISH is acknowledged.
func TestFloodingProducersAndAConsumerShareAOneSlotGate(t *testing.T) {
	const n = 1000
	r, gate := gatedRig(t, nil)
	cons := r.connect(&wire.Connect{ClientID: "consumer", CleanStart: true,
		Properties: wire.Properties{wire.IntProp(wire.PropReceiveMaximum, 20)}})
	cons.sub(1, wire.QoS1, "flood")

	var answers []<-chan error
	for p := 0; p < 2; p++ {
		pc := r.connect(&wire.Connect{ClientID: fmt.Sprintf("producer-%d", p), CleanStart: true})
		answers = append(answers, pc.pipeline(flood(t, "flood", fmt.Sprintf("p%d", p), n, 100, true), 30*time.Second))
	}
	ackAll(t, cons, 2*(n+1))
	for p, ch := range answers {
		if err := <-ch; err != nil {
			t.Fatalf("producer %d: %v", p, err)
		}
	}
	protocoltest.GateFree(t, gate)
}

// TestPipelinedPublishesWaitForTheTurnAndAcksDoNot: while another
// connection holds the only slot of the gate, a producer's pipelined
// PUBLISHes wait for it, and a consumer's PUBACKs do not: the consumer,
// which may hold few messages unacknowledged, gets every message.
func TestPipelinedPublishesWaitForTheTurnAndAcksDoNot(t *testing.T) {
	const n = 50
	r, gate := gatedRig(t, nil, "waiting")
	cons := r.connect(&wire.Connect{ClientID: "consumer", CleanStart: true,
		Properties: wire.Properties{wire.IntProp(wire.PropReceiveMaximum, 5)}})
	cons.sub(1, wire.QoS1, "settled")
	pre := r.connect(&wire.Connect{ClientID: "before", CleanStart: true})
	if err := <-pre.pipeline(flood(t, "settled", "s0", n, 10, true), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	held := protocol.NewTurn(gate)
	held.Take()
	defer held.Release()
	pc := r.connect(&wire.Connect{ClientID: "producer", CleanStart: true})
	answer := pc.pipeline(flood(t, "waiting", "w0", n, 10, true), 30*time.Second)

	ackAll(t, cons, n+1)
	if got := r.queueDepth("waiting"); got != 0 {
		t.Fatalf("%d pipelined messages were sent while another connection held the only turn", got)
	}
	held.Release()
	if err := <-answer; err != nil {
		t.Fatalf("the producer once the turn was free: %v", err)
	}
	if got := r.queueDepth("waiting"); got != n+1 {
		t.Fatalf("%d messages in the producer's queue, want %d", got, n+1)
	}
	protocoltest.GateFree(t, gate)
}

// TestConnectionEndingOnItsTurnFreesTheGate: a connection that pipelines
// PUBLISHes (and so handles them on its turn) and then ends, or stalls in
// the middle of a packet, gives its turn back: with a gate of one slot,
// another pipelining producer is still served.
func TestConnectionEndingOnItsTurnFreesTheGate(t *testing.T) {
	const n = 200
	publish, err := wire.AppendPacket(nil, &wire.Publish{Topic: "first", Payload: []byte("cut")}, wire.V5)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tail []byte
		// close closes the client's socket after the tail.
		close bool
	}{
		{"a remaining length of five bytes", []byte{0x30, 0x80, 0x80, 0x80, 0x80}, false},
		{"a packet over the size limit", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, false},
		{"a PUBLISH that does not decode", []byte{0x30, 0x02, 0x00, 0x05}, false},
		{"QoS 3", []byte{0x36, 0x00}, false},
		{"DISCONNECT", []byte{0xe0, 0x00}, false},
		{"the socket closed", nil, true},
		{"the socket closed in the middle of a packet", publish[:4], true},
		{"a stall in the middle of a packet", publish[:4], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, gate := gatedRig(t, nil, "first", "second")
			p1 := r.connect(&wire.Connect{ClientID: "first", CleanStart: true})
			if _, err := p1.nc.Write(append(flood(t, "first", "a0", n, 20, false), tc.tail...)); err != nil {
				t.Fatal(err)
			}
			if tc.close {
				p1.nc.Close()
			}
			waitFor(t, "the pipelined messages taken", func() bool { return r.queueDepth("first") == n })
			protocoltest.GateFree(t, gate)

			p2 := r.connect(&wire.Connect{ClientID: "second", CleanStart: true})
			if err := <-p2.pipeline(flood(t, "second", "b0", n, 20, true), 10*time.Second); err != nil {
				t.Fatalf("the second producer: %v", err)
			}
			if got := r.queueDepth("second"); got != n+1 {
				t.Fatalf("%d messages in the second producer's queue, want %d", got, n+1)
			}
		})
	}
}

// TestSendWaitingForRoomDoesNotHoldTheGate: a producer that pipelines
// PUBLISHes to a full BLOCK address waits for room inside the broker (the
// adapter takes no producer credit); it must not wait on its turn, or,
// with a gate of one slot, every other pipelining producer would wait with
// it.
func TestSendWaitingForRoomDoesNotHoldTheGate(t *testing.T) {
	const limit, n = 4 << 10, 12
	settings := protocoltest.LimitAt("blocked", limit, broker.FullBlock)
	r, gate := gatedRig(t, settings, "blocked", "free")
	// Should a producer wait for room on its turn, closing the broker
	// first lets it go, so that a failure ends instead of hanging.
	t.Cleanup(func() { r.b.Close() })
	p1 := r.connect(&wire.Connect{ClientID: "blocked", CleanStart: true})
	first := p1.pipeline(flood(t, "blocked", "a0", n, 1000, true), 30*time.Second)
	waitFor(t, "the blocked address full", func() bool { return r.queueDepth("blocked") >= 2 })

	p2 := r.connect(&wire.Connect{ClientID: "free", CleanStart: true})
	if err := <-p2.pipeline(flood(t, "free", "b0", 100, 20, true), 10*time.Second); err != nil {
		t.Fatalf("a producer to another address while the first waits for room: %v", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the producer to the full address was answered (%v) before a consumer made room", err)
	default:
	}

	ch := r.consume("blocked", message.Anycast, n+1)
	for i := 0; i <= n; i++ {
		m := recv(t, ch)
		if got, want := string(m.Body), fmt.Sprintf("a0-%d ", i); !strings.HasPrefix(got, want) {
			t.Fatalf("message %d arrived as %.10q", i, got)
		}
	}
	if err := <-first; err != nil {
		t.Fatalf("the producer to the full address: %v", err)
	}
	protocoltest.GateFree(t, gate)
}

// TestRetainedPublishWaitingForRoomDoesNotHoldTheGate: a retained PUBLISH
// is stored in a transaction, and the commit of one to a full PAGE
// address waits for room (a transaction's messages are never paged); a
// PUBLISH pipelined behind others, which took the turn, must give it up
// first.
func TestRetainedPublishWaitingForRoomDoesNotHoldTheGate(t *testing.T) {
	const limit = 4 << 10
	settings := protocoltest.LimitAt("paged", limit, broker.FullPage)
	r, gate := gatedRig(t, settings, "paged", "free")
	t.Cleanup(func() { r.b.Close() }) // lets a commit waiting on its turn go, should the test fail
	c := r.connect(&wire.Connect{ClientID: "producer", CleanStart: true})
	if err := <-c.pipeline(flood(t, "paged", "f0", 5, 1000, true), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// A QoS 1 PUBLISH to another address, whose PUBACK tells that the
	// reader is past it (on its turn: more is buffered), then the
	// retained one and a PINGREQ behind it, in one write.
	var b []byte
	for _, p := range []wire.Packet{
		&wire.Publish{Topic: "free", QoS: wire.QoS1, PacketID: 2, Payload: []byte("x")},
		&wire.Publish{Topic: "paged", QoS: wire.QoS1, PacketID: 3, Retain: true, Payload: []byte("f0-6 retained")},
		&wire.Pingreq{},
	} {
		var err error
		if b, err = wire.AppendPacket(b, p, wire.V5); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.nc.Write(b); err != nil {
		t.Fatal(err)
	}
	if a, ok := c.next().(*wire.Puback); !ok || a.PacketID != 2 {
		t.Fatalf("got %+v, want PUBACK 2", a)
	}
	protocoltest.GateFree(t, gate)
	if p, err := c.read(100 * time.Millisecond); err == nil {
		t.Fatalf("got %T %+v before a consumer made room", p, p)
	}

	ch := r.consume("paged", message.Anycast, 7)
	for i := 0; i <= 6; i++ {
		if got, want := string(recv(t, ch).Body), fmt.Sprintf("f0-%d ", i); !strings.HasPrefix(got, want) {
			t.Fatalf("message %d arrived as %.10q", i, got)
		}
	}
	if a, ok := c.next().(*wire.Puback); !ok || a.PacketID != 3 || a.Reason.IsError() {
		t.Fatalf("got %+v, want PUBACK 3", a)
	}
}
