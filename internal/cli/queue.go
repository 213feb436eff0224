package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tandem/internal/web"
)

func init() { register(newQueueCommand) }

func newQueueCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Show and manage a broker's queues (stat, create, delete, purge)",
		Long: `Show and manage a broker's queues through its management API.

Every subcommand takes --url as producer and consumer do and finds the
broker's HTTP port from it (client port - 61616 + 8161); with a failover
URL it uses whichever node is live. --http-url names the HTTP port directly.`,
	}
	cmd.AddCommand(newQueueStatCommand(e), newQueueCreateCommand(e), newQueueNameCommand(e, "delete"),
		newQueueNameCommand(e, "purge"))
	return cmd
}

type queueStatOptions struct {
	mgmtFlags
	queueName string
	maxRows   int
	loop      bool
	interval  time.Duration
}

func newQueueStatCommand(e *env) *cobra.Command {
	var o queueStatOptions
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Print every queue's counters, as Artemis' queue stat does",
		Example: `  tandem queue stat --url tcp://localhost:61616 --user admin --password admin
  tandem queue stat --url 'failover:(tcp://a:61616,tcp://b:61617)' --user admin --password admin --loop
  tandem queue stat --json --user admin --password admin | jq '.[].messageCount'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runQueueStat(cmd.Context(), o, e.stdout) },
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.queueName, "queueName", "", "show only queues whose name contains this text")
	cmd.Flags().IntVar(&o.maxRows, "maxRows", 50, "print at most this many queues (0 = all)")
	cmd.Flags().BoolVar(&o.loop, "loop", false, "repeat every --interval until interrupted")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "time between two rounds of --loop")
	return cmd
}

func runQueueStat(ctx context.Context, o queueStatOptions, out io.Writer) error {
	if o.interval <= 0 {
		return fmt.Errorf("--interval %v must be positive", o.interval)
	}
	for {
		if err := queueStatOnce(ctx, o, out); err != nil {
			return err
		}
		if !o.loop {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends a loop normally
		case <-time.After(o.interval):
		}
	}
}

func queueStatOnce(ctx context.Context, o queueStatOptions, out io.Writer) error {
	c, err := o.live(ctx)
	if err != nil {
		return err
	}
	var qs []web.QueueJSON
	if err := c.do(ctx, http.MethodGet, "/api/queues", nil, &qs); err != nil {
		return err
	}
	shown := qs[:0]
	for _, q := range qs {
		if strings.Contains(q.Name, o.queueName) {
			shown = append(shown, q)
		}
	}
	more := 0
	if o.maxRows > 0 && len(shown) > o.maxRows {
		more = len(shown) - o.maxRows
		shown = shown[:o.maxRows]
	}
	if o.json {
		return printJSON(out, shown)
	}
	if o.loop {
		fmt.Fprintf(out, "%s  %s\n", time.Now().Format(time.TimeOnly), c.base)
	}
	rows := [][]string{{"NAME", "ADDRESS", "CONSUMER_COUNT", "MESSAGE_COUNT", "MESSAGES_ADDED", "DELIVERING_COUNT",
		"MESSAGES_ACKED", "SCHEDULED_COUNT", "ROUTING_TYPE"}}
	for _, q := range shown {
		rows = append(rows, []string{q.Name, q.Address, strconv.Itoa(q.ConsumerCount), strconv.Itoa(q.MessageCount),
			strconv.FormatUint(q.MessagesAdded, 10), strconv.Itoa(q.DeliveringCount),
			strconv.FormatUint(q.MessagesAcknowledged, 10), strconv.Itoa(q.ScheduledCount), q.RoutingType})
	}
	printPipeTable(out, rows)
	if more > 0 {
		fmt.Fprintf(out, "%d more queues not shown; raise --maxRows or narrow with --queueName\n", more)
	}
	return nil
}

// printPipeTable prints rows in Artemis' |A |B | layout, each column as
// wide as its widest cell plus one space, measured in terminal columns so
// that names in other scripts keep the columns in line.
func printPipeTable(out io.Writer, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteByte('|')
		for i, cell := range r {
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", widths[i]+1-displayWidth(cell)))
			b.WriteByte('|')
		}
		b.WriteByte('\n')
	}
	fmt.Fprint(out, b.String())
}

type queueCreateOptions struct {
	mgmtFlags
	name      string
	address   string
	anycast   bool
	multicast bool
	durable   bool
	filter    string
}

func newQueueCreateCommand(e *env) *cobra.Command {
	var o queueCreateOptions
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a queue (and its address when missing)",
		Example: `  tandem queue create --name orders --anycast --user admin --password admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runQueueCreate(cmd.Context(), o, e.stdout)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.name, "name", "", "queue name (required)")
	cmd.Flags().StringVar(&o.address, "address", "", "address the queue is bound to (default: the queue name)")
	cmd.Flags().BoolVar(&o.anycast, "anycast", false, "point-to-point queue (the default)")
	cmd.Flags().BoolVar(&o.multicast, "multicast", false, "subscription queue of a multicast address")
	cmd.Flags().BoolVar(&o.durable, "durable", true, "keep the queue and its persistent messages across restarts")
	cmd.Flags().StringVar(&o.filter, "filter", "", "JMS selector the queue applies to messages routed to it")
	return cmd
}

