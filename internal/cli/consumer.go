package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tandem/client"
)

type consumerOptions struct {
	conn           connFlags
	commit         commitFlags
	messageCount   int
	receiveTimeout time.Duration
	selector       string
	durable        bool
	durableName    string
	breakOnNull    bool
	sleep          time.Duration
	prefetch       int

	batch int // resolved --commit-interval
}

// defaultSubscriptionName names a --durable subscription when
// --durable-subscription-name does not: with the client id it identifies
// the subscription, so the same command resumes it.
const defaultSubscriptionName = "tandem-consumer"

func init() { register(newConsumerCommand) }

func newConsumerCommand(e *env) *cobra.Command {
	var o consumerOptions
	var timeoutMs, sleepMs int
	cmd := &cobra.Command{
		Use:   "consumer",
		Short: "Receive and acknowledge messages from a destination",
		Long: `Receive messages from a destination and acknowledge each one, as Artemis'
'artemis consumer' does. Stops after --message-count messages, or when no
message arrives within --receive-timeout (--break-on-null, on by default in
tandem; --break-on-null=false keeps waiting, as Artemis does without it).
With --commit-interval N the acknowledgements go in transactions of N.
Prints which broker answered, then "Consumed: N messages".

--durable subscribes to a topic durably: the subscription, named by
--clientID and --durable-subscription-name (default ` + defaultSubscriptionName + `),
keeps the topic's messages while the consumer is away.`,
		Example: `  tandem consumer --destination queue://orders --message-count 10
  tandem consumer --destination topic://news --durable --clientID reader-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.receiveTimeout = time.Duration(timeoutMs) * time.Millisecond
			o.sleep = time.Duration(sleepMs) * time.Millisecond
			return runConsumer(cmd.Context(), o, e)
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	o.commit.register(fs, "acknowledge")
	fs.IntVar(&o.messageCount, "message-count", 1000, "messages to receive before stopping")
	fs.IntVar(&timeoutMs, "receive-timeout", 3000, "milliseconds to wait for a message (-1: for ever)")
	fs.BoolVar(&o.breakOnNull, "break-on-null", true, "stop when no message arrives within --receive-timeout")
	fs.StringVar(&o.selector, "filter", "", "JMS selector the messages must match")
	fs.BoolVar(&o.durable, "durable", false, "subscribe to a topic durably (needs --clientID)")
	fs.StringVar(&o.durableName, "durable-subscription-name", "", "name of the durable subscription (implies --durable; default "+defaultSubscriptionName+")")
	fs.IntVar(&sleepMs, "sleep", 0, "milliseconds to sleep after each message")
	fs.IntVar(&o.prefetch, "prefetch", 100, "messages the broker may send ahead of acknowledgements")
	return cmd
}

// subscription resolves the durable subscription options.
func (o *consumerOptions) subscription() (subscribeOptions, error) {
	so := subscribeOptions{selector: o.selector, prefetch: o.prefetch}
	if !o.durable && o.durableName == "" {
		return so, nil
	}
	if o.conn.clientID == "" {
		return so, errors.New("--durable needs --clientID: a durable subscription is identified by the client id and its name")
	}
	if !isTopic(o.conn.destination) {
		return so, fmt.Errorf("--durable applies to topics; %s is a queue, whose messages wait for a consumer anyway (use --destination topic://NAME)", o.conn.destination)
	}
	so.durableName = o.durableName
	if so.durableName == "" {
		so.durableName = defaultSubscriptionName
	}
	return so, nil
}

// isTopic reports whether a destination as users write it names a topic.
func isTopic(dest string) bool {
	d := strings.ToLower(dest)
	return strings.HasPrefix(d, "topic://") || strings.HasPrefix(d, "/topic/") || strings.HasPrefix(d, "temp-topic://")
}

// acker acknowledges received messages, one by one or in transactions of
// batch messages.
type acker struct {
	conn  msgConn
	batch int
	tx    msgTx
	n     int // acknowledged in tx
}

func (a *acker) ack(ctx context.Context, m *msgMessage) (committed bool, err error) {
	if a.batch == 0 {
		return false, m.Ack(ctx)
	}
	if a.tx == nil {
		if a.tx, err = a.conn.Begin(ctx); err != nil {
			return false, fmt.Errorf("begin a transaction: %w", err)
		}
	}
	if err := a.tx.Ack(ctx, m); err != nil {
		return false, err
	}
	if a.n++; a.n < a.batch {
		return false, nil
	}
	return true, a.commit(ctx)
}

// commit commits the open transaction, if any.
func (a *acker) commit(ctx context.Context) error {
	if a.tx == nil {
		return nil
	}
	tx, n := a.tx, a.n
	a.tx, a.n = nil, 0
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit the acknowledgements of %d messages: %w", n, err)
	}
	return nil
}

func runConsumer(ctx context.Context, o consumerOptions, e *env) error {
	var err error
	if o.batch, err = o.commit.resolve(e.stderr); err != nil {
		return err
	}
	so, err := o.subscription()
	if err != nil {
		return err
	}
	if o.receiveTimeout < 0 && o.receiveTimeout != -time.Millisecond {
		return errors.New("--receive-timeout must be a number of milliseconds, or -1 to wait for ever")
	}
	if err := o.conn.check(e.stderr); err != nil {
		return err
	}
	o.conn.durable = so.durableName != ""
	conn, err := o.conn.dial(ctx, o.conn.events(e))
	if err != nil {
		return err
	}
	defer conn.Close()
	sub, err := conn.Subscribe(ctx, o.conn.destination, so)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", shown(o.conn.destination), err)
	}
	if so.durableName != "" && !o.conn.silent {
		fmt.Fprintf(e.stdout, "Durable subscription %s of client %s on %s\n", so.durableName, o.conn.clientID, o.conn.destination)
	}
	n := 0
	seen := map[string]bool{}
	var runErr error
	var bar *progress
	if !o.conn.verbose && !o.conn.silent {
		bar = startProgress(e.stderr, "Consumed", o.messageCount)
	}
	ack := &acker{conn: conn, batch: o.batch}
	for n < o.messageCount {
		m, err := receive(ctx, sub, o.receiveTimeout)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				if o.breakOnNull {
					break // nothing more within --receive-timeout
				}
				continue
			}
			runErr = fmt.Errorf("receive from %s: %w", shown(o.conn.destination), err)
			break
		}
		if m.Oversized {
			runErr = fmt.Errorf("message %s is %d bytes, more than this consumer holds in memory (%d); it stays on %s for a client that can take it",
				m.ID, m.Size, client.DefaultMaxMessageSize, o.conn.destination)
			break
		}
		committed, err := ack.ack(ctx, m)
		if err != nil {
			runErr = fmt.Errorf("acknowledge message %s: %w", m.ID, err)
			break
		}
		// Across a failover a message whose acknowledgement was lost comes
		// back redelivered; it is acknowledged again but counted once.
		if seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		n++
		bar.add(1)
		if o.conn.verbose {
			fmt.Fprintf(e.stdout, "Consumer %s, thread=0 Received %s\n", o.conn.destination, preview(m.Body))
			if committed {
				fmt.Fprintf(e.stdout, "Consumer %s, thread=0 Committed %d acknowledgements\n", o.conn.destination, o.batch)
			}
		}
		if o.sleep > 0 {
			time.Sleep(o.sleep)
		}
	}
	if runErr == nil {
		runErr = ack.commit(ctx)
	}
	bar.finish()
	fmt.Fprintf(e.stdout, "Consumed: %d messages\n", n)
	return runErr
}

// receive waits for one message, for ever when timeout is negative.
func receive(ctx context.Context, sub msgSub, timeout time.Duration) (*msgMessage, error) {
	if timeout < 0 {
		return sub.Receive(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return sub.Receive(rctx)
}

// preview shortens a body for one line of verbose output.
func preview(b []byte) string {
	const max = 120
	if len(b) > max {
		return fmt.Sprintf("%s... (%d bytes)", b[:max], len(b))
	}
	return string(b)
}
