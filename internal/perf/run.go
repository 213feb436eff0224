package perf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"tandem/client"
	"tandem/internal/procstat"
)

// dialParallelism bounds the connections opened at once, so that a run
// with thousands of connections does not overrun the broker's accept
// backlog.
const dialParallelism = 32

// runner is the state one run shares between its goroutines.
type runner struct {
	cfg     *Config
	id      string
	payload []byte
	base    time.Time // the run's monotonic clock starts here
	log     *slog.Logger

	from atomic.Int64 // measurement start on the run's clock (ns); max until the warm-up began
	last atomic.Int64 // last send, confirmation or delivery (ns)

	sent, confirmed, received atomic.Int64
	acks                      atomic.Int64 // ACK frames sent by consumers
	budget                    atomic.Int64 // messages left to send when MessageCount is set

	stop     chan struct{} // closed: producers stop sending
	stopOnce sync.Once
	quit     atomic.Bool // set before connections are closed on purpose

	errMu  sync.Mutex
	err    error
	failed chan struct{} // closed with the first error: the run ends now
}

func (r *runner) now() time.Duration         { return time.Since(r.base) }
func (r *runner) measureFrom() time.Duration { return time.Duration(r.from.Load()) }
func (r *runner) closing() bool              { return r.quit.Load() }
func (r *runner) touch(now time.Duration)    { r.last.Store(int64(now)) }

func (r *runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *runner) stopSending() { r.stopOnce.Do(func() { close(r.stop) }) }

// takeBudget claims one message of MessageCount; without a count it always
// succeeds.
func (r *runner) takeBudget() bool {
	return r.cfg.MessageCount == 0 || r.budget.Add(-1) >= 0
}

func (r *runner) returnBudget() {
	if r.cfg.MessageCount > 0 {
		r.budget.Add(1)
	}
}

// sleep waits d unless the run stops first; it reports whether it waited
// the whole time.
func (r *runner) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

// fail records the first error of the run and stops it.
func (r *runner) fail(err error) {
	if err == nil {
		return
	}
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
		close(r.failed)
	}
	r.errMu.Unlock()
	r.stopSending()
}

func (r *runner) firstErr() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// counts is a snapshot of the counters.
type counts struct {
	at                        time.Duration
	sent, confirmed, received int64
	cpu                       cpuSample // only at the window's ends
}

func (r *runner) snapshot() counts {
	return counts{at: r.now(), sent: r.sent.Load(), confirmed: r.confirmed.Load(), received: r.received.Load()}
}

