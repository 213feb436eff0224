package openwire

import (
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/openwire"
)

// conn is one OpenWire connection. The read goroutine handles the client's
// commands in order and owns the connection's state; broker callbacks
// (confirmations, deliveries, pull answers) only queue what is to be sent,
// and the writer goroutine encodes and writes it in bursts.
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint64
	log *slog.Logger
	r   *wire.Reader
	w   *wire.Writer

	// Set during the handshake, read-only afterwards; agreedFlag tells the
	// writer that agreed is set.
	agreed     wire.WireFormat
	agreedFlag atomic.Bool
	readLimit  time.Duration // the inactivity limit on reads; 0 = none
	readSetAt  time.Time

	// loginFailures counts refused ConnectionInfos (read goroutine only).
	loginFailures int
	// connected is set once a ConnectionInfo succeeded; toldBrokers is the
	// pair's URL list the client was last given (the writer's, after
	// connected is set).
	connected   atomic.Bool
	toldBrokers string

	// Set by a successful ConnectionInfo.
	session  *broker.Session
	connID   string
	clientID string
	user     string
	release  func() // gives back the user's connection slot
	// faultTolerant is set for a client with a failover URL, which may
	// replay its unanswered sends on a new connection.
	faultTolerant bool
	// idPrefix is the producer connection id of the message ids this
	// connection makes up for messages that have no OpenWire id.
	idPrefix string
	// resumed is set for the connection a failover client made to
	// replace one it lost (ConnectionInfo.FailoverReconnect).
	resumed bool
	// seqBase offsets the broker sequence numbers the client sees, so
	// that an id from an earlier connection is never taken, by its number
	// alone, for one of this connection's deliveries.
	seqBase int64

	// tbuf holds the targets of the message being sent (read goroutine).
	tbuf [1]target
	// turn is the connection's place at the ingest gate (read goroutine;
	// ingest.go).
	turn protocol.Turn

	// The client's objects, touched only by the read goroutine.
	sessions  map[int64]bool
	producers map[wire.ProducerID]*producer
	txs       map[string]*txState
	temps     map[string]*wire.Destination

	// consumers is read by the read goroutine and, for the consumers
	// removed when their queue goes, by broker callbacks; consMu guards it.
	consMu    sync.Mutex
	consumers map[wire.ConsumerID]*consumer

	// Outbound queue.
	outMu      sync.Mutex
	out        []outItem
	outBytes   int
	closeAfter bool
	// cutOff is set once the queue passed MaxPendingBytes.
	cutOff bool
	wake   chan struct{}
	wrote  atomic.Bool // set by the writer, cleared by its keep-alive check

	// scratch is the writer's, for encoding deliveries and responses
	// without allocating.
	scratch struct {
		msg  wire.Message
		mid  wire.MessageID
		pid  wire.ProducerID
		md   wire.MessageDispatch
		resp wire.Response
	}

	closeOnce sync.Once
	closing   chan struct{}
	// gone is closed once cleanup has released the broker session.
	gone chan struct{}
}

// outItem is one thing for the writer to send: a command ready to encode,
// a Response to the command numbered corr, or a delivery it converts to a
// MessageDispatch first.
type outItem struct {
	cmd wire.DataStructure
	// response is set for a Response to the command corr.
	response bool
	corr     int32
	cons     *consumer
	mem      *member
	dl       broker.Delivery
	// browse is set for a browser's snapshot item, which belongs to no
	// broker consumer.
	browse bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:       s,
		nc:        nc,
		id:        s.nextID.Add(1),
		log:       s.log.With("remote", nc.RemoteAddr().String(), "protocol", protocolName),
		sessions:  map[int64]bool{},
		producers: map[wire.ProducerID]*producer{},
		txs:       map[string]*txState{},
		temps:     map[string]*wire.Destination{},
		consumers: map[wire.ConsumerID]*consumer{},
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		gone:      make(chan struct{}),
		seqBase:   rand.Int64N(1<<40) << 20,
		turn:      protocol.NewTurn(s.opts.Ingest),
	}
	c.r = wire.NewReader(nc, wire.ReaderOptions{MaxFrameSize: s.opts.MaxFrameSize, Reuse: true})
	c.w = wire.NewWriter(nc)
	return c
}

// shutdown stops both loops; it is safe to call more than once.
func (c *conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.nc.Close()
	})
}

// takeOver closes c for a connection that replaces it and waits until its
// session is gone, so the newcomer finds its messages back in their queues
// and its client ID free.
func (c *conn) takeOver() {
	c.log.Info("closing a stale connection taken over by its client's new one", "event", "connection_taken_over",
		"connection_id", c.connID, "client_id", c.clientID)
	c.shutdown()
	select {
	case <-c.gone:
	case <-time.After(10 * time.Second):
	}
}

