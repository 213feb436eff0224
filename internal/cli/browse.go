package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"tandem/client"
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
'artemis browser' does. Prints "Browsed: N messages".`,
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
	conn, err := o.conn.dial(ctx, e.stderr)
	if err != nil {
		return err
	}
	defer conn.Close()
	var opts []client.BrowseOption
	if o.selector != "" {
		opts = append(opts, client.WithBrowseSelector(o.selector))
	}
	n := 0
	err = conn.BrowseFunc(ctx, o.conn.destination, func(m *client.Message) error {
		n++
		if o.conn.verbose {
			fmt.Fprintf(e.stdout, "Browser %s, thread=0 Browsed %s %s\n", o.conn.destination, m.MessageID, preview(m.Body))
		}
		return nil
	}, opts...)
	fmt.Fprintf(e.stdout, "Browsed: %d messages\n", n)
	if err != nil {
		return fmt.Errorf("browse %s: %w", o.conn.destination, err)
	}
	return nil
}
