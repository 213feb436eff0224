package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"tandem/client"
)

type producerOptions struct {
	conn         connFlags
	messageCount int
	messageSize  int
	nonPersist   bool
	sleep        time.Duration
	threads      int
	window       int
	ttl          time.Duration
	group        string
	text         string
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
unconfirmed sends in flight instead. Prints "Produced: N messages".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.sleep = time.Duration(sleepMs) * time.Millisecond
			o.ttl = time.Duration(ttlMs) * time.Millisecond
			return runProducer(cmd.Context(), o, e)
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	fs.IntVar(&o.messageCount, "message-count", 1000, "messages to send (per thread)")
	fs.IntVar(&o.messageSize, "message-size", 0, "body size in bytes; 0 sends the text \"test message: N\"")
	fs.BoolVar(&o.nonPersist, "non-persistent", false, "send non-persistent messages (not journaled, not confirmed)")
	fs.IntVar(&sleepMs, "sleep", 0, "milliseconds to sleep between messages")
	fs.IntVar(&o.threads, "threads", 1, "concurrent producers, each with its own connection")
	fs.IntVar(&o.window, "max-pending", 1, "unconfirmed persistent sends allowed in flight per producer")
	fs.IntVar(&ttlMs, "msgttl", 0, "message time to live in milliseconds (0 = never expires)")
	fs.StringVar(&o.group, "group", "", "message group id (JMSXGroupID)")
	fs.StringVar(&o.text, "text", "", "body text to send instead of \"test message: N\"")
	return cmd
}

func runProducer(ctx context.Context, o producerOptions, e *env) error {
	if o.messageCount < 0 || o.threads < 1 || o.window < 1 {
		return fmt.Errorf("--message-count must be >= 0, --threads and --max-pending >= 1")
	}
	var (
		mu       sync.Mutex
		total    int
		firstErr error
		wg       sync.WaitGroup
	)
	out := newLineWriter(e.stdout)
	var bar *progress
	if !o.conn.verbose {
		bar = startProgress(e.stderr, "Produced", o.messageCount*o.threads)
	}
	for t := 0; t < o.threads; t++ {
		wg.Add(1)
		go func(thread int) {
			defer wg.Done()
			n, err := produce(ctx, o, thread, out, bar, e.stderr)
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

func produce(ctx context.Context, o producerOptions, thread int, out *lineWriter, bar *progress, stderr io.Writer) (int, error) {
	conn, err := o.conn.dial(ctx, stderr, client.WithSendWindow(o.window))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var sendOpts []client.SendOption
	if o.nonPersist {
		sendOpts = append(sendOpts, client.NonPersistent())
	}
	if o.ttl > 0 {
		sendOpts = append(sendOpts, client.WithTimeToLive(o.ttl))
	}
	if o.group != "" {
		sendOpts = append(sendOpts, client.WithHeader("JMSXGroupID", o.group))
	}
	var payload []byte
	if o.messageSize > 0 {
		payload = []byte(strings.Repeat("X", o.messageSize))
	}
	sent := 0
	for i := 0; i < o.messageCount; i++ {
		body := payload
		if body == nil {
			if o.text != "" {
				body = []byte(o.text)
			} else {
				body = []byte(fmt.Sprintf("test message: %d", i))
			}
		}
		if err := conn.Send(ctx, o.conn.destination, body, sendOpts...); err != nil {
			return sent, fmt.Errorf("send %d to %s failed: %w", i, o.conn.destination, err)
		}
		sent++
		bar.add(1)
		if o.conn.verbose {
			if o.messageSize > 0 {
				out.printf("Producer %s, thread=%d Sent: %d bytes\n", o.conn.destination, thread, len(body))
			} else {
				out.printf("Producer %s, thread=%d Sent: %s\n", o.conn.destination, thread, body)
			}
		}
		if o.sleep > 0 {
			select {
			case <-time.After(o.sleep):
			case <-ctx.Done():
				return sent, ctx.Err()
			}
		}
	}
	if err := conn.Flush(ctx); err != nil {
		return sent, fmt.Errorf("waiting for the broker to confirm the last sends: %w", err)
	}
	return sent, nil
}
