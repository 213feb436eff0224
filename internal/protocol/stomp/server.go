package stomp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/message"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/stomp"
)

// Options configure the STOMP server. The embedded Env is what every
// adapter shares (broker, authenticator, connection limits, topology).
type Options struct {
	protocol.Env
	// Limits on what a client may send; zero values take the codec's
	// defaults.
	MaxFrameSize  int
	MaxHeaders    int
	MaxHeaderSize int
	// HeartBeat is the server's wish for heart-beats in both directions;
	// the negotiated intervals follow STOMP 1.1's rules. Default 10 s.
	HeartBeat time.Duration
	// ConnectTimeout bounds the time from the connection's first byte to
	// its CONNECT frame; default 10 s.
	ConnectTimeout time.Duration
	// MaxSubscriptions bounds the subscriptions of one connection; 0 means
	// 1000.
	MaxSubscriptions int
	// MaxConnectionsPerUser bounds the connections one user may have open
	// when Env.Limits is nil (tests); a server shares one Limits across
	// protocols instead.
	MaxConnectionsPerUser int
	// MaxDestinationLength bounds a destination name in bytes; 0 means
	// DefaultMaxDestinationLength.
	MaxDestinationLength int
	// MaxPendingBytes bounds the bytes queued for a client that does not
	// read; beyond it the connection is closed. 0 means 64 MiB.
	MaxPendingBytes int
	// ProducerWindowSize is the producer credit, in bytes, the adapter
	// takes from the broker at a time (flow.go); 0 means
	// DefaultProducerWindowSize, -1 takes none (a send to a full BLOCK
	// address then waits inside the broker).
	ProducerWindowSize int
}

// Server is the STOMP protocol for the listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	nextID atomic.Uint64
}

var _ listener.Protocol = (*Server)(nil)

// NewServer returns a STOMP server.
func NewServer(opts Options) *Server {
	if opts.HeartBeat == 0 {
		opts.HeartBeat = 10 * time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxSubscriptions == 0 {
		opts.MaxSubscriptions = 1000
	}
	if opts.MaxPendingBytes == 0 {
		opts.MaxPendingBytes = 64 << 20
	}
	if opts.ProducerWindowSize == 0 {
		opts.ProducerWindowSize = DefaultProducerWindowSize
	}
	if opts.ServerName == "" {
		opts.ServerName = "tandem"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Limits == nil {
		opts.Limits = protocol.NewLimits(opts.MaxConnectionsPerUser)
	}
	return &Server{opts: opts, log: log}
}

// Name implements listener.Protocol.
func (s *Server) Name() string { return protocolName }

// protocolName is STOMP's name in acceptors' protocols= and in metrics.
const protocolName = "STOMP"

var (
	prefixConnect = []byte("CONNECT")
	prefixStomp   = []byte("STOMP")
)

// Detect implements listener.Protocol: a STOMP client opens with CONNECT or
// STOMP, possibly after blank lines.
func (s *Server) Detect(p []byte) int {
	p = bytes.TrimLeft(p, "\r\n")
	if len(p) == 0 {
		return listener.NeedMore
	}
	for _, want := range [][]byte{prefixConnect, prefixStomp} {
		n := min(len(p), len(want))
		if bytes.Equal(p[:n], want[:n]) {
			if n == len(want) {
				return listener.Match
			}
			return listener.NeedMore
		}
	}
	return listener.NoMatch
}

// Serve implements listener.Protocol.
func (s *Server) Serve(ctx context.Context, nc net.Conn) {
	c := &conn{
		srv:     s,
		nc:      nc,
		id:      s.nextID.Add(1),
		log:     s.log.With("remote", nc.RemoteAddr().String()),
		subs:    map[string]*subscription{},
		byCons:  map[uint64]*subscription{},
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		turn:    protocol.NewTurn(s.opts.Ingest),
	}
	c.r = wire.NewReader(nc, wire.ReaderOptions{MaxFrameSize: s.opts.MaxFrameSize, MaxHeaders: s.opts.MaxHeaders,
		MaxHeaderSize: s.opts.MaxHeaderSize})
	c.w = wire.NewWriter(nc)
	c.w.SetEOLAfterFrame(true)
	stop := context.AfterFunc(ctx, func() { c.shutdown() })
	defer stop()
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
		// Let the writer put the final frame on the wire, then read and
		// discard what the client still sends for a moment, so the close
		// does not reset the connection before the client reads the ERROR.
		select {
		case <-writerDone:
		case <-time.After(2 * time.Second):
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, c.nc)
	}
	c.shutdown()
	<-writerDone
	c.cleanup()
	if c.release != nil {
		c.release()
	}
}

// conn is one STOMP connection.
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint64
	log *slog.Logger
	r   *wire.Reader
	w   *wire.Writer

	session   *broker.Session
	release   func() // gives back the user's connection slot
	version   wire.Version
	readLimit time.Duration // heart-beat read timeout; 0 = none
	readSetAt time.Time     // when extendReadDeadline last moved the deadline
	sendBeat  atomic.Int64  // heart-beat send interval in ns; written by the reader, read by the writer

	// sendAddr is the address of the last SEND, kept as a string of its own
	// so queued messages share it (touched only by the read goroutine).
	sendAddr string
	// keys holds the property names this connection's messages share
	// (conn.internKey).
	keys map[string]string

	// Subscriptions, touched only by the read goroutine.
	subs   map[string]*subscription
	byCons map[uint64]*subscription
	mu     sync.Mutex // guards byCons for the writer's credit returns

	// wmu is held by whoever writes to w: the writer goroutine for each
	// batch, or the read goroutine writing a direct send's receipt itself
	// (writeReceiptNow).
	wmu sync.Mutex
	// direct tracks the SEND the read goroutine handed to SendDirect, so
	// that a confirmation that arrives before SendDirect returns is left
	// to the read goroutine (directSend).
	direct    atomic.Uint64
	directSeq uint64
	directErr error
	receipt   wire.Frame // the read goroutine's RECEIPT, reused

	// Outbound queue.
	outMu      sync.Mutex
	out        []outFrame
	outBytes   int
	closeAfter bool
	wake       chan struct{}

	closeOnce sync.Once
	closing   chan struct{}

	// large is the body of the large SEND being handled (large.go); only
	// the read goroutine touches it.
	large *message.Large

	// Flow control (flow.go), touched only by the read goroutine: the
	// connection's turn at the ingest gate, and the producer credit it
	// holds per address.
	turn     protocol.Turn
	credit   map[string]int
	creditCh chan int
}

