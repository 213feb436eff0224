package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"tandem/internal/wire/stomp"
)

// hdrBackups is the CONNECTED header in which a tandem broker lists the
// backups that can take over from it, as comma-separated tcp:// URLs.
const hdrBackups = "tandem-backups"

// EventKind says what happened to a Conn's connection.
type EventKind int

// The connection events, in the order a failover produces them.
const (
	// EventConnected: Dial connected to Endpoint.
	EventConnected EventKind = iota + 1
	// EventConnectionLost: the connection to Endpoint broke because of
	// Err. Without failover the Conn stops right after.
	EventConnectionLost
	// EventReconnecting: the Conn is about to try Endpoint, in round
	// Attempt (a round tries every known broker once); Err is why the
	// previous try failed, nil on the first.
	EventReconnecting
	// EventReconnected: the Conn is connected again, to Endpoint, has
	// logged in, and has queued its subscriptions and unconfirmed sends
	// ahead of anything new.
	EventReconnected
	// EventFailed: the reconnect gave up after Attempt rounds; Err is the
	// Conn's final error.
	EventFailed
)

// String returns the event's stable name, as logged in the event attribute.
func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventConnectionLost:
		return "connection_lost"
	case EventReconnecting:
		return "reconnecting"
	case EventReconnected:
		return "reconnected"
	case EventFailed:
		return "failed"
	}
	return "unknown"
}

// message is the log message of an event of kind k.
func (k EventKind) message() string {
	switch k {
	case EventConnected:
		return "connected to broker"
	case EventConnectionLost:
		return "connection to broker lost"
	case EventReconnecting:
		return "reconnecting to broker"
	case EventReconnected:
		return "reconnected to broker"
	case EventFailed:
		return "gave up reconnecting"
	}
	return "connection event"
}

// Event reports a change of a Conn's connection to the handler set with
// WithEventHandler.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Endpoint is the broker concerned, as tcp://host:port.
	Endpoint string
	// Err is the cause of a lost connection, the previous failure of a
	// reconnect, or the final error.
	Err error
	// Attempt is the connect or reconnect round, from 1.
	Attempt int
}

// eventQueue hands events to the application's handler in order, on a
// goroutine of its own, so that a slow handler delays other events but
// never the reconnect itself, and a handler may call Close.
type eventQueue struct {
	fn func(Event)

	mu      sync.Mutex
	items   []Event
	running bool // a goroutine is draining items
}

// push queues ev and starts a drainer if none runs.
func (q *eventQueue) push(ev Event) {
	if q.fn == nil {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, ev)
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	go q.drain()
}

// drain calls the handler for each queued event until none is left.
func (q *eventQueue) drain() {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.items = nil
			q.running = false
			q.mu.Unlock()
			return
		}
		ev := q.items[0]
		q.items[0] = Event{}
		q.items = q.items[1:]
		q.mu.Unlock()
		q.fn(ev)
	}
}

// emit logs ev at info with its stable name and queues it for the handler.
// tr, when set, adds the new connection's details to the log line.
func (c *Conn) emit(ev Event, tr *transport) {
	args := []any{"event", ev.Kind.String(), "url", c.url}
	if ev.Endpoint != "" {
		args = append(args, "endpoint", ev.Endpoint)
	}
	if ev.Attempt > 0 {
		args = append(args, "attempt", ev.Attempt)
	}
	if ev.Err != nil {
		args = append(args, "error", ev.Err)
	}
	if tr != nil {
		args = append(args, "version", tr.version.String(), "server", tr.server, "session", tr.session,
			"heart-beat-send", tr.sendEvery, "heart-beat-recv", tr.recvWithin)
	}
	c.log.Info(ev.Kind.message(), args...)
	c.events.push(ev)
}

// outage is one stretch of time without a transport, from the loss of one
// to the installation of the next.
type outage struct {
	ready chan struct{} // closed when a new transport is installed
	// expired is closed, and err set, when the URL's timeout passed
	// before the Conn reconnected; timer fires it.
	expired chan struct{}
	err     error
	timer   *time.Timer
	// skip is how many back-off steps to wait before the first round:
	// non-zero when the transports before died young, so a broker that
	// accepts connections and drops them at once is not hammered.
	skip int
}

