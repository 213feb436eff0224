package protocol

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"tandem/internal/broker"
	"tandem/internal/listener"
)

// Identity is an authenticated client: its user name ("" for anonymous) and
// its roles, which security-settings grant permissions to.
type Identity struct {
	User  string
	Roles []string
}

// Authenticator checks a client's credentials. It is the one
// implementation behind every protocol and the web port, so a user added,
// changed or removed with `tandem user` is seen by all of them alike.
type Authenticator interface {
	// Authenticate checks login and passcode; an empty login asks for
	// anonymous access. source is the client's IP address ("" when
	// unknown), by which failed logins are throttled. An error that
	// implements Throttled() bool reporting true was refused without a
	// password check.
	Authenticate(source, login, passcode string) (Identity, error)
}

// Sessions opens broker sessions; *broker.Broker is one.
type Sessions interface {
	NewSession(info broker.SessionInfo) (*broker.Session, error)
}

// ErrTooManyConnections refuses a connection beyond a limit.
var ErrTooManyConnections = errors.New("too many connections")

// Limits holds the connection limits that apply across every protocol and
// acceptor, so a user cannot multiply its allowance by speaking several.
type Limits struct {
	perUser listener.KeyedLimit
}

// NewLimits returns limits allowing maxPerUser connections per user (0 or
// less: unlimited).
func NewLimits(maxPerUser int) *Limits {
	return &Limits{perUser: listener.KeyedLimit{Max: maxPerUser}}
}

// AcquireUser takes one of user's connection slots, returning the function
// that gives it back, or an error wrapping ErrTooManyConnections that says
// what the limit is.
func (l *Limits) AcquireUser(user string) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	release, ok := l.perUser.Acquire(user)
	if !ok {
		return nil, fmt.Errorf("%w: user %q already has %d connections open (max-connections-per-user); close one or raise the limit",
			ErrTooManyConnections, user, l.perUser.Max)
	}
	return release, nil
}

// MaxPerUser returns the per-user limit (0 or less: unlimited).
func (l *Limits) MaxPerUser() int {
	if l == nil {
		return 0
	}
	return l.perUser.Max
}

// UserConnections returns how many connections user holds.
func (l *Limits) UserConnections(user string) int {
	if l == nil {
		return 0
	}
	return l.perUser.Held(user)
}

// Env is what every adapter is built with: the parts of the server that
// are the same for every protocol. Protocol-specific settings (frame
// sizes, heart-beats) go in each adapter's own options beside it.
type Env struct {
	Broker Sessions
	Auth   Authenticator
	Limits *Limits
	// Ingest is the gate that shares the processors between connections
	// that flood the broker and everything else (ingest.go); nil admits
	// every connection at once.
	Ingest *IngestGate
	// Topology returns the live's current view of its pair, which the
	// adapter tells its clients (STOMP headers, AMQP's failover list,
	// OpenWire's ConnectionControl, MQTT 5's server reference).
	Topology func() Topology
	Logger   *slog.Logger
	// ServerName names this broker to clients, e.g. "tandem/b1".
	ServerName string
}

// SourceOf returns the IP address of a connection's peer, the key by
// which logins are throttled.
func SourceOf(c net.Conn) string {
	s := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// Throttled reports whether err is a login refused by the throttle rather
// than by a password check, which adapters log at a lower level.
func Throttled(err error) bool {
	var th interface{ Throttled() bool }
	return errors.As(err, &th) && th.Throttled()
}

// Counter counts something per protocol, for metrics: the connections
// each protocol has served since start, say.
type Counter struct {
	mu sync.Mutex
	n  map[string]uint64
}

// Add adds one for protocol p.
func (c *Counter) Add(p string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[p]++
	c.mu.Unlock()
}

// Snapshot returns the counts.
func (c *Counter) Snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}
