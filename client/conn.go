package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tandem/internal/wire/stomp"
)

// Conn is a connection to a broker. It keeps the state that must outlive
// one TCP connection (subscriptions, unconfirmed sends, transactions) apart
// from the transport that carries it, so that failover can swap the
// transport underneath without the caller noticing.
type Conn struct {
	cfg  config
	url  string
	opts URLOptions
	log  *slog.Logger

	// failover says whether a lost transport is replaced (the URL asked
	// for it); rounds bounds how many rounds a reconnect may take, -1 for
	// ever.
	failover bool
	rounds   int
	events   eventQueue

	// slots is the send window: a persistent send takes a slot before it is
	// written and gives it back when the broker confirms it.
	slots chan struct{}
	// done is closed when the Conn stops for good (Close, a lost connection
	// without failover, or a reconnect that gave up); err says why.
	done chan struct{}
	// life lives as long as the Conn; stop cancels it, which ends a
	// reconnect in progress at once.
	life context.Context
	stop context.CancelFunc
	// reconnecting tracks the reconnect goroutine, so that Close can wait
	// for it.
	reconnecting sync.WaitGroup

	mu          sync.Mutex
	tr          *transport               // the latest transport; while outage is set, a dead one
	outage      *outage                  // set while the Conn reconnects
	unstable    int                      // outages in a row whose transport did no useful work
	eps         []Endpoint               // brokers to try: the URL's, then backups the brokers advertised
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
	backups    []Endpoint    // the broker's tandem-backups header
	sendEvery  time.Duration // how often we must send something
	recvWithin time.Duration // how long the broker may stay silent
	started    time.Time     // end of the handshake
	progress   atomic.Bool   // a RECEIPT or MESSAGE arrived: the broker works
	out        chan outFrame
	// wmu is held by whoever encodes and flushes on w: the writer
	// goroutine, or a caller writing its frame directly (see enqueue).
	wmu sync.Mutex
	// queued counts frames handed to the writer goroutine (plus one until
	// it has flushed the replay) that it has not yet flushed. A caller
	// writes directly only when it holds wmu and queued is zero, so a
	// direct write never overtakes a frame queued before it.
	queued   atomic.Int64
	wrote    atomic.Bool   // a direct write happened: no heart-beat needed
	quit     chan struct{} // closed to stop both loops
	quitOnce sync.Once
	loops    sync.WaitGroup
}

// outFrame is a frame queued for the writer. req is the request (if any)
// that the frame's receipt completes. bound, when set, is the only transport
// the frame makes sense on (an acknowledgement names a delivery of that
// connection), and tx is the transaction the frame belongs to, which must
// still be open on the transport it goes to.
type outFrame struct {
	f     *stomp.Frame
	req   *request
	bound *transport
	tx    *Tx
}

// stop ends the transport's loops and closes its socket. It is idempotent.
func (t *transport) stop() {
	t.quitOnce.Do(func() {
		close(t.quit)
		t.nc.Close()
	})
}

// reqKind says what a request is for, which decides what a failover does
// with it: resend it, or settle it because the new connection cannot carry
// it.
type reqKind uint8

// The request kinds.
const (
	kindOther       reqKind = iota // DISCONNECT
	kindSend                       // a persistent SEND outside a transaction
	kindSubscribe                  // Subscribe's SUBSCRIBE
	kindResubscribe                // a SUBSCRIBE replayed after a failover
	kindUnsubscribe                // UNSUBSCRIBE
	kindAck                        // ACK or NACK outside a transaction
	kindBegin                      // BEGIN
	kindCommit                     // COMMIT
	kindAbort                      // ABORT
)

// request is a frame that asked for a receipt. It keeps the frame so that a
// failover can send it again on a new transport.
type request struct {
	id    string
	seq   uint64 // issue order, so a resend can keep the original order
	kind  reqKind
	frame *stomp.Frame
	done  chan struct{}
	err   error
	// tr is the transport the frame was last handed to, so that a frame
	// the failover already resent is not sent a second time by its caller.
	tr  *transport
	sub *Subscription // for the subscription kinds
	tx  *Tx           // for BEGIN, COMMIT and ABORT
	// abandoned is set when nobody waits for the outcome any more (the
	// caller's context ended), so a failure must be kept for later.
	abandoned bool
}

