package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Detection results.
const (
	NoMatch = iota
	Match
	NeedMore
)

// Protocol is one wire protocol the listener can hand connections to.
type Protocol interface {
	// Name is the protocol's name for logs and metrics.
	Name() string
	// Detect looks at the first bytes of a connection and answers Match,
	// NoMatch, or NeedMore when it cannot tell yet.
	Detect(prefix []byte) int
	// Serve runs the connection until it ends. The conn's first bytes are
	// the ones Detect saw. Serve must return when ctx is cancelled.
	Serve(ctx context.Context, conn net.Conn)
}

var errNoBytes = errors.New("no bytes before the handshake timeout or close")

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("listener closed")

// Options configure a Listener.
type Options struct {
	Protocols []Protocol
	// MaxConnections bounds concurrent connections; 0 or less is unlimited.
	MaxConnections int
	// MaxConnectionsPerIP bounds the concurrent connections from one
	// client IP address; 0 or less is unlimited.
	MaxConnectionsPerIP int
	// PerIP, when set, is the per-IP count to use instead of one of the
	// listener's own, so that several acceptors share one limit; its Max
	// then takes the place of MaxConnectionsPerIP.
	PerIP *KeyedLimit
	// HandshakeTimeout bounds how long a new connection may take to send
	// enough bytes to be recognised, TLS handshake included; default 10 s.
	HandshakeTimeout time.Duration
	// TLS, when set, makes every connection start with a TLS handshake
	// (an acceptor with sslEnabled=true); protocols see the decrypted
	// stream.
	TLS    *tls.Config
	Logger *slog.Logger
	// OnConnect, if set, is called for every accepted connection and
	// OnDisconnect when it ends; they feed metrics.
	OnConnect    func(protocol string)
	OnDisconnect func(protocol string)
}

// Listener accepts connections and dispatches them to protocols.
type Listener struct {
	ln   net.Listener
	opts Options
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]func() // open connections and what releases their per-IP slot
	closed bool
	wg     sync.WaitGroup

	perIP    *KeyedLimit
	refusing chan struct{} // slots of refusals in progress
}

// New wraps ln.
func New(ln net.Listener, opts Options) *Listener {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	perIP := opts.PerIP
	if perIP == nil {
		perIP = &KeyedLimit{Max: opts.MaxConnectionsPerIP}
	}
	opts.MaxConnectionsPerIP = perIP.Max
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{ln: ln, opts: opts, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]func(){},
		perIP: perIP, refusing: make(chan struct{}, maxRefusing)}
}

// Addr returns the address the listener accepts on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Serve accepts connections until Close. It returns ErrClosed after Close.
func (l *Listener) Serve() error {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				// Out of descriptors or a transient error: back off instead of
				// spinning, and keep serving the connections we have.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.log.Warn("accept failed; retrying", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept on %s: %w", l.ln.Addr(), err)
		}
		delay = 0
		if !l.track(c) {
			continue
		}
		l.wg.Add(1)
		go l.handle(c)
	}
}

func (l *Listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return false
	}
	if l.opts.MaxConnections > 0 && len(l.conns) >= l.opts.MaxConnections {
		l.log.Warn("connection refused: max-connections reached", "event", "connection_refused",
			"remote", c.RemoteAddr().String(), "max", l.opts.MaxConnections)
		l.refuse(c, limitReason("max-connections", l.opts.MaxConnections, ""))
		return false
	}
	ip := remoteIP(c)
	release, ok := l.perIP.Acquire(ip)
	if !ok {
		l.log.Warn("connection refused: max-connections-per-ip reached", "event", "connection_refused",
			"remote", c.RemoteAddr().String(), "max", l.opts.MaxConnectionsPerIP)
		l.refuse(c, limitReason("max-connections-per-ip", l.opts.MaxConnectionsPerIP, " for "+ip))
		return false
	}
	l.conns[c] = release
	return true
}

