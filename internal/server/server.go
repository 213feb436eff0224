package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/journal"
	"tandem/internal/listener"
	"tandem/internal/paging"
	"tandem/internal/protocol"
	"tandem/internal/protocol/cluster"
	"tandem/internal/security"
	"tandem/internal/store"
	"tandem/internal/store/filestore"
	"tandem/internal/store/memstore"
	"tandem/internal/storelock"
	"tandem/internal/wstransport"
)

// Server is one broker process: store, broker core and client listeners.
type Server struct {
	cfg *config.Config
	log *slog.Logger

	mu        sync.Mutex
	storeLock *storelock.Lock // held while the store is open (storelock.go)
	store     store.Store
	broker    *broker.Broker
	pager     *paging.Pager
	listeners []*listener.Listener
	serveErr  chan error
	started   time.Time

	topo      *topology
	fileStore atomic.Pointer[filestore.Store] // for the journal's statistics
	// fencePoint is the store.Fence of the current activation: the journals,
	// page files and large-message files all stop at it.
	fencePoint atomic.Pointer[store.Fence]
	db         dbState // a database store's parts (dbstore.go)
	haState    atomic.Pointer[ha.State]
	web        webState // the HTTP port's view of this node (web.go)

	authnMu sync.Mutex
	authn   *security.Authenticator // see authenticator
	// webSocket serves /stomp and /mqtt on the HTTP port while this node
	// is live.
	webSocket   atomic.Pointer[wstransport.Transport]
	stopServing context.CancelFunc // ends what the HTTP port's WebSockets serve
}

// New returns a server for cfg. It does not start anything.
func New(cfg *config.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: log, serveErr: make(chan error, 4), topo: &topology{log: log}}
	s.web.started, s.web.force = time.Now(), make(chan struct{}, 1)
	for _, cc := range cfg.ClusterConnections {
		if cc.User != "" {
			s.topo.clusterUser = cc.User
		}
	}
	return s
}

// ErrLockLost is returned by Run when a live node lost the shared store to
// another node: its journal is fenced and the process must exit (status 3).
var ErrLockLost = errors.New("lost the shared store lock; this node stopped writing and must exit")

// Run serves until ctx is cancelled or a listener fails, then stops. A
// node in a shared-store pair first waits to become live (see docs/ha.md)
// and may go back to waiting when its primary fails back.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.HA.Mode != config.HANone || s.cfg.Database() {
		// A database store is always served under a lease, as a pair's
		// node is, even without a backup (docs/ha.md, 10).
		defer s.startWeb()()
		return s.runHA(ctx)
	}
	// A standalone broker locks its store before anything else, the HTTP
	// port included: a second process on the same store is refused with
	// the holder's name, not with a port conflict.
	s.mu.Lock()
	err := s.lockStoreLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	defer s.startWeb()()
	if err := s.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-s.serveErr:
	}
	return errors.Join(err, s.stopWithTimeout())
}

func (s *Server) stopWithTimeout() error {
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Stop(stopCtx)
}

// Start opens the store, recovers the broker and opens the acceptors of a
// standalone broker.
func (s *Server) Start() error { return s.startServing(0, nil, nil) }