// deliveryCost is what a queued delivery counts against MaxPendingBytes:
// its message is the broker's, held for the consumer anyway, and the
// consumer's prefetch bounds how many are queued, so only the queue entry
// and the frame header it will need count, not the body.
const deliveryCost = 256

// push queues an item for the writer. It never blocks. Commands (answers,
// keep-alives, advisories) count their size against MaxPendingBytes; a
// client that makes the broker queue more than that without reading it is
// disconnected.
func (c *conn) push(it outItem, size int) {
	c.outMu.Lock()
	if c.closeAfter || c.cutOff {
		c.outMu.Unlock()
		return
	}
	c.out = append(c.out, it)
	c.outBytes += size
	pending := c.outBytes
	cut := pending > c.srv.opts.MaxPendingBytes
	c.cutOff = cut
	c.outMu.Unlock()
	if cut {
		c.log.Warn("closing a connection that does not read what the broker sends it", "event", "slow_consumer_disconnected",
			"pending_bytes", pending)
		c.shutdown()
		return
	}
	c.signal()
}

// send queues a command.
func (c *conn) send(cmd wire.Command) { c.push(outItem{cmd: cmd}, 128) }

// sendFinal queues a last command (an ExceptionResponse refusing the
// connection, say); the writer closes the connection after writing it.
func (c *conn) sendFinal(cmd wire.Command) {
	c.outMu.Lock()
	if c.closeAfter {
		c.outMu.Unlock()
		return
	}
	c.out = append(c.out, outItem{cmd: cmd})
	c.closeAfter = true
	c.outMu.Unlock()
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// respond answers cmd, when it asked for an answer, with a Response or,
// for an error, an ExceptionResponse.
func (c *conn) respond(cmd wire.Command, err error) {
	b := cmd.Base()
	c.answer(b.CommandID, b.ResponseRequired, err)
}

// answer is respond for the command numbered id, which asked for an answer
// when rr is set.
func (c *conn) answer(id int32, rr bool, err error) {
	if err == nil {
		if rr {
			c.push(outItem{response: true, corr: id}, 16)
		}
		return
	}
	if rr {
		c.send(&wire.ExceptionResponse{CorrelationID: id, Exception: throwable(err)})
		return
	}
	// A command sent without waiting for an answer (an asynchronous send,
	// an ack) fails where the client's exception listener hears of it, as
	// ActiveMQ Classic reports it.
	c.send(&wire.ConnectionError{Exception: throwable(err), ConnectionID: c.connIDValue()})
}

func (c *conn) connIDValue() *wire.ConnectionID {
	if c.connID == "" {
		return nil
	}
	return &wire.ConnectionID{Value: c.connID}
}

// writeLoop writes what is queued, in bursts, and keeps the connection
// alive with KeepAliveInfo when the negotiated inactivity monitor is on.
func (c *conn) writeLoop() {
	var batch []outItem
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		if tick == nil && c.agreedOnce() {
			if d := c.keepAliveEvery(); d > 0 {
				ticker = time.NewTicker(d)
				tick = ticker.C
			}
		}
		select {
		case <-c.wake:
		case <-tick:
			if !c.wrote.Swap(false) {
				c.push(outItem{cmd: &wire.KeepAliveInfo{}}, 16)
			}
			c.checkTopology()
			continue
		case <-c.closing:
			return
		}
		c.outMu.Lock()
		batch, c.out = c.out, batch[:0]
		c.outBytes = 0
		final := c.closeAfter
		c.outMu.Unlock()
		for i := range batch {
			if err := c.writeItem(&batch[i]); err != nil {
				c.log.Debug("write failed", "err", err)
				c.shutdown()
				return
			}
		}
		clear(batch)
		if err := c.w.Flush(); err != nil {
			c.shutdown()
			return
		}
		c.wrote.Store(true)
		if final {
			if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// agreedOnce reports whether the wire format is agreed; the writer starts
// its keep-alive ticker after it.
func (c *conn) agreedOnce() bool { return c.agreedFlag.Load() }

// keepAliveEvery is how often the writer checks that it wrote something:
// a third of the agreed inactivity duration, as Java's monitor does.
func (c *conn) keepAliveEvery() time.Duration {
	if c.agreed.MaxInactivityDuration <= 0 {
		return 0
	}
	return time.Duration(c.agreed.MaxInactivityDuration) * time.Millisecond / 3
}

// writeItem encodes one queued item. Only an I/O error is returned: a
// command that cannot be encoded is logged and skipped, and a delivery too
// large for the client's frame limit is dead-lettered.
func (c *conn) writeItem(it *outItem) error {
	if it.cons != nil {
		return c.writeDelivery(it)
	}
	if it.response {
		c.scratch.resp = wire.Response{CorrelationID: it.corr}
		return c.w.WriteCommand(&c.scratch.resp)
	}
	if it.cmd == nil {
		return nil // a wake-up
	}
	err := c.w.WriteCommand(it.cmd)
	if err != nil && (errors.Is(err, wire.ErrInvalid) || errors.Is(err, wire.ErrFrameTooLarge)) {
		c.log.Warn("a command could not be encoded and was not sent", "event", "encode_failed", "err", err)
		return nil
	}
	return err
}

func (c *conn) readLoop() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ConnectTimeout))
	// However the connection ends, its turn goes back to the gate: a turn
	// kept would stall every pipelining producer of the broker.
	defer c.turn.Release()
	if !c.handshake() {
		return
	}
	for {
		if c.turn.Held() && !c.r.HasFrame() {
			// The next read may wait for the client: a client that stops
			// in the middle of a frame must not hold the gate.
			c.turn.Release()
		}
		frame, err := c.r.ReadFrame()
		if err != nil {
			c.readFailed(err)
			return
		}
		cmd, err := c.r.Decode(frame)
		if err != nil {
			c.turn.Release()
			if !c.badFrame(frame, err) {
				return
			}
			continue
		}
		if x, ok := cmd.(wire.Command); !ok || !gated(x) {
			c.turn.Release()
		}
		if !c.handle(cmd) {
			return
		}
		if c.readLimit > 0 && c.session != nil {
			c.extendReadDeadline()
		}
	}
}

