package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/security"
	"tandem/internal/tlsconfig"
	"tandem/internal/web"
)

// Version is reported by the console, /api/node and tandem_info; the CLI
// sets it to its own version before running a server.
var Version = "dev"

// webState is what the server keeps for the HTTP port: the serving
// broker, published without the server's mutex so that a health probe
// never waits behind a journal replay, and the HA counters.
type webState struct {
	broker      atomic.Pointer[broker.Broker]
	since       atomic.Int64 // unix nanoseconds the broker started serving; 0 when not
	activations atomic.Uint64
	started     time.Time
	// force carries a force-failover request from the API to runHA.
	force chan struct{}
	// announced is where this waiting node is announced, nil when not.
	announced atomic.Pointer[announcement]

	evMu   sync.Mutex
	events []web.HAEvent // this process's HA states, oldest first
}

// announcement is the live a waiting node announced itself to.
type announcement struct {
	url   string
	since time.Time
}

// setAnnounced records the live this waiting node is announced to ("" when
// it is not).
func (w *webState) setAnnounced(url string) {
	if url == "" {
		w.announced.Store(nil)
		return
	}
	w.announced.Store(&announcement{url: url, since: time.Now()})
}

// maxHAEvents bounds the HA events the console shows.
const maxHAEvents = 32

// recordHA keeps an HA state change for the console: a new state is a new
// event; a change of detail or record within a state updates the last.
func (w *webState) recordHA(st ha.State) {
	ev := web.HAEvent{Time: st.Since, State: st.Name, Epoch: st.Epoch, LiveName: st.LiveName, Detail: st.Detail}
	if st.LiveRole != 0 {
		ev.LiveRole = st.LiveRole.String()
	}
	w.evMu.Lock()
	defer w.evMu.Unlock()
	if n := len(w.events); n > 0 && w.events[n-1].State == ev.State && w.events[n-1].Time.Equal(ev.Time) {
		w.events[n-1] = ev
		return
	}
	if len(w.events) == maxHAEvents {
		w.events = append(w.events[:0], w.events[1:]...)
	}
	w.events = append(w.events, ev)
}

// haEvents returns a copy of the HA events.
func (w *webState) haEvents() []web.HAEvent {
	w.evMu.Lock()
	defer w.evMu.Unlock()
	return append([]web.HAEvent(nil), w.events...)
}

// serving publishes the broker that now serves clients, or nil.
func (w *webState) serving(b *broker.Broker) {
	w.broker.Store(b)
	if b == nil {
		w.since.Store(0)
		return
	}
	w.since.Store(time.Now().UnixNano())
}

// webNode adapts the server to web.Node.
type webNode struct{ s *Server }

var _ web.Node = webNode{}

// Broker returns the serving broker or nil; a nil *broker.Broker must not
// become a non-nil interface.
func (n webNode) Broker() web.Broker {
	if b := n.s.web.broker.Load(); b != nil {
		return b
	}
	return nil
}

// Status reports the node's identity, role and HA state.
func (n webNode) Status() web.NodeStatus {
	s := n.s
	cfg := s.cfg
	st := web.NodeStatus{
		Name: cfg.Name, Version: Version, HAPolicy: "none", Started: s.web.started,
		JournalDirectory: s.storeLocation(), FailoverOnShutdown: cfg.HA.FailoverOnShutdown,
		AllowFailback: cfg.HA.AllowFailback, Activations: s.web.activations.Load(),
	}
	if ns := s.web.since.Load(); ns != 0 {
		st.ServingSince = time.Unix(0, ns)
	}
	switch cfg.HA.Mode {
	case config.HAPrimary:
		st.HAPolicy = "shared-store primary"
	case config.HABackup:
		st.HAPolicy = "shared-store backup"
	}
	serving := s.web.broker.Load() != nil
	if hs := s.HAState(); hs != nil {
		st.State, st.StateSince, st.StateDetail = hs.Name, hs.Since, hs.Detail
		st.NodeID, st.Epoch, st.LiveName = hs.NodeID, hs.Epoch, hs.LiveName
		st.Role = web.RoleBackup
		if hs.Name == ha.StateLive && serving {
			st.Role = web.RoleLive
			st.Backups = s.topo.Backups()
			for _, b := range s.topo.backupNodes() {
				st.Peers = append(st.Peers, web.Peer{Name: b.name, URL: b.url, Role: web.RoleBackup, State: "waiting", Since: b.since})
			}
		} else if hs.LiveName != "" && hs.LiveName != cfg.Name {
			live := web.Peer{Name: hs.LiveName, Role: web.RoleLive, State: "live"}
			if hs.Name == ha.StateStorePaused {
				// The store says its last live stopped without failover.
				live.Role, live.State = "stopped", "stopped"
			}
			if a := s.web.announced.Load(); a != nil {
				live.URL, live.Since = a.url, a.since
			}
			st.Peers = append(st.Peers, live)
		}
		st.Events = s.web.haEvents()
	} else {
		st.Role, st.State, st.StateSince = web.RoleLive, "stopped", s.web.started
		if serving {
			st.State, st.StateSince = "live", st.ServingSince
		}
	}
	if fs := s.fileStore.Load(); fs != nil {
		js, sl := fs.Stats(), fs.SyncLatency()
		st.Journal, st.SyncLatency = &js, &sl
	}
	return st
}

