package amqp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	"tandem/internal/protocol/protocoltest"
	wire "tandem/internal/wire/amqp"
)

// rawProducer opens a raw connection with a session on channel 0 and a
// sending link (handle 0) to target, and reads the broker's answers.
func rawProducer(t *testing.T, addr, target string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr)
	c.open(nil)
	c.begin()
	c.write(0, &wire.Attach{Name: "producer", Handle: 0, Role: wire.RoleSender, Target: &wire.Target{Address: target},
		InitialDeliveryCount: wire.Some(uint32(0))})
	if a, ok := c.next().(*wire.Attach); !ok || a.Target == nil {
		t.Fatalf("the attach to %q was refused", target)
	}
	if _, ok := c.next().(*wire.Flow); !ok {
		t.Fatal("expected a flow granting credit")
	}
	return c
}

// flood encodes n pre-settled, non-durable transfers on handle 0 with
// texts prefix-0, prefix-1..., as a client pipelines them; with sync, one
// last durable message goes unsettled, and its delivery id is returned.
func flood(t *testing.T, prefix string, n, body int, sync bool) ([]byte, uint32) {
	t.Helper()
	var raw []byte
	pad := strings.Repeat("p", body)
	for i := 0; i <= n; i++ {
		last := i == n
		if last && !sync {
			break
		}
		s := wire.Sections{Body: wire.ValueBody(fmt.Sprintf("%s-%d %s", prefix, i, pad))}
		if last {
			s.Header = &wire.Header{Durable: true}
		}
		msg, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw, err = wire.AppendFrame(raw, 0, &wire.Transfer{Handle: 0, DeliveryID: wire.Some(uint32(i)),
			DeliveryTag: []byte(fmt.Sprint(i)), MessageFormat: wire.Some(uint32(0)), Settled: !last}, msg)
		if err != nil {
			t.Fatal(err)
		}
	}
	return raw, uint32(n)
}

// awaitOutcome reads until the disposition of delivery id comes; it
// reports what went wrong instead of failing, for use on a goroutine.
func (c *rawClient) awaitOutcome(id uint32, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		p, err := c.tryNext()
		if err != nil {
			return fmt.Errorf("waiting for the outcome of delivery %d: %w", id, err)
		}
		switch p := p.(type) {
		case *wire.Disposition:
			if p.First <= id && id <= p.LastID() {
				if _, ok := p.State.(*wire.Accepted); !ok {
					return fmt.Errorf("delivery %d: outcome %#v", id, p.State)
				}
				return nil
			}
		case *wire.Close:
			return fmt.Errorf("connection closed waiting for delivery %d: %v", id, p.Error)
		}
	}
	return fmt.Errorf("no outcome for delivery %d within %v", id, within)
}

// pipeline writes raw in one go and waits for the outcome of delivery id,
// on a goroutine; the result arrives on the returned channel.
func (c *rawClient) pipeline(raw []byte, id uint32, within time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		if _, err := c.nc.Write(raw); err != nil {
			done <- err
			return
		}
		done <- c.awaitOutcome(id, within)
	}()
	return done
}