// Run drives the configured load against the broker and returns the
// report. Producer i sends to destination i mod n (cycling over several
// when there are more destinations than producers); consumer j subscribes
// to destination j mod n, or to every destination d with d mod consumers = j
// when there are more destinations than consumers. On an error the report
// of what was measured so far is returned with it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.IdleEnd <= 0 {
		cfg.IdleEnd = DefaultIdleEnd
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	dests := make([]string, len(cfg.Destinations))
	for i, d := range cfg.Destinations {
		dests[i] = d
		if cfg.Protocol == ProtocolSTOMP || cfg.Protocol == ProtocolOpenWire || cfg.Protocol == "" {
			dests[i], _ = client.NormalizeDestination(d) // checked by Validate
		}
	}
	if cfg.Ack == "" {
		cfg.Ack = AckAuto
	}
	if cfg.Protocol == "" {
		cfg.Protocol = ProtocolSTOMP
	}
	if cfg.BrokerPID > 0 {
		if _, err := procstat.ReadCPU(cfg.BrokerPID); err != nil {
			return nil, fmt.Errorf("%w: --broker-pid %d: %w", ErrBadConfig, cfg.BrokerPID, err)
		}
	}
	r := &runner{cfg: &cfg, id: newRunID(), failed: make(chan struct{}), payload: makePayload(cfg.MessageSize), base: time.Now(),
		log: cfg.Logger, stop: make(chan struct{})}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.from.Store(int64(time.Duration(1<<63 - 1)))
	r.budget.Store(cfg.MessageCount)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns, server, err := dialAll(ctx, &cfg, cfg.Consumers+cfg.Producers, r.id)
	defer func() {
		r.quit.Store(true)
		for _, c := range conns {
			c.close(time.Second)
		}
	}()
	if err != nil {
		return nil, err
	}
	consumers := make([]loadConsumer, cfg.Consumers)
	producers := make([]loadProducer, cfg.Producers)
	var readers sync.WaitGroup
	for j := range consumers {
		k := conns[j].newConsumer(r, j, consumerDests(dests, j, cfg.Consumers))
		consumers[j] = k
		readers.Go(func() { r.fail(k.read()) })
		if err := k.subscribe(); err != nil {
			r.fail(err)
		}
	}
	for _, k := range consumers {
		select {
		case <-k.subscribedCh():
		case <-r.stop:
		case <-ctx.Done():
			r.fail(ctx.Err())
		}
	}
	if err := r.firstErr(); err != nil {
		return nil, err
	}

	start := r.now()
	r.touch(start)
	setup := start
	var first cpuSample
	if cfg.Warmup == 0 {
		// Measure from the first send: set before any producer starts.
		r.from.Store(int64(start))
		first = r.sampleCPU()
	}
	var senders sync.WaitGroup
	for i := range producers {
		p := conns[cfg.Consumers+i].newProducer(r, i, producerDests(dests, i, cfg.Producers))
		producers[i] = p
		if !p.lockstepped() {
			readers.Go(func() { r.fail(p.read()) })
		}
		senders.Go(func() { r.fail(p.send()) })
	}
	var allSent chan struct{} // stays nil, never ready, without producers
	if cfg.Producers > 0 {
		allSent = make(chan struct{})
		go func() { senders.Wait(); close(allSent) }()
	}

	rep := r.measure(ctx, start, first, allSent, producers, server)
	rep.SetupSeconds = setup.Seconds()
	for j, k := range consumers {
		if err := k.finish(); err != nil && r.firstErr() == nil {
			r.fail(fmt.Errorf("%w: consumer %d: ACK: %w", ErrConnectionLost, j, err))
		}
	}
	rep.TotalAcks = r.acks.Load()
	// Close before waiting for the producers: closing unblocks one stuck in
	// a write to a broker that stopped reading.
	r.quit.Store(true)
	for _, c := range conns {
		c.close(time.Second)
	}
	conns = nil
	senders.Wait()
	readers.Wait()

	if cfg.Protocol == ProtocolMQTT && !cfg.MQTTCleanSession && cfg.Consumers > 0 {
		removeMQTTSessions(context.WithoutCancel(ctx), &cfg, r.id, cfg.Consumers)
	}
	rep.SendToConfirm = summarize(merge(collect(producers, func(p loadProducer) *hdrhistogram.Histogram { return p.confirmHist() })))
	rep.EndToEnd = summarize(merge(collect(consumers, func(k loadConsumer) *hdrhistogram.Histogram { return k.e2eHist() })))
	if err := r.firstErr(); err != nil && !errors.Is(err, context.Canceled) {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if rep.Unconfirmed > 0 {
		return rep, fmt.Errorf("%w: %d sends still unconfirmed %v after the producers stopped", ErrUnconfirmed, rep.Unconfirmed, cfg.Drain)
	}
	return rep, nil
}

