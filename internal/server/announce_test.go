package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/listener"
	"tandem/internal/protocol"
	"tandem/internal/protocol/cluster"
)

type anyLogin struct{}

func (anyLogin) Authenticate(_, login, _ string) (protocol.Identity, error) {
	return protocol.Identity{User: login}, nil
}

// TestAnnouncementStaysUpAndReportsItsPeer runs the announcer against a
// live's cluster protocol: the node is announced once and stays announced
// across several ping periods (the live once logged "backup left" and
// "backup announced" every few seconds), the console learns the live's
// URL, and learns "" when the live goes away.
func TestAnnouncementStaysUpAndReportsItsPeer(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var registrations atomic.Int32
	reg := func(h cluster.Hello, _ protocol.Identity) (func(), error) {
		registrations.Add(1)
		return func() {}, nil
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := listener.New(nl, listener.Options{Protocols: []listener.Protocol{cluster.NewServer(anyLogin{}, reg, log)}})
	go l.Serve()
	url := "tcp://" + nl.Addr().String()
	seen := make(chan string, 10)
	a := &announcer{urls: []string{url}, log: log, onAnnounced: func(u string) { seen <- u },
		hello: func() cluster.Hello {
			return cluster.Hello{NodeID: "node-1", Name: "slave", Endpoints: []protocol.Endpoint{{URL: "tcp://localhost:61617"}}}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.run(ctx)
	select {
	case u := <-seen:
		if u != url {
			t.Fatalf("announced at %q, want %q", u, url)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never announced")
	}
	time.Sleep(3 * cluster.PingInterval)
	if n := registrations.Load(); n != 1 {
		t.Fatalf("%d registrations over three ping periods, want 1", n)
	}
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	l.Close(closeCtx)
	select {
	case u := <-seen:
		if u != "" {
			t.Fatalf("after the live went away the console was told %q, want \"\"", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console never learned that the announcement ended")
	}
}
