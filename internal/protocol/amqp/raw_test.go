package amqp

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/internal/broker"
	"tandem/internal/store"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/amqp"
)

// rawClient speaks AMQP frame by frame with the codec, for what no client
// library will send.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	r  *wire.Reader
	w  *wire.Writer
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, r: wire.NewReader(nc, 0), w: wire.NewWriter(nc)}
}

// open sends the AMQP header and an open, and reads the broker's header
// and open.
func (c *rawClient) open(o *wire.Open) *wire.Open {
	c.t.Helper()
	c.w.WriteProtocolHeader(wire.HeaderAMQP)
	if o == nil {
		o = &wire.Open{ContainerID: "raw"}
	}
	c.write(0, o)
	h, err := c.r.ReadProtocolHeader()
	if err != nil || h != wire.HeaderAMQP {
		c.t.Fatalf("protocol header: %v %v", h, err)
	}
	got, ok := c.next().(*wire.Open)
	if !ok {
		c.t.Fatalf("expected open")
	}
	return got
}

func (c *rawClient) write(ch uint16, p wire.FrameBody) {
	c.t.Helper()
	if err := c.w.WriteFrame(ch, p, nil); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) writeRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next performative, skipping empty frames.
func (c *rawClient) next() wire.Performative {
	c.t.Helper()
	p, err := c.tryNext()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *rawClient) tryNext() (wire.Performative, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		if f.IsHeartbeat() {
			continue
		}
		p, _, err := wire.DecodePerformative(f.Body)
		return p, err
	}
}

// expectClose reads until a close and checks its condition, then checks
// the broker ends the connection.
func (c *rawClient) expectClose(cond wire.Condition) *wire.Error {
	c.t.Helper()
	for {
		p := c.next()
		cl, ok := p.(*wire.Close)
		if !ok {
			continue
		}
		if cl.Error == nil || cl.Error.Condition != cond {
			c.t.Fatalf("close %+v, want condition %s", cl.Error, cond)
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c.nc); err != nil {
			c.t.Fatalf("connection not closed after the close frame: %v", err)
		}
		return cl.Error
	}
}

// begin begins a session on channel 0 and reads the answer.
func (c *rawClient) begin() {
	c.t.Helper()
	c.write(0, &wire.Begin{NextOutgoingID: 0, IncomingWindow: 1000, OutgoingWindow: 1000})
	if _, ok := c.next().(*wire.Begin); !ok {
		c.t.Fatal("expected begin")
	}
}

// healthy checks that another client is unaffected: go-amqp can still
// send and receive.
func healthy(t *testing.T, r *rig) {
	t.Helper()
	s := newSession(t, r.dialGo(t, nil))
	send(t, newSender(t, s, "healthy", nil), goamqp.NewMessage([]byte("ok")))
	rcv := newReceiver(t, s, "healthy", nil)
	m := receive(t, rcv)
	if got := string(m.GetData()); got != "ok" {
		t.Fatalf("the other client got %q", got)
	}
	if err := rcv.AcceptMessage(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
}

// TestBadInput sends what a broken client might; each case closes that
// connection with the right condition while another client carries on.
func TestBadInput(t *testing.T) {
	r := startRig(t, rigOptions{opts: Options{MaxFrameSize: 4096}})
	other := r.dialGo(t, nil)
	otherSession := newSession(t, other)
	cases := []struct {
		name string
		cond wire.Condition
		run  func(c *rawClient)
	}{
		{"malformed frame header", wire.ErrorFramingError, func(c *rawClient) {
			c.open(nil)
			c.writeRaw([]byte{0, 0, 0, 8, 1, 0, 0, 0}) // doff 1: below the header
		}},
		{"frame above max-frame-size", wire.ErrorFramingError, func(c *rawClient) {
			c.open(nil)
			big := make([]byte, 10000)
			big[0], big[1], big[2], big[3], big[4] = 0, 0, 0x27, 0x10, 2
			c.writeRaw(big)
		}},
		{"unknown performative", wire.ErrorDecode, func(c *rawClient) {
			c.open(nil)
			c.writeRaw([]byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x30, 0x45})
		}},
		{"garbage body", wire.ErrorDecode, func(c *rawClient) {
			c.open(nil)
			c.writeRaw([]byte{0, 0, 0, 12, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
		}},
		{"frame before open", wire.ErrorIllegalState, func(c *rawClient) {
			c.w.WriteProtocolHeader(wire.HeaderAMQP)
			c.write(0, &wire.Begin{IncomingWindow: 1, OutgoingWindow: 1})
			if _, err := c.r.ReadProtocolHeader(); err != nil {
				c.t.Fatal(err)
			}
		}},
		{"transfer on an unattached handle", wire.ErrorUnattachedHandle, func(c *rawClient) {
			c.open(nil)
			c.begin()
			c.write(0, &wire.Transfer{Handle: 7, DeliveryID: wire.Some(uint32(0)), DeliveryTag: []byte{1}})
		}},
		{"channel above channel-max", wire.ErrorResourceLimitExceeded, func(c *rawClient) {
			c.open(nil)
			c.write(4000, &wire.Begin{IncomingWindow: 1, OutgoingWindow: 1})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, r.addr)
			c.t = t
			tc.run(c)
			e := c.expectClose(tc.cond)
			t.Logf("closed with %s: %s", e.Condition, e.Description)
			snd := newSender(t, otherSession, "bad-input", nil)
			send(t, snd, goamqp.NewMessage([]byte(tc.name)))
		})
	}
	waitFor(t, "the other client's messages", func() bool { return r.depth(t, "bad-input") == len(cases) })
}

// gatedStore holds back the confirmation of every commit until released,
// so that a test can fill a link's credit with unconfirmed messages.
type gatedStore struct {
	*memstore.Store
	mu   sync.Mutex
	held []func()
	shut bool
}

func (g *gatedStore) Commit(b *store.Batch, sync bool, done func(error)) {
	g.Store.Commit(b, sync, func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.shut {
			done(err)
			return
		}
		g.held = append(g.held, func() { done(err) })
	})
}

