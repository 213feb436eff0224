package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"tandem/internal/broker"
	"tandem/internal/journal"
	"tandem/internal/message"
)

// Sentinel errors of the package. Handlers map them to HTTP statuses.
var (
	// ErrNotLive is returned for a call that needs the broker on a node
	// that is not serving (a waiting backup, or a node between roles).
	ErrNotLive = errors.New("this node is not live")
	// ErrNoFailover is returned by Node.ForceFailover on a node that has
	// no shared-store pair to fail over to, or is not the live of one.
	ErrNoFailover = errors.New("force-failover needs the live node of a shared-store pair")
)

// Roles a node reports. RoleLive serves clients; RoleBackup waits for the
// shared store (or hands it over); a standalone broker is live once started.
const (
	RoleLive   = "live"
	RoleBackup = "backup"
)

// Broker is the serving broker core as management sees it. *broker.Broker
// implements it.
type Broker interface {
	Queues() []broker.QueueInfo
	Queue(name string) (broker.QueueInfo, error)
	Addresses() []broker.AddressInfo
	Connections() []broker.ConnectionInfo
	Consumers() []broker.ConsumerInfo
	BrowseQueue(name string, max int) ([]broker.BrowseItem, error)
	PurgeQueue(name string) (int, error)
	DeleteQueue(name string) error
	CreateQueue(qc broker.QueueConfig) error
	SendMessage(m *message.Message) error
	// Authorize applies the security settings: browsing messages needs
	// browse, sending a test message needs send, as for messaging clients.
	Authorize(user string, roles []string, perm broker.Permission, addr string) error
}

// NodeStatus is what the process knows about itself and its HA role.
type NodeStatus struct {
	Name    string
	Version string
	// NodeID is the shared store's node id ("" for a standalone broker
	// or a backup that has not read the store yet).
	NodeID string
	// Role is RoleLive or RoleBackup.
	Role string
	// HAPolicy is "none", or "shared-store primary" / "shared-store backup".
	HAPolicy string
	// State is the HA state name (ha.State* constants), or "live" /
	// "stopped" for a standalone broker; StateSince is when it was entered
	// and StateDetail says why, for humans.
	State       string
	StateSince  time.Time
	StateDetail string
	Epoch       uint64
	// LiveName is the instance name of the node the store record names.
	LiveName string
	// Backups are the client URLs of backups announced to this live node.
	Backups            []string
	FailoverOnShutdown bool
	AllowFailback      bool
	// Activations counts the times this process became live; for a
	// backup it is the number of failovers it served.
	Activations uint64
	Started     time.Time // process start
	// ServingSince is when the broker last started serving clients; zero
	// while not serving.
	ServingSince     time.Time
	JournalDirectory string
	// Journal and SyncLatency are the message journal's counters; nil
	// while not serving or without persistence.
	Journal     *journal.Stats
	SyncLatency *journal.SyncLatency
}

// Node is the broker process: its status, its broker while serving, and
// the one HA action management may take.
type Node interface {
	Status() NodeStatus
	// Broker returns the serving broker, or nil while the node is not live.
	Broker() Broker
	// ForceFailover stops this live node so that its backup takes over;
	// it returns ErrNoFailover (wrapped) when that is impossible.
	ForceFailover() error
}

// Authenticator checks a user's credentials against the broker's users
// and returns the user's roles.
type Authenticator interface {
	Authenticate(user, password string) (roles []string, err error)
}

// ManageRole is the role a user needs to change anything.
const ManageRole = "manage"

// Options configure a Server.
type Options struct {
	Node Node
	Auth Authenticator
	// Logger receives request errors and lifecycle lines; nil discards.
	Logger *slog.Logger
	// SessionTTL is how long a console login lasts without use; 8 hours
	// if zero.
	SessionTTL time.Duration
	// Now is the clock; time.Now if nil. Tests set it.
	Now func() time.Time
	// TLS, when set, makes the port serve HTTPS only (web.tls in
	// broker.yaml); the session cookie is then marked Secure.
	TLS *tls.Config
	// WebSocket, when set, serves STOMP and MQTT over WebSocket at /stomp
	// and /mqtt, so that a page the console serves can reach the broker
	// on the same origin.
	WebSocket http.Handler
}