// ForceFailover asks runHA to stop this live node so that its backup
// takes over (see runHA).
func (n webNode) ForceFailover() error {
	s := n.s
	if s.cfg.HA.Mode == config.HANone {
		return fmt.Errorf("%w: this broker has no ha-policy", web.ErrNoFailover)
	}
	if hs := s.HAState(); hs == nil || hs.Name != ha.StateLive {
		return fmt.Errorf("%w: this node is not live", web.ErrNoFailover)
	}
	select {
	case s.web.force <- struct{}{}:
	default: // a request is already pending
	}
	return nil
}

// webAuth checks HTTP logins against the users file. Anonymous logins are
// never accepted on the HTTP port, whatever allow-anonymous says for
// messaging clients.
type webAuth struct{ a *security.Authenticator }

func (w webAuth) Authenticate(user, pass string) ([]string, error) {
	if user == "" {
		// The console's own rule for callers without credentials is
		// LocalAnonymous; the messaging anonymous role never applies here.
		return nil, errors.New("a user name is required")
	}
	p, err := w.a.Authenticate(user, pass)
	if err != nil {
		return nil, err
	}
	return p.Roles, nil
}

// Lookup lets the console end the sessions of a removed user or of a
// changed password (web.UserLookup).
func (w webAuth) Lookup(user string) ([]string, string, bool) {
	p, stamp, ok := w.a.Lookup(user)
	return p.Roles, stamp, ok
}

// ErrForcedFailover is returned by Run after a force-failover: the broker
// and the journal are closed, and the process must exit so that the kernel
// releases the live lock to the backup (see runHA). Its exit status is not
// zero, so a supervisor restarts the node, which then waits as a backup.
var ErrForcedFailover = errors.New("stopped by force-failover: the backup takes over the store; restart this node to make it a backup")

// startWeb opens the HTTP port when broker.yaml enables it and returns the
// function that closes it. A port that cannot be opened is logged and the
// broker runs without it: messaging matters more than the console.
func (s *Server) startWeb() func() {
	if !s.cfg.Web.Enabled {
		return func() {}
	}
	authn, err := s.authenticator()
	if err != nil {
		s.log.Error("web console disabled: cannot load the users file", "event", "web_failed", "err", err)
		return func() {}
	}
	var tlsCfg *tls.Config
	ts, err := tlsconfig.Parse(s.cfg.Web.TLS)
	if err == nil && ts.Enabled {
		tlsCfg, err = tlsconfig.Server(ts)
	}
	if err != nil {
		s.log.Error("web console disabled: its TLS settings (web.tls) do not load", "event", "web_failed", "err", err)
		return func() {}
	}
	ws, err := web.New(web.Options{Node: webNode{s}, Auth: webAuth{authn}, Logger: s.log, TLS: tlsCfg,
		LocalAnonymous: s.cfg.Security.AllowAnonymous, AnonymousRoles: []string{s.cfg.Security.AnonymousRole},
		WebSocket: http.HandlerFunc(s.serveWebSocket)})
	if err == nil {
		err = ws.Listen(s.cfg.Web.Bind)
	}
	if err != nil {
		s.log.Error("web console disabled", "event", "web_failed", "err", err)
		return func() {}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ws.Close(ctx) // requests still running after 5 s are cut off
	}
}

// serveWebSocket serves /stomp and /mqtt on the HTTP port through the live
// broker's WebSocket transport; a waiting node has no broker to offer.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	t := s.webSocket.Load()
	if t == nil {
		http.Error(w, "this node is not live (a waiting backup, or stopping): connect to the live node", http.StatusServiceUnavailable)
		return
	}
	t.ServeHTTP(w, r)
}