func (l *Listener) untrack(c net.Conn) {
	l.mu.Lock()
	release := l.conns[c]
	delete(l.conns, c)
	l.mu.Unlock()
	if release != nil {
		release()
	}
}

func (l *Listener) handle(c net.Conn) {
	defer l.wg.Done()
	defer l.untrack(c)
	defer c.Close()
	if l.opts.TLS != nil {
		tc, err := l.handshake(c)
		if errors.Is(err, io.EOF) {
			// As below: a probe that connects and closes is not news.
			l.log.Debug("connection closed before the TLS handshake", "remote", c.RemoteAddr().String())
			return
		}
		if err != nil {
			l.log.Info("connection closed: TLS handshake failed", "event", "tls_handshake_failed",
				"remote", c.RemoteAddr().String(), "err", err)
			return
		}
		c = tc
	}
	p, pc, err := l.detect(c)
	if errors.Is(err, errNoBytes) {
		// A connect-and-close with no bytes is a port probe or a load
		// balancer's health check, not worth more than a debug line.
		l.log.Debug("connection closed before sending anything", "remote", c.RemoteAddr().String())
		return
	}
	if err != nil {
		l.log.Info("connection closed: protocol not recognised", "event", "unknown_protocol",
			"remote", c.RemoteAddr().String(), "err", err)
		return
	}
	if l.opts.OnConnect != nil {
		l.opts.OnConnect(p.Name())
	}
	if l.opts.OnDisconnect != nil {
		defer l.opts.OnDisconnect(p.Name())
	}
	p.Serve(l.ctx, pc)
}

// handshake runs the server side of a TLS handshake within the handshake
// timeout, so a client that connects and stalls cannot hold a goroutine.
func (l *Listener) handshake(c net.Conn) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
	defer cancel()
	tc := tls.Server(c, l.opts.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// detect reads until a protocol claims the connection.
func (l *Listener) detect(c net.Conn) (Protocol, net.Conn, error) {
	return l.detectWithin(c, l.opts.HandshakeTimeout)
}

// detectWithin is detect with its own time limit.
func (l *Listener) detectWithin(c net.Conn, limit time.Duration) (Protocol, net.Conn, error) {
	if err := c.SetReadDeadline(time.Now().Add(limit)); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 4096)
	for n := 1; ; n++ {
		prefix, err := br.Peek(n)
		if err != nil {
			if len(prefix) == 0 {
				return nil, nil, fmt.Errorf("%w: %w", errNoBytes, err)
			}
			return nil, nil, fmt.Errorf("first bytes %q match no protocol: %w", prefix, err)
		}
		undecided := false
		for _, p := range l.opts.Protocols {
			switch p.Detect(prefix) {
			case Match:
				if err := c.SetReadDeadline(time.Time{}); err != nil {
					return nil, nil, err
				}
				return p, &peekedConn{Conn: c, r: br}, nil
			case NeedMore:
				undecided = true
			}
		}
		if !undecided || n >= 64 {
			return nil, nil, fmt.Errorf("first bytes %q match no protocol", prefix)
		}
	}
}

// Close stops accepting, closes every connection, and waits until their
// handlers have returned or ctx ends.
func (l *Listener) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.ln.Close()
	l.mu.Unlock()
	l.cancel()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		<-done
	}
	return err
}

// peekedConn is a connection whose first bytes were read for detection and
// are served again from the buffer.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// TLSState returns the TLS state of a connection the listener handed to a
// protocol, nil when the connection is not TLS. A protocol reads the
// client's certificate from it (AMQP's SASL EXTERNAL).
func TLSState(c net.Conn) *tls.ConnectionState {
	if p, ok := c.(*peekedConn); ok {
		c = p.Conn
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

// CloseWrite half-closes the connection when the transport supports it, so
// a protocol can send a last frame and still drain the client's bytes.
func (p *peekedConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