func (g *gatedStore) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
}

func (g *gatedStore) open() {
	g.mu.Lock()
	held := g.held
	g.held, g.shut = nil, false
	g.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// TestTransferWithoutCredit sends more durable messages than the link's
// credit while the broker has confirmed none: the connection is closed
// with amqp:link:transfer-limit-exceeded, and another client's link on
// the same broker goes on once the store catches up.
func TestTransferWithoutCredit(t *testing.T) {
	gs := &gatedStore{Store: memstore.New()}
	r := startRigStore(t, gs, Options{Credit: 2})
	if err := r.b.CreateQueue(broker.QueueConfig{Name: "flood", Address: "flood", Durable: true}); err != nil {
		t.Fatal(err)
	}
	gs.close()
	c := dialRaw(t, r.addr)
	c.open(nil)
	c.begin()
	c.write(0, &wire.Attach{Name: "flood", Handle: 0, Role: wire.RoleSender, Target: &wire.Target{Address: "flood"},
		InitialDeliveryCount: wire.Some(uint32(0))})
	if _, ok := c.next().(*wire.Attach); !ok {
		t.Fatal("expected attach")
	}
	f, ok := c.next().(*wire.Flow)
	if !ok || f.LinkCredit.Value != 2 {
		t.Fatalf("expected a flow granting 2, got %+v", f)
	}
	msg, err := (&wire.Sections{Header: &wire.Header{Durable: true}, Body: wire.ValueBody("x")}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(0); i < 3; i++ {
		if err := c.w.WriteTransfer(0, &wire.Transfer{Handle: 0, DeliveryID: wire.Some(i), DeliveryTag: []byte{byte(i)},
			MessageFormat: wire.Some(uint32(0))}, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
	c.expectClose(wire.ErrorTransferLimitExceeded)
	gs.open()
	healthy(t, r)
}

func startRigStore(t *testing.T, st store.Store, opts Options) *rig {
	t.Helper()
	return startRigWith(t, rigOptions{opts: opts}, st)
}

// expectCloseOK reads until a close without an error.
func (c *rawClient) expectCloseOK() {
	c.t.Helper()
	for {
		if cl, ok := c.next().(*wire.Close); ok {
			if cl.Error != nil {
				c.t.Fatalf("close with %v", cl.Error)
			}
			return
		}
	}
}

// TestPipelinedOpenAndAbortedTransfer writes the header, open, begin,
// attach, a transfer cut short by abort, a whole transfer and a receiver
// with credit in one write, before reading anything (as Qpid JMS and
// Proton pipeline them): the broker answers each in order, drops the
// aborted delivery and delivers the whole one.
func TestPipelinedOpenAndAbortedTransfer(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	msg, _ := (&wire.Sections{Body: wire.ValueBody("whole")}).Encode()
	var b []byte
	h := wire.HeaderAMQP.Bytes()
	b = append(b, h[:]...)
	add := func(p wire.FrameBody, payload []byte) {
		var err error
		if b, err = wire.AppendFrame(b, 0, p, payload); err != nil {
			t.Fatal(err)
		}
	}
	add(&wire.Open{ContainerID: "pipelined"}, nil)
	add(&wire.Begin{IncomingWindow: 100, OutgoingWindow: 100}, nil)
	add(&wire.Attach{Name: "s", Handle: 0, Role: wire.RoleSender, Target: &wire.Target{Address: "piped"},
		InitialDeliveryCount: wire.Some(uint32(0))}, nil)
	add(&wire.Transfer{Handle: 0, DeliveryID: wire.Some(uint32(0)), DeliveryTag: []byte{0}, MessageFormat: wire.Some(uint32(0)),
		More: true}, msg[:3])
	add(&wire.Transfer{Handle: 0, DeliveryID: wire.Some(uint32(0)), Aborted: true}, nil)
	add(&wire.Transfer{Handle: 0, DeliveryID: wire.Some(uint32(1)), DeliveryTag: []byte{1}, MessageFormat: wire.Some(uint32(0)),
		Settled: true}, msg)
	add(&wire.Attach{Name: "r", Handle: 1, Role: wire.RoleReceiver, Source: &wire.Source{Address: "piped"},
		SndSettleMode: wire.Some(wire.SenderSettleSettled)}, nil)
	add(&wire.Flow{IncomingWindow: 100, OutgoingWindow: 100, NextIncomingID: wire.Some(uint32(0)), Handle: wire.Some(uint32(1)),
		DeliveryCount: wire.Some(uint32(0)), LinkCredit: wire.Some(uint32(10))}, nil)
	c.writeRaw(b)
	if hh, err := c.r.ReadProtocolHeader(); err != nil || hh != wire.HeaderAMQP {
		t.Fatalf("header %v %v", hh, err)
	}
	var got []string
	for len(got) == 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := c.r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.IsHeartbeat() {
			continue
		}
		p, payload, err := wire.DecodePerformative(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		if cl, ok := p.(*wire.Close); ok {
			t.Fatalf("closed: %v", cl.Error)
		}
		if _, ok := p.(*wire.Transfer); ok {
			pm, err := wire.ParseMessage(payload)
			if err != nil {
				t.Fatal(err)
			}
			v, _, _ := pm.Value()
			got = append(got, v.(string))
		}
	}
	if got[0] != "whole" {
		t.Fatalf("delivered %q", got)
	}
	expectNoneRaw(t, c, 300*time.Millisecond)
}

// expectNoneRaw checks that no transfer arrives within d.
func expectNoneRaw(t *testing.T, c *rawClient, d time.Duration) {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return
		}
		if !f.IsHeartbeat() {
			if p, _, _ := wire.DecodePerformative(f.Body); p != nil {
				if _, ok := p.(*wire.Transfer); ok {
					t.Fatal("a second message was delivered: the aborted one")
				}
			}
		}
	}
}

// TestBrokerIdleTimeout announces a short idle timeout: a client that
// then sends nothing is closed with amqp:resource-limit-exceeded.
func TestBrokerIdleTimeout(t *testing.T) {
	r := startRig(t, rigOptions{opts: Options{IdleTimeout: 300 * time.Millisecond}})
	c := dialRaw(t, r.addr)
	o := c.open(nil)
	if o.IdleTimeout != 300 {
		t.Fatalf("announced idle-time-out %d, want 300", o.IdleTimeout)
	}
	e := c.expectClose(wire.ErrorResourceLimitExceeded)
	t.Log(e.Description)
}

func TestHandleAboveHandleMax(t *testing.T) {
	r := startRig(t, rigOptions{opts: Options{MaxLinks: 4}})
	c := dialRaw(t, r.addr)
	c.open(nil)
	c.write(0, &wire.Begin{IncomingWindow: 10, OutgoingWindow: 10})
	if b, ok := c.next().(*wire.Begin); !ok || b.HandleMax.Value != 3 {
		t.Fatalf("begin %+v, want handle-max 3", b)
	}
	c.write(0, &wire.Attach{Name: "x", Handle: 4, Role: wire.RoleReceiver, Source: &wire.Source{Address: "q"}})
	c.expectClose(wire.ErrorResourceLimitExceeded)
}
