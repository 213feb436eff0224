package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strconv"
	"time"

	"tandem/internal/wire/stomp"
)

// Defaults for connection options.
const (
	// DefaultConnectTimeout bounds connecting to one broker: the TCP
	// connect plus the CONNECT/CONNECTED exchange.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultHeartBeat is the heart-beat interval offered in both
	// directions. Heart-beats let either side notice a peer that vanished
	// without closing the connection (a crashed host, a pulled cable).
	DefaultHeartBeat = 10 * time.Second
	// DefaultCloseTimeout bounds how long Close waits for unconfirmed sends
	// and for the broker to confirm DISCONNECT.
	DefaultCloseTimeout = 10 * time.Second
)

// Option configures a Conn at Dial.
type Option func(*config)

// config is the result of applying Options.
type config struct {
	login, passcode string
	hasCredentials  bool
	clientID        string
	host            string
	log             *slog.Logger
	window          int
	hbSend, hbRecv  time.Duration
	connectTimeout  time.Duration
	closeTimeout    time.Duration
	onEvent         func(Event)
	tls             *tls.Config
	maxMessageSize  int64
	// sleep waits between connect rounds; tests replace it to observe the
	// back-off without waiting.
	sleep func(ctx context.Context, d time.Duration) error
}

// defaultConfig returns the configuration before any Option.
func defaultConfig() config {
	return config{
		window:         1,
		hbSend:         DefaultHeartBeat,
		hbRecv:         DefaultHeartBeat,
		connectTimeout: DefaultConnectTimeout,
		closeTimeout:   DefaultCloseTimeout,
		maxMessageSize: DefaultMaxMessageSize,
		sleep:          sleepCtx,
	}
}

// WithCredentials sets the user name and password sent in CONNECT (the
// login and passcode headers).
func WithCredentials(user, pass string) Option {
	return func(c *config) { c.login, c.passcode, c.hasCredentials = user, pass, true }
}

// WithClientID sets the client id (header client-id), which brokers use to
// tie durable subscriptions to a client.
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithHost sets the host header of CONNECT (the broker's virtual host). By
// default it is the host name of the broker being connected to.
func WithHost(host string) Option { return func(c *config) { c.host = host } }

// WithLogger sets where the Conn logs connection events. Each Event is
// logged at info level with its stable name in the attribute "event"
// (connected, connection_lost, reconnecting, reconnected, failed). nil, the
// default, discards them.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithEventHandler sets a function called for every connection Event:
// the first connection, a loss, each reconnect attempt, the reconnection,
// and a reconnect that gave up. It is called on a goroutine of the client,
// one event at a time and in order; it should return quickly (events queue
// up behind it), and it may call any method of the Conn, Close included.
func WithEventHandler(fn func(Event)) Option { return func(c *config) { c.onEvent = fn } }

// WithSendWindow sets how many persistent sends may wait for their
// confirmation at once. With 1, the default, each Send waits for its own
// confirmation and returns its outcome. With n > 1, Send returns as soon as
// fewer than n sends are unconfirmed, and a failed send is reported by a
// later Send, Flush or Close. Values below 1 mean 1.
func WithSendWindow(n int) Option {
	return func(c *config) { c.window = max(n, 1) }
}

// WithHeartBeat sets the heart-beat intervals to offer: how often this
// client will send something when otherwise idle, and how often it wants
// to hear from the broker. Zero disables that direction. The broker's own
// wishes are combined with these as STOMP prescribes. Default: 10s both.
func WithHeartBeat(send, recv time.Duration) Option {
	return func(c *config) { c.hbSend, c.hbRecv = wholeMillis(send), wholeMillis(recv) }
}

// wholeMillis rounds a heart-beat interval to what the header can carry:
// whole milliseconds, at least one unless disabled. Offering exactly what
// goes on the wire keeps both sides' negotiation in agreement.
func wholeMillis(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return max(d.Truncate(time.Millisecond), time.Millisecond)
}

// WithConnectTimeout bounds connecting to one broker, including the STOMP
// handshake. Default: 10s.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.connectTimeout = d
		}
	}
}

// WithCloseTimeout bounds how long Close waits for unconfirmed sends and
// for the broker's confirmation of DISCONNECT. Default: 10s.
func WithCloseTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.closeTimeout = d
		}
	}
}

// SendOption configures one Send.
type SendOption func(*sendConfig)

// sendConfig is the result of applying SendOptions; priority -1 means unset.
type sendConfig struct {
	nonPersistent bool
	contentType   string
	priority      int
	expiration    time.Time
	dupID         string
	noDupID       bool
	headers       stomp.Headers
}

