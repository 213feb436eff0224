package perf

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	amqp "tandem/client/amqp"
)

// AMQP 1.0 load (--protocol amqp), on tandem's AMQP client. A persistent
// send is a durable message on an unsettled link, confirmed by the
// broker's accepted outcome; a non-persistent one goes pre-settled,
// unconfirmed. Consumers with --ack auto attach pre-settled links (the
// broker counts a message delivered when it sends it); with client or
// client-individual they accept each message.

// amqpDefaultCredit is a consumer's link credit when --prefetch is 0.
const amqpDefaultCredit = 1000

// amqpConn is one AMQP connection of the run.
type amqpConn struct {
	c *amqp.Conn
	// ctx ends when the run closes the connection, so that a send waiting
	// for credit gives up.
	ctx    context.Context
	cancel context.CancelFunc
}

func dialAMQP(ctx context.Context, cfg *Config) (loadConn, error) {
	c, err := amqp.Dial(ctx, cfg.URL, amqp.Options{User: cfg.User, Password: cfg.Password, ConnectTimeout: cfg.ConnectTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	return &amqpConn{c: c, ctx: cctx, cancel: cancel}, nil
}

func (a *amqpConn) serverName() string { return a.c.Server() }

func (a *amqpConn) close(time.Duration) {
	a.cancel()
	_ = a.c.Close()
}

// lost turns the end of the connection into the run's error.
func (a *amqpConn) lost(r *runner, who string, index int) error {
	<-a.c.Done()
	if r.closing() {
		return nil
	}
	return fmt.Errorf("%w: %s %d: %w", ErrConnectionLost, who, index, a.c.Err())
}

// amqpProducer sends on one AMQP connection.
type amqpProducer struct {
	r     *runner
	index int
	a     *amqpConn
	dests []string

	window   chan struct{} // a token per unconfirmed send; nil when not confirmed
	lockstep bool

	mu       sync.Mutex
	pending  int
	confirmH *hdrhistogram.Histogram // under mu: outcomes arrive on the client's reader goroutine
}

func (a *amqpConn) newProducer(r *runner, index int, dests []string) loadProducer {
	p := &amqpProducer{r: r, index: index, a: a, dests: dests, confirmH: newHistogram()}
	if r.cfg.Persistent {
		p.window = make(chan struct{}, r.cfg.MaxPending)
	}
	p.lockstep = r.cfg.Persistent && r.cfg.MaxPending == 1
	return p
}

func (p *amqpProducer) lockstepped() bool { return p.lockstep }

func (p *amqpProducer) confirmHist() *hdrhistogram.Histogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.confirmH
}

func (p *amqpProducer) unconfirmed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// read waits for the connection to end: the client's own reader takes the
// outcomes.
func (p *amqpProducer) read() error { return p.a.lost(p.r, "producer", p.index) }

func (p *amqpProducer) send() error {
	cfg := p.r.cfg
	ctx := p.a.ctx
	senders := make([]*amqp.Sender, len(p.dests))
	for i, d := range p.dests {
		// A durable target for persistent messages: a broker that creates
		// the queue from the link (RabbitMQ) then makes it durable, so the
		// messages are kept on disk there too.
		s, err := p.a.c.NewSender(ctx, d, amqp.SenderOptions{Presettled: !cfg.Persistent, Durable: cfg.Persistent})
		if err != nil {
			return p.fail(fmt.Errorf("attach a sender to %s: %w", d, err))
		}
		senders[i] = s
	}
	sched := newSchedule(cfg.Rate, cfg.Producers, p.index, p.r.now())
	run := p.r.id
	st := newStamper(p.r.payload, run)
	var seq int
	for {
		if p.r.stopped() || !p.r.takeBudget() {
			return nil
		}
		due, wait := sched.next(p.r.now())
		if wait > 0 && !p.r.sleep(wait) {
			p.r.returnBudget()
			return nil
		}
		if p.window != nil && !p.lockstep {
			select {
			case p.window <- struct{}{}:
			case <-p.r.stop:
				p.r.returnBudget()
				return nil
			}
		}
		if cfg.Rate <= 0 {
			due = p.r.now()
		}
		seq++
		m := &amqp.Message{Durable: cfg.Persistent}
		if st.body != nil {
			m.Body = st.stamp(due)
		} else {
			m.Body = p.r.payload
			m.Properties = []amqp.Property{{Key: hdrRun, Value: run}, {Key: hdrDue, Value: int64(due)}}
		}
		s := senders[seq%len(senders)]
		if p.window != nil {
			p.mu.Lock()
			p.pending++
			p.mu.Unlock()
		}
		var err error
		switch {
		case p.lockstep:
			err = s.Send(ctx, m)
			if err == nil {
				p.confirm(due)
			}
		case p.window != nil:
			err = s.SendAsync(ctx, m, func(err error) {
				if err != nil {
					p.r.fail(p.fail(err))
					p.mu.Lock()
					p.pending--
					p.mu.Unlock()
				} else {
					p.confirm(due)
				}
				<-p.window
			})
		default:
			err = s.SendAsync(ctx, m, func(error) {})
		}
		if err != nil {
			return p.fail(err)
		}
		p.r.sent.Add(1)
	}
}

// confirm records one accepted send.
func (p *amqpProducer) confirm(due time.Duration) {
	now := p.r.now()
	p.mu.Lock()
	if due >= p.r.measureFrom() {
		record(p.confirmH, now-due)
	}
	p.pending--
	p.mu.Unlock()
	p.r.confirmed.Add(1)
	p.r.touch(now)
}

func (p *amqpProducer) fail(err error) error {
	if p.r.closing() || errors.Is(err, context.Canceled) {
		return nil
	}
	if amqp.BrokerError(err) != nil {
		return fmt.Errorf("%w: producer %d: %w", ErrBroker, p.index, err)
	}
	return fmt.Errorf("%w: producer %d: %w", ErrConnectionLost, p.index, err)
}

// amqpConsumer receives on one AMQP connection, one receiver per
// destination.
type amqpConsumer struct {
	r          *runner
	index      int
	a          *amqpConn
	dests      []string
	receivers  []*amqp.Receiver
	subscribed chan struct{}

	mu   sync.Mutex
	e2eH *hdrhistogram.Histogram // under mu: one goroutine per receiver records
}

func (a *amqpConn) newConsumer(r *runner, index int, dests []string) loadConsumer {
	return &amqpConsumer{r: r, index: index, a: a, dests: dests, subscribed: make(chan struct{}), e2eH: newHistogram()}
}

func (k *amqpConsumer) subscribedCh() <-chan struct{} { return k.subscribed }

func (k *amqpConsumer) e2eHist() *hdrhistogram.Histogram {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.e2eH
}

func (k *amqpConsumer) finish() error { return nil }

// subscribe attaches the receivers; the broker has each once its attach
// is answered.
func (k *amqpConsumer) subscribe() error {
	credit := k.r.cfg.Prefetch
	if credit <= 0 {
		credit = amqpDefaultCredit
	}
	for _, d := range k.dests {
		rc, err := k.a.c.NewReceiver(k.a.ctx, d, amqp.ReceiverOptions{Credit: credit, Presettled: !k.r.cfg.Ack.acks(),
			Durable: k.r.cfg.Persistent})
		if err != nil {
			return fmt.Errorf("%w: consumer %d: attach a receiver to %s: %w", ErrBroker, k.index, d, err)
		}
		k.receivers = append(k.receivers, rc)
	}
	close(k.subscribed)
	return nil
}

// read takes messages from every receiver until the connection closes.
func (k *amqpConsumer) read() error {
	select {
	case <-k.subscribed:
	case <-k.a.c.Done():
		return k.a.lost(k.r, "consumer", k.index)
	}
	errs := make(chan error, len(k.receivers))
	for _, rc := range k.receivers {
		go func() { errs <- k.readFrom(rc) }()
	}
	for range k.receivers {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

func (k *amqpConsumer) readFrom(rc *amqp.Receiver) error {
	run := k.r.id
	acks := k.r.cfg.Ack.acks()
	for {
		d, err := rc.Receive(k.a.ctx)
		if err != nil {
			if k.r.closing() || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("%w: consumer %d: %w", ErrConnectionLost, k.index, err)
		}
		due, mine, found := readStamp(d.Body, run)
		if !found {
			v, _ := d.Property(hdrRun)
			mine = v == run
			if n, ok := d.Property(hdrDue); ok {
				if ns, ok := n.(int64); ok {
					due, found = time.Duration(ns), true
				}
			}
		}
		if mine {
			now := k.r.now()
			if found && due >= k.r.measureFrom() {
				k.mu.Lock()
				record(k.e2eH, now-due)
				k.mu.Unlock()
			}
			k.r.received.Add(1)
			k.r.touch(now)
		}
		if acks {
			if err := d.Accept(); err != nil {
				if k.r.closing() {
					return nil
				}
				return fmt.Errorf("%w: consumer %d: accept: %w", ErrConnectionLost, k.index, err)
			}
			k.r.acks.Add(1)
		}
	}
}
