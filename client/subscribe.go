package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"tandem/internal/wire/stomp"
)

// Subscription receives the messages of one destination. Messages the
// broker pushes are queued in the Subscription until Receive takes them, so
// a slow consumer never stalls the connection's other traffic (receipts,
// other subscriptions). In the client acknowledgement modes the broker's
// prefetch limit (WithPrefetch) bounds that queue; in AckAuto mode only the
// consumer's pace does.
type Subscription struct {
	c           *Conn
	id          string
	destination string
	ackMode     AckMode
	seq         uint64 // creation order, kept by a failover's re-SUBSCRIBEs
	// frame is the SUBSCRIBE frame, kept so that a failover can subscribe
	// again on a new transport with the same id and headers.
	frame *stomp.Frame
	// req is Subscribe's request; while it is pending a failover resends
	// it rather than a copy. leaving is set once Unsubscribe began, so a
	// failover does not bring the subscription back. Both are guarded by
	// c.mu.
	req     *request
	leaving bool

	mu     sync.Mutex
	queue  []*Message // queue[head:] are waiting for Receive
	head   int
	err    error         // set when the subscription ended
	notify chan struct{} // capacity 1: "something changed"
}

// Subscribe subscribes to destination (see NormalizeDestination) and
// returns once the broker confirmed the subscription.
func (c *Conn) Subscribe(ctx context.Context, destination string, opts ...SubscribeOption) (*Subscription, error) {
	var sc subConfig
	for _, o := range opts {
		o(&sc)
	}
	return c.subscribe(ctx, destination, sc)
}

// subscribe does the work of Subscribe and Browse.
func (c *Conn) subscribe(ctx context.Context, destination string, sc subConfig) (*Subscription, error) {
	dest, err := NormalizeDestination(destination)
	if err != nil {
		return nil, err
	}
	for _, h := range sc.headers {
		if h.Key == stomp.HdrID || h.Key == stomp.HdrReceipt {
			return nil, fmt.Errorf("%w: %q", ErrReservedHeader, h.Key)
		}
	}
	s := &Subscription{destination: dest, ackMode: sc.ack, notify: make(chan struct{}, 1)}
	f := &stomp.Frame{Command: stomp.CmdSubscribe}
	err = c.call(ctx, outFrame{f: f}, kindSubscribe, func(req *request) {
		// Under c.mu: the subscription is registered before SUBSCRIBE
		// goes out, since the broker may push messages before its
		// RECEIPT arrives.
		s.c, s.id, s.seq, s.frame, s.req = c, c.nextIDLocked("sub-"), c.seq, f, req
		f.Headers.Add(stomp.HdrID, s.id)
		f.Headers.Add(stomp.HdrDestination, dest)
		f.Headers.Add(stomp.HdrAck, sc.ack.String())
		if sc.prefetch > 0 {
			f.Headers.Add(stomp.HdrPrefetchSize, strconv.Itoa(sc.prefetch))
		}
		if sc.selector != "" {
			f.Headers.Add(stomp.HdrSelector, sc.selector)
		}
		for _, h := range sc.headers {
			f.Headers.Set(h.Key, h.Value)
		}
		req.sub = s
		c.subs[s.id] = s
	})
	if err != nil {
		if s.c == nil {
			return nil, fmt.Errorf("subscribe to %s: %w", dest, err)
		}
		c.dropSubscription(s, err)
		if ctx.Err() != nil {
			// The broker may have the subscription; ask it to drop it,
			// without waiting, so its messages do not sit unacknowledged.
			c.tryEnqueue(&stomp.Frame{Command: stomp.CmdUnsubscribe, Headers: stomp.Headers{{Key: stomp.HdrID, Value: s.id}}})
		}
		return nil, fmt.Errorf("subscribe to %s: %w", dest, err)
	}
	return s, nil
}

// tryEnqueue queues a best-effort frame without waiting.
func (c *Conn) tryEnqueue(f *stomp.Frame) {
	tr, err := c.current()
	if err != nil || tr == nil {
		return
	}
	tr.push(outFrame{f: f})
}

// dropSubscription forgets s and ends it with err.
func (c *Conn) dropSubscription(s *Subscription, err error) {
	c.mu.Lock()
	delete(c.subs, s.id)
	c.mu.Unlock()
	s.end(err)
}

// dispatchMessage hands a MESSAGE frame to its subscription.
func (c *Conn) dispatchMessage(tr *transport, f *stomp.Frame) {
	id := f.Headers.Value(stomp.HdrSubscription)
	c.mu.Lock()
	s := c.subs[id]
	if s != nil && s.ackMode != AckAuto && (c.tr != tr || c.outage != nil) {
		// The transport is failing: the broker will redeliver this
		// unacknowledged message on the next one.
		s = nil
	}
	c.mu.Unlock()
	if s == nil {
		// Normal right after an Unsubscribe: the broker had it in flight.
		c.log.Debug("message for no subscription dropped", "subscription", id,
			"message-id", f.Headers.Value(stomp.HdrMessageID))
		return
	}
	s.deliver(newMessage(f, s, tr))
}

// ID returns the subscription id used on the wire.
func (s *Subscription) ID() string { return s.id }

// Destination returns the destination in STOMP form (e.g. /queue/TEST).
func (s *Subscription) Destination() string { return s.destination }

// AckMode returns the subscription's acknowledgement mode.
func (s *Subscription) AckMode() AckMode { return s.ackMode }

// deliver queues m for Receive.
func (s *Subscription) deliver(m *Message) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if s.head > 0 && len(s.queue) == cap(s.queue) {
		// Slide the waiting messages to the front rather than let append
		// grow an array whose start holds only consumed slots.
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	s.signal()
}

