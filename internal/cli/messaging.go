package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"tandem/client"
)

// connFlags are the connection flags every messaging command shares, with
// Artemis' names and defaults.
type connFlags struct {
	url         string
	user        string
	password    string
	clientID    string
	destination string
	verbose     bool
}

func (f *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "tcp://localhost:61616", "broker URL: tcp://host:port, failover:(tcp://a,tcp://b) or (tcp://a,tcp://b)?ha=true")
	fs.StringVar(&f.user, "user", "", "user name")
	fs.StringVar(&f.password, "password", "", "password")
	fs.StringVar(&f.clientID, "clientID", "", "client id (for durable subscriptions)")
	fs.StringVar(&f.destination, "destination", "queue://TEST", "destination: queue://NAME, topic://NAME, /queue/NAME, /topic/NAME or NAME")
	fs.BoolVar(&f.verbose, "verbose", false, "print a line for every message")
}

// dial connects with the shared flags; the error names the URL. Failover
// events are reported on stderr, one line each, so a user watching a
// failover sees the client reconnect.
func (f *connFlags) dial(ctx context.Context, stderr io.Writer, extra ...client.Option) (*client.Conn, error) {
	opts := []client.Option{client.WithCredentials(f.user, f.password), client.WithConnectTimeout(10 * time.Second),
		client.WithEventHandler(func(ev client.Event) {
			switch ev.Kind {
			case client.EventConnectionLost:
				fmt.Fprintf(stderr, "connection to %s lost (%v); failing over\n", ev.Endpoint, ev.Err)
			case client.EventReconnected:
				fmt.Fprintf(stderr, "reconnected to %s\n", ev.Endpoint)
			}
		})}
	if f.clientID != "" {
		opts = append(opts, client.WithClientID(f.clientID))
	}
	c, err := client.Dial(ctx, f.url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", f.url, err)
	}
	return c, nil
}
