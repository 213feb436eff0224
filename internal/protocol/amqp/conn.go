package amqp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/amqp"
)

// conn is one AMQP connection. The read goroutine owns everything but the
// outbound queue and the writer's state (out.go).
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint64
	log *slog.Logger
	r   *wire.Reader
	w   *wire.Writer // the handshake's, then the writer goroutine's alone

	// Read goroutine state.
	identity      protocol.Identity
	authenticated bool // SASL established the identity
	opened        bool // the client's open was accepted
	openSent      bool // our open is queued
	containerID   string
	claimed       bool // containerID is registered with the server
	session       *broker.Session
	release       func() // gives back the user's connection slot
	readLimit     time.Duration
	readSetAt     time.Time
	sessions      map[uint16]*session
	links         int    // links attached across sessions
	txSeq         uint64 // names transactions
	txs           map[string]*txState
	tempSeq       uint64 // names dynamic nodes
	transfer      wire.Transfer
	// turn is the connection's place at the ingest gate (ingest.go).
	turn protocol.Turn
	// remoteClosed is set once the client's close is handled.
	remoteClosed bool
	// openQueued is set once our open is queued: from then on a close
	// may follow it.
	openQueued atomic.Bool

	// Outbound queue (out.go).
	outMu      sync.Mutex
	out        []outItem
	closeAfter bool
	wake       chan struct{}
	closing    chan struct{}
	closeOnce  sync.Once

	// Writer goroutine state (out.go).
	wsessions    map[uint16]*wsession
	peerMaxFrame uint32
	peerIdle     atomic.Int64 // the client's idle-timeout in ns; we send at half
	scratch      []byte
	lastWrite    time.Time
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:       s,
		nc:        nc,
		id:        s.nextID.Add(1),
		log:       s.log.With("remote", nc.RemoteAddr().String(), "protocol", protocolName),
		sessions:  map[uint16]*session{},
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		wsessions: map[uint16]*wsession{},
		turn:      protocol.NewTurn(s.opts.Ingest),
	}
	c.r = wire.NewReader(nc, s.opts.MaxFrameSize)
	c.w = wire.NewWriter(nc)
	return c
}

// run serves the connection until it ends.
func (c *conn) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		// The broker is stopping: tell the client why, then go.
		if !c.openQueued.Load() {
			c.shutdown()
			return
		}
		c.pushFinal(&wire.Close{Error: wire.NewError(wire.ErrorConnectionForced, "the broker is shutting down")})
		time.AfterFunc(500*time.Millisecond, c.shutdown)
	})
	defer stop()
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.HandshakeTimeout))
	if !c.handshake() {
		c.shutdown()
		c.cleanup()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.outMu.Lock()
	final := c.closeAfter
	c.outMu.Unlock()
	if final {
		// Let the writer put the close on the wire, then read and discard
		// what the client still sends for a moment, so that closing the
		// socket does not reset the connection before the client reads it.
		select {
		case <-writerDone:
		case <-time.After(2 * time.Second):
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
	}
	c.shutdown()
	<-writerDone
	c.cleanup()
}

// shutdown stops both loops; it is safe to call more than once.
func (c *conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.nc.Close()
	})
}

// cleanup releases the broker session (unsettled deliveries go back to
// their queues, transactions roll back, temporary queues go), the user's
// connection slot and the container id.
func (c *conn) cleanup() {
	c.outMu.Lock()
	closeBodies(c.out)
	c.out = nil
	c.outMu.Unlock()
	for _, s := range c.sessions {
		s.detachAll(false)
	}
	if c.session != nil {
		c.session.Close()
	}
	if c.release != nil {
		c.release()
	}
	c.releaseContainer()
}

// releaseContainer gives the container id back as soon as the connection
// is closing, so that a client reconnecting with it at once is not
// refused.
func (c *conn) releaseContainer() {
	if c.claimed {
		c.claimed = false
		c.srv.releaseContainer(c.containerID)
	}
}

// handshake reads the client's protocol header, runs SASL when the client
// asks for it, and answers the AMQP header. It returns false when the
// connection must end.
func (c *conn) handshake() bool {
	h, err := c.r.ReadProtocolHeader()
	if err != nil {
		c.log.Debug("connection ended before its protocol header", "err", err)
		return false
	}
	switch {
	case h == wire.HeaderSASL:
		if !c.sasl() {
			return false
		}
		if h, err = c.r.ReadProtocolHeader(); err != nil {
			return false
		}
		if h != wire.HeaderAMQP {
			c.log.Info("closing a connection that sent no AMQP header after SASL", "event", "bad_protocol_header", "header", h.String())
			c.w.WriteProtocolHeader(wire.HeaderAMQP)
			_ = c.w.Flush()
			return false
		}
	case h == wire.HeaderAMQP:
	default:
		// AMQP 0-9-1, a TLS upgrade, another version: the specification
		// has the server answer with the header it speaks, and close.
		c.log.Info("closing a connection that asked for an AMQP version or layer tandem does not speak",
			"event", "unsupported_protocol_version", "header", h.String())
		c.w.WriteProtocolHeader(wire.HeaderAMQP)
		_ = c.w.Flush()
		return false
	}
	// Answered at once: a client may wait for it before sending its open.
	c.w.WriteProtocolHeader(wire.HeaderAMQP)
	return c.w.Flush() == nil
}