// startServing opens the store with the given fencing epoch, recovers the
// broker and opens the acceptors. reserve is memory faulted in ahead for
// the replay, fol what a waiting node read of the journals (either may be
// nil).
func (s *Server) startServing(epoch uint64, reserve *journal.Reserve, fol *filestore.Follower) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	begin := time.Now()
	if err := s.lockStoreLocked(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Every failure below closes what it opened first.
			s.releaseStoreLocked()
		}
	}()
	fence := store.NewFence()
	s.fencePoint.Store(fence)
	st, err := s.openStore(epoch, reserve, fol, fence)
	if err != nil {
		s.fencePoint.Store(nil)
		return err
	}
	opened := time.Now()
	s.store = st
	auth, perms, err := s.security()
	if err != nil {
		st.Close()
		return err
	}
	pager, err := s.openPager(fence)
	if err != nil {
		st.Close()
		return err
	}
	s.pager = pager
	large, err := s.openLarge(st, fence)
	if err != nil {
		s.closePager()
		st.Close()
		return err
	}
	globalMax, err := s.globalMaxSize()
	if err != nil {
		s.closePager()
		st.Close()
		return err
	}
	b, err := broker.New(broker.Options{
		Store: st, Settings: brokerSettings(s.cfg), IDCacheSize: s.cfg.IDCacheSize,
		Addresses: brokerAddresses(s.cfg), Authorizer: perms, Logger: s.log, Filters: compileSelector,
		GlobalMaxSize: globalMax, Pager: s.brokerPager(pager), Large: large,
		SmallestLargeMessage: s.cfg.SmallestLargeMessageSize(),
	})
	if err != nil {
		s.closePager()
		st.Close()
		return err
	}
	built := time.Now()
	if err := b.Start(); err != nil {
		s.closePager()
		st.Close()
		return fmt.Errorf("recover broker state: %w", err)
	}
	recovered := time.Now()
	s.broker = b
	env := protocol.Env{Broker: b, Auth: auth, Limits: protocol.NewLimits(s.cfg.Limits.MaxConnectionsPerUser),
		Ingest: protocol.NewIngestGate(ingestSlots()), Topology: s.topo.snapshot, Logger: s.log,
		ServerName: "tandem/" + s.cfg.Name}
	servingCtx, stopServing := context.WithCancel(context.Background())
	s.stopServing = stopServing
	protocols := newProtocolSet(servingCtx, env, s.cfg, cluster.NewServer(auth, s.topo.register, s.log))
	// The HTTP port's /stomp and /mqtt reach every WebSocket protocol
	// tandem speaks, whatever the acceptors list.
	s.webSocket.Store(protocols.webSocket(config.SpokenProtocols))
	perIP := &listener.KeyedLimit{Max: s.cfg.Limits.MaxConnectionsPerIP}
	for _, a := range s.cfg.Acceptors {
		tlsCfg, err := acceptorTLS(a)
		if err != nil {
			s.stopLocked(context.Background())
			return fmt.Errorf("acceptor %q: %w", a.Name, err)
		}
		ln, err := net.Listen("tcp", a.Addr())
		if err != nil {
			s.stopLocked(context.Background())
			return fmt.Errorf("acceptor %q cannot listen on %s: %w (is another broker running there? use --port-offset or edit acceptors in broker.yaml)", a.Name, a.Addr(), err)
		}
		l := listener.New(ln, listener.Options{Protocols: protocols.forAcceptor(a),
			MaxConnections: s.cfg.MaxConnections, Logger: s.log, TLS: tlsCfg,
			PerIP: perIP, HandshakeTimeout: s.cfg.Limits.HandshakeTimeout})
		s.listeners = append(s.listeners, l)
		go func() {
			if err := l.Serve(); err != nil && !errors.Is(err, listener.ErrClosed) {
				s.serveErr <- err
			}
		}()
		s.log.Info("acceptor listening", "event", "acceptor_started", "name", a.Name, "addr", ln.Addr().String())
	}
	s.started = time.Now()
	s.web.serving(b)
	// The phases of a start, so that an operator can see what a takeover
	// spends its time on: replaying the journal (store), rebuilding the
	// queues from it (broker), and the rest (security, paging, large
	// messages, acceptors).
	attrs := []any{"event", "server_started", "name", s.cfg.Name, "epoch", epoch,
		"startup", time.Since(begin).Round(time.Microsecond).String(),
		"store_open", opened.Sub(begin).Round(time.Microsecond).String(),
		"broker_start", recovered.Sub(built).Round(time.Microsecond).String()}
	if fs := s.fileStore.Load(); fs != nil {
		// How much of the journals this start replayed: all of them, or
		// after following them while waiting only the tail.
		rep := fs.Replayed()
		attrs = append(attrs, "replayed_ops", rep.Messages.TailOps+rep.Bindings.TailOps,
			"replayed_bytes", rep.Messages.TailBytes+rep.Bindings.TailBytes, "followed", rep.Messages.Used)
	}
	s.log.Info("broker is live", attrs...)
	return nil
}

// globalMaxSize resolves global-max-size: as configured, or, by default,
// its share of the machine's memory (machineMemory), which it logs.
func (s *Server) globalMaxSize() (int64, error) {
	if s.cfg.GlobalMaxSize != 0 {
		return s.cfg.GlobalMaxSize, nil
	}
	mem, src, err := machineMemory()
	if err != nil {
		return 0, err
	}
	limit := s.cfg.GlobalMaxSizeFor(mem)
	if mem > 0 {
		s.log.Info("messages in memory are bounded by a share of memory; beyond it addresses page (global-max-size)",
			"event", "global_max_size", "global_max_size", roundSize(limit), "bytes", limit,
			"percent", s.cfg.GlobalMaxSizePercent, "memory", roundSize(mem), "memory_source", src)
	} else {
		s.log.Warn("the machine's memory could not be read; messages in memory are bounded by 1GiB (set global-max-size, or TANDEM_MEMORY)",
			"event", "global_max_size", "global_max_size", roundSize(limit), "bytes", limit)
	}
	return limit, nil
}

