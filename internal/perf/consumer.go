package perf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"

	"tandem/internal/wire/stomp"
)

// SUBSCRIBE headers that bound how many unacknowledged messages a broker
// sends a subscription: ActiveMQ's, which tandem reads as well, and
// RabbitMQ's. A broker ignores the other's header. (Artemis'
// consumer-window-size counts bytes, not messages, so it is not sent.)
const (
	hdrPrefetchSize  = stomp.HdrPrefetchSize
	hdrPrefetchCount = "prefetch-count"
	hdrAckID         = "ack" // the MESSAGE header an ACK names in STOMP 1.2
)

// consumer receives on one connection, from one or more destinations,
// and acknowledges the way the run's Ack mode says.
type consumer struct {
	r     *runner
	index int
	c     *conn
	dests []string
	every int // with AckClient: acknowledge every every-th message

	subscribed chan struct{} // closed when the broker confirmed the subscriptions
	e2eH       *hdrhistogram.Histogram

	// mu guards the cumulative acknowledgements held back (AckEvery > 1),
	// which the read goroutine sets and finish sends at the end.
	mu      sync.Mutex
	held    []*stomp.Frame // per subscription: the ACK not sent yet, or nil
	unacked []int          // per subscription: messages since the last ACK
}

func newConsumer(r *runner, index int, c *conn, dests []string) *consumer {
	k := &consumer{r: r, index: index, c: c, dests: dests, every: max(r.cfg.AckEvery, 1),
		subscribed: make(chan struct{}), e2eH: newHistogram()}
	if k.every > 1 {
		k.held = make([]*stomp.Frame, len(dests))
		k.unacked = make([]int, len(dests))
	}
	return k
}

func (k *consumer) subscribedCh() <-chan struct{}    { return k.subscribed }
func (k *consumer) e2eHist() *hdrhistogram.Histogram { return k.e2eH }

// subscribe sends one SUBSCRIBE per destination; the last asks for a
// receipt, which the broker sends after processing all of them.
func (k *consumer) subscribe() error {
	for i, d := range k.dests {
		last := i == len(k.dests)-1
		// The reader may already be sending ACKs for the first
		// subscriptions: the buffer is looked at under the write lock.
		if err := k.c.writeBuffered(subscribeFrame(k.r.cfg, i, d, last), last); err != nil {
			return fmt.Errorf("%w: consumer %d: subscribe: %w", ErrConnectionLost, k.index, err)
		}
	}
	return nil
}

// subscribeFrame is the SUBSCRIBE of subscription id to dest; last asks
// for the receipt that tells the consumer all its subscriptions are in.
func subscribeFrame(cfg *Config, id int, dest string, last bool) *stomp.Frame {
	f := &stomp.Frame{Command: stomp.CmdSubscribe}
	f.Headers.Add(stomp.HdrID, strconv.Itoa(id))
	f.Headers.Add(stomp.HdrDestination, dest)
	mode := cfg.Ack
	if mode == "" {
		mode = AckAuto
	}
	f.Headers.Add(stomp.HdrAck, string(mode))
	if cfg.Prefetch > 0 {
		n := strconv.Itoa(cfg.Prefetch)
		f.Headers.Add(hdrPrefetchSize, n)
		f.Headers.Add(hdrPrefetchCount, n)
	}
	if last {
		f.Headers.Add(stomp.HdrReceipt, "subscribed")
	}
	return f
}

// ackFrame is the ACK of message m in the negotiated version: STOMP 1.2
// names the MESSAGE's ack header, 1.0 and 1.1 its message-id (and, in 1.1,
// the subscription).
func ackFrame(m *stomp.Frame, v stomp.Version) *stomp.Frame {
	f := &stomp.Frame{Command: stomp.CmdAck}
	if id, ok := m.Headers.Get(hdrAckID); ok && v >= stomp.V12 {
		f.Headers.Add(stomp.HdrID, id)
		return f
	}
	f.Headers.Add(stomp.HdrMessageID, m.Headers.Value(stomp.HdrMessageID))
	if sub, ok := m.Headers.Get(stomp.HdrSubscription); ok {
		f.Headers.Add(stomp.HdrSubscription, sub)
	}
	return f
}

// read takes messages until the connection closes. A message of another
// run (left in a queue by an earlier run) is neither counted nor timed,
// but it is acknowledged like any other: an unacknowledged one would hold
// a place in the prefetch window for the rest of the run.
func (k *consumer) read() error {
	run := k.r.id
	acks := k.r.cfg.Ack.acks()
	for {
		f, err := k.c.readFrame()
		if err != nil {
			if k.r.closing() || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) && k.r.closing() {
				return nil
			}
			return fmt.Errorf("%w: consumer %d: %w", ErrConnectionLost, k.index, err)
		}
		switch f.Command {
		case stomp.CmdMessage:
			due, mine, found := readStamp(f.Body, run)
			if !found {
				mine = f.Headers.Value(hdrRun) == run
				due, found = headerDue(f.Headers.Value(hdrDue))
			}
			if mine {
				now := k.r.now()
				if found && due >= k.r.measureFrom() {
					record(k.e2eH, now-due)
				}
				k.r.received.Add(1)
				k.r.touch(now)
			}
			if acks {
				if err := k.acknowledge(f); err != nil {
					if k.r.closing() {
						return nil
					}
					return fmt.Errorf("%w: consumer %d: ACK: %w", ErrConnectionLost, k.index, err)
				}
			}
		case stomp.CmdReceipt:
			if f.Headers.Value(stomp.HdrReceiptID) == "subscribed" {
				close(k.subscribed)
			}
		case stomp.CmdError:
			return fmt.Errorf("consumer %d: %w", k.index, brokerError(f))
		}
	}
}

// acknowledge sends the ACK of m, or holds it back when it is not the
// every-th message of its subscription. ACKs are handed to the kernel when
// the consumer has read every whole frame the broker sent so far (the
// next read may wait), so a burst of messages is acknowledged by one
// write.
func (k *consumer) acknowledge(m *stomp.Frame) error {
	ack := ackFrame(m, k.c.version)
	if k.every > 1 {
		sub, err := strconv.Atoi(m.Headers.Value(stomp.HdrSubscription))
		if err != nil || sub < 0 || sub >= len(k.held) {
			return fmt.Errorf("MESSAGE for subscription %q, which this consumer did not make", m.Headers.Value(stomp.HdrSubscription))
		}
		k.mu.Lock()
		k.unacked[sub]++
		if k.unacked[sub] < k.every {
			k.held[sub] = ack
			k.mu.Unlock()
			return k.flushIfIdle()
		}
		k.unacked[sub], k.held[sub] = 0, nil
		k.mu.Unlock()
	}
	k.r.acks.Add(1)
	return k.c.writeBuffered(ack, k.c.readDrained())
}

// flushIfIdle hands the ACKs written so far to the kernel when the next
// read may have to wait for the broker.
func (k *consumer) flushIfIdle() error {
	if !k.c.readDrained() {
		return nil
	}
	return k.c.flush()
}

// finish sends the cumulative ACKs held back, so that a run leaves no
// message unacknowledged (which a broker would deliver again later).
func (k *consumer) finish() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for i, f := range k.held {
		if f == nil {
			continue
		}
		if err := k.c.write(f, false); err != nil {
			return err
		}
		k.held[i], k.unacked[i] = nil, 0
		n++
	}
	k.r.acks.Add(int64(n))
	if n == 0 {
		return nil
	}
	return k.c.flush()
}