// NonPersistent sends the message as non-persistent (persistent:false): the
// broker may lose it in a crash, and the client does not wait for a
// confirmation.
func NonPersistent() SendOption { return func(s *sendConfig) { s.nonPersistent = true } }

// WithHeader adds an application header to the message. It replaces a
// header of the same name that the client would set (persistent, priority,
// ...), except receipt, transaction and content-length, which the client
// manages itself; setting those makes Send fail with ErrReservedHeader.
func WithHeader(key, value string) SendOption {
	return func(s *sendConfig) { s.headers.Add(key, value) }
}

// WithContentType sets the content-type header.
func WithContentType(ct string) SendOption { return func(s *sendConfig) { s.contentType = ct } }

// WithPriority sets the JMS priority, 0 (lowest) to 9 (highest). Values
// outside that range are clamped.
func WithPriority(n int) SendOption {
	return func(s *sendConfig) { s.priority = min(max(n, 0), 9) }
}

// WithExpiration sets when the message expires (header expires, in
// milliseconds since the Unix epoch). The zero time means never.
func WithExpiration(t time.Time) SendOption { return func(s *sendConfig) { s.expiration = t } }

// WithTimeToLive makes the message expire d from now.
func WithTimeToLive(d time.Duration) SendOption {
	return func(s *sendConfig) { s.expiration = time.Now().Add(d) }
}

// WithDuplicateID sets the duplicate-detection id (header _AMQ_DUPL_ID)
// instead of the random one the client generates for every message. The
// broker drops a second message with an id it has already seen.
func WithDuplicateID(id string) SendOption {
	return func(s *sendConfig) { s.dupID, s.noDupID = id, false }
}

// WithoutDuplicateID sends the message without a duplicate-detection id, so
// the broker cannot recognise a resend of it.
func WithoutDuplicateID() SendOption {
	return func(s *sendConfig) { s.dupID, s.noDupID = "", true }
}

// AckMode says how a subscription's messages are acknowledged.
type AckMode int

// The STOMP acknowledgement modes.
const (
	// AckAuto: the broker considers a message consumed once it sent it;
	// Message.Ack does nothing.
	AckAuto AckMode = iota
	// AckClient: Message.Ack acknowledges that message and every earlier
	// one of the subscription.
	AckClient
	// AckClientIndividual: Message.Ack acknowledges just that message.
	AckClientIndividual
)

// String returns the mode as the STOMP ack header spells it.
func (m AckMode) String() string {
	switch m {
	case AckClient:
		return "client"
	case AckClientIndividual:
		return "client-individual"
	}
	return "auto"
}

// SubscribeOption configures one Subscribe.
type SubscribeOption func(*subConfig)

// subConfig is the result of applying SubscribeOptions.
type subConfig struct {
	ack      AckMode
	prefetch int
	selector string
	headers  stomp.Headers
}

// WithAckMode sets the acknowledgement mode. Default: AckAuto.
func WithAckMode(m AckMode) SubscribeOption { return func(s *subConfig) { s.ack = m } }

// WithPrefetch sets how many unacknowledged messages the broker may push to
// this subscription ahead of Receive (header activemq.prefetchSize).
func WithPrefetch(n int) SubscribeOption { return func(s *subConfig) { s.prefetch = max(n, 0) } }

// WithSelector sets a JMS message selector (header selector), such as
// "color = 'red' AND weight > 10".
func WithSelector(sel string) SubscribeOption { return func(s *subConfig) { s.selector = sel } }

// WithSubscriptionHeader adds a header to the SUBSCRIBE frame, for broker
// extensions such as durable subscription names.
func WithSubscriptionHeader(key, value string) SubscribeOption {
	return func(s *subConfig) { s.headers.Add(key, value) }
}

// BrowseOption configures one Browse.
type BrowseOption func(*browseConfig)

// browseConfig is the result of applying BrowseOptions.
type browseConfig struct {
	idle     time.Duration
	selector string
	limit    int
}

// WithBrowseTimeout ends a browse when no message arrived for d. It is a
// fallback for brokers that do not send the browser:end marker; without it,
// Browse waits for the marker (or for its context).
func WithBrowseTimeout(d time.Duration) BrowseOption {
	return func(b *browseConfig) { b.idle = max(d, 0) }
}

// WithBrowseSelector browses only the messages matching a JMS selector.
func WithBrowseSelector(sel string) BrowseOption { return func(b *browseConfig) { b.selector = sel } }

// WithBrowseLimit stops a browse after n messages; 0 means no limit.
func WithBrowseLimit(n int) BrowseOption { return func(b *browseConfig) { b.limit = max(n, 0) } }

// millis formats a time as STOMP's milliseconds since the Unix epoch.
func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
