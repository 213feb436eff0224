package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tandem/client"
)

type consumerOptions struct {
	conn           connFlags
	messageCount   int
	receiveTimeout time.Duration
	selector       string
	durable        string
	sleep          time.Duration
	prefetch       int
}

func init() { register(newConsumerCommand) }

func newConsumerCommand(e *env) *cobra.Command {
	var o consumerOptions
	var timeoutMs, sleepMs int
	cmd := &cobra.Command{
		Use:   "consumer",
		Short: "Receive and acknowledge messages from a destination",
		Long: `Receive messages from a destination and acknowledge each one, as Artemis'
'artemis consumer' does. Stops after --message-count messages, or when no
message arrives within --receive-timeout. Prints "Consumed: N messages".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.receiveTimeout = time.Duration(timeoutMs) * time.Millisecond
			o.sleep = time.Duration(sleepMs) * time.Millisecond
			return runConsumer(cmd.Context(), o, e)
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	fs.IntVar(&o.messageCount, "message-count", 1000, "messages to receive before stopping")
	fs.IntVar(&timeoutMs, "receive-timeout", 3000, "milliseconds to wait for a message before stopping")
	fs.StringVar(&o.selector, "filter", "", "JMS selector the messages must match")
	fs.StringVar(&o.durable, "durable-subscription-name", "", "durable topic subscription name (needs --clientID)")
	fs.IntVar(&sleepMs, "sleep", 0, "milliseconds to sleep after each message")
	fs.IntVar(&o.prefetch, "prefetch", 100, "messages the broker may send ahead of acknowledgements")
	return cmd
}

func runConsumer(ctx context.Context, o consumerOptions, e *env) error {
	conn, err := o.conn.dial(ctx, e.stderr)
	if err != nil {
		return err
	}
	defer conn.Close()
	subOpts := []client.SubscribeOption{client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(o.prefetch)}
	if o.selector != "" {
		subOpts = append(subOpts, client.WithSelector(o.selector))
	}
	if o.durable != "" {
		subOpts = append(subOpts, client.WithSubscriptionHeader("durable-subscription-name", o.durable))
	}
	sub, err := conn.Subscribe(ctx, o.conn.destination, subOpts...)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", o.conn.destination, err)
	}
	n := 0
	seen := map[string]bool{}
	var runErr error
	var bar *progress
	if !o.conn.verbose {
		bar = startProgress(e.stderr, "Consumed", o.messageCount)
	}
	for n < o.messageCount {
		rctx, cancel := context.WithTimeout(ctx, o.receiveTimeout)
		m, err := sub.Receive(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				break // nothing more within --receive-timeout
			}
			runErr = fmt.Errorf("receive from %s: %w", o.conn.destination, err)
			break
		}
		if err := m.Ack(ctx); err != nil {
			runErr = fmt.Errorf("acknowledge message %s: %w", m.MessageID, err)
			break
		}
		// Across a failover a message whose acknowledgement was lost comes
		// back redelivered; it is acknowledged again but counted once.
		if seen[m.MessageID] {
			continue
		}
		seen[m.MessageID] = true
		n++
		bar.add(1)
		if o.conn.verbose {
			fmt.Fprintf(e.stdout, "Consumer %s, thread=0 Received %s\n", o.conn.destination, preview(m.Body))
		}
		if o.sleep > 0 {
			time.Sleep(o.sleep)
		}
	}
	bar.finish()
	fmt.Fprintf(e.stdout, "Consumed: %d messages\n", n)
	return runErr
}

// preview shortens a body for one line of verbose output.
func preview(b []byte) string {
	const max = 120
	if len(b) > max {
		return fmt.Sprintf("%s... (%d bytes)", b[:max], len(b))
	}
	return string(b)
}
