package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/listener"
	"tandem/internal/protocol"
)

type allow struct{}

func (allow) Authenticate(_, login, pass string) (protocol.Identity, error) {
	if login == "cluster" && pass == "secret" || login == "" {
		return protocol.Identity{User: login}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// registry records registrations as the live's topology would.
type registry struct {
	mu     sync.Mutex
	listed map[string]bool
	nodeID string
}

func (r *registry) register(h Hello, _ protocol.Identity) (func(), error) {
	if h.NodeID != r.nodeID {
		return nil, errors.New("node id mismatch")
	}
	r.mu.Lock()
	r.listed[h.Name] = true
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.listed, h.Name)
		r.mu.Unlock()
	}, nil
}

func (r *registry) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listed[name]
}

// liveNode serves the cluster protocol on a free port.
func liveNode(t *testing.T, reg Register) string {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(nl, listener.Options{Protocols: []listener.Protocol{NewServer(allow{}, reg, nil)}})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	return nl.Addr().String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAnnouncedNodeIsListedWhileConnected(t *testing.T) {
	reg := &registry{listed: map[string]bool{}, nodeID: "n1"}
	addr := liveNode(t, reg.register)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	welcomed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ok, err := Announce(ctx, nc, Hello{NodeID: "n1", Name: "slave", User: "cluster", Password: "secret",
			Endpoints: []protocol.Endpoint{{URL: "tcp://localhost:61617"}}}, func() { close(welcomed) })
		if !ok && err == nil {
			err = errors.New("not accepted")
		}
		done <- err
	}()
	<-welcomed
	waitUntil(t, "the node is listed", func() bool { return reg.has("slave") })
	// It stays listed across several ping periods.
	time.Sleep(2 * PingInterval)
	if !reg.has("slave") {
		t.Fatal("a healthy node was unlisted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the node is unlisted after it leaves", func() bool { return !reg.has("slave") })
}

func TestSilentNodeIsUnlisted(t *testing.T) {
	reg := &registry{listed: map[string]bool{}, nodeID: "n1"}
	addr := liveNode(t, reg.register)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A hand-made hello, then silence: a node that froze.
	var b strings.Builder
	b.Write(Magic)
	if err := writeMessage(&b, message{Type: typeHello, Hello: &Hello{NodeID: "n1", Name: "frozen",
		Endpoints: []protocol.Endpoint{{URL: "tcp://x:1"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the frozen node is listed", func() bool { return reg.has("frozen") })
	start := time.Now()
	waitUntil(t, "the frozen node is unlisted", func() bool { return !reg.has("frozen") })
	if d := time.Since(start); d < DeadAfter-time.Second {
		t.Fatalf("unlisted after %v, before the %v grace", d, DeadAfter)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name  string
		reg   Register
		hello Hello
		want  string
	}{
		{"not live", nil, Hello{NodeID: "n1"}, "not the live node"},
		{"bad password", (&registry{listed: map[string]bool{}, nodeID: "n1"}).register,
			Hello{NodeID: "n1", User: "cluster", Password: "wrong"}, "login failed"},
		{"other store", (&registry{listed: map[string]bool{}, nodeID: "n1"}).register,
			Hello{NodeID: "n2"}, "node id mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := liveNode(t, tc.reg)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := Announce(context.Background(), nc, tc.hello, nil)
			if ok || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Announce = %v, %v; want a refusal saying %q", ok, err, tc.want)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	s := NewServer(allow{}, nil, nil)
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"TNDM", listener.NeedMore}, {"TNDMCLU1", listener.Match}, {"TNDMCLU1xyz", listener.Match},
		{"CONNECT\n", listener.NoMatch}, {"TNDX", listener.NoMatch}, {"", listener.NeedMore},
	} {
		if got := s.Detect([]byte(tc.in)); got != tc.want {
			t.Errorf("Detect(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
