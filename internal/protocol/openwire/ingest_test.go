package openwire

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	"tandem/internal/protocol/protocoltest"
	wire "tandem/internal/wire/openwire"
)

// flood encodes n non-persistent messages to dest that ask for no answer,
// as a JMS producer sends them, numbered from the client's next command ID
// and with texts prefix-0, prefix-1...; with sync, one last persistent
// message asks for an answer, whose command ID it returns.
func (c *client) flood(dest *wire.Destination, prefix string, n int, body int, sync bool) ([]byte, int32) {
	c.t.Helper()
	var raw []byte
	pad := strings.Repeat("p", body)
	for i := 0; i <= n; i++ {
		if i == n && !sync {
			break
		}
		m := c.textMessage(dest, fmt.Sprintf("%s-%d %s", prefix, i, pad))
		c.next++
		m.CommandID = c.next
		m.Persistent = i == n
		m.ResponseRequired = i == n
		var err error
		if raw, err = wire.AppendFrame(raw, m); err != nil {
			c.t.Fatal(err)
		}
	}
	return raw, c.next
}

// awaitAnswer reads until the answer to command id comes, on a goroutine
// of its own: it reports what went wrong on errs instead of failing.
func (c *client) awaitAnswer(id int32, within time.Duration) error {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	for {
		ds, err := c.r.ReadCommand()
		if err != nil {
			return fmt.Errorf("waiting for the answer to command %d: %w", id, err)
		}
		switch r := ds.(type) {
		case *wire.Response:
			if r.CorrelationID == id {
				return nil
			}
		case *wire.ExceptionResponse:
			if r.CorrelationID == id {
				return fmt.Errorf("command %d refused: %s", id, r.Exception)
			}
		}
	}
}

// pipeline writes raw in one go and waits for the answer to command id,
// on a goroutine; the result arrives on the returned channel.
func (c *client) pipeline(raw []byte, id int32, within time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		if _, err := c.nc.Write(raw); err != nil {
			done <- err
			return
		}
		done <- c.awaitAnswer(id, within)
	}()
	return done
}

// TestFloodingProducersAndAConsumerShareAOneSlotGate: two producers that
// pipeline non-persistent sends and a consumer that acknowledges each
// message all make progress through a gate of one slot: every message
// arrives, in each producer's order, and each producer's final synchronous
// send is answered.
func TestFloodingProducersAndAConsumerShareAOneSlotGate(t *testing.T) {
	const n = 2000
	gate := protocol.NewIngestGate(1)
	s := startServer(t, Options{Env: protocol.Env{Ingest: gate}}, broker.Options{})
	q := wire.NewQueue("flood")
	cons := dial(t, s.addr, "", "", "")
	cid := cons.subscribe(1, q, 50)

	var answers []<-chan error
	for p := 0; p < 2; p++ {
		pc := dial(t, s.addr, "", "", "")
		pc.ok(&wire.ProducerInfo{ProducerID: pc.producerID(1), Destination: q})
		raw, id := pc.flood(q, fmt.Sprintf("p%d", p), n, 100, true)
		answers = append(answers, pc.pipeline(raw, id, 30*time.Second))
	}

	next := map[string]int{}
	for got := 0; got < 2*(n+1); got++ {
		_ = cons.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		md := cons.dispatch()
		if md.Message == nil {
			t.Fatalf("a dispatch without a message after %d", got)
		}
		var prod string
		var i int
		if _, err := fmt.Sscanf(text(t, md), "%2s-%d ", &prod, &i); err != nil {
			t.Fatalf("message %q: %v", text(t, md), err)
		}
		if i != next[prod] {
			t.Fatalf("producer %s's message %d arrived, want %d", prod, i, next[prod])
		}
		next[prod]++
		cons.oneway(&wire.MessageAck{ConsumerID: cid, AckType: wire.AckStandard, LastMessageID: md.Message.MessageID,
			MessageCount: 1, Destination: md.Destination})
	}
	for p, ch := range answers {
		if err := <-ch; err != nil {
			t.Fatalf("producer %d: %v", p, err)
		}
	}
	waitFor(t, "every message acknowledged", func() bool { return s.depth(t, "flood") == 0 })
	protocoltest.GateFree(t, gate)
}