// measure runs the clock of a run: it starts the measurement after the
// warm-up, stops the producers when the duration is over, waits for the
// drain, prints progress, and fills the counts of the report.
func (r *runner) measure(ctx context.Context, start time.Duration, first cpuSample, allSent <-chan struct{}, producers []loadProducer, server string) *Report {
	cfg := r.cfg
	warmEnd := start + cfg.Warmup
	var begin, end counts
	warm := cfg.Warmup == 0
	if warm {
		begin = counts{at: start, cpu: first} // Run set the measurement start before the first send
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prog := newProgress(cfg.Progress)
	prev := r.snapshot()
	var stopAt, drainUntil time.Duration
	sendingDone := false
	wake := time.NewTimer(0)
	defer wake.Stop()
	failed := r.failed
	for {
		now := r.now()
		if !warm && now >= warmEnd {
			warm = true
			r.from.Store(int64(now))
			begin = r.snapshotCPU()
		}
		if warm && cfg.Duration > 0 && stopAt == 0 && now >= begin.at+cfg.Duration {
			end = r.snapshotCPU()
			stopAt = now
			r.stopSending()
			if cfg.Producers == 0 {
				sendingDone = true
			}
		}
		// The drain starts when the producers are told to stop, not when
		// they have: a producer blocked in a write to a broker that no
		// longer reads must not hold the run for ever.
		if (sendingDone || stopAt != 0) && drainUntil == 0 {
			drainUntil = now + cfg.Drain
		}
		if drainUntil != 0 && (now >= drainUntil || sendingDone && r.drained(producers, now)) {
			break
		}
		next := time.Second
		switch {
		case !warm:
			next = min(next, warmEnd-now)
		case stopAt == 0 && cfg.Duration > 0:
			next = min(next, begin.at+cfg.Duration-now)
		}
		if sendingDone {
			next = min(next, cfg.IdleEnd/10)
		}
		if drainUntil != 0 {
			next = min(next, drainUntil-now)
		}
		wake.Reset(max(next, time.Millisecond))
		select {
		case <-ctx.Done():
			r.fail(ctx.Err())
			sendingDone = true
		case <-allSent:
			allSent = nil
			sendingDone = true
			if !warm { // the message count ran out during the warm-up
				warm = true
				r.from.Store(int64(now))
				begin = r.snapshotCPU()
			}
		case <-tick.C:
			cur := r.snapshot()
			prog.update(cur, prev, phase(warm, stopAt != 0 || sendingDone))
			prev = cur
		case <-wake.C:
		case <-failed:
			// A failed run has sends that will never be confirmed:
			// waiting out the drain would only delay the error.
			failed = nil
			drainUntil = r.now()
		}
		if ctx.Err() != nil && drainUntil == 0 {
			drainUntil = r.now()
		}
	}
	prog.done()
	if stopAt == 0 {
		// Stopped by the message count: the window ends at the last
		// confirmation or delivery. (The CPU sample is taken now, so it
		// also covers the quiet end of the drain, when a broker does
		// little.)
		end = r.snapshotCPU()
		end.at = time.Duration(r.last.Load())
	}
	return r.report(server, begin, end, producers)
}

// drained reports whether the run may end before the drain time is over:
// every send confirmed and the consumers quiet for IdleEnd.
func (r *runner) drained(producers []loadProducer, now time.Duration) bool {
	for _, p := range producers {
		if p.unconfirmed() > 0 {
			return false
		}
	}
	return r.cfg.Consumers == 0 || now-time.Duration(r.last.Load()) >= r.cfg.IdleEnd
}

func phase(warm, draining bool) string {
	switch {
	case !warm:
		return "warm-up"
	case draining:
		return "draining"
	default:
		return "measuring"
	}
}

// loadConn is one connection of the run, in the protocol the run speaks:
// it makes the producer or consumer that uses it.
type loadConn interface {
	newProducer(r *runner, index int, dests []string) loadProducer
	newConsumer(r *runner, index int, dests []string) loadConsumer
	// serverName is the broker's name for itself (STOMP's server header,
	// AMQP's container-id).
	serverName() string
	close(grace time.Duration)
}

// loadProducer sends on one connection.
type loadProducer interface {
	// send runs until the run stops sending or the budget is spent.
	send() error
	// read takes the confirmations until the connection closes; it is
	// not called for a lockstepped producer, which reads its own.
	read() error
	lockstepped() bool
	// unconfirmed is how many sends wait for their confirmation (0 when
	// sends are not confirmed).
	unconfirmed() int
	confirmHist() *hdrhistogram.Histogram
}

// loadConsumer receives on one connection.
type loadConsumer interface {
	subscribe() error
	// subscribedCh is closed once the broker has every subscription.
	subscribedCh() <-chan struct{}
	// read takes messages until the connection closes.
	read() error
	// finish sends what acknowledgements were held back.
	finish() error
	e2eHist() *hdrhistogram.Histogram
}

// dialOne opens connection i of run in the run's protocol (the first
// Consumers connections are the consumers').
func dialOne(ctx context.Context, cfg *Config, i int, run string) (loadConn, error) {
	switch cfg.Protocol {
	case ProtocolAMQP:
		return dialAMQP(ctx, cfg)
	case ProtocolMQTT:
		return dialMQTT(ctx, cfg, mqttClientID(run, i), cfg.MQTTCleanSession || i >= cfg.Consumers)
	case ProtocolOpenWire:
		return dialOpenWire(ctx, cfg.URL, login{user: cfg.User, password: cfg.Password}, cfg.ConnectTimeout, nil, i)
	}
	return dial(ctx, cfg.URL, login{user: cfg.User, password: cfg.Password, vhost: cfg.VHost}, cfg.ConnectTimeout, nil)
}

// dialAll opens n connections, dialParallelism at a time, and returns them
// with the broker's name for itself.
func dialAll(ctx context.Context, cfg *Config, n int, run string) ([]loadConn, string, error) {
	conns := make([]loadConn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, dialParallelism)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialOne(ctx, cfg, i, run)
			if err == nil {
				conns[i] = c
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var ok []loadConn
	for _, c := range conns {
		if c != nil {
			ok = append(ok, c)
		}
	}
	for i, err := range errs {
		if err != nil {
			return ok, "", fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
	}
	server := ""
	if n > 0 {
		server = conns[0].serverName()
	}
	return conns, server, nil
}

// producerDests returns the destinations producer i sends to.
func producerDests(dests []string, i, producers int) []string {
	return spread(dests, i, producers)
}

// consumerDests returns the destinations consumer j subscribes to.
func consumerDests(dests []string, j, consumers int) []string {
	return spread(dests, j, consumers)
}

// spread gives member i of n its share of dests: every destination d with
// d mod n = i when there are more destinations than members, else the one
// destination i mod len(dests).
func spread(dests []string, i, n int) []string {
	if len(dests) <= n {
		return []string{dests[i%len(dests)]}
	}
	var out []string
	for d := i; d < len(dests); d += n {
		out = append(out, dests[d])
	}
	return out
}

func collect[T any](xs []T, f func(T) *hdrhistogram.Histogram) []*hdrhistogram.Histogram {
	out := make([]*hdrhistogram.Histogram, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// makePayload returns a body of n printable bytes (some brokers treat a
// body as text).
func makePayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