// holdsSlot reports whether req occupies a place in the send window.
func (r *request) holdsSlot() bool { return r.kind == kindSend }

// Dial connects to the broker at url and completes the STOMP handshake.
//
// It tries the URL's brokers in order (shuffled when the URL says
// randomize=true, ActiveMQ Classic's default), a round at a time, and uses
// the first that accepts. A URL that allows failover retries failed rounds
// with the URL's back-off, up to startupMaxReconnectAttempts (Classic; by
// default the same limit as maxReconnectAttempts, so for ever) or
// initialConnectAttempts rounds (Artemis; default 1); ctx bounds the whole
// wait. A broker that refuses the login ends Dial at once: retrying cannot
// fix credentials. Failing that, the error is one line naming every broker
// tried and why it failed.
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
		failover: uo.Failover() && reconnectRounds(uo) != 0,
		rounds:   reconnectRounds(uo),
		events:   eventQueue{fn: cfg.onEvent},
		slots:    make(chan struct{}, cfg.window),
		done:     make(chan struct{}),
		pending:  map[string]*request{},
		subs:     map[string]*Subscription{},
		txs:      map[string]*Tx{},
	}
	c.life, c.stop = context.WithCancel(context.Background())
	tr, round, err := c.dialRounds(ctx)
	if err != nil {
		c.stop()
		return nil, err
	}
	c.mu.Lock()
	c.installLocked(tr)
	c.mu.Unlock()
	c.emit(Event{Kind: EventConnected, Endpoint: tr.ep.String(), Attempt: round}, tr)
	c.run(tr, nil)
	return c, nil
}

// dialRounds makes the first connection: rounds over every endpoint, with
// the URL's back-off between them, until one accepts or the startup limit
// is reached. It returns the transport and the round that produced it.
func (c *Conn) dialRounds(ctx context.Context) (*transport, int, error) {
	limit := startupRounds(c.opts)
	var errs []error
	for round := 1; ; round++ {
		if round > 1 {
			if err := c.cfg.sleep(ctx, backoffDelay(c.opts, round-1)); err != nil {
				return nil, 0, &dialError{url: c.url, errs: append(errs, err), attempts: round - 1}
			}
		}
		errs = nil
		for _, ep := range c.roundEndpoints(nil) {
			tr, err := c.connect(ctx, ep)
			if err == nil {
				return tr, round, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil || errors.Is(err, ErrConnectRejected) {
				return nil, 0, &dialError{url: c.url, errs: errs, attempts: round}
			}
		}
		if limit >= 0 && round >= limit {
			return nil, 0, &dialError{url: c.url, errs: errs, attempts: round}
		}
		c.log.Info("no broker accepted the connection; retrying", "url", c.url, "attempt", round,
			"error", (&dialError{url: c.url, errs: errs}).Error())
	}
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
	sc, err := c.secure(ctx, nc, ep)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", ep, err)
	}
	tr, err := c.handshake(ctx, sc, ep)
	if err != nil {
		sc.Close()
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
	tr.backups = c.parseBackups(ep, f.Headers.Value(hdrBackups))
	tr.sendEvery, tr.recvWithin = stomp.NegotiateHeartBeat(c.cfg.hbSend, c.cfg.hbRecv,
		time.Duration(sx)*time.Millisecond, time.Duration(sy)*time.Millisecond)
	if !stop() {
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	tr.started = time.Now()
	return tr, nil
}

// handshakeIOError words an I/O failure during the handshake.
func (c *Conn) handshakeIOError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		// Cancelling interrupts the read by moving the socket's deadline,
		// so the read fails with a deadline error: the cause is the cancel.
		return ctx.Err()
	case ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no CONNECTED frame within %v (is this a STOMP port?): %w", c.cfg.connectTimeout, context.DeadlineExceeded)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, stomp.ErrBadFrame):
		return fmt.Errorf("%w: the answer to CONNECT is not STOMP: %w", ErrProtocol, err)
	}
	return fmt.Errorf("connection closed during the STOMP handshake: %w", err)
}

// installLocked makes tr the current transport and, when the Conn may fail
// over, adds the backups tr's broker advertised to the endpoints. The
// caller holds c.mu.
func (c *Conn) installLocked(tr *transport) {
	// No direct writes until the writer goroutine has flushed the replay
	// (writeLoop takes this count back).
	tr.queued.Store(1)
	c.tr = tr
	if c.failover {
		c.learnBackupsLocked(tr.backups)
	}
}