// extendReadDeadline moves the inactivity read deadline after a frame
// (protocol.ExtendReadDeadline).
func (c *conn) extendReadDeadline() {
	protocol.ExtendReadDeadline(c.nc, c.readLimit, &c.readSetAt)
}

// readFailed reports why reading stopped, to the client where it can
// still hear it.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.As(err, &ne) && ne.Timeout():
		if c.session == nil {
			c.log.Info("closing a connection that did not complete its handshake in time", "event", "handshake_timeout")
			return
		}
		c.log.Info("closing an inactive connection", "event", "inactivity_timeout", "limit", c.readLimit)
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrMalformed):
		// The stream is out of step: tell the client why and close.
		c.log.Info("closing a connection that sent a frame it may not", "event", "bad_frame", "err", err)
		c.sendFinal(&wire.ConnectionError{Exception: wire.NewThrowable(classIOException,
			"tandem closed the connection: "+err.Error()), ConnectionID: c.connIDValue()})
	default:
		c.log.Debug("connection read failed", "err", err)
	}
}

// badFrame handles a frame that was read whole but does not decode: a
// command that asked for an answer gets an ExceptionResponse and the
// connection goes on; anything else closes it, since its state can no
// longer be trusted. It returns false when the connection must end.
func (c *conn) badFrame(frame []byte, err error) bool {
	h, ok := wire.ParseHeader(frame)
	c.log.Info("a frame did not decode", "event", "bad_frame", "err", err)
	if ok && h.ResponseRequired {
		c.send(&wire.ExceptionResponse{CorrelationID: h.CommandID, Exception: wire.NewThrowable(classJMSException,
			"tandem could not read this command: "+err.Error())})
		return true
	}
	if ok && errors.Is(err, wire.ErrUnsupportedType) {
		return true // a one-way command tandem does not implement
	}
	c.sendFinal(&wire.ConnectionError{Exception: wire.NewThrowable(classIOException,
		"tandem closed the connection after a corrupt frame: "+err.Error()), ConnectionID: c.connIDValue()})
	return false
}

// cleanup releases the broker session: unacknowledged messages go back to
// their queues, transactions roll back, temporary destinations go.
func (c *conn) cleanup() {
	c.outMu.Lock()
	c.out = nil
	c.outMu.Unlock()
	c.srv.reg.release(c)
	c.consMu.Lock()
	cons := make([]*consumer, 0, len(c.consumers))
	for _, k := range c.consumers {
		cons = append(cons, k)
	}
	c.consumers = map[wire.ConsumerID]*consumer{}
	c.consMu.Unlock()
	for _, k := range cons {
		c.srv.temp.unwatch(k)
	}
	for name, d := range c.temps {
		c.srv.temp.remove(d, c)
		delete(c.temps, name)
	}
	if c.session != nil {
		c.session.Close()
	}
	if c.release != nil {
		c.release()
	}
	close(c.gone)
}
