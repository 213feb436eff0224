package perf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"tandem/internal/wire/stomp"
)

// Message headers the load generator adds to a message whose body is too
// short for a stamp (see stamp.go). The names are Java identifiers so that
// JMS brokers keep them as message properties.
const (
	hdrRun = "tandemPerfRun" // the run's random id: a consumer ignores older runs' leftovers
	hdrDue = "tandemPerfDue" // due time on the run's monotonic clock, in ns
)

// Frames are handed to the kernel in bursts of at most this many frames or
// bytes when a producer can go on sending without waiting.
const (
	burstFrames = 16
	burstBytes  = 64 << 10
)

// pendingSend is a send waiting for its confirmation.
type pendingSend struct {
	seq uint64
	due time.Duration
}

// producer sends on one connection; its reader goroutine takes the
// confirmations.
type producer struct {
	r     *runner
	index int
	c     *conn
	dests []string

	// window holds one token per unconfirmed send; nil when sends are not
	// confirmed.
	window chan struct{}
	// lockstep is set when each send is confirmed before the next
	// (--max-pending 1, no transactions): the sending goroutine then reads
	// each receipt itself, and the producer has no reader goroutine. A
	// hand-off from a reader goroutine would add a wake-up to every round
	// trip, which on a machine whose idle cores sleep is a measurable part
	// of it, and the figure is the broker's, not the load generator's.
	lockstep bool

	mu      sync.Mutex
	pending []pendingSend // in send order; pending[head:] are unconfirmed
	head    int

	confirmH *hdrhistogram.Histogram // owned by the reader goroutine
}

func newProducer(r *runner, index int, c *conn, dests []string) *producer {
	p := &producer{r: r, index: index, c: c, dests: dests, confirmH: newHistogram()}
	if r.cfg.confirmed() {
		p.window = make(chan struct{}, r.cfg.MaxPending)
		p.pending = make([]pendingSend, 0, r.cfg.MaxPending)
	}
	p.lockstep = r.cfg.Persistent && r.cfg.TxBatch == 0 && r.cfg.MaxPending == 1
	return p
}

// send runs the producer until the run stops sending or the message budget
// is spent, then commits an open transaction and flushes.
func (p *producer) send() error {
	cfg := p.r.cfg
	sched := newSchedule(cfg.Rate, cfg.Producers, p.index, p.r.now())
	run := p.r.id
	st := newStamper(p.r.payload, run)
	f := &stomp.Frame{Command: stomp.CmdSend, Body: p.r.payload}
	var (
		seq     uint64
		inTx    int
		txID    string
		txCount int
		unflush int
		scratch []byte
		// Outside transactions, each persistent SEND asks for its own
		// receipt; inside, the COMMIT confirms the batch.
		perSend = cfg.Persistent && cfg.TxBatch == 0
	)
	flush := func() error {
		if unflush == 0 {
			return nil
		}
		unflush = 0
		return p.c.flush()
	}
	defer func() { _ = flush() }()
	for {
		if p.r.stopped() || !p.r.takeBudget() {
			break
		}
		due, wait := sched.next(p.r.now())
		if wait > 0 {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
			if !p.r.sleep(wait) {
				p.r.returnBudget()
				break
			}
		}
		if p.window != nil {
			select {
			case p.window <- struct{}{}:
			default:
				if err := flush(); err != nil {
					return p.ioError(err)
				}
				select {
				case p.window <- struct{}{}:
				case <-p.r.stop:
					p.r.returnBudget()
					return p.commitOpen(txID, inTx, seq)
				}
			}
		}
		if cfg.Rate <= 0 {
			// Without a schedule a message is due once its window has
			// room: timing it from before the wait would charge it with
			// its predecessors' confirmations as well as its own.
			due = p.r.now()
		}
		if cfg.TxBatch > 0 && inTx == 0 {
			txCount++
			txID = "tx-" + strconv.Itoa(txCount)
			if err := p.c.write(txFrame(stomp.CmdBegin, txID, ""), false); err != nil {
				return p.ioError(err)
			}
		}
		seq++
		f.Headers = f.Headers[:0]
		f.Headers.Add(stomp.HdrDestination, p.dests[int(seq)%len(p.dests)])
		if cfg.Persistent {
			// A non-persistent send carries no header: STOMP's default,
			// and RabbitMQ declares a queue from a SEND's persistent
			// header, so persistent:false on a durable queue is refused.
			f.Headers.Add(stomp.HdrPersistent, "true")
		}
		if perSend {
			scratch = strconv.AppendUint(scratch[:0], seq, 10)
			f.Headers.Add(stomp.HdrReceipt, string(scratch))
		}
		if cfg.TxBatch > 0 {
			f.Headers.Add(stomp.HdrTransaction, txID)
		}
		if st.body != nil {
			f.Body = st.stamp(due)
		} else {
			f.Headers.Add(hdrRun, run)
			scratch = strconv.AppendInt(scratch[:0], int64(due), 10)
			f.Headers.Add(hdrDue, string(scratch))
		}
		if p.window != nil {
			p.mu.Lock()
			p.pending = append(p.pending, pendingSend{seq: seq, due: due})
			p.mu.Unlock()
		}
		if err := p.c.write(f, false); err != nil {
			return p.ioError(err)
		}
		p.r.sent.Add(1)
		unflush++
		if p.lockstep {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
			if err := p.awaitReceipt(seq); err != nil {
				if errors.Is(err, errClosing) {
					return nil
				}
				return err
			}
			continue
		}
		if cfg.TxBatch > 0 {
			inTx++
			if inTx == cfg.TxBatch {
				if err := p.c.write(txFrame(stomp.CmdCommit, txID, strconv.FormatUint(seq, 10)), false); err != nil {
					return p.ioError(err)
				}
				inTx = 0
			}
		}
		if unflush >= burstFrames || p.c.w.Buffered() >= burstBytes || cfg.Rate > 0 {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
		}
	}
	return p.commitOpen(txID, inTx, seq)
}

