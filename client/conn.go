package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"tandem/internal/wire/stomp"
)

// Conn is a connection to a broker. It keeps the state that must outlive
// one TCP connection (subscriptions, unconfirmed sends, transactions) apart
// from the transport that carries it, so that failover can later swap the
// transport underneath without the caller noticing.
type Conn struct {
	cfg  config
	url  string
	eps  []Endpoint
	opts URLOptions
	log  *slog.Logger

	// slots is the send window: a persistent send takes a slot before it is
	// written and gives it back when the broker confirms it.
	slots chan struct{}
	// done is closed when the Conn stops for good (Close or a lost
	// connection); err says why.
	done chan struct{}

	mu          sync.Mutex
	tr          *transport
	err         error                    // terminal error; set once, with done closed
	closing     bool                     // Close has begun
	leaving     bool                     // Close sent DISCONNECT: losing the link is expected
	pending     map[string]*request      // awaiting a RECEIPT, by receipt id
	subs        map[string]*Subscription // by subscription id
	txs         map[string]*Tx           // open transactions, by id
	asyncErr    error                    // first unreported failure of a windowed send
	seq         uint64                   // source of receipt, subscription and tx ids
	slotWaiters int                      // Sends blocked on the window (for tests)
}

// transport is one TCP connection that completed the STOMP handshake.
type transport struct {
	nc         net.Conn
	ep         Endpoint
	r          *stomp.Reader
	w          *stomp.Writer
	version    stomp.Version
	server     string
	session    string
	sendEvery  time.Duration // how often we must send something
	recvWithin time.Duration // how long the broker may stay silent
	out        chan outFrame
	quit       chan struct{} // closed to stop both loops
	quitOnce   sync.Once
	loops      sync.WaitGroup
}

// outFrame is a frame queued for the writer, with the request (if any)
// that must fail should the frame be impossible to encode.
type outFrame struct {
	f   *stomp.Frame
	req *request
}

// stop ends the transport's loops and closes its socket. It is idempotent.
func (t *transport) stop() {
	t.quitOnce.Do(func() {
		close(t.quit)
		t.nc.Close()
	})
}

// request is a frame that asked for a receipt. It keeps the frame so that a
// future failover can send it again on a new transport.
type request struct {
	id    string
	seq   uint64 // issue order, so a resend can keep the original order
	frame *stomp.Frame
	send  bool // a persistent send holding a window slot
	done  chan struct{}
	err   error
	// abandoned is set when nobody waits for the outcome any more (the
	// caller's context ended), so a failure must be kept for later.
	abandoned bool
}

