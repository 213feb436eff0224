package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"tandem/internal/server"
)

func init() {
	// The server reports the CLI's version in the console and the API.
	server.Version = Version
	register(newNodeCommand)
}

func newNodeCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Show which nodes of a pair are live, backup or down",
	}
	var o mgmtFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "Ask every node of --url which role it has",
		Long: `Ask every node named by --url (or --http-url) for its role and HA state.

Each node answers on its HTTP port, backups included, so this shows the
whole pair: which node is live, which waits as a backup (and for how long),
and which does not answer. It exits 0 when exactly one node is live, 1
otherwise, so scripts can use it as a check.`,
		Example: `  tandem node status --url 'failover:(tcp://localhost:61616,tcp://localhost:61617)' --user admin --password admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNodeStatus(cmd.Context(), o, e.stdout)
		},
	}
	o.register(status.Flags())
	cmd.AddCommand(status)
	return cmd
}

// nodeStatusJSON is one row of node status --json.
type nodeStatusJSON struct {
	URL     string `json:"url"`
	Status  string `json:"status"` // live, backup, down or error
	Name    string `json:"name,omitempty"`
	State   string `json:"state,omitempty"`
	Since   string `json:"since,omitempty"`
	NodeID  string `json:"nodeId,omitempty"`
	Epoch   uint64 `json:"epoch,omitempty"`
	HA      string `json:"haPolicy,omitempty"`
	Problem string `json:"problem,omitempty"`
}

func runNodeStatus(ctx context.Context, o mgmtFlags, out io.Writer) error {
	probes, err := o.probe(ctx)
	if err != nil {
		return err
	}
	rows := make([]nodeStatusJSON, 0, len(probes))
	live := 0
	for _, p := range probes {
		r := nodeStatusJSON{URL: p.base}
		var ae *apiError
		switch {
		case errors.As(p.err, &ae):
			r.Status, r.Problem = "error", ae.Error()
		case p.err != nil:
			r.Status, r.Problem = "down", p.err.Error()
		default:
			n := p.node
			r.Status, r.Name, r.State, r.Since, r.NodeID, r.Epoch, r.HA = n.Role, n.Name, n.State, n.StateSince, n.NodeID, n.Epoch, n.HAPolicy
			if n.Ready {
				live++
			} else if n.Role == "live" {
				r.Status = "starting"
			}
		}
		rows = append(rows, r)
	}
	if o.json {
		if err := printJSON(out, rows); err != nil {
			return err
		}
	} else {
		table := [][]string{{"URL", "STATUS", "NAME", "STATE", "SINCE", "EPOCH", "NODE_ID"}}
		for _, r := range rows {
			epoch := ""
			if r.Status != "down" && r.Status != "error" {
				epoch = strconv.FormatUint(r.Epoch, 10)
			}
			state := r.State
			if r.Problem != "" {
				state = r.Problem
			}
			table = append(table, []string{r.URL, r.Status, r.Name, state, r.Since, epoch, r.NodeID})
		}
		printPipeTable(out, table)
	}
	if live != 1 {
		return &exitError{code: 1, err: fmt.Errorf("%d live nodes among %d; expected exactly one", live, len(rows))}
	}
	return nil
}