// commitOpen commits a transaction left open when sending stopped, so that
// its sends are confirmed like the others.
func (p *producer) commitOpen(txID string, inTx int, seq uint64) error {
	if inTx == 0 {
		return nil
	}
	if err := p.c.write(txFrame(stomp.CmdCommit, txID, strconv.FormatUint(seq, 10)), true); err != nil {
		return p.ioError(err)
	}
	return nil
}

// txFrame builds BEGIN or COMMIT; receipt may be empty.
func txFrame(cmd, txID, receipt string) *stomp.Frame {
	f := &stomp.Frame{Command: cmd}
	f.Headers.Add(stomp.HdrTransaction, txID)
	if receipt != "" {
		f.Headers.Add(stomp.HdrReceipt, receipt)
	}
	return f
}

// read takes the broker's frames until the connection closes. A RECEIPT
// for send (or commit) n confirms every send up to n: brokers process one
// connection's frames in order, and a late or repeated receipt then finds
// nothing left to confirm.
func (p *producer) read() error {
	for {
		if _, err := p.readOne(); err != nil {
			if errors.Is(err, errClosing) {
				return nil
			}
			return err
		}
	}
}

// awaitReceipt takes the broker's frames until the RECEIPT that confirms
// send seq (lockstep mode).
func (p *producer) awaitReceipt(seq uint64) error {
	for {
		got, err := p.readOne()
		if err != nil {
			return err
		}
		if got >= seq {
			return nil
		}
	}
}

// errClosing reports a connection that ended because the run is ending.
var errClosing = errors.New("perf: run closing")

// readOne reads and handles one frame; confirmed is the send a RECEIPT
// confirmed up to, or zero.
func (p *producer) readOne() (confirmed uint64, err error) {
	f, err := p.c.readFrame()
	if err != nil {
		if p.r.closing() || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) && p.r.closing() {
			return 0, errClosing
		}
		return 0, fmt.Errorf("%w: producer %d: %w", ErrConnectionLost, p.index, err)
	}
	switch f.Command {
	case stomp.CmdReceipt:
		seq, err := strconv.ParseUint(f.Headers.Value(stomp.HdrReceiptID), 10, 64)
		if err != nil {
			return 0, nil // not one of ours (the DISCONNECT receipt)
		}
		p.confirm(seq)
		return seq, nil
	case stomp.CmdError:
		return 0, fmt.Errorf("producer %d: %w", p.index, brokerError(f))
	}
	return 0, nil
}

// confirm records the confirmation of every pending send up to seq and
// gives their window tokens back.
func (p *producer) confirm(seq uint64) {
	now := p.r.now()
	from := p.r.measureFrom()
	n := 0
	p.mu.Lock()
	for p.head < len(p.pending) && p.pending[p.head].seq <= seq {
		if due := p.pending[p.head].due; due >= from {
			record(p.confirmH, now-due)
		}
		p.head++
		n++
	}
	if p.head == len(p.pending) {
		p.pending, p.head = p.pending[:0], 0
	}
	p.mu.Unlock()
	for range n {
		<-p.window
	}
	p.r.confirmed.Add(int64(n))
	p.r.touch(now)
}

func (p *producer) lockstepped() bool                    { return p.lockstep }
func (p *producer) confirmHist() *hdrhistogram.Histogram { return p.confirmH }

// unconfirmed returns how many sends still wait for a confirmation.
func (p *producer) unconfirmed() int {
	if p.window == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) - p.head
}

func (p *producer) ioError(err error) error {
	if p.r.closing() {
		return nil
	}
	return fmt.Errorf("%w: producer %d: %w", ErrConnectionLost, p.index, err)
}