// outFrame is a frame waiting to be written, with the consumer to credit
// once it is on the wire (auto-acknowledged deliveries only). A RECEIPT,
// the one frame sent for every confirmed SEND, is queued as its id alone
// (f nil) and rendered by the writer without allocating a frame.
type outFrame struct {
	f       *wire.Frame
	receipt string
	credit  *broker.Consumer
	// sub, when set, makes this a delivery for that subscription, d, which
	// the writer encodes (writeMessage) with props, the message's
	// properties when it was delivered.
	sub   *subscription
	d     broker.Delivery
	props []message.Property
	// body, when set, is a large message's body the writer streams
	// (large.go); bodyLen is its length. bodyMissing marks a large
	// message whose body could not be opened.
	body        io.ReadCloser
	bodyLen     int64
	bodyMissing bool
}

type subscription struct {
	id          string
	destination string
	ackMode     broker.AckMode
	consumer    *broker.Consumer
	durableName string
}

// shutdown stops both loops; it is safe to call more than once.
func (c *conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.nc.Close()
	})
}

// enqueue queues a frame for the writer. It never blocks: a client that
// stops reading is disconnected once its queue passes MaxPendingBytes.
func (c *conn) enqueue(f *wire.Frame, credit *broker.Consumer) {
	size := len(f.Body) + 64
	for _, h := range f.Headers {
		size += len(h.Key) + len(h.Value) + 2
	}
	c.push(outFrame{f: f, credit: credit}, size)
}

// enqueueReceipt queues a RECEIPT for the given receipt id. Like enqueue it
// never blocks.
func (c *conn) enqueueReceipt(id string) {
	c.push(outFrame{receipt: id}, len(id)+64)
}

// push appends of, which takes about size bytes, to the outbound queue and
// wakes the writer, or disconnects a client whose queue passes
// MaxPendingBytes.
func (c *conn) push(of outFrame, size int) {
	c.outMu.Lock()
	if c.closeAfter {
		c.outMu.Unlock()
		if of.body != nil {
			of.body.Close() // a large message's body file
		}
		return
	}
	c.out = append(c.out, of)
	c.outBytes += size
	pending := c.outBytes
	c.outMu.Unlock()
	if pending > c.srv.opts.MaxPendingBytes {
		c.log.Warn("closing a connection that does not read its messages", "event", "slow_consumer_disconnected",
			"pending_bytes", pending)
		c.shutdown()
		return
	}
	c.signal()
}

// signal wakes the writer.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueueFinal queues a last frame (an ERROR or a DISCONNECT receipt);
// the writer closes the connection after writing it.
func (c *conn) enqueueFinal(f *wire.Frame) {
	c.enqueue(f, nil)
	c.outMu.Lock()
	c.closeAfter = true
	c.outMu.Unlock()
	c.signal()
}

