package openwire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/listener"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/openwire"
)

// protocolName is OpenWire's name in acceptors' protocols= and in metrics.
const protocolName = "OPENWIRE"

// Options configure the OpenWire server. The embedded Env is what every
// adapter shares (broker, authenticator, connection limits, topology).
type Options struct {
	protocol.Env
	// MaxFrameSize bounds a frame the client sends, and is what the broker
	// proposes as the connection's frame limit; 0 means the codec's default
	// (100 MiB, ActiveMQ Classic's).
	MaxFrameSize int
	// ConnectTimeout bounds the time from the connection's first byte to a
	// successful ConnectionInfo; default 10 s.
	ConnectTimeout time.Duration
	// MaxInactivity is the inactivity duration the broker proposes: each
	// side gives up on a peer silent for that long and sends a KeepAliveInfo
	// when it has written nothing for a third of it. The client's proposal
	// (30 s by default) wins when shorter; 0 means 30 s.
	MaxInactivity time.Duration
	// MaxConsumers bounds the consumers and browsers of one connection; 0
	// means 1000.
	MaxConsumers int
	// MaxDestinationLength bounds a destination name in bytes; 0 means 1024.
	MaxDestinationLength int
	// MaxPendingBytes bounds the bytes queued for a client that does not
	// read; beyond it the connection is closed. 0 means 64 MiB.
	MaxPendingBytes int
	// MaxConnectionsPerUser bounds one user's connections when Env.Limits
	// is nil (tests); a server shares one Limits across protocols instead.
	MaxConnectionsPerUser int
}

// Server is the OpenWire protocol for the listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	nextID atomic.Uint64
	// boot names this server's run in the ids it makes up when no node id
	// is known, so that they differ from a previous run's.
	boot string

	reg  registry
	temp tempRegistry
}

var (
	_ listener.Protocol = (*Server)(nil)
	_ listener.Refuser  = (*Server)(nil)
)

// NewServer returns an OpenWire server.
func NewServer(opts Options) *Server {
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = wire.DefaultMaxFrameSize
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxInactivity <= 0 {
		opts.MaxInactivity = 30 * time.Second
	}
	if opts.MaxConsumers <= 0 {
		opts.MaxConsumers = 1000
	}
	if opts.MaxDestinationLength <= 0 {
		opts.MaxDestinationLength = 1024
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = 64 << 20
	}
	if opts.ServerName == "" {
		opts.ServerName = "tandem"
	}
	if opts.Limits == nil {
		opts.Limits = protocol.NewLimits(opts.MaxConnectionsPerUser)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &Server{opts: opts, log: log, boot: hex.EncodeToString(b[:])}
	s.reg.init()
	s.temp.init()
	return s
}

// Name implements listener.Protocol.
func (s *Server) Name() string { return protocolName }

// Detect implements listener.Protocol: a JMS client opens with a
// size-prefixed WireFormatInfo.
func (s *Server) Detect(p []byte) int {
	switch wire.Detect(p) {
	case wire.DetectOpenWire:
		return listener.Match
	case wire.DetectNeedMore:
		return listener.NeedMore
	}
	return listener.NoMatch
}

// Serve implements listener.Protocol.
func (s *Server) Serve(ctx context.Context, nc net.Conn) {
	c := newConn(s, nc)
	stop := context.AfterFunc(ctx, c.shutdown)
	defer stop()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.outMu.Lock()
	final := c.closeAfter
	c.outMu.Unlock()
	if final {
		// Let the writer put the last answer on the wire, then read and
		// discard for a moment, so that the close does not reset the
		// connection before the client reads it.
		select {
		case <-writerDone:
		case <-time.After(2 * time.Second):
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
	}
	c.shutdown()
	<-writerDone
	c.cleanup()
}

// registry holds the live connections by ConnectionId and by client ID:
// a client ID is used by one connection at a time, and a connection
// replayed by a failover client takes over its stale predecessor.
type registry struct {
	mu       sync.Mutex
	byConn   map[string]*conn
	byClient map[string]*conn
}

func (r *registry) init() {
	r.byConn = map[string]*conn{}
	r.byClient = map[string]*conn{}
}

// errClientIDInUse refuses a client ID held by another live connection.
var errClientIDInUse = errors.New("client ID in use")

// claim registers c under its connection and client IDs. A live connection
// with the same ConnectionId is the stale predecessor of a client that
// reconnected (its old socket may not have failed yet on this side): it is
// closed, and its session with it, before claim returns. A client ID held
// by a connection with another ConnectionId is refused.
func (r *registry) claim(c *conn, connID, clientID string) (taken *conn, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		r.mu.Lock()
		old := r.byConn[connID]
		if old == nil && clientID != "" {
			if h := r.byClient[clientID]; h != nil && h != c {
				r.mu.Unlock()
				return nil, errClientIDInUse
			}
		}
		if old == nil {
			r.byConn[connID] = c
			if clientID != "" {
				r.byClient[clientID] = c
			}
			r.mu.Unlock()
			return taken, nil
		}
		r.mu.Unlock()
		old.takeOver()
		taken = old
	}
	return nil, errors.New("the connection's previous incarnation did not close in time; retry")
}

// release forgets c.
func (r *registry) release(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.connID != "" && r.byConn[c.connID] == c {
		delete(r.byConn, c.connID)
	}
	if c.clientID != "" && r.byClient[c.clientID] == c {
		delete(r.byClient, c.clientID)
	}
}