// settleAll receives n messages on rcv and accepts each, checking that
// each producer's (by the text's prefix) arrive in order.
func settleAll(t *testing.T, rcv *goamqp.Receiver, n int) {
	t.Helper()
	next := map[string]int{}
	for got := 0; got < n; got++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		m, err := rcv.Receive(ctx, nil)
		cancel()
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		var prod string
		var i int
		if _, err := fmt.Sscanf(text(m), "%2s-%d ", &prod, &i); err != nil {
			t.Fatalf("message %.20q: %v", text(m), err)
		}
		if i != next[prod] {
			t.Fatalf("producer %s's message %d arrived, want %d", prod, i, next[prod])
		}
		next[prod]++
		if err := rcv.AcceptMessage(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFloodingProducersAndAConsumerShareAOneSlotGate: two producers that
// pipeline pre-settled sends and a consumer that accepts each message all
// make progress through a gate of one slot: every message arrives, in each
// producer's order, and each producer's final unsettled send is accepted.
func TestFloodingProducersAndAConsumerShareAOneSlotGate(t *testing.T) {
	const n = 900 // within the link's credit of 1000
	gate := protocol.NewIngestGate(1)
	r := startRig(t, rigOptions{opts: Options{Env: protocol.Env{Ingest: gate}}})
	rcv := newReceiver(t, newSession(t, r.dialGo(t, nil)), "flood", &goamqp.ReceiverOptions{Credit: 50})

	var answers []<-chan error
	for p := 0; p < 2; p++ {
		pc := rawProducer(t, r.addr, "flood")
		raw, id := flood(t, fmt.Sprintf("p%d", p), n, 100, true)
		answers = append(answers, pc.pipeline(raw, id, 30*time.Second))
	}
	settleAll(t, rcv, 2*(n+1))
	for p, ch := range answers {
		if err := <-ch; err != nil {
			t.Fatalf("producer %d: %v", p, err)
		}
	}
	waitFor(t, "every message settled", func() bool { return r.depth(t, "flood") == 0 })
	protocoltest.GateFree(t, gate)
}

// TestPipelinedSendsWaitForTheTurnAndSettlementsDoNot: while another
// connection holds the only slot of the gate, a producer's pipelined
// messages wait for it, and a consumer's settlements do not.
func TestPipelinedSendsWaitForTheTurnAndSettlementsDoNot(t *testing.T) {
	const n = 50
	gate := protocol.NewIngestGate(1)
	r := startRig(t, rigOptions{opts: Options{Env: protocol.Env{Ingest: gate}}})
	// Messages for the consumer, sent while the gate is free.
	pre := rawProducer(t, r.addr, "settled")
	raw, id := flood(t, "s0", n, 10, true)
	if err := <-pre.pipeline(raw, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	held := protocol.NewTurn(gate)
	held.Take()
	defer held.Release()
	pc := rawProducer(t, r.addr, "waiting")
	raw, id = flood(t, "w0", n, 10, true)
	answer := pc.pipeline(raw, id, 30*time.Second)

	rcv := newReceiver(t, newSession(t, r.dialGo(t, nil)), "settled", &goamqp.ReceiverOptions{Credit: 10})
	settleAll(t, rcv, n+1)
	waitFor(t, "the settled messages gone", func() bool { return r.depth(t, "settled") == 0 })
	if got := r.depth(t, "waiting"); got != 0 {
		t.Fatalf("%d pipelined messages were sent while another connection held the only turn", got)
	}
	held.Release()
	if err := <-answer; err != nil {
		t.Fatalf("the producer once the turn was free: %v", err)
	}
	if got := r.depth(t, "waiting"); got != n+1 {
		t.Fatalf("%d messages in the producer's queue, want %d", got, n+1)
	}
	protocoltest.GateFree(t, gate)
}

// TestConnectionEndingOnItsTurnFreesTheGate: a connection that pipelines
// messages (and so handles them on its turn) and then ends, or stalls in
// the middle of a frame, gives its turn back: with a gate of one slot,
// another pipelining producer is still served.
func TestConnectionEndingOnItsTurnFreesTheGate(t *testing.T) {
	const n = 200
	closeFrame, err := wire.AppendFrame(nil, 0, &wire.Close{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tail []byte
		// close closes the client's socket after the tail.
		close bool
	}{
		{"a size below the frame header", []byte{0, 0, 0, 4, 2, 0, 0, 0}, false},
		{"a frame over the size limit", []byte{0x7f, 0xff, 0xff, 0xff, 2, 0, 0, 0}, false},
		{"a transfer that does not decode", []byte{0, 0, 0, 12, 2, 0, 0, 0, 0, 0x53, 0x14, 0xee}, false},
		{"a SASL frame", []byte{0, 0, 0, 9, 2, 1, 0, 0, 0x40}, false},
		{"close", closeFrame, false},
		{"the socket closed", nil, true},
		{"the socket closed in the middle of a frame", closeFrame[:5], true},
		{"a stall in the middle of a frame", closeFrame[:5], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := protocol.NewIngestGate(1)
			r := startRig(t, rigOptions{opts: Options{Env: protocol.Env{Ingest: gate}}})
			p1 := rawProducer(t, r.addr, "first")
			raw, _ := flood(t, "a", n, 20, false)
			p1.writeRaw(append(raw, tc.tail...))
			if tc.close {
				p1.nc.Close()
			}
			waitFor(t, "the pipelined messages taken", func() bool { return r.depth(t, "first") == n })
			protocoltest.GateFree(t, gate)

			p2 := rawProducer(t, r.addr, "second")
			raw, id := flood(t, "b", n, 20, true)
			if err := <-p2.pipeline(raw, id, 10*time.Second); err != nil {
				t.Fatalf("the second producer: %v", err)
			}
			if got := r.depth(t, "second"); got != n+1 {
				t.Fatalf("%d messages in the second producer's queue, want %d", got, n+1)
			}
		})
	}
}

// TestSendWaitingForRoomDoesNotHoldTheGate: a producer that pipelines
// sends to a full BLOCK address waits for room inside the broker (the
// adapter takes no producer credit); it must not wait on its turn, or,
// with a gate of one slot, every other pipelining producer would wait
// with it.
func TestSendWaitingForRoomDoesNotHoldTheGate(t *testing.T) {
	const limit, n = 4 << 10, 12
	settings := protocoltest.LimitAt("blocked", limit, broker.FullBlock)
	gate := protocol.NewIngestGate(1)
	r := startRig(t, rigOptions{opts: Options{Env: protocol.Env{Ingest: gate}}, settings: settings})
	// Should a producer wait for room on its turn, closing the broker
	// first lets it go, so that a failure ends instead of hanging.
	t.Cleanup(r.b.Close)
	p1 := rawProducer(t, r.addr, "blocked")
	raw, id1 := flood(t, "a0", n, 1000, true)
	first := p1.pipeline(raw, id1, 30*time.Second)
	// Two of these messages, as the broker counts their size, fit under
	// 4 KiB; the reader waits on the third.
	waitFor(t, "the blocked address full", func() bool { return r.depth(t, "blocked") >= 2 })

	p2 := rawProducer(t, r.addr, "free")
	raw, id2 := flood(t, "b0", 100, 20, true)
	if err := <-p2.pipeline(raw, id2, 10*time.Second); err != nil {
		t.Fatalf("a producer to another address while the first waits for room: %v", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the producer to the full address was answered (%v) before a consumer made room", err)
	default:
	}

	rcv := newReceiver(t, newSession(t, r.dialGo(t, nil)), "blocked", &goamqp.ReceiverOptions{Credit: 1})
	settleAll(t, rcv, n+1)
	if err := <-first; err != nil {
		t.Fatalf("the producer to the full address: %v", err)
	}
	protocoltest.GateFree(t, gate)
}

// TestDischargeWaitingForRoomDoesNotHoldTheGate: a transaction's
// discharge, pipelined behind its sends (which take the turn), commits,
// and a commit to a full BLOCK address waits for room; it must give the
// turn up first.
func TestDischargeWaitingForRoomDoesNotHoldTheGate(t *testing.T) {
	const limit = 4 << 10
	settings := protocoltest.LimitAt("blocked", limit, broker.FullBlock)
	gate := protocol.NewIngestGate(1)
	r := startRig(t, rigOptions{opts: Options{Env: protocol.Env{Ingest: gate}}, settings: settings})
	t.Cleanup(r.b.Close) // lets a commit waiting on its turn go, should the test fail
	c := rawProducer(t, r.addr, "blocked")
	// Fill the address: two of these messages take it to its limit.
	raw, _ := flood(t, "f0", 2, 1000, false)
	c.writeRaw(raw)
	waitFor(t, "the blocked address full", func() bool { return r.depth(t, "blocked") == 2 })

	c.write(0, &wire.Attach{Name: "txn", Handle: 1, Role: wire.RoleSender, Source: &wire.Source{},
		Coordinator: &wire.Coordinator{}, InitialDeliveryCount: wire.Some(uint32(0))})
	if a, ok := c.next().(*wire.Attach); !ok || a.Coordinator == nil {
		t.Fatal("the coordinator link was refused")
	}
	transfer := func(b []byte, handle, id uint32, settled bool, state wire.DeliveryState, body any) []byte {
		t.Helper()
		msg, err := (&wire.Sections{Body: wire.ValueBody(body)}).Encode()
		if err != nil {
			t.Fatal(err)
		}
		b, err = wire.AppendFrame(b, 0, &wire.Transfer{Handle: handle, DeliveryID: wire.Some(id),
			DeliveryTag: []byte(fmt.Sprint(id)), MessageFormat: wire.Some(uint32(0)), Settled: settled, State: state}, msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c.writeRaw(transfer(nil, 1, 100, false, nil, &wire.Declare{}))
	var txn []byte
	for txn == nil {
		if d, ok := c.next().(*wire.Disposition); ok && d.First == 100 {
			decl, ok := d.State.(*wire.Declared)
			if !ok {
				t.Fatalf("declare answered with %#v", d.State)
			}
			txn = decl.TxnID
		}
	}

	c.write(0, &wire.Attach{Name: "free", Handle: 2, Role: wire.RoleSender, Target: &wire.Target{Address: "free"},
		InitialDeliveryCount: wire.Some(uint32(0))})
	if a, ok := c.next().(*wire.Attach); !ok || a.Target == nil {
		t.Fatal("the attach to free was refused")
	}

	// Three sends in the transaction (on the turn: more is buffered), an
	// unsettled send to another address, whose outcome tells that the
	// reader is past it, and the discharge, in one write.
	var b []byte
	for i := uint32(0); i < 3; i++ {
		b = transfer(b, 0, 2+i, true, &wire.TransactionalState{TxnID: txn}, fmt.Sprintf("t0-%d %s", i, strings.Repeat("p", 1000)))
	}
	b = transfer(b, 2, 50, false, nil, "x")
	b = transfer(b, 1, 101, false, nil, &wire.Discharge{TxnID: txn})
	c.writeRaw(b)
	if err := c.awaitOutcome(50, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The discharge is next in the buffer: its commit waits for room, and
	// must not do so on the turn.
	protocoltest.GateFree(t, gate)
	answer := make(chan error, 1)
	go func() { answer <- c.awaitOutcome(101, 30*time.Second) }()
	expectNoAnswer := func() {
		t.Helper()
		select {
		case err := <-answer:
			t.Fatalf("the discharge was answered (%v) before a consumer made room", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	expectNoAnswer()

	rcv := newReceiver(t, newSession(t, r.dialGo(t, nil)), "blocked", &goamqp.ReceiverOptions{Credit: 1})
	settleAll(t, rcv, 5)
	if err := <-answer; err != nil {
		t.Fatalf("the discharge: %v", err)
	}
}