// Dial connects to the broker at url and completes the STOMP handshake. With
// several brokers in the URL it tries them in order and uses the first that
// accepts. Failing that, the error is one line naming every broker tried and
// why it failed.
func Dial(ctx context.Context, url string, opts ...Option) (*Conn, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	eps, uo, err := ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	log := cfg.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{
		cfg: cfg, url: url, eps: eps, opts: uo, log: log,
		slots:   make(chan struct{}, cfg.window),
		done:    make(chan struct{}),
		pending: map[string]*request{},
		subs:    map[string]*Subscription{},
		txs:     map[string]*Tx{},
	}
	derr := &dialError{url: url}
	for _, ep := range eps {
		tr, err := c.connect(ctx, ep)
		if err == nil {
			c.start(tr)
			return c, nil
		}
		derr.errs = append(derr.errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, derr
}

// connect opens a TCP connection to ep and exchanges CONNECT/CONNECTED.
func (c *Conn) connect(ctx context.Context, ep Endpoint) (*transport, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.connectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("connect to %s: %w (is the broker running and listening there?)", ep, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", ep, err)
	}
	tr, err := c.handshake(ctx, nc, ep)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", ep, err)
	}
	return tr, nil
}

// handshake sends CONNECT on nc and reads the broker's answer, bounded by
// ctx: its deadline becomes the socket deadline, and its cancellation
// unblocks the socket at once.
func (c *Conn) handshake(ctx context.Context, nc net.Conn, ep Endpoint) (*transport, error) {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tr := &transport{
		nc: nc, ep: ep,
		r:    stomp.NewReader(nc, stomp.ReaderOptions{}),
		w:    stomp.NewWriter(nc),
		out:  make(chan outFrame, 256),
		quit: make(chan struct{}),
	}
	host := c.cfg.host
	if host == "" {
		host = ep.Host
	}
	cf := &stomp.Frame{Command: stomp.CmdConnect}
	cf.Headers.Add(stomp.HdrAcceptVersion, stomp.SupportedVersions)
	cf.Headers.Add(stomp.HdrHost, host)
	if c.cfg.hasCredentials {
		cf.Headers.Add(stomp.HdrLogin, c.cfg.login)
		cf.Headers.Add(stomp.HdrPasscode, c.cfg.passcode)
	}
	if c.cfg.clientID != "" {
		cf.Headers.Add(stomp.HdrClientID, c.cfg.clientID)
	}
	cf.Headers.Add(stomp.HdrHeartBeat, stomp.FormatHeartBeat(c.cfg.hbSend, c.cfg.hbRecv))
	if err := tr.w.WriteFrame(cf); err != nil {
		return nil, err
	}
	if err := tr.w.Flush(); err != nil {
		return nil, c.handshakeIOError(ctx, err)
	}
	var f *stomp.Frame
	for {
		var err error
		if f, err = tr.r.ReadFrame(); err != nil {
			return nil, c.handshakeIOError(ctx, err)
		}
		if !f.IsHeartBeat() {
			break
		}
	}
	switch f.Command {
	case stomp.CmdConnected:
	case stomp.CmdError:
		return nil, &rejectedError{be: newBrokerError(f)}
	default:
		return nil, fmt.Errorf("%w: expected CONNECTED, got %s", ErrProtocol, f.Command)
	}
	v, err := stomp.ParseVersion(f.Headers.Value(stomp.HdrVersion))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	sx, sy, err := stomp.ParseHeartBeat(f.Headers.Value(stomp.HdrHeartBeat))
	if err != nil {
		return nil, fmt.Errorf("%w: CONNECTED: %w", ErrProtocol, err)
	}
	tr.version = v
	tr.r.SetVersion(v)
	tr.w.SetVersion(v)
	tr.server = f.Headers.Value(stomp.HdrServer)
	tr.session = f.Headers.Value(stomp.HdrSession)
	tr.sendEvery, tr.recvWithin = stomp.NegotiateHeartBeat(c.cfg.hbSend, c.cfg.hbRecv,
		time.Duration(sx)*time.Millisecond, time.Duration(sy)*time.Millisecond)
	if !stop() {
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	return tr, nil
}

// handshakeIOError words an I/O failure during the handshake.
func (c *Conn) handshakeIOError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no CONNECTED frame within %v (is this a STOMP port?): %w", c.cfg.connectTimeout, context.DeadlineExceeded)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, stomp.ErrBadFrame):
		return fmt.Errorf("%w: the answer to CONNECT is not STOMP: %w", ErrProtocol, err)
	}
	return fmt.Errorf("connection closed during the STOMP handshake: %w", err)
}

// start installs tr as the current transport and runs its loops.
func (c *Conn) start(tr *transport) {
	c.mu.Lock()
	c.tr = tr
	c.mu.Unlock()
	c.log.Info("connected to broker", "url", c.url, "endpoint", tr.ep.String(),
		"version", tr.version.String(), "server", tr.server, "session", tr.session,
		"heart-beat-send", tr.sendEvery, "heart-beat-recv", tr.recvWithin)
	tr.loops.Add(2)
	go c.readLoop(tr)
	go c.writeLoop(tr)
}

// readLoop reads frames from tr and dispatches them until tr fails.
func (c *Conn) readLoop(tr *transport) {
	defer tr.loops.Done()
	for {
		if tr.recvWithin > 0 {
			// Twice the interval leaves room for network jitter, as the
			// STOMP specification suggests.
			tr.nc.SetReadDeadline(time.Now().Add(2 * tr.recvWithin))
		}
		f, err := tr.r.ReadFrame()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w (nothing for %v)", ErrHeartBeatTimeout, 2*tr.recvWithin)
			}
			c.transportFailed(tr, err)
			return
		}
		switch f.Command {
		case "":
		case stomp.CmdMessage:
			c.dispatchMessage(tr, f)
		case stomp.CmdReceipt:
			c.completeReceipt(f.Headers.Value(stomp.HdrReceiptID), nil)
		case stomp.CmdError:
			be := newBrokerError(f)
			if be.ReceiptID != "" {
				c.completeReceipt(be.ReceiptID, be)
			}
			c.transportFailed(tr, be)
			return
		default:
			c.transportFailed(tr, fmt.Errorf("%w: %s", ErrProtocol, f.Command))
			return
		}
	}
}