// Server serves the console, the API, metrics and health on one listener.
type Server struct {
	opts     Options
	log      *slog.Logger
	handler  http.Handler
	sessions *sessionStore
	rates    *rateTracker
	disk     *diskUsage

	mu   sync.Mutex
	srv  *http.Server
	addr net.Addr
}

// New returns a server for opts. It listens only when Serve is called.
func New(opts Options) (*Server, error) {
	if opts.Node == nil || opts.Auth == nil {
		return nil, errors.New("web: Options.Node and Options.Auth are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	s := &Server{opts: opts, log: opts.Logger, sessions: newSessionStore(opts.SessionTTL, opts.Now),
		rates: newRateTracker(opts.Now), disk: &diskUsage{now: opts.Now}}
	metrics, err := s.metricsHandler()
	if err != nil {
		return nil, err
	}
	s.handler = s.routes(metrics)
	return s, nil
}

// Handler returns the server's HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the listener on addr (host:port) and serves on it in the
// background until Close. It returns once the port is open, so a caller
// can report a bind failure at once.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web console cannot listen on %s: %w (is another broker using it? use --port-offset, or set web.bind or web.enabled: false in broker.yaml)", addr, err)
	}
	scheme := "http"
	if s.opts.TLS != nil {
		ln, scheme = tls.NewListener(ln, s.opts.TLS), "https"
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.mu.Lock()
	s.srv, s.addr = srv, ln.Addr()
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("web server stopped", "event", "web_failed", "err", err)
		}
	}()
	s.log.Info("web console listening", "event", "web_started", "url", scheme+"://"+ln.Addr().String())
	return nil
}

// Addr returns the address Listen opened, or nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops serving, waiting up to ctx for requests in progress.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return errors.Join(err, srv.Close())
	}
	return nil
}

// routes builds the URL space. Go 1.22 patterns carry the method, so a
// wrong method gets 405 from the mux itself.
func (s *Server) routes(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", metrics)

	mux.Handle("GET /api/node", s.api(false, s.apiNode))
	mux.Handle("POST /api/node/force-failover", s.api(true, s.apiForceFailover))
	mux.Handle("GET /api/queues", s.api(false, s.apiQueues))
	mux.Handle("POST /api/queues", s.api(true, s.apiCreateQueue))
	mux.Handle("GET /api/queues/{name}", s.api(false, s.apiQueue))
	mux.Handle("DELETE /api/queues/{name}", s.api(true, s.apiDeleteQueue))
	mux.Handle("POST /api/queues/{name}/delete", s.api(true, s.apiDeleteQueue))
	mux.Handle("POST /api/queues/{name}/purge", s.api(true, s.apiPurgeQueue))
	mux.Handle("GET /api/queues/{name}/messages", s.api(false, s.apiBrowse))
	mux.Handle("POST /api/queues/{name}/messages", s.api(true, s.apiSend))
	mux.Handle("GET /api/addresses", s.api(false, s.apiAddresses))
	mux.Handle("GET /api/consumers", s.api(false, s.apiConsumers))
	mux.Handle("GET /api/connections", s.api(false, s.apiConnections))
	mux.Handle("/api/", s.api(false, func(w http.ResponseWriter, r *http.Request, _ principal) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such API endpoint %s %s; see docs/management.md", r.Method, r.URL.Path))
	}))

	if s.opts.WebSocket != nil {
		mux.Handle("GET /stomp", s.opts.WebSocket)
		mux.Handle("GET /mqtt", s.opts.WebSocket)
	}
	s.consoleRoutes(mux)
	return securityHeaders(mux)
}

// securityHeaders sets the headers every response carries: no framing,
// no MIME sniffing, and no caching of authenticated pages.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// liveBroker returns the broker, or ErrNotLive with the node's state.
func (s *Server) liveBroker() (Broker, error) {
	if b := s.opts.Node.Broker(); b != nil {
		return b, nil
	}
	st := s.opts.Node.Status()
	return nil, fmt.Errorf("%w: it is a %s in state %s%s; ask the live node", ErrNotLive, st.Role, st.State, waitingOn(st))
}

// waitingOn says which directory a backup waits on, for error messages.
func waitingOn(st NodeStatus) string {
	if st.JournalDirectory == "" {
		return ""
	}
	return " on " + st.JournalDirectory
}