func (c *conn) writeLoop() {
	var batch []outFrame
	credits := map[*broker.Consumer]int{}
	// One timer for the connection's life: since Go 1.23 Reset and Stop
	// leave no stale tick behind, so re-arming it per wake-up is cheap and
	// allocation-free.
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	receipt := wire.Frame{Command: wire.CmdReceipt, Headers: wire.Headers{{Key: "receipt-id"}}}
	for {
		var timeout <-chan time.Time
		if beat := time.Duration(c.sendBeat.Load()); beat > 0 {
			t.Reset(beat)
			timeout = t.C
		}
		select {
		case <-c.wake:
		case <-timeout:
			c.wmu.Lock()
			err := c.w.WriteHeartBeat()
			if err == nil {
				err = c.w.Flush()
			}
			c.wmu.Unlock()
			if err != nil {
				// The peer no longer takes our bytes; one that still sends
				// would otherwise keep the connection, and what it holds,
				// open for ever.
				c.log.Debug("closing a connection whose heart-beat could not be written", "event", "heartbeat_write_failed", "err", err)
				c.shutdown()
				return
			}
		case <-c.closing:
			return
		}
		if timeout != nil {
			t.Stop()
		}
		// The batch is taken under wmu, so that a receipt the read
		// goroutine writes directly never overtakes a frame queued before.
		c.wmu.Lock()
		c.outMu.Lock()
		batch, c.out = c.out, batch[:0]
		c.outBytes = 0
		final := c.closeAfter
		c.outMu.Unlock()
		for i, of := range batch {
			var err error
			switch {
			case of.sub != nil:
				err = writeMessage(c.w, &of)
			case of.f != nil:
				err = c.w.WriteFrame(of.f)
			default:
				receipt.Headers[0].Value = of.receipt
				err = c.w.WriteFrame(&receipt)
			}
			if err != nil {
				c.wmu.Unlock()
				closeBodies(batch[i+1:])
				c.shutdown()
				return
			}
			if of.credit != nil {
				credits[of.credit]++
			}
		}
		clear(batch)
		err := c.w.Flush()
		c.wmu.Unlock()
		if err != nil {
			c.shutdown()
			return
		}
		for cons, n := range credits {
			cons.AddCredit(n)
			delete(credits, cons)
		}
		if final {
			if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (c *conn) readLoop() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ConnectTimeout))
	defer c.turn.Release()
	for {
		if c.turn.Held() && !c.r.HasFrame() {
			// The next read may wait for the client: a client that stops
			// in the middle of a frame must not hold the gate.
			c.turn.Release()
		}
		f, body, err := c.r.ReadFrameStreaming(c.streamLarge)
		if err != nil {
			c.readFailed(err)
			return
		}
		ok := true
		switch {
		case body != nil:
			c.turn.Release()
			ok = c.sendLarge(f, body)
		case !f.IsHeartBeat():
			if !gated(f.Command) {
				c.turn.Release()
			}
			ok = c.handle(f)
		}
		if !ok {
			return
		}
		// The heart-beat deadline starts after the frame is handled: a
		// send to a BLOCK address may hold the reader for longer than a
		// heart-beat period, and the client's beats wait unread meanwhile.
		if c.readLimit > 0 {
			c.extendReadDeadline()
		}
	}
}

// extendReadDeadline moves the heart-beat read deadline after a frame
// (protocol.ExtendReadDeadline).
func (c *conn) extendReadDeadline() {
	protocol.ExtendReadDeadline(c.nc, c.readLimit, &c.readSetAt)
}

func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.As(err, &ne) && ne.Timeout():
		if c.session == nil {
			c.log.Info("closing a connection that sent no CONNECT in time", "event", "handshake_timeout")
			return
		}
		c.log.Info("closing a connection whose heart-beats stopped", "event", "heartbeat_timeout", "limit", c.readLimit)
		c.sendError("heart-beat timeout", "no frame or heart-beat arrived within "+c.readLimit.String(), "")
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrTooManyHeaders),
		errors.Is(err, wire.ErrHeaderTooLarge), errors.Is(err, wire.ErrBadFrame):
		c.log.Info("closing a connection that sent a malformed frame", "event", "bad_frame", "err", err)
		c.sendError("malformed frame", err.Error(), "")
	default:
		c.log.Debug("connection read failed", "err", err)
	}
}

// cleanup releases the broker session: unacknowledged messages go back to
// their queues and transactions roll back.
func (c *conn) cleanup() {
	c.outMu.Lock()
	closeBodies(c.out)
	c.out = nil
	c.outMu.Unlock()
	if c.session != nil {
		c.session.Close()
	}
}