func (c *conn) readLoop() {
	// However the connection ends, its turn goes back to the gate: a turn
	// kept would stall every pipelining producer of the broker.
	defer c.turn.Release()
	for {
		if c.turn.Held() && !c.r.HasFrame() {
			// The next read may wait for the client: a client that stops
			// in the middle of a frame must not hold the gate.
			c.turn.Release()
		}
		f, err := c.r.ReadFrame()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.readLimit > 0 {
			c.extendReadDeadline()
		}
		if f.IsHeartbeat() {
			continue
		}
		if f.Type != wire.FrameAMQP {
			c.fail(wire.NewError(wire.ErrorFramingError, "a SASL frame arrived after the AMQP protocol header"))
			return
		}
		if !gated(f.Body) {
			c.turn.Release()
		}
		if err := c.handleFrame(f); err != nil {
			c.fail(err)
			return
		}
		if c.remoteClosed {
			return
		}
	}
}

// extendReadDeadline moves the idle-timeout read deadline after a frame
// (protocol.ExtendReadDeadline).
func (c *conn) extendReadDeadline() {
	protocol.ExtendReadDeadline(c.nc, c.readLimit, &c.readSetAt)
}

func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		if c.opened {
			c.log.Debug("connection ended without a close frame")
		}
	case errors.As(err, &ne) && ne.Timeout():
		if !c.opened {
			c.log.Info("closing a connection that sent no open frame in time", "event", "handshake_timeout")
			return
		}
		c.log.Info("closing an idle connection: nothing arrived within its idle timeout", "event", "idle_timeout",
			"limit", c.readLimit)
		c.fail(wire.NewError(wire.ErrorResourceLimitExceeded, "local-idle-timeout expired: nothing arrived for %v", c.readLimit))
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrFraming):
		c.fail(wire.NewError(wire.ErrorFramingError, "%v", err))
	default:
		c.log.Debug("connection read failed", "err", err)
	}
}

// fail closes the connection with an error: the client gets a close
// frame carrying it (after an open of ours if none was sent yet), and
// nothing more is read.
func (c *conn) fail(err error) {
	var e *wire.Error
	if !errors.As(err, &e) {
		e = &wire.Error{Condition: wire.ConditionFor(err), Description: err.Error()}
	}
	if e.Condition == wire.ErrorInternal {
		c.log.Warn("closing a connection after an internal error", "event", "connection_error", "err", e.Description)
	} else {
		c.log.Info("closing a connection that broke the protocol", "event", "connection_error",
			"condition", string(e.Condition), "err", e.Description)
	}
	c.releaseContainer()
	c.sendOpenIfNeeded(nil)
	c.pushFinal(&wire.Close{Error: e})
}

// handleFrame decodes and handles one AMQP frame.
func (c *conn) handleFrame(f wire.Frame) error {
	if isTransfer(f.Body) {
		payload, err := wire.DecodeTransfer(f.Body, &c.transfer)
		if err != nil {
			return err
		}
		if !c.opened {
			return wire.NewError(wire.ErrorIllegalState, "a transfer arrived before the open frame")
		}
		s, err := c.sessionOf(f.Channel)
		if err != nil {
			return err
		}
		return s.onTransfer(&c.transfer, payload)
	}
	p, _, err := wire.DecodePerformative(f.Body)
	if err != nil {
		return err
	}
	if o, ok := p.(*wire.Open); ok {
		if c.opened || c.openSent {
			return wire.NewError(wire.ErrorIllegalState, "a second open frame on one connection")
		}
		return c.onOpen(o)
	}
	if !c.opened {
		return wire.NewError(wire.ErrorIllegalState, "the first frame must be open, not %s", performativeName(p))
	}
	switch p := p.(type) {
	case *wire.Begin:
		return c.onBegin(f.Channel, p)
	case *wire.Close:
		c.onClose(p)
		return nil
	}
	s, err := c.sessionOf(f.Channel)
	if err != nil {
		return err
	}
	switch p := p.(type) {
	case *wire.Attach:
		return s.onAttach(p)
	case *wire.Flow:
		return s.onFlow(p)
	case *wire.Disposition:
		return s.onDisposition(p)
	case *wire.Detach:
		return s.onDetach(p)
	case *wire.End:
		s.onEnd(p)
		return nil
	}
	return wire.NewError(wire.ErrorNotImplemented, "unexpected %s frame", performativeName(p))
}

// isTransfer reports whether a frame body starts with the transfer
// descriptor (0x14, as a small ulong or a ulong), so the hot path decodes
// it into a reused struct without trying another performative first.
func isTransfer(b []byte) bool {
	code, ok := descriptorOf(b)
	return ok && code == 0x14
}

// performativeName names a performative for errors.
func performativeName(p wire.Performative) string {
	switch p.(type) {
	case *wire.Open:
		return "open"
	case *wire.Begin:
		return "begin"
	case *wire.Attach:
		return "attach"
	case *wire.Flow:
		return "flow"
	case *wire.Transfer:
		return "transfer"
	case *wire.Disposition:
		return "disposition"
	case *wire.Detach:
		return "detach"
	case *wire.End:
		return "end"
	case *wire.Close:
		return "close"
	}
	return fmt.Sprintf("%T", p)
}

// sessionOf returns the session on a channel, or the connection error for
// a frame on a channel no begin opened.
func (c *conn) sessionOf(ch uint16) (*session, error) {
	s := c.sessions[ch]
	if s == nil {
		return nil, wire.NewError(wire.ErrorIllegalState, "a frame on channel %d, where no session was begun", ch)
	}
	return s, nil
}

// onClose answers the client's close: everything is released and our
// close is the last frame.
func (c *conn) onClose(p *wire.Close) {
	if p.Error != nil {
		c.log.Info("client closed the connection with an error", "event", "client_error",
			"condition", string(p.Error.Condition), "description", p.Error.Description)
	}
	c.remoteClosed = true
	c.releaseContainer()
	c.pushFinal(&wire.Close{})
}
