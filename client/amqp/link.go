package amqp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	wire "tandem/internal/wire/amqp"
)

// link is the state both sides of a link share.
type link struct {
	c      *Conn
	name   string
	handle uint32
	role   wire.Role

	attachedCh chan struct{}
	reply      *wire.Attach

	mu      sync.Mutex
	err     error // set once the link is detached
	doneCh  chan struct{}
	closing bool // we sent a detach

	// Sender: credit and the outcomes awaited, by delivery-id.
	credit        uint32
	deliveryCount uint32
	creditCh      chan struct{} // signalled when credit arrives
	pending       map[uint32]func(wire.DeliveryState, error)
	presettled    bool
	tagSeq        uint64

	// Receiver: deliveries, and the credit kept topped up.
	asm       wire.Assembler
	queue     []item        // under mu
	arrived   chan struct{} // signalled when queue grows
	window    uint32        // credit to keep; 0: managed by hand
	issued    uint32        // credit granted and not used
	received  uint32        // link delivery-count as we count it
	unflowed  uint32        // deliveries taken since the last flow
	drainDone chan struct{}
}

// item is what a receiver's channel carries: a delivery, or the end of a
// drain.
type item struct {
	d       *Delivery
	drained bool
}

// attach sends an attach and waits for the broker's answer.
func (c *Conn) attach(ctx context.Context, a *wire.Attach, l *link) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	l.handle = c.nextHandle
	c.nextHandle++
	a.Handle = l.handle
	c.byName[a.Name] = l
	c.mu.Unlock()
	if err := c.write(0, a); err != nil {
		return err
	}
	select {
	case <-l.attachedCh:
	case <-l.doneCh:
		return l.failure()
	case <-ctx.Done():
		return ctx.Err()
	}
	// A refusal is an attach with a null terminus followed by a detach
	// with the reason.
	if (a.Role == wire.RoleReceiver && l.reply.Source == nil) || (a.Role == wire.RoleSender && l.reply.Target == nil && l.reply.Coordinator == nil) {
		select {
		case <-l.doneCh:
			return fmt.Errorf("attach %q refused: %w", a.Name, l.failure())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func newLink(c *Conn, name string, role wire.Role) *link {
	return &link{c: c, name: name, role: role, attachedCh: make(chan struct{}), doneCh: make(chan struct{}),
		creditCh: make(chan struct{}, 1), arrived: make(chan struct{}, 1), pending: map[uint32]func(wire.DeliveryState, error){}}
}

func (l *link) attached(a *wire.Attach) {
	l.reply = a
	close(l.attachedCh)
}

// detached ends the link with err; it reports whether the broker
// detached first (so that we answer).
func (l *link) detached(err error) bool {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return false
	}
	l.err = err
	answer := !l.closing
	pending := l.pending
	l.pending = map[uint32]func(wire.DeliveryState, error){}
	l.mu.Unlock()
	for _, f := range pending {
		f(nil, err)
	}
	close(l.doneCh)
	return answer
}

func (l *link) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// flow takes the broker's flow: a sender's credit, a receiver's drain.
func (l *link) flow(f *wire.Flow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.role == wire.RoleSender {
		l.credit = f.DeliveryCount.Or(0) + f.LinkCredit.Or(0) - l.deliveryCount
		if l.credit > 0 {
			select {
			case l.creditCh <- struct{}{}:
			default:
			}
		}
		return
	}
	if f.Drain && f.LinkCredit.Or(0) == 0 {
		l.received = f.DeliveryCount.Or(l.received)
		l.issued = 0
		if l.drainDone != nil {
			close(l.drainDone)
			l.drainDone = nil
		}
		l.pushLocked(item{drained: true})
	}
}

// pushLocked queues an item for Receive.
func (l *link) pushLocked(it item) {
	l.queue = append(l.queue, it)
	select {
	case l.arrived <- struct{}{}:
	default:
	}
}

// outcomes settles our sends in [first, last].
func (l *link) outcomes(first, last uint32, state wire.DeliveryState) {
	l.mu.Lock()
	var fs []func(wire.DeliveryState, error)
	for id, f := range l.pending {
		if id-first <= last-first {
			fs = append(fs, f)
			delete(l.pending, id)
		}
	}
	l.mu.Unlock()
	for _, f := range fs {
		f(state, nil)
	}
}

// transfer takes a transfer frame for a receiver.
func (l *link) transfer(t *wire.Transfer, payload []byte) error {
	d, err := l.asm.Add(t, payload)
	if err != nil {
		return err
	}
	if d == nil {
		return nil
	}
	var m *Message
	if !d.Aborted {
		if m, err = decodeMessage(d.Payload); err != nil {
			return fmt.Errorf("message from the broker: %w", err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.received++
	if l.issued > 0 {
		l.issued--
	}
	if m != nil {
		l.pushLocked(item{d: &Delivery{Message: m, id: d.DeliveryID.Value, settled: d.Settled, l: l}})
	}
	return nil
}

// close detaches the link; with closed it also closes it (a durable
// subscription ends).
func (l *link) close(ctx context.Context, closed bool) error {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	l.mu.Unlock()
	if err := l.c.write(0, &wire.Detach{Handle: l.handle, Closed: closed}); err != nil {
		return err
	}
	select {
	case <-l.doneCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// SenderOptions configure a sender.
type SenderOptions struct {
	// Name names the link; empty means a generated one.
	Name string
	// Presettled sends at most once: no outcome is awaited.
	Presettled bool
	// Capabilities are the target's, besides those Destination derives.
	Capabilities []string
	// Durable marks the target terminus durable (configuration): a broker
	// that creates the node from the link, as RabbitMQ does for /queue/X,
	// creates a durable one. tandem's queues do not depend on it.
	Durable bool
}

// Sender sends messages to one address (or, with an empty one, to each
// message's To).
type Sender struct{ l *link }

var linkSeq sync.Mutex
var linkN uint64

func linkName(prefix string) string {
	linkSeq.Lock()
	defer linkSeq.Unlock()
	linkN++
	return fmt.Sprintf("%s-%d", prefix, linkN)
}

// NewSender attaches a sender to dest (see Destination); an empty dest is
// the anonymous relay.
func (c *Conn) NewSender(ctx context.Context, dest string, o SenderOptions) (*Sender, error) {
	name := o.Name
	if name == "" {
		name = linkName("sender")
	}
	l := newLink(c, name, wire.RoleSender)
	l.presettled = o.Presettled
	a := &wire.Attach{Name: name, Role: wire.RoleSender, Source: &wire.Source{}, InitialDeliveryCount: wire.Some(uint32(0))}
	if o.Presettled {
		a.SndSettleMode = wire.Some(wire.SenderSettleSettled)
	} else {
		a.SndSettleMode = wire.Some(wire.SenderSettleUnsettled)
	}
	if dest != "" {
		addr, caps := Destination(dest)
		a.Target = &wire.Target{Address: addr, Capabilities: symbols(append(caps, o.Capabilities...))}
		if o.Durable {
			a.Target.Durable = wire.DurableConfiguration
		}
	} else {
		a.Target = &wire.Target{}
	}
	if err := c.attach(ctx, a, l); err != nil {
		return nil, err
	}
	return &Sender{l: l}, nil
}

func symbols(ss []string) []wire.Symbol {
	if len(ss) == 0 {
		return nil
	}
	out := make([]wire.Symbol, len(ss))
	for i, s := range ss {
		out[i] = wire.Symbol(s)
	}
	return out
}

// Send sends m and waits for the broker's outcome: nil once accepted (for a
// durable message, once it is on the broker's disk), the broker's error
// when rejected.
func (s *Sender) Send(ctx context.Context, m *Message) error {
	ch := make(chan error, 1)
	if err := s.SendAsync(ctx, m, func(err error) { ch <- err }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SendAsync sends m once the link has credit and returns; done gets the
// outcome (at once for a pre-settled sender).
func (s *Sender) SendAsync(ctx context.Context, m *Message, done func(error)) error {
	return s.send(ctx, m, nil, func(st wire.DeliveryState, err error) { done(outcomeError(st, err)) })
}

// outcomeError turns a delivery state into the error a send reports.
func outcomeError(st wire.DeliveryState, err error) error {
	if err != nil {
		return err
	}
	if ts, ok := st.(*wire.TransactionalState); ok {
		st = ts.Outcome
	}
	switch st := st.(type) {
	case *wire.Accepted, nil:
		return nil
	case *wire.Rejected:
		if st.Error != nil {
			return fmt.Errorf("message rejected: %w", st.Error)
		}
		return fmt.Errorf("message rejected")
	}
	return fmt.Errorf("%w: %T", ErrNotAccepted, st)
}

// send writes one message once there is credit; state, when set, goes on
// the transfer (a transaction's).
func (s *Sender) send(ctx context.Context, m *Message, state wire.DeliveryState, done func(wire.DeliveryState, error)) error {
	payload, err := m.encode()
	if err != nil {
		return err
	}
	return s.sendRaw(ctx, payload, state, done)
}

func (s *Sender) sendRaw(ctx context.Context, payload []byte, state wire.DeliveryState, done func(wire.DeliveryState, error)) error {
	l := s.l
	c := l.c
	for {
		l.mu.Lock()
		if l.err != nil {
			l.mu.Unlock()
			return l.err
		}
		if l.credit > 0 {
			break
		}
		l.mu.Unlock()
		select {
		case <-l.creditCh:
		case <-l.doneCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.credit--
	l.deliveryCount++
	var tag [8]byte
	binary.BigEndian.PutUint64(tag[:], l.tagSeq)
	l.tagSeq++
	l.mu.Unlock()
	c.wmu.Lock()
	c.mu.Lock()
	id := c.nextDeliveryID
	c.nextDeliveryID++
	c.mu.Unlock()
	if !l.presettled {
		l.mu.Lock()
		l.pending[id] = done
		l.mu.Unlock()
	}
	var split wire.TransferSplitter
	err := split.Reset(0, &wire.Transfer{Handle: l.handle, DeliveryID: wire.Some(id), DeliveryTag: tag[:],
		MessageFormat: wire.Some(uint32(0)), Settled: l.presettled, State: state}, payload, c.w.MaxFrameSize())
	frames := uint32(0)
	for err == nil && !split.Done() {
		if err = c.w.WriteNextTransfer(&split); err == nil {
			frames++
		}
		if err == nil && c.w.Buffered() >= 256<<10 {
			err = c.flushLocked()
		}
	}
	if err == nil {
		err = c.flushLocked()
	}
	c.wmu.Unlock()
	c.mu.Lock()
	c.nextOutgoingID += frames
	c.mu.Unlock()
	if err != nil {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
		return err
	}
	if l.presettled {
		done(&wire.Accepted{}, nil)
	}
	return nil
}

// Close detaches the sender.
func (s *Sender) Close(ctx context.Context) error { return s.l.close(ctx, true) }

// ReceiverOptions configure a receiver.
type ReceiverOptions struct {
	// Name names the link (a durable subscription's name); empty means a
	// generated one.
	Name string
	// Credit is the prefetch: how many messages may be on their way;
	// default 100. Negative: none is granted until IssueCredit.
	Credit int
	// Selector is a JMS selector.
	Selector string
	// Durable makes a topic subscription durable (Qpid JMS' shape:
	// terminus durable 2, expiry never), named by the container id and
	// Name. On a queue it marks the source durable, which a broker that
	// creates the queue from the link (RabbitMQ) takes as a durable queue.
	Durable bool
	// Browse looks at a queue's messages without consuming them
	// (distribution-mode copy).
	Browse bool
	// Presettled asks the broker to send at most once.
	Presettled bool
	// Capabilities are the source's, besides those Destination derives.
	Capabilities []string
	// Dynamic asks the broker for a temporary queue (dest is ignored);
	// Address returns its name.
	Dynamic bool
}

// Receiver receives messages from one source.
type Receiver struct {
	l       *link
	address string
}

// NewReceiver attaches a receiver to dest (see Destination).
func (c *Conn) NewReceiver(ctx context.Context, dest string, o ReceiverOptions) (*Receiver, error) {
	name := o.Name
	if name == "" {
		name = linkName("receiver")
	}
	credit := o.Credit
	if credit == 0 {
		credit = 100
	}
	l := newLink(c, name, wire.RoleReceiver)
	if credit > 0 {
		l.window = uint32(credit)
	}
	l.asm.MaxMessageSize = 0
	addr, caps := Destination(dest)
	src := &wire.Source{Address: addr, Capabilities: symbols(append(caps, o.Capabilities...)), Dynamic: o.Dynamic}
	if o.Dynamic {
		src.Address = ""
	}
	if o.Selector != "" {
		src.Filter = wire.Map{{Key: wire.Symbol("jms-selector"), Value: wire.SelectorFilter(o.Selector)}}
	}
	if o.Durable {
		src.Durable, src.ExpiryPolicy = wire.DurableUnsettled, wire.ExpiryNever
	}
	if o.Browse {
		src.DistributionMode = wire.DistributionCopy
	}
	a := &wire.Attach{Name: name, Role: wire.RoleReceiver, Source: src, Target: &wire.Target{}}
	if o.Presettled {
		a.SndSettleMode = wire.Some(wire.SenderSettleSettled)
	}
	if err := c.attach(ctx, a, l); err != nil {
		return nil, err
	}
	r := &Receiver{l: l, address: addr}
	if l.reply.Source != nil {
		r.address = l.reply.Source.Address
	}
	if l.window > 0 {
		if err := r.IssueCredit(l.window); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Address returns the source's address (a dynamic node's name).
func (r *Receiver) Address() string { return r.address }

// IssueCredit lets the broker send n more messages.
func (r *Receiver) IssueCredit(n uint32) error {
	l := r.l
	l.mu.Lock()
	l.issued += n
	f := &wire.Flow{Handle: wire.Some(l.handle), DeliveryCount: wire.Some(l.received), LinkCredit: wire.Some(l.issued)}
	l.unflowed = 0
	l.mu.Unlock()
	l.c.sessionFlow(f)
	return l.c.write(0, f)
}

// ErrDrained is what Receive returns when a drain ended with no message
// left.
var ErrDrained = errors.New("amqp: receiver drained")

// Drain asks the broker to use up the receiver's credit now: what it has
// comes, then Receive returns ErrDrained.
func (r *Receiver) Drain() error {
	l := r.l
	l.mu.Lock()
	f := &wire.Flow{Handle: wire.Some(l.handle), DeliveryCount: wire.Some(l.received), LinkCredit: wire.Some(l.issued), Drain: true}
	l.mu.Unlock()
	l.c.sessionFlow(f)
	return l.c.write(0, f)
}

// Receive waits for the next message.
func (r *Receiver) Receive(ctx context.Context) (*Delivery, error) {
	l := r.l
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			it := l.queue[0]
			l.queue[0] = item{}
			l.queue = l.queue[1:]
			l.mu.Unlock()
			if it.drained {
				return nil, ErrDrained
			}
			r.taken()
			return it.d, nil
		}
		err := l.err
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-l.arrived:
		case <-l.doneCh:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// taken tops the credit up once half the window is used.
func (r *Receiver) taken() {
	l := r.l
	if l.window == 0 {
		return
	}
	l.mu.Lock()
	l.unflowed++
	need := l.unflowed >= max(l.window/2, 1)
	var n uint32
	if need {
		n = l.window - l.issued
	}
	l.mu.Unlock()
	if need && n > 0 {
		_ = r.IssueCredit(n)
	}
}

// Close detaches the receiver. With unsubscribe it closes the link, which
// ends a durable subscription; without, a durable subscription stays.
func (r *Receiver) Close(ctx context.Context, unsubscribe bool) error {
	return r.l.close(ctx, unsubscribe)
}

// Delivery is a received message with what settles it.
type Delivery struct {
	*Message
	id      uint32
	settled bool
	l       *link
}

// Accept settles the delivery as accepted (consumed).
func (d *Delivery) Accept() error { return d.settle(&wire.Accepted{}) }

// Release gives the message back unchanged.
func (d *Delivery) Release() error { return d.settle(&wire.Released{}) }

// Reject refuses the message; the broker dead-letters it.
func (d *Delivery) Reject() error { return d.settle(&wire.Rejected{}) }

// Modify gives the message back as a failed delivery.
func (d *Delivery) Modify(deliveryFailed, undeliverableHere bool) error {
	return d.settle(&wire.Modified{DeliveryFailed: deliveryFailed, UndeliverableHere: undeliverableHere})
}

func (d *Delivery) settle(state wire.DeliveryState) error {
	if d.settled {
		return nil
	}
	d.settled = true
	return d.l.c.write(0, &wire.Disposition{Role: wire.RoleReceiver, First: d.id, Settled: true, State: state})
}