func runQueueCreate(ctx context.Context, o queueCreateOptions, out io.Writer) error {
	if o.name == "" {
		return fmt.Errorf("--name is required: tandem queue create --name NAME")
	}
	if o.anycast && o.multicast {
		return fmt.Errorf("--anycast and --multicast exclude each other; choose one")
	}
	rt := "ANYCAST"
	if o.multicast {
		rt = "MULTICAST"
	}
	c, err := o.live(ctx)
	if err != nil {
		return err
	}
	durable := o.durable
	var q web.QueueJSON
	req := web.CreateQueueRequest{Name: o.name, Address: o.address, RoutingType: rt, Durable: &durable, Filter: o.filter}
	if err := c.do(ctx, http.MethodPost, "/api/queues", req, &q); err != nil {
		return fmt.Errorf("create queue %s: %w", o.name, err)
	}
	if o.json {
		return printJSON(out, q)
	}
	fmt.Fprintf(out, "Queue %s created on address %s (%s, %s)\n", q.Name, q.Address, q.RoutingType, durableWord(q.Durable))
	return nil
}

func durableWord(d bool) string {
	if d {
		return "durable"
	}
	return "non-durable"
}

// newQueueNameCommand builds delete and purge, which take only a name.
func newQueueNameCommand(e *env, verb string) *cobra.Command {
	var o mgmtFlags
	var name string
	short := map[string]string{"delete": "Delete a queue with its messages", "purge": "Remove every waiting message of a queue"}[verb]
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Example: fmt.Sprintf("  tandem queue %s --name orders --user admin --password admin", verb),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return fmt.Errorf("--name is required: tandem queue %s --name NAME", verb)
			}
			return runQueueAction(cmd.Context(), o, verb, name, e.stdout)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&name, "name", "", "queue name (required)")
	return cmd
}

func runQueueAction(ctx context.Context, o mgmtFlags, verb, name string, out io.Writer) error {
	c, err := o.live(ctx)
	if err != nil {
		return err
	}
	var res struct {
		Removed int `json:"removed"`
	}
	if err := c.do(ctx, http.MethodPost, queuePath(name)+"/"+verb, nil, &res); err != nil {
		return fmt.Errorf("%s queue %s: %w", verb, name, err)
	}
	switch {
	case o.json:
		return printJSON(out, map[string]any{"queue": name, "action": verb, "removed": res.Removed})
	case verb == "purge":
		fmt.Fprintf(out, "Purged %d messages from queue %s\n", res.Removed, name)
	default:
		fmt.Fprintf(out, "Queue %s deleted\n", name)
	}
	return nil
}