// roundSize renders a size for a log line: exact when it is a whole number
// of a unit (64MiB), else to a tenth of GiB or MiB (5.9GiB).
func roundSize(n int64) string {
	switch {
	case n%(1<<20) == 0 || n < 1<<20:
		return config.FormatSize(n)
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MiB"
}

// ingestSlots is how many connections may handle pipelined messages at
// once (protocol.IngestGate): half of the processors, at least one. The
// other half is left to deliveries, acknowledgements, the journal and the
// collector, so that a flood of sends cannot starve the consumers that
// acknowledge (docs/benchmarks.md).
func ingestSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// openStore opens the store; reserve, if not nil, is memory faulted in ahead
// for the replay.
func (s *Server) openStore(epoch uint64, reserve *journal.Reserve, fol *filestore.Follower, fence *store.Fence) (store.Store, error) {
	if !s.cfg.PersistenceEnabled {
		s.log.Warn("persistence is disabled: messages live in memory only and are lost on restart")
		return memstore.New(), nil
	}
	if s.cfg.Database() {
		return s.openDatabaseStore(epoch)
	}
	fs, err := filestore.Open(filestore.Options{
		JournalDir: s.cfg.JournalDirectory, BindingsDir: s.cfg.BindingsDirectory,
		FileSize: s.cfg.JournalFileSize, MinFiles: s.cfg.JournalMinFiles, Sync: s.cfg.JournalSync,
		BufferTimeout: s.cfg.JournalBufferTimeout, CompactMinFiles: s.cfg.JournalCompactMinFiles,
		CompactPercentage: s.cfg.JournalCompactPercentage, Logger: s.log, Epoch: epoch,
		BufferedWrites: s.cfg.JournalType == config.JournalNIO,
		Reserve:        reserve, Fence: fence, Follower: fol, VerifyFollower: verifyFollower(),
	})
	if err != nil {
		return nil, fmt.Errorf("open the journal: %w", err)
	}
	if fol != nil {
		rep := fs.Replayed()
		if rep.Messages.Used {
			s.log.Info(fmt.Sprintf("took over the journal the waiting node followed: replayed %d operations of its tail for %d records",
				rep.Messages.TailOps, rep.Messages.Records), "event", "ha_followed", "replayed_ops", rep.Messages.TailOps,
				"records", rep.Messages.Records, "bindings_followed", rep.Bindings.Used)
		} else {
			s.log.Warn("replayed the whole journal at takeover: "+rep.Messages.Reason, "event", "ha_follow_unused",
				"replayed_ops", rep.Messages.TailOps, "records", rep.Messages.Records)
		}
	}
	s.fileStore.Store(fs)
	fs.OnFailure(s.journalFailed)
	return fs, nil
}

// usersReloadEvery is how often, at most, a login looks whether the users
// file changed (docs/security.md).
const usersReloadEvery = 2 * time.Second

// authenticator returns the process's one authenticator, shared by every
// protocol adapter and the HTTP port, loading the users file and starting
// to watch it the first time: a `tandem user` change is then seen by all
// of them alike, across activations of an HA node.
func (s *Server) authenticator() (*security.Authenticator, error) {
	s.authnMu.Lock()
	defer s.authnMu.Unlock()
	if s.authn != nil {
		return s.authn, nil
	}
	users := security.NewUsers()
	if s.cfg.Security.UsersFile != "" {
		u, err := security.LoadUsers(s.cfg.Security.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("load users: %w", err)
		}
		users = u
		// tandem user edits the file while the broker runs.
		u.Watch(s.cfg.Security.UsersFile, usersReloadEvery, s.log)
	}
	s.authn = security.NewAuthenticator(s.cfg.Security.AllowAnonymous, s.cfg.Security.AnonymousRole, users)
	return s.authn, nil
}

func (s *Server) security() (protocol.Authenticator, broker.Authorizer, error) {
	authn, err := s.authenticator()
	if err != nil {
		return nil, nil, err
	}
	auth := authAdapter{authn}
	var perms broker.Authorizer
	pa := permAdapter{}
	if s.cfg.Security.UsersFile != "" {
		pa.exists, pa.gen = authn.Exists, authn.Generation
	}
	if rules := s.cfg.SecurityRules(); len(rules) > 0 {
		p, err := security.NewPermissions(rules)
		if err != nil {
			return nil, nil, fmt.Errorf("security-settings: %w", err)
		}
		pa.p = p
	}
	if pa.p != nil || pa.exists != nil {
		perms = pa
	}
	return auth, perms, nil
}

// Broker returns the running broker core, or nil before Start.
func (s *Server) Broker() *broker.Broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broker
}

// Addrs returns the addresses the acceptors listen on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Stop closes the acceptors and client connections, then the broker, then
// the store (which syncs the journal).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	var errs []error
	for _, l := range s.listeners {
		errs = append(errs, l.Close(ctx))
	}
	s.listeners = nil
	s.webSocket.Store(nil)
	if s.stopServing != nil {
		s.stopServing()
		s.stopServing = nil
	}
	s.web.serving(nil)
	if s.broker != nil {
		s.broker.Close()
		s.broker = nil
	}
	s.closePager()
	if s.store != nil {
		errs = append(errs, s.store.Close())
		s.store = nil
		s.fileStore.Store(nil)
		s.fencePoint.Store(nil)
	}
	s.releaseStoreLocked()
	s.log.Info("broker stopped", "event", "server_stopped", "name", s.cfg.Name)
	return errors.Join(errs...)
}