// transportFailed handles the end of tr. Unless the Conn is closing or
// may not fail over, it keeps the subscriptions and unconfirmed sends,
// settles what cannot survive a new connection, and starts the reconnect;
// otherwise every waiter learns why, and the Conn stops.
func (c *Conn) transportFailed(tr *transport, cause error) {
	c.mu.Lock()
	if c.tr != tr || c.err != nil || c.outage != nil {
		c.mu.Unlock()
		tr.stop()
		return
	}
	if errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) {
		cause = fmt.Errorf("the broker closed the connection: %w", cause)
	}
	if c.failover && !c.leaving {
		out := c.beginOutageLocked(tr, cause)
		c.reconnecting.Add(1)
		c.mu.Unlock()
		tr.stop()
		go c.reconnect(tr, cause, out)
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
		err = fmt.Errorf("%w (%s): %w", ErrConnectionLost, tr.ep, cause)
	}
	leaving := c.leaving
	c.failLocked(err)
	c.mu.Unlock()
	tr.stop()
	if !leaving {
		c.emit(Event{Kind: EventConnectionLost, Endpoint: tr.ep.String(), Err: cause}, nil)
	}
}

// beginOutageLocked records that tr is lost and settles what a new
// connection cannot carry: acknowledgements (the broker redelivers those
// messages), open transactions (the broker rolled them back), commits in
// flight (their outcome is unknown) and unsubscribes (the new connection
// has no such subscription). Sends, pending subscribes and pending BEGINs
// stay, to be resent. The caller holds c.mu.
func (c *Conn) beginOutageLocked(tr *transport, cause error) *outage {
	out := &outage{ready: make(chan struct{}), expired: make(chan struct{})}
	if time.Since(tr.started) >= time.Second || tr.progress.Load() {
		c.unstable = 0
	} else {
		c.unstable++
	}
	// The first young death is forgiven: a broker shutting down right
	// after the handshake is common; a second in a row starts backing off.
	out.skip = max(c.unstable-1, 0)
	c.outage = out
	lost := fmt.Errorf("%w (%s): %w", ErrConnectionLost, tr.ep, cause)
	for _, req := range c.pending {
		switch req.kind {
		case kindSend, kindBegin:
		case kindSubscribe:
			if c.subs[req.sub.id] != req.sub {
				c.finishLocked(req, nil)
			}
		case kindCommit:
			if req.tr == nil {
				// Never handed to a transport: certainly not committed.
				c.finishLocked(req, &txFailoverError{cause: cause})
			} else {
				c.finishLocked(req, lost)
			}
		default:
			c.finishLocked(req, nil)
		}
	}
	for id, tx := range c.txs {
		if c.pending[tx.begin.id] == tx.begin {
			continue // BEGIN unconfirmed: it is resent, the transaction lives on
		}
		tx.fail(&txFailoverError{cause: cause})
		delete(c.txs, id)
	}
	for _, s := range c.subs {
		if s.ackMode != AckAuto {
			// The broker redelivers what was not acknowledged; handing
			// out the old copies too would only double the work.
			s.dropFrom(tr)
		}
	}
	if d := c.opts.SendTimeout; d > 0 {
		out.timer = time.AfterFunc(d, func() { c.expireOutage(out) })
	}
	return out
}

// expireOutage applies the URL's timeout option: every call waiting on the
// broker fails, and calls made from now on fail at once, while the
// reconnect goes on.
func (c *Conn) expireOutage(out *outage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outage != out || c.err != nil {
		return
	}
	out.err = fmt.Errorf("%w: no broker reachable for %v (the URL's timeout option); still reconnecting, and a send may or may not have been stored",
		ErrFailoverTimeout, c.opts.SendTimeout)
	close(out.expired)
	for _, req := range c.pending {
		c.finishLocked(req, out.err)
	}
	for _, s := range c.subs {
		s.signal()
	}
}

