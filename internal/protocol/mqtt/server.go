package mqtt

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/listener"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/mqtt"
)

// protocolName is MQTT's name in acceptors' protocols= and in metrics.
const protocolName = "MQTT"

// Options configure the MQTT server. The embedded Env is what every
// adapter shares (broker, authenticator, connection limits, topology).
type Options struct {
	protocol.Env
	// Context, when done, ends the server's background work (session
	// expiry, wills, retained copies): the broker behind it has stopped.
	// Connections end with the context Serve gets.
	Context context.Context
	// MaxPacketSize bounds a packet from a client once it is connected
	// (announced to MQTT 5 clients as Maximum Packet Size); 0 means the
	// protocol's limit. The CONNECT itself is bounded by
	// MaxConnectPacketSize.
	MaxPacketSize int
	// MaxConnectPacketSize bounds the CONNECT, read before the client is
	// authenticated; 0 means 1 MiB (or MaxPacketSize if smaller).
	MaxConnectPacketSize int
	// ConnectTimeout bounds the time from the connection's first byte to
	// its CONNECT; default 10 s.
	ConnectTimeout time.Duration
	// MaxSubscriptions bounds the subscriptions of one session; 0 means
	// 1000.
	MaxSubscriptions int
	// MaxConnectionsPerUser applies when Env.Limits is nil (tests).
	MaxConnectionsPerUser int
	// MaxTopicLength bounds a topic name or filter in bytes, and a client
	// identifier; 0 means 1024.
	MaxTopicLength int
	// MaxPendingBytes bounds the bytes queued for a client that does not
	// read; beyond it the connection is closed. 0 means 64 MiB.
	MaxPendingBytes int
	// DefaultSessionExpiry is how long an MQTT 3.1.1 session with Clean
	// Session 0 outlives its connection; negative means for ever.
	DefaultSessionExpiry time.Duration
	// ReceiveMaximum is tandem's Receive Maximum; 0 means 1000.
	ReceiveMaximum int
	// TopicAliasMaximum is how many topic aliases a client may set up.
	TopicAliasMaximum int
	// ServerKeepAlive, when positive, caps the keep-alive.
	ServerKeepAlive time.Duration
	// RetainedDeliveryRate bounds the retained messages copied to a new
	// subscription per second; 0 means 1000.
	RetainedDeliveryRate int
	// CloseOnPublishRefused closes a 3.1.1 client whose publish is not
	// allowed; otherwise it is acknowledged and dropped.
	CloseOnPublishRefused bool
}

// Server is the MQTT protocol for the listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	nextID atomic.Uint64
	reg    *registry

	// ready is closed once the store is open (or failed to open, stErr).
	ready chan struct{}
	st    *store
	stErr error

	connsMu sync.Mutex
	conns   map[*conn]struct{}
}

var (
	_ listener.Protocol = (*Server)(nil)
	_ listener.Refuser  = (*Server)(nil)
)

// NewServer returns an MQTT server and starts opening its store of
// sessions and retained messages in the background: connections wait for
// it, and persistent sessions left by the last run start counting their
// expiry.
func NewServer(opts Options) *Server {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxSubscriptions <= 0 {
		opts.MaxSubscriptions = 1000
	}
	if opts.MaxTopicLength <= 0 {
		opts.MaxTopicLength = 1024
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = 64 << 20
	}
	if opts.MaxPacketSize <= 0 || opts.MaxPacketSize > wire.MaxPacketSize {
		opts.MaxPacketSize = wire.MaxPacketSize
	}
	if opts.MaxConnectPacketSize <= 0 {
		opts.MaxConnectPacketSize = 1 << 20
	}
	opts.MaxConnectPacketSize = min(opts.MaxConnectPacketSize, opts.MaxPacketSize)
	if opts.ReceiveMaximum <= 0 || opts.ReceiveMaximum > 65535 {
		opts.ReceiveMaximum = 1000
	}
	opts.TopicAliasMaximum = min(max(opts.TopicAliasMaximum, 0), 65535)
	if opts.RetainedDeliveryRate <= 0 {
		opts.RetainedDeliveryRate = 1000
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
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	s := &Server{opts: opts, log: log, ctx: ctx, ready: make(chan struct{}), conns: map[*conn]struct{}{}}
	s.reg = newRegistry(s)
	go s.open()
	return s
}

// open opens the store and restores the sessions it holds.
func (s *Server) open() {
	defer close(s.ready)
	if s.opts.Broker == nil {
		s.stErr = errNoBroker
		return
	}
	st, err := openStore(s.opts.Broker, s.log)
	if err != nil {
		s.stErr = err
		s.log.Error("MQTT cannot open its session store; MQTT clients are refused", "event", "mqtt_store_failed", "err", err)
		return
	}
	s.st = st
	s.reg.restore()
	context.AfterFunc(s.ctx, func() {
		s.reg.stop()
		st.close()
	})
	s.log.Debug("MQTT session store open", "event", "mqtt_store_open", "sessions", len(st.allRecords()),
		"retained", st.retainedCount())
}

// store waits until the store is open and returns it.
func (s *Server) store(ctx context.Context) (*store, error) {
	select {
	case <-s.ready:
		return s.st, s.stErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Name implements listener.Protocol.
func (s *Server) Name() string { return protocolName }

// Detect implements listener.Protocol: a CONNECT of any MQTT version.
func (s *Server) Detect(p []byte) int {
	switch wire.Detect(p) {
	case wire.IsMQTT:
		return listener.Match
	case wire.NeedMore:
		return listener.NeedMore
	}
	return listener.NoMatch
}

// Refuse implements listener.Refuser: it reads the CONNECT of a connection
// the listener will not serve and answers with a CONNACK that says why
// (0x97 Quota exceeded in MQTT 5, return code 3 Server unavailable in
// 3.1.1).
func (s *Server) Refuse(nc net.Conn, reason string) {
	_ = nc.SetDeadline(time.Now().Add(time.Second))
	r := wire.NewReader(nc, wire.ReaderOptions{MaxPacketSize: s.opts.MaxConnectPacketSize})
	p, err := r.ReadPacket()
	c, ok := p.(*wire.Connect)
	if err != nil || !ok {
		return
	}
	w := wire.NewWriter(nc)
	w.SetVersion(c.Version)
	ack := &wire.Connack{Reason: wire.RefusedServerUnavailable}
	if c.Version == wire.V5 {
		ack = &wire.Connack{Reason: wire.QuotaExceeded, Properties: wire.Properties{
			wire.StringProp(wire.PropReasonString, truncate(reason, 1000))}}
	}
	if w.WritePacket(ack) == nil && w.Flush() == nil {
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
	}
}

// Serve implements listener.Protocol.
func (s *Server) Serve(ctx context.Context, nc net.Conn) {
	c := newConn(s, nc)
	s.connsMu.Lock()
	s.conns[c] = struct{}{}
	s.connsMu.Unlock()
	defer func() {
		s.connsMu.Lock()
		delete(s.conns, c)
		s.connsMu.Unlock()
	}()
	c.run(ctx)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
