package cli

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"tandem/internal/web"
)

func init() { register(newAddressCommand) }

func newAddressCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "address",
		Short: "Show a broker's addresses",
	}
	var o mgmtFlags
	var name string
	show := &cobra.Command{
		Use:     "show",
		Short:   "List the addresses with their routing types and queues",
		Example: `  tandem address show --url tcp://localhost:61616 --user admin --password admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAddressShow(cmd.Context(), o, name, e.stdout)
		},
	}
	o.register(show.Flags())
	show.Flags().StringVar(&name, "name", "", "show only this address")
	cmd.AddCommand(show)
	return cmd
}

func runAddressShow(ctx context.Context, o mgmtFlags, name string, out io.Writer) error {
	c, err := o.live(ctx)
	if err != nil {
		return err
	}
	var as []web.AddressJSON
	if err := c.do(ctx, http.MethodGet, "/api/addresses", nil, &as); err != nil {
		return err
	}
	if name != "" {
		kept := as[:0]
		for _, a := range as {
			if a.Name == name {
				kept = append(kept, a)
			}
		}
		as = kept
	}
	if o.json {
		return printJSON(out, as)
	}
	rows := [][]string{{"NAME", "ROUTING_TYPES", "AUTO_CREATED", "QUEUES"}}
	for _, a := range as {
		auto := "false"
		if a.AutoCreated {
			auto = "true"
		}
		rows = append(rows, []string{a.Name, strings.Join(a.RoutingTypes, ","), auto, strings.Join(a.Queues, ",")})
	}
	printPipeTable(out, rows)
	return nil
}
