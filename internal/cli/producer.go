package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

type producerOptions struct {
	conn         connFlags
	commit       commitFlags
	messageCount int
	messageSize  int
	textSize     int
	nonPersist   bool
	sleep        time.Duration
	threads      int
	ttl          time.Duration
	group        string
	text         string

	batch int // resolved --commit-interval
}

func init() { register(newProducerCommand) }

func newProducerCommand(e *env) *cobra.Command {
	var o producerOptions
	var sleepMs, ttlMs int
	cmd := &cobra.Command{
		Use:   "producer",
		Short: "Send messages to a destination",
		Long: `Send messages to a destination, as Artemis' 'artemis producer' does.

Persistent messages are sent one at a time and each is confirmed by the broker
(written to its journal) before the next; --max-pending allows that many
unconfirmed sends in flight instead. With --commit-interval N the messages go
in transactions of N. Prints which broker answered ("Successfully connected
to tcp://…", as ActiveMQ Classic does), then "Produced: N messages".

The body is "test message: N" unless --text (or Artemis' --message) gives a
text, --text-size a text of that many characters, or --message-size a bytes
body of that many bytes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.sleep = time.Duration(sleepMs) * time.Millisecond
			o.ttl = time.Duration(ttlMs) * time.Millisecond
			return runProducer(cmd.Context(), o, e)
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	o.commit.register(fs, "send")
	fs.IntVar(&o.messageCount, "message-count", 1000, "messages to send (per thread)")
	fs.IntVar(&o.messageSize, "message-size", 0, "bytes body of this many bytes (Artemis' BytesMessage); 0 sends text")
	fs.IntVar(&o.textSize, "text-size", 0, "text body of this many characters (Artemis' TextMessage of that size)")
	fs.BoolVar(&o.nonPersist, "non-persistent", false, "send non-persistent messages (not journaled, not confirmed)")
	fs.IntVar(&sleepMs, "sleep", 0, "milliseconds to sleep between messages")
	fs.IntVar(&o.threads, "threads", 1, "concurrent producers, each with its own connection")
	fs.IntVar(&o.conn.window, "max-pending", 1, "unconfirmed persistent sends allowed in flight per producer")
	fs.IntVar(&ttlMs, "msgttl", 0, "message time to live in milliseconds (0 = never expires)")
	fs.StringVar(&o.group, "group", "", "message group id (JMSXGroupID)")
	fs.StringVar(&o.text, "text", "", "body text to send instead of \"test message: N\"")
	fs.StringVar(&o.text, "message", "", "the same as --text (Artemis' name)")
	return cmd
}

// check validates the options that exclude or bound each other.
func (o *producerOptions) check() error {
	bodies := 0
	for _, set := range []bool{o.messageSize > 0, o.textSize > 0, o.text != ""} {
		if set {
			bodies++
		}
	}
	switch {
	case o.messageCount < 0 || o.threads < 1 || o.conn.window < 1:
		return errors.New("--message-count must be >= 0, --threads and --max-pending >= 1")
	case o.messageSize < 0 || o.textSize < 0:
		return errors.New("--message-size and --text-size must be positive")
	case bodies > 1:
		return errors.New("--message-size, --text-size and --text (--message) each choose the body; give one of them")
	case o.batch > 0 && o.conn.window > 1:
		return errors.New("--commit-interval and --max-pending exclude each other: a transaction is confirmed when it commits")
	}
	return nil
}

func runProducer(ctx context.Context, o producerOptions, e *env) error {
	var err error
	if o.batch, err = o.commit.resolve(e.stderr); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := o.conn.check(e.stderr); err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		total    int
		firstErr error
		wg       sync.WaitGroup
	)
	out := newLineWriter(e.stdout)
	ev := o.conn.events(e)
	var bar *progress
	if !o.conn.verbose && !o.conn.silent {
		bar = startProgress(e.stderr, "Produced", o.messageCount*o.threads)
	}
	for t := 0; t < o.threads; t++ {
		wg.Add(1)
		go func(thread int) {
			defer wg.Done()
			n, err := produce(ctx, o, thread, out, bar, ev)
			mu.Lock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}(t)
	}
	wg.Wait()
	bar.finish()
	fmt.Fprintf(e.stdout, "Produced: %d messages\n", total)
	return firstErr
}

// body returns the body of message i and whether it is text.
func (o *producerOptions) body(i int, payload []byte) ([]byte, bool) {
	switch {
	case o.messageSize > 0:
		return payload, false
	case o.textSize > 0:
		return textOfSize(i, o.textSize), true
	case o.text != "":
		return []byte(o.text), true
	}
	return []byte(fmt.Sprintf("test message: %d", i)), true
}

// textOfSize is a text of n ASCII characters that starts with the
// message's number, so that bodies differ.
func textOfSize(i, n int) []byte {
	b := []byte(fmt.Sprintf("test message: %d ", i))
	if len(b) >= n {
		return b[:n]
	}
	return append(b, strings.Repeat("x", n-len(b))...)
}

// sender is what a producer sends through: the connection, or the
// current transaction.
type sender interface {
	Send(ctx context.Context, dest string, body []byte, o sendOptions) error
}

func produce(ctx context.Context, o producerOptions, thread int, out *lineWriter, bar *progress, ev connEvents) (int, error) {
	conn, err := o.conn.dial(ctx, ev)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	so := sendOptions{nonPersistent: o.nonPersist, ttl: o.ttl, group: o.group}
	var payload []byte
	if o.messageSize > 0 {
		payload = []byte(strings.Repeat("X", o.messageSize))
	}
	var via sender = conn
	var tx msgTx
	inTx := 0
	begin := func() error {
		if o.batch == 0 {
			return nil
		}
		t, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin a transaction: %w", err)
		}
		tx, via, inTx = t, t, 0
		return nil
	}
	if err := begin(); err != nil {
		return 0, err
	}
	sent, committed := 0, 0
	for i := 0; i < o.messageCount; i++ {
		body, text := o.body(i, payload)
		so.text = text
		if err := via.Send(ctx, o.conn.destination, body, so); err != nil {
			return committed + sent, fmt.Errorf("send %d to %s failed: %w", i, shown(o.conn.destination), err)
		}
		sent++
		bar.add(1)
		if o.conn.verbose {
			if !text || len(body) > 120 {
				out.printf("Producer %s, thread=%d Sent: %d bytes\n", o.conn.destination, thread, len(body))
			} else {
				out.printf("Producer %s, thread=%d Sent: %s\n", o.conn.destination, thread, body)
			}
		}
		if tx != nil {
			if inTx++; inTx == o.batch {
				if err := tx.Commit(ctx); err != nil {
					return committed, fmt.Errorf("commit the transaction of messages %d to %d: %w", i+1-inTx, i, err)
				}
				committed, sent = committed+sent, 0
				if o.conn.verbose {
					out.printf("Producer %s, thread=%d Committed %d messages\n", o.conn.destination, thread, inTx)
				}
				if err := begin(); err != nil {
					return committed, err
				}
			}
		}
		if o.sleep > 0 {
			select {
			case <-time.After(o.sleep):
			case <-ctx.Done():
				return committed + sent, ctx.Err()
			}
		}
	}
	if tx != nil {
		if err := tx.Commit(ctx); err != nil {
			return committed, fmt.Errorf("commit the last transaction: %w", err)
		}
		return committed + sent, nil
	}
	if err := conn.Flush(ctx); err != nil {
		return sent, fmt.Errorf("waiting for the broker to confirm the last sends: %w", err)
	}
	return sent, nil
}
