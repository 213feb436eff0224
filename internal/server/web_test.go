package server

import (
	"errors"
	"testing"

	"tandem/internal/web"
)

func TestWebNodeOfStandaloneBroker(t *testing.T) {
	s, _ := startServer(t)
	n := webNode{s}
	st := n.Status()
	if st.Role != web.RoleLive || st.State != "live" || st.HAPolicy != "none" || st.ServingSince.IsZero() {
		t.Fatalf("status of a serving standalone broker = %+v", st)
	}
	if st.Journal == nil || st.SyncLatency == nil || len(st.SyncLatency.Counts) == 0 {
		t.Fatalf("a persistent broker reports no journal statistics: %+v", st)
	}
	if n.Broker() == nil {
		t.Fatal("Broker() is nil while serving")
	}
	if err := n.ForceFailover(); !errors.Is(err, web.ErrNoFailover) {
		t.Fatalf("ForceFailover on a standalone broker = %v, want ErrNoFailover", err)
	}
	if err := s.stopWithTimeout(); err != nil {
		t.Fatal(err)
	}
	// A stopped broker must not leak into the interface as a typed nil.
	if b := n.Broker(); b != nil {
		t.Fatalf("Broker() after stop = %#v, want nil", b)
	}
	if st := n.Status(); st.State != "stopped" || !st.ServingSince.IsZero() {
		t.Fatalf("status after stop = %+v", st)
	}
}
