package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// The messaging commands (producer, consumer, browse) speak to the broker
// through the small interfaces below, never through a protocol's client
// directly. --protocol picks an entry of protocols; adding a protocol means
// writing one msgProtocol and adding it to that table, nothing else.

// msgProtocol is a protocol the messaging commands can speak.
type msgProtocol struct {
	// name is the value of --protocol.
	name string
	// dial connects as the connection flags say, reporting connection
	// events to ev.
	dial func(ctx context.Context, f *connFlags, ev connEvents) (msgConn, error)
	// checkURL, when set, validates --url in the protocol's own terms
	// (AMQP takes amqp:// and amqps://); without it the STOMP client's
	// URL rules apply, with their warnings about unknown options.
	checkURL func(url string) error
}

// protocols are the protocols the messaging commands speak, by --protocol
// value.
var protocols = map[string]msgProtocol{
	"stomp":    {name: "stomp", dial: dialSTOMP},
	"openwire": {name: "openwire", dial: dialOpenWire},
	"amqp":     {name: "amqp", dial: dialAMQP, checkURL: checkAMQPURL},
	"mqtt":     {name: "mqtt", dial: dialMQTT},
}

// defaultProtocol is the value of --protocol when it is not given.
const defaultProtocol = "stomp"

// plannedProtocols are --protocol values tandem's CLI does not speak (yet),
// with what to say to a user who asks for one.
var plannedProtocols = map[string]string{
	"core": "tandem does not speak Artemis' Core protocol; Artemis users' applications reach tandem over STOMP, AMQP, OpenWire or MQTT",
}

// lookupProtocol returns the protocol --protocol names (case-insensitive).
func lookupProtocol(name string) (msgProtocol, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if p, ok := protocols[key]; ok {
		return p, nil
	}
	var have []string
	for k := range protocols {
		have = append(have, k)
	}
	sort.Strings(have)
	if why, ok := plannedProtocols[key]; ok {
		return msgProtocol{}, fmt.Errorf("--protocol %s: %s; use --protocol %s", name, why, strings.Join(have, " or "))
	}
	return msgProtocol{}, fmt.Errorf("--protocol %q is not a protocol tandem knows; use %s", name, strings.Join(have, " or "))
}

// connEvents receives what happens to a connection, for the user to see.
type connEvents interface {
	// connected reports the broker that answered a new connection.
	connected(broker string)
	// lost reports a broken connection; reconnecting says whether the
	// connection will be re-established (a failover URL), refused whether
	// the broker closed it after refusing something the client sent.
	lost(endpoint string, err error, reconnecting, refused bool)
	// reconnected reports the broker a failover reconnected to.
	reconnected(broker string)
}

// msgConn is a connection to the broker.
type msgConn interface {
	// Broker names the broker that answered: its URL and, when the
	// protocol says, the broker's own name.
	Broker() string
	// Send sends one message; with a send window it may return before the
	// broker confirmed it (Flush waits).
	Send(ctx context.Context, dest string, body []byte, o sendOptions) error
	// Flush waits until the broker confirmed every send.
	Flush(ctx context.Context) error
	// Begin starts a transaction.
	Begin(ctx context.Context) (msgTx, error)
	// Subscribe starts receiving from dest; messages are acknowledged one
	// by one, by the caller.
	Subscribe(ctx context.Context, dest string, o subscribeOptions) (msgSub, error)
	// Browse calls fn for each message waiting on a queue, without
	// consuming it.
	Browse(ctx context.Context, dest, selector string, fn func(*msgMessage) error) error
	Close() error
}

// msgTx is a transaction: sends and acknowledgements take effect together
// at Commit.
type msgTx interface {
	Send(ctx context.Context, dest string, body []byte, o sendOptions) error
	Ack(ctx context.Context, m *msgMessage) error
	Commit(ctx context.Context) error
	Abort(ctx context.Context) error
}

// msgSub is a subscription.
type msgSub interface {
	// Receive waits for the next message until ctx ends.
	Receive(ctx context.Context) (*msgMessage, error)
}

// msgMessage is a received message, whatever the protocol.
type msgMessage struct {
	ID   string
	Body []byte
	// Size is the body's length; Oversized marks a body too big for the
	// client to hold, which is then not in Body.
	Size      int64
	Oversized bool
	// ack acknowledges the message outside a transaction.
	ack func(ctx context.Context) error
	// native is the protocol client's own message, for its msgTx.
	native any
}

// Ack acknowledges the message.
func (m *msgMessage) Ack(ctx context.Context) error { return m.ack(ctx) }

// sendOptions are the per-message settings of the producer.
type sendOptions struct {
	nonPersistent bool
	ttl           time.Duration
	group         string
	// text marks a text body (Artemis' TextMessage); otherwise bytes.
	text bool
}

// subscribeOptions are the settings of a consumer's subscription.
type subscribeOptions struct {
	selector string
	prefetch int
	// durableName makes a topic subscription durable under this name
	// (with the connection's client id).
	durableName string
}

// lineEvents prints connection events for a person at a terminal: which
// broker answered on out (as ActiveMQ Classic's "Successfully connected
// to"), losses and reconnects on errw.
type lineEvents struct {
	out, errw io.Writer
	silent    bool
	seen      map[string]bool
	lw        *lineWriter
}

func newLineEvents(out, errw io.Writer, silent bool) *lineEvents {
	return &lineEvents{out: out, errw: errw, silent: silent, seen: map[string]bool{}, lw: newLineWriter(out)}
}

func (l *lineEvents) connected(broker string) {
	if l.silent {
		return
	}
	l.lw.mu.Lock()
	defer l.lw.mu.Unlock()
	if l.seen[broker] { // several threads on one broker say it once
		return
	}
	l.seen[broker] = true
	fmt.Fprintf(l.out, "Successfully connected to %s\n", broker)
}

func (l *lineEvents) lost(endpoint string, err error, reconnecting, refused bool) {
	switch {
	case !reconnecting:
		// The command fails with the cause; saying it twice helps nobody.
	case refused:
		fmt.Fprintf(l.errw, "%s refused a request and closed the connection (%v); reconnecting\n", endpoint, err)
	default:
		fmt.Fprintf(l.errw, "connection to %s lost (%v); reconnecting to the brokers of the URL\n", endpoint, err)
	}
}

func (l *lineEvents) reconnected(broker string) {
	fmt.Fprintf(l.errw, "Successfully reconnected to %s\n", broker)
}
