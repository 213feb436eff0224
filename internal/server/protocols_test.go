package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tandem/internal/config"
	"tandem/internal/protocol"
	"tandem/internal/protocol/cluster"
	wire "tandem/internal/wire/stomp"
)

// TestRegistryMatchesSpokenProtocols keeps the adapter registry and the
// names configuration accepts in protocols= the same list.
func TestRegistryMatchesSpokenProtocols(t *testing.T) {
	var names []string
	for n := range adapters {
		names = append(names, n)
	}
	spoken := slices.Clone(config.SpokenProtocols)
	sort.Strings(names)
	sort.Strings(spoken)
	if !slices.Equal(names, spoken) {
		t.Fatalf("registered adapters %v, config.SpokenProtocols %v", names, spoken)
	}
}

// startLive runs a standalone server with one acceptor whose URL carries
// options, and marks it live of node id "node-1" as an HA activation would.
func startLive(t *testing.T, acceptorOptions string) (*Server, string) {
	t.Helper()
	cfg := config.Default()
	if err := cfg.ResolvePaths(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	a := config.Acceptor{Name: "test", URL: "tcp://127.0.0.1:0" + acceptorOptions, Options: map[string]string{}}
	if _, q, ok := strings.Cut(acceptorOptions, "?"); ok {
		for _, kv := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(kv, "=")
			a.Options[k] = v
		}
	}
	cfg.Acceptors = []config.Acceptor{a}
	cfg.JournalSync = false
	s := New(cfg, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	addr := s.Addrs()[0].String()
	s.topo.activate("node-1", 7, protocol.Node{Name: "live", Endpoints: []protocol.Endpoint{{URL: "tcp://" + addr}}})
	return s, addr
}

// stompConnected connects over STOMP and returns the CONNECTED headers.
func stompConnected(t *testing.T, addr string) wire.Headers {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w := wire.NewWriter(nc)
	if err := w.WriteFrame(&wire.Frame{Command: wire.CmdConnect, Headers: wire.Headers{{Key: "accept-version", Value: "1.2"}, {Key: "host", Value: "x"}}}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := wire.NewReader(nc, wire.ReaderOptions{}).ReadFrame()
	if err != nil || f.Command != wire.CmdConnected {
		t.Fatalf("CONNECT answered %v, %v", f, err)
	}
	return f.Headers
}

// TestAnnounceWorksOnAStompOnlyAcceptor checks that a backup announces
// itself through the cluster protocol on an acceptor limited to STOMP, and
// that STOMP clients then learn its URL.
func TestAnnounceWorksOnAStompOnlyAcceptor(t *testing.T) {
	_, addr := startLive(t, "?protocols=STOMP")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	welcomed := make(chan struct{})
	go cluster.Announce(ctx, nc, cluster.Hello{NodeID: "node-1", Name: "backup",
		Endpoints: []protocol.Endpoint{{URL: "tcp://backup:61617", Protocols: []string{"STOMP", "AMQP"}}}}, func() { close(welcomed) })
	select {
	case <-welcomed:
	case <-time.After(5 * time.Second):
		t.Fatal("the live never welcomed the backup")
	}
	h := stompConnected(t, addr)
	if got := h.Value("tandem-backups"); got != "tcp://backup:61617" {
		t.Fatalf("tandem-backups = %q after the announcement", got)
	}
	if got := h.Value("tandem-node-id"); got != "node-1" {
		t.Fatalf("tandem-node-id = %q", got)
	}
}

// TestBackupsOnlyForTheirProtocols checks that a backup whose endpoint
// does not serve STOMP is not offered to STOMP clients.
func TestBackupsOnlyForTheirProtocols(t *testing.T) {
	s, addr := startLive(t, "")
	release, err := s.topo.register(cluster.Hello{NodeID: "node-1", Name: "amqp-only",
		Endpoints: []protocol.Endpoint{{URL: "tcp://b:5672", Protocols: []string{"AMQP"}}}}, protocol.Identity{})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if got := stompConnected(t, addr).Value("tandem-backups"); got != "" {
		t.Fatalf("a STOMP client was offered %q, which does not serve STOMP", got)
	}
}

// TestAcceptorSkipsProtocolsTandemDoesNotSpeak serves the spoken part of a
// protocols= list copied from Artemis.
func TestAcceptorSkipsProtocolsTandemDoesNotSpeak(t *testing.T) {
	_, addr := startLive(t, "?protocols=CORE,STOMP,HORNETQ")
	if h := stompConnected(t, addr); h.Value("version") != "1.2" {
		t.Fatalf("CONNECTED %v", h)
	}
}

// stompOverWebSocket connects to url with the STOMP subprotocol, sends a
// message to /queue/ws and reads it back.
func stompOverWebSocket(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	send := func(frame string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	// Frames split across messages and several frames in one message, as
	// browser libraries send them.
	send("CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
	send("SUBSCRIBE\nid:1\ndestination:/queue/ws\n\n\x00SEND\ndestination:/queue/ws\n")
	send("\nhello over websocket\x00")
	var got strings.Builder
	for !strings.Contains(got.String(), "hello over websocket") {
		_, p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading from %s: %v (so far %q)", url, err, got.String())
		}
		got.Write(p)
	}
	if !strings.HasPrefix(got.String(), "CONNECTED") || !strings.Contains(got.String(), "MESSAGE") {
		t.Fatalf("frames from %s: %q", url, got.String())
	}
}

func TestStompOverWebSocketOnTheClientPort(t *testing.T) {
	_, addr := startLive(t, "")
	stompOverWebSocket(t, "ws://"+addr+"/")
}

func TestStompOverWebSocketOnTheHTTPPort(t *testing.T) {
	s, _ := startLive(t, "")
	srv := httptest.NewServer(http.HandlerFunc(s.serveWebSocket))
	defer srv.Close()
	stompOverWebSocket(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/stomp")
	if err := s.stopWithTimeout(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/stomp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/stomp on a stopped node answered %d, want 503", resp.StatusCode)
	}
}
