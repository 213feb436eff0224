package wstransport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"tandem/internal/listener"
)

// subprotocols maps the WebSocket subprotocols tandem accepts, in the
// order it prefers them when a client offers several, to the protocols
// (config's names) that serve them.
var subprotocols = []struct{ name, protocol string }{
	{"v12.stomp", "STOMP"}, {"v11.stomp", "STOMP"}, {"v10.stomp", "STOMP"}, {"stomp", "STOMP"},
	{"mqtt", "MQTT"}, {"mqttv3.1", "MQTT"},
}

// Options configure a Transport.
type Options struct {
	// Adapters are the protocol adapters by protocol name ("STOMP",
	// "MQTT"); only their subprotocols are accepted.
	Adapters map[string]listener.Protocol
	// AllowedOrigins are the origins, besides the request's own host, whose
	// pages may connect: host patterns as path.Match takes them
	// ("app.example.com", "*.example.com"), or with a scheme to match it
	// too ("https://app.example.com"). "*" admits every origin. A request
	// without an Origin header (not from a browser) is always admitted.
	AllowedOrigins []string
	// MaxMessageSize bounds one WebSocket message; default 100 MiB.
	MaxMessageSize int64
	// HandshakeTimeout bounds the HTTP request of a client-port upgrade;
	// default 10 s.
	HandshakeTimeout time.Duration
	// Context, when set, ends the connections ServeHTTP serves when it is
	// done (the broker behind them stops); the client port's listener ends
	// its own through Serve's context.
	Context context.Context
	Logger  *slog.Logger
}

// Transport serves WebSocket connections.
type Transport struct {
	opts   Options
	log    *slog.Logger
	any    bool
	offers []string // subprotocols with an adapter, in preference order
}

var _ listener.Protocol = (*Transport)(nil)

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 100 << 20
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := &Transport{opts: opts, log: lg}
	var origins []string
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			t.any = true
		} else if o != "" {
			origins = append(origins, o)
		}
	}
	t.opts.AllowedOrigins = origins
	for _, sp := range subprotocols {
		if opts.Adapters[sp.protocol] != nil {
			t.offers = append(t.offers, sp.name)
		}
	}
	return t
}

// Name implements listener.Protocol.
func (t *Transport) Name() string { return "WebSocket" }

var get = []byte("GET ")

// Detect implements listener.Protocol: an HTTP request starts with GET.
// No other protocol tandem speaks begins with those bytes (STOMP's
// commands, OpenWire's size, AMQP's and MQTT's headers).
func (t *Transport) Detect(p []byte) int {
	n := min(len(p), len(get))
	if !bytes.Equal(p[:n], get[:n]) {
		return listener.NoMatch
	}
	if n < len(get) {
		return listener.NeedMore
	}
	return listener.Match
}

// Serve implements listener.Protocol: it reads the HTTP request on nc,
// upgrades it, and hands the WebSocket to the adapter of its subprotocol.
func (t *Transport) Serve(ctx context.Context, nc net.Conn) {
	l := newOneConn(nc)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.serve(ctx, w, r, l.finish) }),
		ReadHeaderTimeout: t.opts.HandshakeTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				l.finish()
			}
		},
	}
	// One request per connection: a refused upgrade's answer closes it.
	srv.SetKeepAlivesEnabled(false)
	stop := context.AfterFunc(ctx, func() {
		srv.Close()
		nc.Close()
		l.finish()
	})
	defer stop()
	_ = srv.Serve(l)
	srv.Close()
}

// ServeHTTP serves an upgrade request arriving on the HTTP port (the
// console's server), where the server's ctx is the request's.
func (t *Transport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if t.opts.Context != nil {
		stop := context.AfterFunc(t.opts.Context, cancel)
		defer stop()
	}
	t.serve(ctx, w, r, nil)
}

// serve upgrades one request and runs its adapter until the connection
// ends; done, when not nil, runs when it has. A request that is refused
// is answered with Connection: close, and the HTTP server's closing of
// the connection ends Serve instead, once the answer is on the wire.
func (t *Transport) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, done func()) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Connection", "close")
		http.Error(w, "this is a messaging port: it speaks STOMP, MQTT and the other broker protocols, and STOMP and "+
			"MQTT over WebSocket to a client that asks for an upgrade with one of the subprotocols "+
			strings.Join(t.offers, ", ")+"; the console is on the HTTP port (8161 by default)", http.StatusUpgradeRequired)
		return
	}
	pick := t.choose(r)
	if pick == "" {
		t.log.Info("WebSocket refused: no supported subprotocol", "event", "ws_refused", "remote", r.RemoteAddr,
			"offered", r.Header.Values("Sec-WebSocket-Protocol"))
		w.Header().Set("Connection", "close")
		http.Error(w, "no supported WebSocket subprotocol was offered; offer one of "+strings.Join(t.offers, ", "),
			http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{pick},
		OriginPatterns: t.opts.AllowedOrigins, InsecureSkipVerify: t.any})
	if err != nil {
		// Accept has answered (403 for a foreign origin).
		t.log.Info("WebSocket refused", "event", "ws_refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	c.SetReadLimit(t.opts.MaxMessageSize)
	var adapter listener.Protocol
	for _, sp := range subprotocols {
		if sp.name == pick {
			adapter = t.opts.Adapters[sp.protocol]
		}
	}
	if done != nil {
		defer done()
	}
	conn := newConn(ctx, c, r, strings.HasSuffix(pick, "stomp"))
	defer conn.Close()
	adapter.Serve(ctx, conn)
}

// choose returns the subprotocol to accept: the first the client offers
// that tandem serves, or "".
func (t *Transport) choose(r *http.Request) string {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			for _, o := range t.offers {
				if strings.EqualFold(p, o) {
					return o
				}
			}
		}
	}
	return ""
}

// oneConn is a net.Listener that yields one connection, then blocks until
// finish, so an http.Server can serve a connection the listener already
// accepted and detected.
type oneConn struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func newOneConn(c net.Conn) *oneConn { return &oneConn{c: c, done: make(chan struct{})} }

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConn) finish()        { l.once.Do(func() { close(l.done) }) }
func (l *oneConn) Close() error   { l.finish(); return nil }
func (l *oneConn) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "websocket" }

// errTimeout is a deadline that passed, as net.Conn reports it.
type errTimeout struct{ op string }

func (e errTimeout) Error() string   { return fmt.Sprintf("websocket %s: i/o timeout", e.op) }
func (e errTimeout) Timeout() bool   { return true }
func (e errTimeout) Temporary() bool { return true }
func (e errTimeout) Unwrap() error   { return os.ErrDeadlineExceeded }