// writeLoop writes queued frames. It drains everything queued before it
// flushes, so a burst of frames from many goroutines costs one system call;
// when idle it sends heart-beats as negotiated.
func (c *Conn) writeLoop(tr *transport) {
	defer tr.loops.Done()
	var tick <-chan time.Time
	if tr.sendEvery > 0 {
		// Checking at half the interval keeps the longest silence below
		// the interval the broker asked for.
		t := time.NewTicker(tr.sendEvery / 2)
		defer t.Stop()
		tick = t.C
	}
	wrote := false
	for {
		select {
		case o := <-tr.out:
			c.encode(tr, o)
		drain:
			for tr.w.Buffered() < 1<<20 {
				select {
				case o := <-tr.out:
					c.encode(tr, o)
				default:
					break drain
				}
			}
		case <-tick:
			if wrote {
				wrote = false
				continue
			}
			tr.w.WriteHeartBeat()
		case <-tr.quit:
			return
		}
		if err := tr.w.Flush(); err != nil {
			c.transportFailed(tr, err)
			return
		}
		wrote = true
	}
}

// encode buffers one frame; a frame the version cannot express fails its
// request instead of the connection.
func (c *Conn) encode(tr *transport, o outFrame) {
	err := tr.w.WriteFrame(o.f)
	if err == nil {
		return
	}
	if o.req != nil {
		c.completeReceipt(o.req.id, err)
		return
	}
	c.log.Warn("frame not sent", "frame", o.f.String(), "error", err)
}

// transportFailed handles the end of tr: unless the Conn is closing, every
// waiter learns why, and the Conn stops.
//
// Failover will branch here instead: keep c.pending, c.subs and c.txs, dial
// the next endpoint, log in, replay each subscription's SUBSCRIBE frame,
// resend each pending request's frame in seq order (sends keep their
// duplicate-detection id, so the broker drops copies it already has), fail
// the open transactions with ErrTxRolledBack, and install the new transport
// as c.tr; enqueue then waits for c.tr instead of failing.
func (c *Conn) transportFailed(tr *transport, cause error) {
	c.mu.Lock()
	if c.tr != tr || c.err != nil {
		c.mu.Unlock()
		tr.stop()
		return
	}
	var err error
	var be *BrokerError
	switch {
	case c.leaving:
		err = ErrClosed
	case errors.As(cause, &be):
		err = fmt.Errorf("%w: %w", ErrConnectionLost, be)
	default:
		if errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) {
			cause = fmt.Errorf("the broker closed the connection: %w", cause)
		}
		err = fmt.Errorf("%w (%s): %w", ErrConnectionLost, tr.ep, cause)
	}
	if !c.leaving {
		c.log.Warn("connection to broker lost", "endpoint", tr.ep.String(), "error", cause)
	}
	c.failLocked(err)
	c.mu.Unlock()
	tr.stop()
}

// failLocked stops the Conn for good with err: it fails every pending
// request, ends every subscription and rolls back every transaction.
func (c *Conn) failLocked(err error) {
	c.err = err
	close(c.done)
	for _, req := range c.pending {
		c.finishLocked(req, err)
	}
	for _, s := range c.subs {
		s.end(err)
	}
	for _, tx := range c.txs {
		tx.fail(err)
	}
	clear(c.subs)
	clear(c.txs)
}

// nextIDLocked returns a connection-unique id with the given prefix. The
// caller holds c.mu.
func (c *Conn) nextIDLocked(prefix string) string {
	c.seq++
	return prefix + strconv.FormatUint(c.seq, 10)
}

