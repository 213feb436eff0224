package amqp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"
)

// captureServer is a minimal AMQP 1.0 server, built on this package, that
// real clients can connect, send and receive against: it accepts every
// link, gives senders credit, accepts their messages, answers declares and
// discharges, and sends each receiving link four fixed messages. It
// records every byte each client sends, so that the bytes can be kept as
// golden files, and fails the test on any frame this package cannot
// decode. It is a test fixture, not a broker: one connection at a time
// per goroutine, no queues, no persistence.
type captureServer struct {
	t  *testing.T
	ln net.Listener
	// maxFrame is the max-frame-size the server announces (0: none).
	maxFrame uint32

	mu       sync.Mutex
	streams  []capturedConn // one per finished connection, in order of ending
	received []*Message
	wg       sync.WaitGroup
}

func newCaptureServer(t *testing.T, maxFrame uint32) *captureServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &captureServer{t: t, ln: ln, maxFrame: maxFrame}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *captureServer) addr() string { return s.ln.Addr().String() }

func (s *captureServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// waitStreams waits until n connections have ended and returns their
// captured bytes.
func (s *captureServer) waitStreams(n int) []capturedConn {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.streams)
		out := append([]capturedConn(nil), s.streams...)
		s.mu.Unlock()
		if got >= n {
			return out
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d of %d connections ended in time", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverMessages are what the server sends on every receiving link.
func serverMessages(t *testing.T) [][]byte {
	t.Helper()
	large := bytes.Repeat([]byte("0123456789abcdef"), 128) // 2 KiB: cut into frames at a 512-byte max-frame-size
	all := []*Sections{
		{
			Header:                &Header{Durable: true},
			Properties:            &Properties{MessageID: "m1", To: "orders", CreationTime: 1700000000000},
			ApplicationProperties: Map{{"color", "red"}, {"n", int64(1)}},
			Body:                  ValueBody("message 1"),
		},
		{Properties: &Properties{MessageID: uint64(2)}, Body: DataBody([]byte("message 2"))},
		{MessageAnnotations: Map{{AnnotationJMSMsgType, uint8(JMSMsgTypeMap)}}, Properties: &Properties{MessageID: uint64(3)},
			Body: ValueBody(Map{{"k", "v"}, {"i", int32(3)}})},
		{Properties: &Properties{MessageID: uint64(4)}, Body: DataBody(large)},
	}
	out := make([][]byte, len(all))
	for i, m := range all {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// capturedConn is what both sides sent on one connection.
type capturedConn struct {
	client, server []byte
}

// teeWriter copies what the server writes into a buffer.
type teeWriter struct {
	w   io.Writer
	buf *bytes.Buffer
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.buf.Write(p[:n])
	return n, err
}

type captureSession struct {
	remote         uint16
	nextIncomingID uint32
	nextOutgoingID uint32
	links          map[uint32]*captureLink
}

type captureLink struct {
	attach *Attach
	// The link's delivery-count, on either side.
	deliveryCount uint32
	// Server receiving (client sender):
	asm    Assembler
	credit uint32
	// Server sending (client receiver):
	peerCount  uint32
	peerCredit uint32
	sent       int
	// coordinator link
	coordinator bool
}

// serve runs one connection and records what the client sent.
func (s *captureServer) serve(c net.Conn) {
	var rec, sent bytes.Buffer
	defer func() {
		c.Close()
		s.mu.Lock()
		s.streams = append(s.streams, capturedConn{client: rec.Bytes(), server: sent.Bytes()})
		s.mu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := NewReader(io.TeeReader(c, &rec), 1<<20)
	w := NewWriter(teeWriter{w: c, buf: &sent})
	fail := func(format string, args ...any) {
		s.t.Errorf("capture server: "+format, args...)
	}
	h, err := r.ReadProtocolHeader()
	if err != nil {
		fail("protocol header: %v", err)
		return
	}
	if h == HeaderSASL {
		w.WriteProtocolHeader(HeaderSASL)
		if err := w.WriteFrame(0, &SASLMechanisms{Mechanisms: []Symbol{SASLMechanismPlain, SASLMechanismAnonymous}}, nil); err != nil {
			fail("%v", err)
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
		f, err := r.ReadFrame()
		if err != nil {
			fail("sasl-init: %v", err)
			return
		}
		init, err := DecodeSASL(f.Body)
		if err != nil {
			fail("sasl-init: %v", err)
			return
		}
		if in, ok := init.(*SASLInit); !ok || (in.Mechanism != SASLMechanismPlain && in.Mechanism != SASLMechanismAnonymous) {
			fail("unexpected SASL frame %#v", init)
			return
		}
		_ = w.WriteFrame(0, &SASLOutcome{Code: SASLOK}, nil)
		if err := w.Flush(); err != nil {
			return
		}
		if h, err = r.ReadProtocolHeader(); err != nil {
			fail("protocol header after SASL: %v", err)
			return
		}
	}
	if h != HeaderAMQP {
		fail("unexpected protocol header %s", h)
		return
	}
	w.WriteProtocolHeader(HeaderAMQP)
	msgs := serverMessages(s.t)
	sessions := map[uint16]*captureSession{}
	for {
		if err := w.Flush(); err != nil {
			return
		}
		f, err := r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				fail("read: %v", err)
			}
			return
		}
		if f.IsHeartbeat() {
			continue
		}
		if f.Type != FrameAMQP {
			fail("frame type %d after the AMQP header", f.Type)
			return
		}
		p, payload, err := DecodePerformative(f.Body)
		if err != nil {
			fail("decode % x: %v", f.Body, err)
			return
		}
		if done := s.handle(w, sessions, f.Channel, p, payload, msgs, fail); done {
			_ = w.Flush()
			// Let the client read the close before the socket goes.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = io.Copy(io.Discard, io.TeeReader(c, &rec))
			return
		}
	}
}

// handle reacts to one performative; it reports true after close.
func (s *captureServer) handle(w *Writer, sessions map[uint16]*captureSession, ch uint16, p Performative, payload []byte,
	msgs [][]byte, fail func(string, ...any)) bool {
	send := func(ch uint16, p Performative) {
		if err := w.WriteFrame(ch, p, nil); err != nil {
			fail("write %T: %v", p, err)
		}
	}
	ses := sessions[ch]
	switch p := p.(type) {
	case *Open:
		send(0, &Open{ContainerID: "tandem-capture", MaxFrameSize: s.maxFrame, ChannelMax: Some(uint16(255)),
			OfferedCapabilities: []Symbol{CapabilityAnonymousRelay, CapabilityDelayedDelivery, CapabilitySharedSubs}})
		w.SetMaxFrameSize(p.EffectiveMaxFrameSize())
	case *Begin:
		sessions[ch] = &captureSession{remote: ch, nextIncomingID: p.NextOutgoingID, links: map[uint32]*captureLink{}}
		send(ch, &Begin{RemoteChannel: Some(ch), NextOutgoingID: 0, IncomingWindow: math.MaxInt32, OutgoingWindow: math.MaxInt32})
	case *Attach:
		l := &captureLink{attach: p, coordinator: p.Coordinator != nil}
		ses.links[p.Handle] = l
		reply := &Attach{Name: p.Name, Handle: p.Handle, Role: !p.Role, SndSettleMode: p.SndSettleMode, RcvSettleMode: p.RcvSettleMode,
			Source: p.Source, Target: p.Target, Coordinator: p.Coordinator}
		if p.Source != nil && p.Source.Dynamic {
			src := *p.Source
			src.Address = "dynamic-" + p.Name
			reply.Source = &src
		}
		if p.Role == RoleReceiver {
			reply.InitialDeliveryCount = Some(uint32(0))
			send(ch, reply)
			break
		}
		send(ch, reply)
		l.credit = 100
		l.deliveryCount = p.InitialDeliveryCount.Value
		send(ch, s.linkFlow(ses, p.Handle, l.deliveryCount, l.credit))
	case *Flow:
		if !p.Handle.Set {
			if p.Echo {
				send(ch, s.sessionFlow(ses))
			}
			break
		}
		l := ses.links[p.Handle.Value]
		if l == nil {
			fail("flow for unknown handle %d", p.Handle.Value)
			break
		}
		if l.attach.Role == RoleSender {
			break // credit flowing back to a sender: nothing to do
		}
		l.peerCount, l.peerCredit = p.DeliveryCount.Or(0), p.LinkCredit.Or(0)
		for l.sent < len(msgs) && l.deliveryCount-l.peerCount < l.peerCredit {
			t := &Transfer{Handle: p.Handle.Value, DeliveryID: Some(ses.nextOutgoingID), DeliveryTag: []byte{byte(l.sent)},
				MessageFormat: Some(uint32(0)), Settled: l.attach.SndSettleMode == Some(SenderSettleSettled)}
			if err := w.WriteTransfer(ch, t, msgs[l.sent]); err != nil {
				fail("transfer: %v", err)
			}
			ses.nextOutgoingID++
			l.deliveryCount++
			l.sent++
		}
		if p.Drain {
			l.deliveryCount = l.peerCount + l.peerCredit
			f := s.linkFlow(ses, p.Handle.Value, l.deliveryCount, 0)
			f.Drain = true
			send(ch, f)
		} else if p.Echo {
			send(ch, s.linkFlow(ses, p.Handle.Value, l.deliveryCount, l.peerCount+l.peerCredit-l.deliveryCount))
		}
	case *Transfer:
		l := ses.links[p.Handle]
		if l == nil {
			fail("transfer on unknown handle %d", p.Handle)
			break
		}
		if p.DeliveryID.Set {
			ses.nextIncomingID++
		}
		d, err := l.asm.Add(p, payload)
		if err != nil {
			fail("transfer: %v", err)
			break
		}
		if d == nil || d.Aborted {
			break
		}
		m, err := ParseMessage(d.Payload)
		if err != nil {
			fail("message % x: %v", d.Payload, err)
			break
		}
		if err := m.Validate(); err != nil {
			fail("message: %v", err)
		}
		s.mu.Lock()
		s.received = append(s.received, m)
		s.mu.Unlock()
		l.credit--
		l.deliveryCount++
		var state DeliveryState = &Accepted{}
		if l.coordinator {
			req, err := m.CoordinatorRequest()
			if err != nil {
				fail("coordinator: %v", err)
				break
			}
			if _, ok := req.(*Declare); ok {
				state = &Declared{TxnID: []byte("txn-1")}
			}
		} else if ts, ok := d.State.(*TransactionalState); ok {
			state = &TransactionalState{TxnID: ts.TxnID, Outcome: &Accepted{}}
		}
		if !d.Settled {
			send(ch, &Disposition{Role: RoleReceiver, First: d.DeliveryID.Value, Settled: true, State: state})
		}
		if l.credit < 50 {
			l.credit = 100
			send(ch, s.linkFlow(ses, p.Handle, l.deliveryCount, l.credit))
		}
	case *Disposition:
		if !p.Settled {
			send(ch, &Disposition{Role: RoleSender, First: p.First, Last: p.Last, Settled: true, State: p.State})
		}
	case *Detach:
		send(ch, &Detach{Handle: p.Handle, Closed: p.Closed})
		delete(ses.links, p.Handle)
	case *End:
		send(ch, &End{})
		delete(sessions, ch)
	case *Close:
		send(0, &Close{})
		return true
	default:
		fail("unexpected %T", p)
	}
	return false
}

func (s *captureServer) sessionFlow(ses *captureSession) *Flow {
	return &Flow{NextIncomingID: Some(ses.nextIncomingID), IncomingWindow: math.MaxInt32, NextOutgoingID: ses.nextOutgoingID,
		OutgoingWindow: math.MaxInt32}
}

func (s *captureServer) linkFlow(ses *captureSession, handle, deliveryCount, credit uint32) *Flow {
	f := s.sessionFlow(ses)
	f.Handle, f.DeliveryCount, f.LinkCredit = Some(handle), Some(deliveryCount), Some(credit)
	return f
}

// String summarises a captureLink for failure messages.
func (l *captureLink) String() string {
	return fmt.Sprintf("link %q role %s", l.attach.Name, l.attach.Role)
}