// awaitReconnect waits for the end of out, bounded by ctx, by the URL's
// timeout and by the Conn stopping.
func (c *Conn) awaitReconnect(ctx context.Context, out *outage) error {
	select {
	case <-out.ready:
		return nil
	case <-out.expired:
		c.mu.Lock()
		defer c.mu.Unlock()
		return out.err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
}

// stalled returns the timeout error while an outage has outlasted the
// URL's timeout option, else nil.
func (c *Conn) stalled() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outage != nil {
		return c.outage.err
	}
	return nil
}

// reconnect replaces the lost transport old: rounds over every known
// broker, the one just lost last, with the URL's back-off between rounds,
// until one accepts or the rounds run out. It runs on its own goroutine.
func (c *Conn) reconnect(old *transport, cause error, out *outage) {
	defer c.reconnecting.Done()
	// Both loops must be done with old before its requests are resent.
	old.loops.Wait()
	c.emit(Event{Kind: EventConnectionLost, Endpoint: old.ep.String(), Err: cause}, nil)
	var last error
	round := 1
	for ; c.rounds < 0 || round <= c.rounds; round++ {
		if n := round - 1 + out.skip; n > 0 {
			if c.cfg.sleep(c.life, backoffDelay(c.opts, n)) != nil {
				return // Close
			}
		}
		for _, ep := range c.roundEndpoints(&old.ep) {
			c.emit(Event{Kind: EventReconnecting, Endpoint: ep.String(), Attempt: round, Err: last}, nil)
			tr, err := c.connect(c.life, ep)
			if err != nil {
				if c.life.Err() != nil {
					return
				}
				last = err
				continue
			}
			c.resume(tr, out, round)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.outage != out {
		return
	}
	eps := make([]string, len(c.eps))
	for i, ep := range c.eps {
		eps[i] = ep.String()
	}
	err := &reconnectError{endpoints: eps, attempts: round - 1, last: last}
	c.failLocked(err)
	c.emit(Event{Kind: EventFailed, Err: err, Attempt: round - 1}, nil)
}

// resume installs tr after an outage and starts it with the replay: every
// live subscription's SUBSCRIBE (same id and headers, a fresh receipt),
// then every pending request in its original order. If the Conn stopped
// meanwhile, tr is closed instead.
func (c *Conn) resume(tr *transport, out *outage, round int) {
	c.mu.Lock()
	if c.err != nil || c.outage != out {
		c.mu.Unlock()
		tr.nc.Close()
		return
	}
	c.outage = nil
	if out.timer != nil {
		out.timer.Stop()
	}
	close(out.ready)
	c.installLocked(tr)
	replay := c.replayLocked(tr)
	// Emitted before the loops start, so that the event precedes any
	// loss of the new transport.
	c.emit(Event{Kind: EventReconnected, Endpoint: tr.ep.String(), Attempt: round}, tr)
	c.mu.Unlock()
	c.run(tr, replay)
}

// replayLocked builds the frames that restore the Conn's state on tr and
// marks every resent request as handed to tr. The caller holds c.mu.
func (c *Conn) replayLocked(tr *transport) []outFrame {
	reqs := make([]*request, 0, len(c.pending))
	for _, req := range c.pending {
		reqs = append(reqs, req)
	}
	slices.SortFunc(reqs, func(a, b *request) int { return cmpSeq(a.seq, b.seq) })
	subs := make([]*Subscription, 0, len(c.subs))
	for _, s := range c.subs {
		if !s.leaving && c.pending[s.req.id] != s.req {
			subs = append(subs, s)
		}
	}
	slices.SortFunc(subs, func(a, b *Subscription) int { return cmpSeq(a.seq, b.seq) })

	frames := make([]outFrame, 0, len(subs)+len(reqs))
	for _, s := range subs {
		f := &stomp.Frame{Command: s.frame.Command, Headers: slices.Clone(s.frame.Headers)}
		req := c.newRequestLocked(f, kindResubscribe)
		req.sub, req.tr = s, tr
		frames = append(frames, outFrame{f: f, req: req})
	}
	for _, req := range reqs {
		req.tr = tr
		frames = append(frames, outFrame{f: req.frame, req: req})
	}
	return frames
}

// cmpSeq orders sequence numbers.
func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// roundEndpoints returns the brokers to try in one round: all known ones,
// shuffled if the URL says randomize, with lost (the broker just lost)
// moved to the end, as ActiveMQ Classic does: it is the least likely to
// answer.
func (c *Conn) roundEndpoints(lost *Endpoint) []Endpoint {
	c.mu.Lock()
	eps := slices.Clone(c.eps)
	c.mu.Unlock()
	if c.opts.Randomize {
		rand.Shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
	}
	if lost != nil {
		if i := slices.IndexFunc(eps, func(e Endpoint) bool { return e.Addr() == lost.Addr() }); i >= 0 {
			ep := eps[i]
			eps = append(append(eps[:i], eps[i+1:]...), ep)
		}
	}
	return eps
}

// learnBackupsLocked adds the advertised backups that are not known yet
// to the endpoints. The caller holds c.mu.
func (c *Conn) learnBackupsLocked(backups []Endpoint) {
	for _, b := range backups {
		if !slices.ContainsFunc(c.eps, func(e Endpoint) bool { return e.Addr() == b.Addr() }) {
			c.eps = append(c.eps, b)
			c.log.Info("learned backup broker", "url", c.url, "backup", b.String())
		}
	}
}

// parseBackups reads a tandem-backups header sent by the broker at from.
// An entry that is not a broker URL is logged and skipped: a typo in one
// broker's configuration must not break its clients.
func (c *Conn) parseBackups(from Endpoint, v string) []Endpoint {
	var eps []Endpoint
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ep, err := parseEndpoint(part)
		if err != nil {
			c.log.Warn("ignoring a bad backup URL advertised by the broker", "endpoint", from.String(), "backup", part, "error", err)
			continue
		}
		eps = append(eps, inheritTLS(from, ep))
	}
	return eps
}

// connectionLevel reports whether an ERROR frame concerns the connection
// (the broker is shutting down, or could not serve any frame) rather than
// one request that it refused. An ERROR naming no receipt is taken as
// connection-level: nothing else tells which request it was.
func connectionLevel(be *BrokerError) bool {
	if be.ReceiptID == "" {
		return true
	}
	text := strings.ToLower(be.Message + " " + be.Body)
	for _, p := range []string{"shutting down", "shutdown", "server unavailable", "not active", "stopping"} {
		if strings.Contains(text, p) {
			return true
		}
	}
	return false
}

// maxBackoff bounds a delay whose cap the URL turned off.
const maxBackoff = time.Hour

// backoffDelay returns the wait before reconnect round n+1 (n >= 1): the
// URL's ReconnectDelay (Classic initialReconnectDelay, Artemis
// retryInterval) times BackOffMultiplier^(n-1) (Classic backOffMultiplier
// with useExponentialBackOff, Artemis retryIntervalMultiplier), capped at
// MaxReconnectDelay (maxReconnectDelay, maxRetryInterval; 0 or -1 means no
// cap).
func backoffDelay(o URLOptions, n int) time.Duration {
	if n < 1 || o.ReconnectDelay <= 0 {
		return 0
	}
	limit := o.MaxReconnectDelay
	if limit <= 0 {
		limit = maxBackoff
	}
	d := float64(o.ReconnectDelay) * math.Pow(max(o.BackOffMultiplier, 1), float64(n-1))
	if d >= float64(limit) || math.IsInf(d, 0) || math.IsNaN(d) {
		return limit
	}
	return time.Duration(d)
}

// reconnectRounds returns how many rounds a reconnect may take, -1 for
// ever: the URL's maxReconnectAttempts or reconnectAttempts. Artemis' ha=true
// with reconnectAttempts=0 still fails over once, to the backup, as the
// Artemis client does.
func reconnectRounds(o URLOptions) int {
	if o.HA && o.ReconnectAttempts == 0 {
		return 1
	}
	return o.ReconnectAttempts
}

// startupRounds returns how many rounds Dial may take, -1 for ever, at
// least one.
func startupRounds(o URLOptions) int {
	if o.InitialConnectAttempts == 0 {
		return 1
	}
	return o.InitialConnectAttempts
}

// sleepCtx waits for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