// run starts tr's loops. replay holds the frames a failover sends before
// anything queued by callers.
func (c *Conn) run(tr *transport, replay []outFrame) {
	tr.loops.Add(2)
	go c.readLoop(tr)
	go c.writeLoop(tr, replay)
}

// readLoop reads frames from tr and dispatches them until tr fails.
func (c *Conn) readLoop(tr *transport) {
	defer tr.loops.Done()
	var setAt time.Time
	for {
		if tr.recvWithin > 0 {
			// Twice the interval leaves room for network jitter, as the
			// STOMP specification suggests. Moving the deadline costs a
			// timer update, so it moves once a quarter interval has passed,
			// to a quarter beyond: between two and two and a quarter
			// intervals of silence end the transport.
			if now := time.Now(); now.Sub(setAt) >= tr.recvWithin/4 {
				setAt = now
				tr.nc.SetReadDeadline(now.Add(2*tr.recvWithin + tr.recvWithin/4))
			}
		}
		f, body, err := tr.r.ReadFrameStreaming(streamMessageBody)
		if err == nil && body != nil {
			err = c.readBody(tr, f, body)
		}
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
			tr.progress.Store(true)
			c.dispatchMessage(tr, f)
		case stomp.CmdReceipt:
			tr.progress.Store(true)
			c.completeReceipt(f.Headers.Value(stomp.HdrReceiptID), nil)
		case stomp.CmdError:
			be := newBrokerError(f)
			// A broker that is going away refuses whatever is in
			// flight; with failover those requests are resent to the
			// next broker instead of failing.
			if be.ReceiptID != "" && !(c.failover && connectionLevel(be)) {
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

// writeLoop writes the replay frames, then queued frames. It drains
// everything queued before it flushes, so a burst of frames from many
// goroutines costs one system call; when idle it sends heart-beats as
// negotiated.
func (c *Conn) writeLoop(tr *transport, replay []outFrame) {
	defer tr.loops.Done()
	tr.wmu.Lock()
	for _, o := range replay {
		c.encode(tr, o)
		if tr.w.Buffered() >= 1<<20 {
			if err := tr.w.Flush(); err != nil {
				tr.wmu.Unlock()
				c.transportFailed(tr, err)
				return
			}
		}
	}
	err := tr.w.Flush()
	if err == nil {
		tr.queued.Add(-1)
	}
	tr.wmu.Unlock()
	if err != nil {
		c.transportFailed(tr, err)
		return
	}
	var tick <-chan time.Time
	if tr.sendEvery > 0 {
		// Checking at half the interval keeps the longest silence below
		// the interval the broker asked for.
		t := time.NewTicker(tr.sendEvery / 2)
		defer t.Stop()
		tick = t.C
	}
	wrote := len(replay) > 0
	for {
		var n int64
		select {
		case o := <-tr.out:
			tr.wmu.Lock()
			c.encode(tr, o)
			n = 1
		drain:
			for tr.w.Buffered() < 1<<20 {
				select {
				case o := <-tr.out:
					c.encode(tr, o)
					n++
				default:
					break drain
				}
			}
		case <-tick:
			if direct := tr.wrote.Swap(false); wrote || direct {
				wrote = false
				continue
			}
			tr.wmu.Lock()
			tr.w.WriteHeartBeat()
		case <-tr.quit:
			return
		}
		err := tr.w.Flush()
		if err == nil {
			tr.queued.Add(-n)
		}
		tr.wmu.Unlock()
		if err != nil {
			c.transportFailed(tr, err)
			return
		}
		wrote = true
	}
}

// maxDirectBody bounds the body of a frame a caller writes itself: a small
// frame fits in the socket's buffer, so the write does not make the caller
// wait beyond its context; a bigger one goes through the writer goroutine.
const maxDirectBody = 64 << 10

// tryWriteDirect writes o on tr from the calling goroutine when nothing
// else is being written or waits to be: it saves the hand-off to the
// writer goroutine (a wake-up and a context switch) that dominates the
// cost of a lone send. It reports whether it wrote o; when it did not, the
// caller queues o for the writer goroutine, which coalesces bursts.
func (c *Conn) tryWriteDirect(tr *transport, o outFrame) bool {
	if len(o.f.Body) > maxDirectBody || tr.queued.Load() != 0 || !tr.wmu.TryLock() {
		return false
	}
	if tr.queued.Load() != 0 {
		tr.wmu.Unlock()
		return false
	}
	c.encode(tr, o)
	err := tr.w.Flush()
	tr.wmu.Unlock()
	if err != nil {
		// As when the writer goroutine fails: the transport is done, and
		// a request is resent by the failover or failed with the Conn.
		c.transportFailed(tr, err)
		return true
	}
	tr.wrote.Store(true)
	return true
}

// push queues o for tr's writer goroutine without waiting; it reports
// whether there was room.
func (tr *transport) push(o outFrame) bool {
	tr.queued.Add(1)
	select {
	case tr.out <- o:
		return true
	default:
		tr.queued.Add(-1)
		return false
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

// failLocked stops the Conn for good with err: it fails every pending
// request, ends every subscription, rolls back every transaction and ends
// a reconnect in progress.
func (c *Conn) failLocked(err error) {
	c.err = err
	c.stop()
	if c.outage != nil && c.outage.timer != nil {
		c.outage.timer.Stop()
	}
	for _, req := range c.pending {
		c.finishLocked(req, err)
	}
	for _, s := range c.subs {
		s.end(err)
	}
	for _, tx := range c.txs {
		tx.fail(fmt.Errorf("%w: %w", ErrTxRolledBack, err))
	}
	clear(c.subs)
	clear(c.txs)
	// Done is closed last, so that whoever it wakes finds every request,
	// subscription and transaction already failed.
	close(c.done)
}

// nextIDLocked returns a connection-unique id with the given prefix. The
// caller holds c.mu.
func (c *Conn) nextIDLocked(prefix string) string {
	c.seq++
	return prefix + strconv.FormatUint(c.seq, 10)
}

// newRequestLocked registers a receipt for f, sets f's receipt header and
// returns the request. The caller holds c.mu.
func (c *Conn) newRequestLocked(f *stomp.Frame, kind reqKind) *request {
	req := &request{id: c.nextIDLocked("r-"), seq: c.seq, kind: kind, frame: f, done: make(chan struct{})}
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
	if req.holdsSlot() {
		<-c.slots
		if err != nil && (req.abandoned || c.cfg.window > 1) && c.asyncErr == nil {
			c.asyncErr = err
		}
	}
	if req.kind == kindResubscribe && err != nil {
		// Nobody waits for a replayed SUBSCRIBE: its subscription
		// carries the refusal to Receive.
		delete(c.subs, req.sub.id)
		req.sub.end(fmt.Errorf("subscribe to %s again after failover: %w", req.sub.destination, err))
	}
}

// current returns the transport to write to, or the Conn's terminal error.
// While the Conn reconnects it returns neither.
func (c *Conn) current() (*transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if c.outage != nil {
		return nil, nil
	}
	return c.tr, nil
}

// errStale reports a frame bound to a transport that is gone.
var errStale = errors.New("frame belongs to an earlier connection")

// enqueue hands a frame to the writer of the current transport, waiting
// while the queue is full and, during a failover, until a new transport is
// up. It returns errStale for a frame bound to a transport that is no
// longer current, and nil without sending for a request the failover
// already resent or that is already settled.
func (c *Conn) enqueue(ctx context.Context, o outFrame) error {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if out := c.outage; out != nil {
			c.mu.Unlock()
			if err := c.awaitReconnect(ctx, out); err != nil {
				return err
			}
			continue
		}
		tr := c.tr
		if err := c.checkOutLocked(o, tr); err != nil {
			c.mu.Unlock()
			return err
		}
		if o.req != nil {
			if _, ok := c.pending[o.req.id]; !ok || o.req.tr == tr {
				c.mu.Unlock()
				return nil
			}
			o.req.tr = tr
		}
		// Writing from the calling goroutine pays off for a request the
		// caller is about to wait for when nothing else is in flight (a
		// confirmed send or ack, one at a time); a stream of frames goes
		// through the writer goroutine, which packs many into one write.
		direct := o.req != nil && len(c.pending) <= 1
		c.mu.Unlock()
		if direct && ctx.Err() == nil && c.tryWriteDirect(tr, o) {
			return nil
		}
		if tr.push(o) {
			return nil
		}
		tr.queued.Add(1)
		select {
		case tr.out <- o:
			return nil
		case <-tr.quit:
			// The transport died while its queue was full: a request is
			// resent by the failover; anything else tries the next one.
		case <-ctx.Done():
			tr.queued.Add(-1)
			return ctx.Err()
		case <-c.done:
			tr.queued.Add(-1)
			return c.Err()
		}
		tr.queued.Add(-1)
	}
}

// checkOutLocked says why o cannot go out on tr: a frame bound to another
// transport is stale, and a transaction's frame needs the transaction open
// on tr. The caller holds c.mu.
func (c *Conn) checkOutLocked(o outFrame, tr *transport) error {
	if o.bound != nil && o.bound != tr {
		return errStale
	}
	if o.tx != nil {
		if err := o.tx.usable(); err != nil {
			return err
		}
		if o.tx.begin.tr != tr {
			return errStale
		}
	}
	return nil
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

// call sends o.f with a receipt and waits for the broker to confirm it.
// link, if set, ties the new request to its subscription or transaction
// while c.mu is held.
func (c *Conn) call(ctx context.Context, o outFrame, kind reqKind, link func(*request)) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	req := c.newRequestLocked(o.f, kind)
	if link != nil {
		link(req)
	}
	c.mu.Unlock()
	o.req = req
	if err := c.enqueue(ctx, o); err != nil {
		c.forget(req)
		return err
	}
	return c.wait(ctx, req)
}

// roundTrip sends f with a receipt and waits for the broker to confirm it.
func (c *Conn) roundTrip(ctx context.Context, f *stomp.Frame) error {
	return c.call(ctx, outFrame{f: f}, kindOther, nil)
}

// forget drops a request whose frame was never queued.
func (c *Conn) forget(req *request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[req.id]; ok {
		delete(c.pending, req.id)
		if req.holdsSlot() {
			<-c.slots
		}
	}
}

// Err returns why the Conn stopped (ErrClosed after Close, an error
// wrapping ErrConnectionLost, or one wrapping ErrReconnectFailed when a
// failover gave up), or nil while it is usable, reconnecting included.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done returns a channel that is closed when the Conn stops; Err then says
// why. A failover that succeeds does not close it.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Version returns the STOMP version agreed with the broker (the latest one,
// after a failover).
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

// Endpoint returns the broker the Conn is connected to (while it
// reconnects, the one it lost).
func (c *Conn) Endpoint() Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.ep
}

// Endpoints returns the brokers the Conn would try if it had to reconnect:
// the URL's, then the backups the brokers advertised.
func (c *Conn) Endpoints() []Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Endpoint(nil), c.eps...)
}

// URLOptions returns the options parsed from the Dial URL.
func (c *Conn) URLOptions() URLOptions { return c.opts }

// Close confirms every unconfirmed send (waiting up to the close timeout),
// tells the broker goodbye with a confirmed DISCONNECT and closes the
// connection. It returns the first send failure not yet reported, if any.
// During a failover it does not wait for the reconnect: it stops it at once,
// and sends not yet confirmed fail with an error wrapping ErrClosed.
// Closing a closed Conn returns nil.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	dead, down := c.err != nil, c.outage != nil
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
	defer cancel()
	var err error
	switch {
	case dead:
		err = c.takeAsyncErr()
	case down:
		c.mu.Lock()
		if c.err == nil {
			c.failLocked(fmt.Errorf("%w while reconnecting: the send may not have reached the broker", ErrClosed))
		}
		c.mu.Unlock()
		err = c.takeAsyncErr()
	default:
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
	}
	c.mu.Lock()
	if c.err == nil {
		c.failLocked(ErrClosed)
	}
	// After Close every call says the Conn is closed, even if the link
	// had been lost before.
	c.err = ErrClosed
	c.mu.Unlock()
	// failLocked cancelled c.life, so a reconnect ends promptly, and
	// once it has, no new transport can appear.
	c.reconnecting.Wait()
	c.mu.Lock()
	tr := c.tr
	c.mu.Unlock()
	tr.stop()
	tr.loops.Wait()
	return err
}