// dropFrom removes the waiting messages that arrived on tr: after a
// failover they cannot be acknowledged, and the broker redelivers them.
func (s *Subscription) dropFrom(tr *transport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.queue[:s.head]
	for _, m := range s.queue[s.head:] {
		if m.tr != tr {
			kept = append(kept, m)
		}
	}
	clear(s.queue[len(kept):])
	s.queue = kept
}

// end stops the subscription with err; the first reason sticks.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.signal()
}

// signal wakes a Receive waiting on s, if any; a wake-up already pending
// is enough, so it never blocks.
func (s *Subscription) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Buffered returns how many received messages wait for Receive.
func (s *Subscription) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) - s.head
}

// Receive returns the next message, waiting for one until ctx ends. Once the
// subscription ended (Unsubscribe, or the Conn stopped) it still returns the
// messages already received, then the reason: ErrSubscriptionClosed, or the
// Conn's error. A failover does not end it: Receive keeps waiting while the
// Conn reconnects and subscribes again (unless the outage outlasts the URL's
// timeout option: then it returns an error wrapping ErrFailoverTimeout).
// In the client acknowledgement modes, messages that arrived before the
// failover and were not yet received are dropped; the broker redelivers
// them, marked redelivered.
func (s *Subscription) Receive(ctx context.Context) (*Message, error) {
	for {
		s.mu.Lock()
		if s.head < len(s.queue) {
			m := s.queue[s.head]
			s.queue[s.head] = nil
			s.head++
			more := s.head < len(s.queue)
			if !more {
				// Empty: reuse the array from its start.
				s.queue, s.head = s.queue[:0], 0
			}
			s.mu.Unlock()
			if more {
				// One wake-up may stand for several messages: pass it on
				// to any other goroutine waiting in Receive.
				s.signal()
			}
			return m, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			s.signal() // let other waiting receivers see the end too
			return nil, err
		}
		if err := s.c.stalled(); err != nil {
			return nil, err
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Unsubscribe tells the broker to stop the subscription and waits for its
// confirmation. Messages already received can still be taken with Receive;
// after them it returns ErrSubscriptionClosed. Unsubscribing twice is a
// no-op. While the Conn reconnects it returns at once: the new connection
// simply does not subscribe again.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	_, live := c.subs[s.id]
	down := live && c.outage != nil
	if down {
		// The connection that had the subscription is gone, and the next
		// one will not get it: there is nothing to tell a broker.
		s.leaving = true
		delete(c.subs, s.id)
	}
	c.mu.Unlock()
	if down {
		s.end(ErrSubscriptionClosed)
	}
	if !live || down {
		return nil
	}
	f := &stomp.Frame{Command: stomp.CmdUnsubscribe}
	f.Headers.Add(stomp.HdrID, s.id)
	err := c.call(ctx, outFrame{f: f}, kindUnsubscribe, func(*request) { s.leaving = true })
	c.dropSubscription(s, ErrSubscriptionClosed)
	if err != nil {
		return fmt.Errorf("unsubscribe from %s: %w", s.destination, err)
	}
	return nil
}

// Browse returns the messages of a queue without consuming them. It
// subscribes with the header browser:true; the broker sends the queue's
// messages, then a message with the header browser:end (the ActiveMQ
// convention), which ends the browse. For brokers without that marker, set
// WithBrowseTimeout.
func (c *Conn) Browse(ctx context.Context, destination string, opts ...BrowseOption) ([]*Message, error) {
	var out []*Message
	err := c.BrowseFunc(ctx, destination, func(m *Message) error {
		out = append(out, m)
		return nil
	}, opts...)
	return out, err
}

// BrowseFunc is Browse that hands each message to fn as it arrives instead
// of collecting them, for queues too large to hold in memory. An error from
// fn ends the browse and is returned. A browse survives a failover: the new
// broker starts it over and BrowseFunc skips the message ids it already
// handed to fn, which costs a few dozen bytes of memory per message.
func (c *Conn) BrowseFunc(ctx context.Context, destination string, fn func(*Message) error, opts ...BrowseOption) error {
	var bc browseConfig
	for _, o := range opts {
		o(&bc)
	}
	sc := subConfig{ack: AckAuto, selector: bc.selector}
	sc.headers.Add(stomp.HdrBrowser, "true")
	s, err := c.subscribe(ctx, destination, sc)
	if err != nil {
		return fmt.Errorf("browse: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.closeTimeout)
		defer cancel()
		s.Unsubscribe(uctx)
	}()
	// A failover re-creates the browse, and the broker starts it over; the
	// ids of the messages already handed out tell the repeats apart.
	seen := map[string]struct{}{}
	for n := 0; bc.limit == 0 || n < bc.limit; {
		m, err := receiveIdle(ctx, s, bc.idle)
		if err != nil {
			return fmt.Errorf("browse %s: %w", s.destination, err)
		}
		if m == nil || m.Headers.Value(stomp.HdrBrowser) == "end" {
			return nil
		}
		if m.MessageID != "" {
			if _, dup := seen[m.MessageID]; dup {
				continue
			}
			seen[m.MessageID] = struct{}{}
		}
		if err := fn(m); err != nil {
			return err
		}
		n++
	}
	return nil
}

// receiveIdle receives with an idle timeout; it returns (nil, nil) when the
// timeout, not ctx, ended the wait.
func receiveIdle(ctx context.Context, s *Subscription, idle time.Duration) (*Message, error) {
	if idle <= 0 {
		return s.Receive(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, idle)
	defer cancel()
	m, err := s.Receive(rctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, nil
	}
	return m, err
}
