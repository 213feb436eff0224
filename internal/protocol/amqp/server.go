package amqp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/listener"
	"tandem/internal/message"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/amqp"
)

// protocolName is AMQP's name in acceptors' protocols= and in metrics.
const protocolName = "AMQP"

// Defaults of Options.
const (
	DefaultMaxFrameSize     = 1 << 20
	DefaultMaxMessageSize   = 100 << 20
	DefaultIdleTimeout      = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxSessions      = 256
	DefaultMaxLinks         = 1000
	DefaultCredit           = 1000
	// DefaultMaxDestinationLength bounds an address name when
	// Options.MaxDestinationLength is 0.
	DefaultMaxDestinationLength = 1024
)

// AddressPolicy is what the address-settings say about an address that a
// link names: the routing type a link without capabilities gets when the
// address does not exist yet (default-address-routing-type), and whether a
// link may create it (auto-create-addresses).
type AddressPolicy struct {
	RoutingType message.RoutingType
	AutoCreate  bool
}

// CertificateAuthenticator maps a verified TLS client certificate to a
// user, for SASL EXTERNAL. The server's authenticator implements it when
// TLS client certificates can log in.
type CertificateAuthenticator interface {
	AuthenticateCertificate(source string, cert *x509.Certificate) (protocol.Identity, error)
}

// Options configure the AMQP server. The embedded Env is what every
// adapter shares (broker, authenticator, connection limits, topology).
type Options struct {
	protocol.Env
	// MaxFrameSize is the max-frame-size announced in the open frame:
	// the largest frame tandem reads (at least 512; default 1 MiB).
	MaxFrameSize uint32
	// MaxMessageSize bounds a message a client sends, however many frames
	// it takes (the links' max-message-size; default 100 MiB).
	MaxMessageSize uint64
	// IdleTimeout is the idle-timeout announced in the open frame: a
	// connection that sends nothing, not even an empty frame, for that
	// long is closed. Default 60 s; negative turns it off.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the time from the first byte to the open
	// frame, SASL included; default 10 s.
	HandshakeTimeout time.Duration
	// MaxSessions bounds the sessions (channels) of one connection;
	// channel-max is one less. Default 256.
	MaxSessions int
	// MaxLinks bounds the links of one connection (and handle-max of each
	// session); default 1000.
	MaxLinks int
	// Credit is the link credit given to a client's sending link, topped
	// up as its messages arrive; default 1000.
	Credit int
	// MaxDestinationLength bounds an address name in bytes; 0 means
	// DefaultMaxDestinationLength.
	MaxDestinationLength int
	// MaxConnectionsPerUser bounds the connections of one user when
	// Env.Limits is nil (tests).
	MaxConnectionsPerUser int
	// Addresses resolves the address-settings of an address; nil means
	// anycast and auto-creation everywhere.
	Addresses func(address string) AddressPolicy
	// TLSState returns the TLS state of a connection, nil when it is
	// plain; SASL EXTERNAL is offered to clients that presented a
	// verified certificate. Nil means no EXTERNAL.
	TLSState func(net.Conn) *tls.ConnectionState
}

// Server is the AMQP 1.0 protocol for the listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	nextID atomic.Uint64

	// containers counts the open connections of each container-id, for
	// sole-connection-for-container.
	mu         sync.Mutex
	containers map[string]int
}

var (
	_ listener.Protocol = (*Server)(nil)
	_ listener.Refuser  = (*Server)(nil)
)

// NewServer returns an AMQP server.
func NewServer(opts Options) *Server {
	if opts.MaxFrameSize == 0 {
		opts.MaxFrameSize = DefaultMaxFrameSize
	}
	opts.MaxFrameSize = max(opts.MaxFrameSize, wire.MinMaxFrameSize)
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	opts.MaxSessions = min(opts.MaxSessions, 1<<16)
	if opts.MaxLinks <= 0 {
		opts.MaxLinks = DefaultMaxLinks
	}
	if opts.Credit <= 0 {
		opts.Credit = DefaultCredit
	}
	if opts.MaxDestinationLength <= 0 {
		opts.MaxDestinationLength = DefaultMaxDestinationLength
	}
	if opts.ServerName == "" {
		opts.ServerName = "tandem"
	}
	if opts.Addresses == nil {
		opts.Addresses = func(string) AddressPolicy { return AddressPolicy{RoutingType: message.Anycast, AutoCreate: true} }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Limits == nil {
		opts.Limits = protocol.NewLimits(opts.MaxConnectionsPerUser)
	}
	return &Server{opts: opts, log: log, containers: map[string]int{}}
}

// Name implements listener.Protocol.
func (s *Server) Name() string { return protocolName }

// Detect implements listener.Protocol: every connection that starts with
// "AMQP" is this protocol's, whatever version it asks for, so that an AMQP
// 0-9-1 client is told which version tandem speaks rather than dropped.
func (s *Server) Detect(p []byte) int {
	switch wire.Detect(p) {
	case wire.DetectNeedMore:
		return listener.NeedMore
	case wire.DetectNotAMQP:
		return listener.NoMatch
	}
	return listener.Match
}

// Serve implements listener.Protocol.
func (s *Server) Serve(ctx context.Context, nc net.Conn) {
	c := newConn(s, nc)
	c.run(ctx)
}

// claimContainer registers a connection of container id; with sole set
// it fails when another connection of that container is open.
func (s *Server) claimContainer(id string, sole bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sole && s.containers[id] > 0 {
		return false
	}
	s.containers[id]++
	return true
}

// releaseContainer undoes claimContainer.
func (s *Server) releaseContainer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.containers[id]--; s.containers[id] <= 0 {
		delete(s.containers, id)
	}
}

// Refuse implements listener.Refuser: a client the listener will not
// serve gets the protocol headers it expects, an open and a close whose
// error says why, so that it shows the reason rather than a reset.
func (s *Server) Refuse(nc net.Conn, reason string) {
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	r := wire.NewReader(nc, wire.MinMaxFrameSize*8)
	w := wire.NewWriter(nc)
	h, err := r.ReadProtocolHeader()
	if err != nil {
		return
	}
	if h == wire.HeaderSASL {
		// Let the client through SASL without checking anything, so that
		// it reads the close below.
		w.WriteProtocolHeader(wire.HeaderSASL)
		_ = w.WriteFrame(0, &wire.SASLMechanisms{Mechanisms: []wire.Symbol{wire.SASLMechanismAnonymous, wire.SASLMechanismPlain}}, nil)
		if w.Flush() != nil {
			return
		}
		if _, err := r.ReadFrame(); err != nil {
			return
		}
		_ = w.WriteFrame(0, &wire.SASLOutcome{Code: wire.SASLOK}, nil)
		if w.Flush() != nil {
			return
		}
		if h, err = r.ReadProtocolHeader(); err != nil {
			return
		}
	}
	w.WriteProtocolHeader(wire.HeaderAMQP)
	if h != wire.HeaderAMQP {
		_ = w.Flush()
		return
	}
	_ = w.WriteFrame(0, &wire.Open{ContainerID: s.opts.ServerName,
		Properties: wire.Map{{Key: wire.Symbol("amqp:connection-establishment-failed"), Value: true}}}, nil)
	_ = w.WriteFrame(0, &wire.Close{Error: &wire.Error{Condition: wire.ErrorResourceLimitExceeded, Description: reason}}, nil)
	if w.Flush() != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}
