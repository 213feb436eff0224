package perf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"tandem/internal/wire/stomp"
)

// consumer receives on one connection, with automatic acknowledgement, from
// one or more destinations.
type consumer struct {
	r     *runner
	index int
	c     *conn
	dests []string

	subscribed chan struct{} // closed when the broker confirmed the subscriptions
	e2eH       *hdrhistogram.Histogram
}

func newConsumer(r *runner, index int, c *conn, dests []string) *consumer {
	return &consumer{r: r, index: index, c: c, dests: dests,
		subscribed: make(chan struct{}), e2eH: newHistogram()}
}

// subscribe sends one SUBSCRIBE per destination; the last asks for a
// receipt, which the broker sends after processing all of them.
func (k *consumer) subscribe() error {
	for i, d := range k.dests {
		f := &stomp.Frame{Command: stomp.CmdSubscribe}
		f.Headers.Add(stomp.HdrID, strconv.Itoa(i))
		f.Headers.Add(stomp.HdrDestination, d)
		f.Headers.Add(stomp.HdrAck, "auto")
		last := i == len(k.dests)-1
		if last {
			f.Headers.Add(stomp.HdrReceipt, "subscribed")
		}
		if err := k.c.write(f, last || k.c.w.Buffered() >= burstBytes); err != nil {
			return fmt.Errorf("%w: consumer %d: subscribe: %w", ErrConnectionLost, k.index, err)
		}
	}
	return nil
}

// read takes messages until the connection closes. A message of another
// run (left in a queue by an earlier run) is neither counted nor timed.
func (k *consumer) read() error {
	run := k.r.id
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
			if f.Headers.Value(hdrRun) != run {
				continue
			}
			now := k.r.now()
			if due, err := strconv.ParseInt(f.Headers.Value(hdrDue), 10, 64); err == nil {
				if d := time.Duration(due); d >= k.r.measureFrom() {
					record(k.e2eH, now-d)
				}
			}
			k.r.received.Add(1)
			k.r.touch(now)
		case stomp.CmdReceipt:
			if f.Headers.Value(stomp.HdrReceiptID) == "subscribed" {
				close(k.subscribed)
			}
		case stomp.CmdError:
			return fmt.Errorf("consumer %d: %w", k.index, brokerError(f))
		}
	}
}
