package cli

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tandem/internal/config"
)

// artemisOnly lists flags of Artemis' CLI that tandem knows of but does not
// implement, per command, with what to do instead. A user who types one gets
// that answer rather than "unknown flag", which would suggest a typo.
var artemisOnly = map[string]map[string]string{
	"producer": {
		"data":        "tandem cannot read messages from an Artemis XML export; send them with --text, --message-size or --text-size",
		"serializer":  "tandem has no pluggable message serializers",
		"object-size": "tandem has no JMS ObjectMessage (Java serialization); use --message-size for a body of that many bytes",
		"properties":  "tandem's producer sets no custom properties yet; send them with a STOMP client as headers",
	},
	"consumer": {
		"data":       "tandem cannot write messages to an Artemis XML export; use --verbose to print them",
		"serializer": "tandem has no pluggable message serializers",
		"threads":    "tandem's consumer runs one consumer; start several processes for more",
	},
	"browse": {
		"data":       "tandem cannot write messages to an Artemis XML export; use --verbose to print them",
		"serializer": "tandem has no pluggable message serializers",
		"threads":    "tandem's browser runs one browser",
	},
	"create": {
		"replicated":        "tandem pairs share a store (--shared-store); replication is not supported",
		"clustered":         "tandem has no message load balancing between brokers; --static-cluster names the HA peer",
		"java-options":      "tandem is a Go binary, not a JVM",
		"aio":               "set journal-type: ASYNCIO in etc/broker.yaml (the default)",
		"nio":               "set journal-type: NIO in etc/broker.yaml",
		"mapped":            "tandem has no memory-mapped journal; journal-type is ASYNCIO or NIO",
		"http-host":         "set web.bind in etc/broker.yaml",
		"http-port":         "set web.bind in etc/broker.yaml, or use --port-offset",
		"queues":            "declare queues under addresses: in etc/broker.yaml",
		"addresses":         "declare addresses under addresses: in etc/broker.yaml",
		"no-amqp-acceptor":  "tandem serves every protocol on one port; there are no per-protocol acceptors",
		"no-stomp-acceptor": "tandem serves every protocol on one port; there are no per-protocol acceptors",
		"no-autotune":       "tandem does not tune the journal at create time",
	},
}

// unknownFlagPattern matches pflag's error for a flag it does not know.
var unknownFlagPattern = regexp.MustCompile(`^unknown (?:shorthand )?flag: (?:'(.)' in -\S+|--?([^\s=]+))`)

// flagError turns pflag's errors into answers a user can act on: a flag
// Artemis has and tandem does not is named as such, and an unknown flag
// gets the closest flags of the command as suggestions.
func flagError(cmd *cobra.Command, err error) error {
	m := unknownFlagPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	}
	name := m[1] + m[2]
	if why, ok := artemisOnly[cmd.Name()][name]; ok {
		return fmt.Errorf("--%s is an Artemis flag that tandem %s does not support: %s", name, cmd.Name(), why)
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if s := suggestFlags(name, names); len(s) > 0 {
		return fmt.Errorf("%w; did you mean %s?", err, strings.Join(s, " or "))
	}
	return fmt.Errorf("%w (see %s --help for its flags)", err, cmd.CommandPath())
}

// suggestFlags returns the flags (as --name) closest to name: those equal
// to it but for case and dashes first, then those within a small edit
// distance, at most three.
func suggestFlags(name string, candidates []string) []string {
	fold := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "")) }
	type scored struct {
		name string
		dist int
	}
	var out []scored
	limit := len(name)/4 + 2
	for _, c := range candidates {
		d := config.EditDistance(fold(name), fold(c))
		if strings.HasPrefix(c, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d <= limit {
			out = append(out, scored{c, d})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].dist != out[j].dist {
			return out[i].dist < out[j].dist
		}
		return out[i].name < out[j].name
	})
	var s []string
	for i, sc := range out {
		if i == 3 || sc.dist > out[0].dist+1 {
			break
		}
		s = append(s, "--"+sc.name)
	}
	return s
}
