package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"tandem/client"
	"tandem/internal/config"
)

// connFlags are the connection flags every messaging command shares, with
// Artemis' names and defaults.
type connFlags struct {
	url         string
	user        string
	password    string
	clientID    string
	destination string
	protocol    string
	verbose     bool
	silent      bool
	// window is the producer's --max-pending; other commands leave it 0.
	window int
	// durable is set by a consumer of a durable subscription, for
	// protocols whose session, not the subscription, is durable (MQTT).
	durable bool
	// proto is the protocol --protocol names, set by check.
	proto msgProtocol
}

func (f *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "tcp://localhost:61616", "broker URL: tcp://host:port, failover:(tcp://a,tcp://b) or (tcp://a,tcp://b)?ha=true")
	fs.StringVar(&f.user, "user", "", "user name")
	fs.StringVar(&f.password, "password", "", "password")
	fs.StringVar(&f.clientID, "clientID", "", "client id (for durable subscriptions)")
	fs.StringVar(&f.destination, "destination", "queue://TEST", "destination: queue://NAME, topic://NAME, /queue/NAME, /topic/NAME or NAME")
	fs.StringVar(&f.protocol, "protocol", defaultProtocol, "protocol to speak: "+strings.Join(protocolNames(), ", "))
	fs.BoolVar(&f.verbose, "verbose", false, "print a line for every message")
	fs.BoolVar(&f.silent, "silent", false, "print only the result line and errors: no progress, no \"Successfully connected\" (tandem never prompts, as Artemis does without --silent)")
}

// protocolNames lists the --protocol values, sorted.
func protocolNames() []string {
	names := make([]string, 0, len(protocols))
	for n := range protocols {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// events returns the connection event printer of a command.
func (f *connFlags) events(e *env) *lineEvents { return newLineEvents(e.stdout, e.stderr, f.silent) }

// check validates --protocol and --url before anything connects, and
// names on stderr each URL option tandem's client does not act on, so a
// typo in one is not silently ignored.
func (f *connFlags) check(stderr io.Writer) error {
	p, err := lookupProtocol(f.protocol)
	if err != nil {
		return err
	}
	if p.checkURL != nil {
		if err := p.checkURL(f.url); err != nil {
			return fmt.Errorf("--url: %w", err)
		}
		f.proto = p
		return nil
	}
	eps, uo, err := client.ParseURL(f.url)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	f.proto = p
	warnUnknownURLOptions(stderr, eps, uo)
	return nil
}

// dial connects with the shared flags through the protocol --protocol
// names; check must have passed.
func (f *connFlags) dial(ctx context.Context, ev connEvents) (msgConn, error) {
	if f.proto.dial == nil {
		return nil, errors.New("connFlags.dial before check (a tandem bug)")
	}
	c, err := f.proto.dial(ctx, f, ev)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", f.url, err)
	}
	return c, nil
}

// warnUnknownURLOptions names, once per command, each URL option the
// client does not act on, with the closest known option when one is near.
func warnUnknownURLOptions(w io.Writer, eps []client.Endpoint, o client.URLOptions) {
	known := client.URLOptionNames()
	for _, name := range client.UnknownOptions(eps, o) {
		msg := fmt.Sprintf("warning: URL option %q has no effect: tandem's client does not know it", name)
		if s := suggestOption(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintln(w, msg)
	}
}

// suggestOption returns the known option closest to name, or "".
func suggestOption(name string, known []string) string {
	best, bestDist := "", len(name)/4+2
	for _, k := range known {
		if d := config.EditDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// commitFlags are Artemis' transaction batch flags: --commit-interval and
// its deprecated spelling --txt-size.
type commitFlags struct {
	interval int
	old      int
}

func (c *commitFlags) register(fs *pflag.FlagSet, what string) {
	fs.IntVar(&c.interval, "commit-interval", 0, what+" in transactions of this many messages (0: no transactions)")
	fs.IntVar(&c.old, "txt-size", 0, "the same as --commit-interval (Artemis' deprecated name)")
	_ = fs.MarkHidden("txt-size")
}

// resolve returns the batch size, refusing both spellings at once and
// noting the deprecated one on w, as Artemis does.
func (c *commitFlags) resolve(w io.Writer) (int, error) {
	switch {
	case c.interval < 0 || c.old < 0:
		return 0, errors.New("--commit-interval must be 0 (no transactions) or a positive number of messages")
	case c.interval > 0 && c.old > 0:
		return 0, errors.New("--txt-size and --commit-interval are the same setting; give only --commit-interval")
	case c.old > 0:
		fmt.Fprintln(w, "--txt-size is deprecated (as in Artemis); use --commit-interval")
		return c.old, nil
	}
	return c.interval, nil
}

// shown shortens a destination for an error line: a name of thousands of
// characters (refused for its length, say) would bury the reason.
func shown(dest string) string {
	if r := []rune(dest); len(r) > 80 {
		return fmt.Sprintf("%s… (%d characters)", string(r[:60]), len(r))
	}
	return dest
}