// TestConnectionEndingOnItsTurnFreesTheGate: a connection that pipelines
// messages (and so handles them on its turn) and then ends, or stalls in
// the middle of a frame, gives its turn back: with a gate of one slot,
// another pipelining producer is still served.
func TestConnectionEndingOnItsTurnFreesTheGate(t *testing.T) {
	const n = 200
	undecodable := binary.BigEndian.AppendUint32(nil, 1)
	undecodable = append(undecodable, 0xEE) // a type no OpenWire version has
	shutdown, err := wire.AppendFrame(nil, &wire.ShutdownInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tail []byte
		// close closes the client's socket after the tail.
		close bool
	}{
		{"a negative size prefix", binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF), false},
		{"a frame over the size limit", binary.BigEndian.AppendUint32(nil, 0x7FFFFFFF), false},
		{"a frame that does not decode", undecodable, false},
		{"ShutdownInfo", shutdown, false},
		{"the socket closed", nil, true},
		{"the socket closed in the middle of a frame", shutdown[:5], true},
		{"a stall in the middle of a frame", shutdown[:5], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := protocol.NewIngestGate(1)
			s := startServer(t, Options{Env: protocol.Env{Ingest: gate}}, broker.Options{})
			q := wire.NewQueue("first")
			p1 := dial(t, s.addr, "", "", "")
			raw, _ := p1.flood(q, "a", n, 20, false)
			if _, err := p1.nc.Write(append(raw, tc.tail...)); err != nil {
				t.Fatal(err)
			}
			if tc.close {
				p1.nc.Close()
			}
			waitFor(t, "the pipelined messages taken", func() bool { return s.depth(t, "first") == n })
			protocoltest.GateFree(t, gate)

			p2 := dial(t, s.addr, "", "", "")
			raw, id := p2.flood(wire.NewQueue("second"), "b", n, 20, true)
			if err := <-p2.pipeline(raw, id, 10*time.Second); err != nil {
				t.Fatalf("the second producer: %v", err)
			}
			if got := s.depth(t, "second"); got != n+1 {
				t.Fatalf("%d messages in the second producer's queue, want %d", got, n+1)
			}
		})
	}
}

// TestSendWaitingForRoomDoesNotHoldTheGate: a producer that pipelines
// sends to a full BLOCK address waits for room inside the broker (OpenWire
// takes no credit); it must not wait on its turn, or, with a gate of one
// slot, every other pipelining producer would wait with it.
func TestSendWaitingForRoomDoesNotHoldTheGate(t *testing.T) {
	const limit, n = 4 << 10, 12
	settings := protocoltest.LimitAt("blocked", limit, broker.FullBlock)
	gate := protocol.NewIngestGate(1)
	s := startServer(t, Options{Env: protocol.Env{Ingest: gate}}, broker.Options{Settings: settings})
	// Should a producer wait for room on its turn, closing the broker
	// first lets it go, so that a failure ends instead of hanging.
	t.Cleanup(s.b.Close)
	blocked := wire.NewQueue("blocked")
	p1 := dial(t, s.addr, "", "", "")
	raw, id1 := p1.flood(blocked, "a", n, 1000, true)
	first := p1.pipeline(raw, id1, 30*time.Second)
	// About four 1 KiB messages fit under 4 KiB; the reader waits on the
	// fifth.
	waitFor(t, "the blocked address full", func() bool { return s.depth(t, "blocked") >= 3 })

	p2 := dial(t, s.addr, "", "", "")
	raw, id2 := p2.flood(wire.NewQueue("free"), "b", 100, 20, true)
	if err := <-p2.pipeline(raw, id2, 10*time.Second); err != nil {
		t.Fatalf("a producer to another address while the first waits for room: %v", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the producer to the full address was answered (%v) before a consumer made room", err)
	default:
	}

	c := dial(t, s.addr, "", "", "")
	cid := c.subscribe(1, blocked, 1)
	for i := 0; i <= n; i++ {
		md := c.dispatch()
		if got, want := text(t, md), fmt.Sprintf("a-%d ", i); !strings.HasPrefix(got, want) {
			t.Fatalf("message %d arrived as %.10q", i, got)
		}
		c.oneway(&wire.MessageAck{ConsumerID: cid, AckType: wire.AckStandard, LastMessageID: md.Message.MessageID,
			MessageCount: 1, Destination: md.Destination})
	}
	if err := <-first; err != nil {
		t.Fatalf("the producer to the full address: %v", err)
	}
	protocoltest.GateFree(t, gate)
}
