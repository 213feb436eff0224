package perf

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func idleConfig(url string) IdleConfig {
	return IdleConfig{URL: url, Connections: 60, Parallel: 8, Settle: time.Millisecond, Hold: 50 * time.Millisecond}
}

func TestRunIdleOpensHoldsAndChecksEveryConnection(t *testing.T) {
	b := startFakeBroker(t, nil)
	cfg := idleConfig(b.url())
	if runtime.GOOS == "linux" {
		cfg.BrokerPID = os.Getpid() // the fake broker runs in this process
	}
	rep, err := RunIdle(t.Context(), cfg)
	if err != nil {
		t.Fatalf("RunIdle: %v", err)
	}
	if rep.Connected != 60 || rep.Failed != 0 || rep.StillConnected != 60 || rep.Broker != "fake/1" {
		t.Fatalf("connected %d, failed %d, still connected %d, broker %q; want 60, 0, 60, fake/1",
			rep.Connected, rep.Failed, rep.StillConnected, rep.Broker)
	}
	if rep.ConnectRate <= 0 || rep.HoldSeconds < 0.05 {
		t.Errorf("connect rate %.0f/s, held %.3f s", rep.ConnectRate, rep.HoldSeconds)
	}
	if cfg.BrokerPID > 0 && (rep.BrokerError != "" || rep.BrokerRSSMiB <= 0 || rep.BrokerRSSBeforeMiB <= 0) {
		t.Errorf("broker figures: RSS %.1f -> %.1f MiB, error %q", rep.BrokerRSSBeforeMiB, rep.BrokerRSSMiB, rep.BrokerError)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "60 of 60 opened") {
		t.Errorf("text report: %v\n%s", err, text.String())
	}
}

// TestRunIdleCountsConnectionsTheBrokerDropped: connections the broker
// closed during the hold are not counted as still connected.
func TestRunIdleCountsConnectionsTheBrokerDropped(t *testing.T) {
	b := startFakeBroker(t, nil)
	cfg := idleConfig(b.url())
	cfg.Connections, cfg.Hold = 20, 2*time.Second
	done := make(chan *IdleReport, 1)
	go func() {
		rep, _ := RunIdle(t.Context(), cfg)
		done <- rep
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		n := len(b.conns)
		b.mu.Unlock()
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d connections arrived", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.mu.Lock()
	for _, c := range b.conns[:5] {
		c.Close()
	}
	b.mu.Unlock()
	rep := <-done
	if rep == nil || rep.Connected != 20 || rep.StillConnected != 15 {
		t.Fatalf("report %+v, want 20 connected and 15 still served", rep)
	}
}

func TestRunIdleReportsRefusedConnections(t *testing.T) {
	b := startFakeBroker(t, func(b *fakeBroker) { b.refuse = "too many connections" })
	cfg := idleConfig(b.url())
	cfg.Connections = 5
	rep, err := RunIdle(t.Context(), cfg)
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "too many connections") {
		t.Fatalf("err = %v, want ErrConnect quoting the broker", err)
	}
	if rep == nil || rep.Failed != 5 || rep.Connected != 0 || !strings.Contains(rep.FirstError, "too many connections") {
		t.Fatalf("report %+v", rep)
	}
}

// TestRunIdleConnectsFromEachSourceAddress uses two loopback addresses
// (on Linux every 127.x.y.z is loopback) and checks that the broker saw
// connections from both, in turn.
func TestRunIdleConnectsFromEachSourceAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux routes all of 127.0.0.0/8 to loopback")
	}
	b := startFakeBroker(t, nil)
	cfg := idleConfig(b.url())
	cfg.Connections, cfg.LocalAddrs = 10, []string{"127.0.0.1", "127.0.0.2"}
	rep, err := RunIdle(t.Context(), cfg)
	if err != nil || rep.Connected != 10 {
		t.Fatalf("RunIdle = %+v, %v", rep, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.remotes["127.0.0.1"] != 5 || b.remotes["127.0.0.2"] != 5 {
		t.Fatalf("connections per source address %v, want 5 from each", b.remotes)
	}
}

func TestRunIdleRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*IdleConfig)
		want   string
	}{
		{"no connections", func(c *IdleConfig) { c.Connections = 0 }, "--connections 0"},
		{"bad source", func(c *IdleConfig) { c.LocalAddrs = []string{"localhost"} }, `--bind "localhost"`},
		{"bad url", func(c *IdleConfig) { c.URL = "http://x" }, "--url"},
		{"negative hold", func(c *IdleConfig) { c.Hold = -time.Second }, "--hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := idleConfig("tcp://127.0.0.1:1")
			tt.mutate(&cfg)
			_, err := RunIdle(t.Context(), cfg)
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadConfig saying %q", err, tt.want)
			}
		})
	}
}