// newRequestLocked registers a receipt for f, sets f's receipt header and
// returns the request. The caller holds c.mu.
func (c *Conn) newRequestLocked(f *stomp.Frame, send bool) *request {
	req := &request{id: c.nextIDLocked("r-"), seq: c.seq, frame: f, send: send, done: make(chan struct{})}
	f.Headers.Set(stomp.HdrReceipt, req.id)
	c.pending[req.id] = req
	return req
}

// completeReceipt finishes the request with the given receipt id.
func (c *Conn) completeReceipt(id string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req, ok := c.pending[id]; ok {
		c.finishLocked(req, err)
	} else if id != "" && err == nil {
		c.log.Debug("receipt for an unknown request", "receipt-id", id)
	}
}

// finishLocked records the outcome of req, wakes its waiter and gives back
// its window slot.
func (c *Conn) finishLocked(req *request, err error) {
	delete(c.pending, req.id)
	req.err = err
	close(req.done)
	if req.send {
		<-c.slots
		if err != nil && (req.abandoned || c.cfg.window > 1) && c.asyncErr == nil {
			c.asyncErr = err
		}
	}
}

// current returns the transport to write to, or the Conn's terminal error.
func (c *Conn) current() (*transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	return c.tr, nil
}

// enqueue hands a frame to the writer, waiting while its queue is full.
func (c *Conn) enqueue(ctx context.Context, o outFrame) error {
	tr, err := c.current()
	if err != nil {
		return err
	}
	select {
	case tr.out <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
}

// wait waits for req's outcome. If ctx ends first the request is marked
// abandoned, so that its failure, should it fail, is reported later.
func (c *Conn) wait(ctx context.Context, req *request) error {
	select {
	case <-req.done:
		return req.err
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case <-req.done:
			return req.err
		default:
		}
		req.abandoned = true
		return ctx.Err()
	}
}

// roundTrip sends f with a receipt and waits for the broker to confirm it.
func (c *Conn) roundTrip(ctx context.Context, f *stomp.Frame) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	req := c.newRequestLocked(f, false)
	c.mu.Unlock()
	if err := c.enqueue(ctx, outFrame{f: f, req: req}); err != nil {
		c.forget(req)
		return err
	}
	return c.wait(ctx, req)
}

// forget drops a request whose frame was never queued.
func (c *Conn) forget(req *request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[req.id]; ok {
		delete(c.pending, req.id)
		if req.send {
			<-c.slots
		}
	}
}

// Err returns why the Conn stopped (ErrClosed after Close, or an error
// wrapping ErrConnectionLost), or nil while it is usable.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done returns a channel that is closed when the Conn stops; Err then says
// why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Version returns the STOMP version agreed with the broker.
func (c *Conn) Version() Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.version
}

// Server returns the broker's server header (name/version), if it sent one.
func (c *Conn) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.server
}

// Endpoint returns the broker the Conn is connected to.
func (c *Conn) Endpoint() Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.ep
}

// URLOptions returns the options parsed from the Dial URL.
func (c *Conn) URLOptions() URLOptions { return c.opts }

// Close confirms every unconfirmed send (waiting up to the close timeout),
// tells the broker goodbye with a confirmed DISCONNECT and closes the
// connection. It returns the first send failure not yet reported, if any.
// Closing a closed Conn returns nil.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	tr, dead := c.tr, c.err != nil
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
	defer cancel()
	var err error
	if !dead {
		if err = c.Flush(ctx); err != nil && ctx.Err() != nil {
			err = fmt.Errorf("close: the broker did not confirm every send within %v: %w", c.cfg.closeTimeout, err)
		}
		c.mu.Lock()
		c.leaving = true
		c.mu.Unlock()
		if derr := c.roundTrip(ctx, &stomp.Frame{Command: stomp.CmdDisconnect}); derr != nil {
			// The broker may hang up without confirming; nothing is lost.
			c.log.Debug("DISCONNECT not confirmed", "error", derr)
		}
	} else {
		err = c.takeAsyncErr()
	}
	c.mu.Lock()
	if c.err == nil {
		c.failLocked(ErrClosed)
	}
	// After Close every call says the Conn is closed, even if the link
	// had been lost before.
	c.err = ErrClosed
	c.mu.Unlock()
	tr.stop()
	tr.loops.Wait()
	return err
}
