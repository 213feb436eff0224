package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type browseOptions struct {
	conn     connFlags
	selector string
}

func init() { register(newBrowseCommand) }

func newBrowseCommand(e *env) *cobra.Command {
	var o browseOptions
	cmd := &cobra.Command{
		Use:     "browse",
		Aliases: []string{"browser"},
		Short:   "List a queue's messages without consuming them",
		Long: `List the messages waiting on a queue without consuming them, as Artemis'
'artemis browser' does. Prints which broker answered ("Successfully
connected to tcp://…", as ActiveMQ Classic does), then "Browsed: N messages".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBrowse(cmd.Context(), o, e)
		},
	}
	o.conn.register(cmd.Flags())
	cmd.Flags().StringVar(&o.selector, "filter", "", "JMS selector the listed messages must match")
	return cmd
}

func runBrowse(ctx context.Context, o browseOptions, e *env) error {
	if err := o.conn.check(e.stderr); err != nil {
		return err
	}
	conn, err := o.conn.dial(ctx, o.conn.events(e))
	if err != nil {
		return err
	}
	defer conn.Close()
	n := 0
	err = conn.Browse(ctx, o.conn.destination, o.selector, func(m *msgMessage) error {
		n++
		if o.conn.verbose {
			fmt.Fprintf(e.stdout, "Browser %s, thread=0 Browsed %s %s\n", o.conn.destination, m.ID, preview(m.Body))
		}
		return nil
	})
	fmt.Fprintf(e.stdout, "Browsed: %d messages\n", n)
	if err != nil {
		return fmt.Errorf("browse %s: %w", shown(o.conn.destination), err)
	}
	return nil
}
