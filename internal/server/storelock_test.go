package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/message"
	"tandem/internal/storelock"
)

// storeConfig is a standalone broker's configuration on the store in dir.
func storeConfig(t *testing.T, dir, name string) *config.Config {
	t.Helper()
	cfg := config.Default()
	if err := cfg.ResolvePaths(dir); err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.BaseDir = name, filepath.Join(dir, name)
	cfg.Acceptors = []config.Acceptor{{Name: "test", URL: "tcp://127.0.0.1:0"}}
	cfg.SecuritySettings = nil
	cfg.Web.Enabled = false
	return cfg
}

func sendN(t *testing.T, s *Server, addr string, n int) {
	t.Helper()
	sess, err := s.Broker().NewSession(broker.SessionInfo{User: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for i := range n {
		m := &message.Message{Address: addr, RoutingType: message.Anycast, Durable: true, Body: []byte{byte(i)}}
		if err := sendWait(t, sess, m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSecondBrokerOnStoreRefused: a second broker on a store that a
// running broker holds is refused before it reads the journal, with the
// holder named, and the first broker's messages are all there afterwards.
// The planted corrupt journal file proves the order: had the second broker
// read the journal, it would have failed on the corruption instead.
func TestSecondBrokerOnStoreRefused(t *testing.T) {
	dir := t.TempDir()
	first := New(storeConfig(t, dir, "b1"), nil)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	sendN(t, first, "orders", 20)
	bait := filepath.Join(first.cfg.JournalDirectory, "tandem-data-0000000099.tj")
	if err := os.WriteFile(bait, []byte("not a journal file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, instance string
		want           string
	}{
		{"same instance", "b1", "this instance is already running"},
		{"another instance", "twin", "is in use by pid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			second := New(storeConfig(t, dir, tc.instance), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := second.Run(ctx)
			var iu *storelock.InUseError
			if !errors.As(err, &iu) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "b1") {
				t.Fatalf("second broker: %v; want it refused, naming the holder", err)
			}
		})
	}
	os.Remove(bait)
	if err := first.stopWithTimeout(); err != nil {
		t.Fatal(err)
	}
	again := New(storeConfig(t, dir, "b1"), nil)
	if err := again.Start(); err != nil {
		t.Fatalf("restart after the refusals: %v", err)
	}
	defer again.stopWithTimeout()
	q, err := again.Broker().Queue("orders")
	if err != nil || q.Messages != 20 {
		t.Fatalf("queue after restart: %+v, %v; want the 20 confirmed messages", q, err)
	}
}

// TestStandaloneOnSharedStoreRefused: a standalone broker never opens the
// store of a shared-store pair, running or not.
func TestStandaloneOnSharedStoreRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := storeConfig(t, dir, "lone")
	// A pair's primary was live on this journal directory once.
	if err := os.MkdirAll(cfg.JournalDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ha.Wait(ctx, ha.Options{Dir: cfg.JournalDirectory, Role: ha.Primary, Name: "master"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	err = New(cfg, nil).Start()
	if !errors.Is(err, ErrSharedStore) || !strings.Contains(err.Error(), "master") || !strings.Contains(err.Error(), "ha-policy shared-store") {
		t.Fatalf("standalone on a pair's store: %v; want ErrSharedStore naming the pair and what to do", err)
	}
	ents, _ := os.ReadDir(cfg.JournalDirectory)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tandem-data") {
			t.Errorf("the refused broker created %s", e.Name())
		}
	}
}

// TestPairRefusesStoreOfStandalone: a shared-store node does not start on
// a store a standalone broker serves, so that it writes no state file
// into it.
func TestPairRefusesStoreOfStandalone(t *testing.T) {
	dir := t.TempDir()
	lone := New(storeConfig(t, dir, "lone"), nil)
	if err := lone.Start(); err != nil {
		t.Fatal(err)
	}
	defer lone.stopWithTimeout()
	cfg := storeConfig(t, dir, "master")
	cfg.HA.Mode = config.HAPrimary
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := New(cfg, nil).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "not the live node of a shared-store pair") {
		t.Fatalf("primary on a standalone's store: %v", err)
	}
	if _, err := ha.ReadRecord(cfg.JournalDirectory); !errors.Is(err, ha.ErrNoRecord) {
		t.Errorf("the refused node left a state file: %v", err)
	}
}

// TestLockTimingBoundsAgree: the configuration checks lock-check-period
// and lock-stall-timeout against the bounds internal/ha enforces.
func TestLockTimingBoundsAgree(t *testing.T) {
	if config.MaxLockCheckPeriod != ha.MaxLockCheckPeriod || config.DefaultLockCheckPeriod != ha.DefaultLockCheckPeriod ||
		config.MinLockStallPeriods != ha.MinStallPeriods || config.MaxLockStallTimeout != ha.MaxStallTimeout {
		t.Fatal("config and ha disagree on the lock timing bounds")
	}
}

// TestNewLiveWaitsForOldLiveToLetGo: a node that takes live.lock while the
// previous live still holds the store lock (it lost live.lock and is about
// to fence itself) waits for it to let go instead of giving up.
func TestNewLiveWaitsForOldLiveToLetGo(t *testing.T) {
	dir := t.TempDir()
	cfg := storeConfig(t, dir, "master")
	cfg.HA.Mode = config.HAPrimary
	old, err := storelock.Acquire(New(cfg, nil).storeDirs(), storelock.Self("/srv/old", "old", storelock.RoleLive))
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Serving is impossible while the old live holds the store.
	time.Sleep(300 * time.Millisecond)
	if s.Broker() != nil {
		t.Fatal("the new live served while the old one held the store")
	}
	select {
	case err := <-done:
		t.Fatalf("the new live gave up while the old one was letting go: %v", err)
	default:
	}
	old.Release()
	deadline := time.Now().Add(10 * time.Second)
	for s.Broker() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the new live did not start once the old one let go")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
