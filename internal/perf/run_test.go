package perf

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// baseConfig is a small, quick run against url.
func baseConfig(url string) Config {
	return Config{
		URL: url, Destinations: []string{"queue://T"}, Producers: 1, Consumers: 1,
		MessageSize: 100, Persistent: true, MaxPending: 1, Drain: 5 * time.Second, IdleEnd: 100 * time.Millisecond,
	}
}

func runOK(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunCountsEveryMessageOnce(t *testing.T) {
	tests := []struct {
		name          string
		mutate        func(*Config)
		wantCommits   int
		wantConfirmed bool
		wantTagged    bool // the run travels in headers, not in a body stamp
	}{
		{"persistent, one at a time", func(c *Config) {}, 0, true, false},
		{"persistent, windowed, 3 producers", func(c *Config) { c.Producers, c.Consumers, c.MaxPending = 3, 2, 16 }, 0, true, false},
		{"non-persistent", func(c *Config) { c.Persistent = false }, 0, false, false},
		{"transactions of 10", func(c *Config) { c.TxBatch, c.MaxPending = 10, 20 }, 30, true, false},
		{"transactions with a partial last batch", func(c *Config) { c.TxBatch, c.MaxPending, c.MessageCount = 7, 7, 300 }, 43, true, false},
		{"many destinations", func(c *Config) {
			c.Destinations = ExpandDestinations("queue://T", 5)
			c.Producers, c.Consumers = 2, 2
		}, 0, true, false},
		{"bodies too short for a stamp", func(c *Config) { c.MessageSize = stampSize - 1 }, 0, true, true},
		{"empty bodies", func(c *Config) { c.MessageSize, c.Producers, c.MaxPending = 0, 2, 4 }, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startFakeBroker(t, nil)
			cfg := baseConfig(b.url())
			cfg.MessageCount = 300
			tt.mutate(&cfg)
			rep := runOK(t, cfg)
			if rep.TotalSent != cfg.MessageCount {
				t.Errorf("total sent = %d, want %d", rep.TotalSent, cfg.MessageCount)
			}
			if rep.TotalReceived != cfg.MessageCount {
				t.Errorf("total received = %d, want %d", rep.TotalReceived, cfg.MessageCount)
			}
			if got, _ := b.counts(); got != int(cfg.MessageCount) {
				t.Errorf("broker saw %d messages, want %d", got, cfg.MessageCount)
			}
			if _, commits := b.counts(); tt.wantCommits != 0 && commits != tt.wantCommits {
				t.Errorf("commits = %d, want %d", commits, tt.wantCommits)
			}
			if tt.wantConfirmed {
				if rep.TotalConfirmed != cfg.MessageCount || rep.SendToConfirm == nil || rep.SendToConfirm.Count != cfg.MessageCount {
					t.Errorf("confirmed %d with latency %+v, want all %d", rep.TotalConfirmed, rep.SendToConfirm, cfg.MessageCount)
				}
			} else if rep.TotalConfirmed != 0 || rep.SendToConfirm != nil {
				t.Errorf("non-persistent sends were confirmed: %d, %+v", rep.TotalConfirmed, rep.SendToConfirm)
			}
			if rep.EndToEnd == nil || rep.EndToEnd.Count != cfg.MessageCount {
				t.Errorf("end-to-end latency %+v, want %d samples", rep.EndToEnd, cfg.MessageCount)
			}
			b.mu.Lock()
			tagged, lens := b.tagged, b.bodyLens
			b.mu.Unlock()
			if want := map[int]int{cfg.MessageSize: int(cfg.MessageCount)}; !maps.Equal(lens, want) {
				t.Errorf("body lengths seen %v, want %v", lens, want)
			}
			if wantTagged := tt.wantTagged; wantTagged && tagged != int(cfg.MessageCount) || !wantTagged && tagged != 0 {
				t.Errorf("%d of %d sends carry %s, want the header on all of them only when bodies are too short for a stamp (%v)",
					tagged, cfg.MessageCount, hdrRun, wantTagged)
			}
			if rep.Unconfirmed != 0 || rep.Broker != "fake/1" {
				t.Errorf("unconfirmed %d, broker %q", rep.Unconfirmed, rep.Broker)
			}
		})
	}
}

func TestRunForADurationStopsAndMeasuresTheWindow(t *testing.T) {
	b := startFakeBroker(t, nil)
	cfg := baseConfig(b.url())
	cfg.Duration, cfg.Warmup = 400*time.Millisecond, 200*time.Millisecond
	start := time.Now()
	rep := runOK(t, cfg)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %v", took)
	}
	if rep.MeasuredSeconds < 0.39 || rep.MeasuredSeconds > 0.6 {
		t.Errorf("measured %.3f s, want about 0.4", rep.MeasuredSeconds)
	}
	if rep.Sent == 0 || rep.Sent >= rep.TotalSent {
		t.Errorf("window sent %d of %d total: the warm-up was not left out", rep.Sent, rep.TotalSent)
	}
	if rep.SendToConfirm == nil || rep.SendToConfirm.Count > rep.TotalSent-1 {
		t.Errorf("latency samples %+v include the warm-up (total sent %d)", rep.SendToConfirm, rep.TotalSent)
	}
}

// TestConfirmLatencyIsEachSendsOwn: with one send in flight at a time and
// a broker that takes 5 ms per receipt, each send's latency is those 5 ms,
// not the wait for the previous send's receipt as well; and the latencies
// of sends made one after the other cannot add up to more than the run.
func TestConfirmLatencyIsEachSendsOwn(t *testing.T) {
	const delay = 5 * time.Millisecond
	b := startFakeBroker(t, func(b *fakeBroker) { b.receiptDelay = delay })
	cfg := baseConfig(b.url())
	cfg.Consumers, cfg.MessageCount = 0, 100
	rep := runOK(t, cfg)
	l := rep.SendToConfirm
	if l == nil || l.Count != 100 {
		t.Fatalf("latency %+v, want 100 samples", l)
	}
	if l.P50 < 4.9 || l.P50 > 1.6*5 {
		t.Errorf("p50 %.2f ms with a %v receipt delay; want about 5 ms (twice that counts the previous send's wait)", l.P50, delay)
	}
	if sum := l.Mean * float64(l.Count) / 1000; sum > rep.MeasuredSeconds*1.05 {
		t.Errorf("latencies add up to %.3f s in a %.3f s run of one send at a time", sum, rep.MeasuredSeconds)
	}
}

// TestFixedRateChargesAStallToEveryMessageDueDuringIt is the coordinated
// omission check: the broker stops reading for 300 ms; a producer at 500
// msg/s cannot send the ~150 messages due meanwhile, and each of them must
// show the stall in its latency, not only the one message that was waiting.
func TestFixedRateChargesAStallToEveryMessageDueDuringIt(t *testing.T) {
	const stall = 300 * time.Millisecond
	b := startFakeBroker(t, func(b *fakeBroker) { b.stallAfter, b.stall = 50, stall })
	cfg := baseConfig(b.url())
	cfg.Consumers, cfg.Rate, cfg.MessageCount = 0, 500, 400
	rep := runOK(t, cfg)
	l := rep.SendToConfirm
	if l == nil || l.Count != 400 {
		t.Fatalf("latency %+v, want 400 samples", l)
	}
	if l.Max < 250 {
		t.Errorf("max latency %.1f ms, want the %v stall", l.Max, stall)
	}
	// About 150 of 400 messages were due during the stall: the p90 must
	// carry a large part of it. Without the correction only one message
	// would, and p90 would be well under a millisecond.
	if l.P90 < 50 {
		t.Errorf("p90 %.1f ms: the stall was charged to too few messages (coordinated omission)", l.P90)
	}
	// The send rate must still average out to the schedule.
	if rep.SentRate < 350 || rep.SentRate > 650 {
		t.Errorf("sent rate %.0f msg/s, want about 500", rep.SentRate)
	}
}

// TestRunEndsWhenTheBrokerStopsReading: a producer blocked in a write to a
// broker that no longer reads (flow control, a hung broker) must not keep
// the run from ending when its time and drain are over.
func TestRunEndsWhenTheBrokerStopsReading(t *testing.T) {
	b := startFakeBroker(t, func(b *fakeBroker) { b.stallAfter, b.stall = 1, 20*time.Second })
	cfg := baseConfig(b.url())
	cfg.Persistent, cfg.Consumers, cfg.MessageSize = false, 0, 256<<10
	cfg.Duration, cfg.Drain = 300*time.Millisecond, 300*time.Millisecond
	start := time.Now()
	rep := runOK(t, cfg)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %v with a broker that stopped reading; want the duration, the drain and a close", took)
	}
	if rep.TotalSent == 0 {
		t.Errorf("nothing sent before the stall")
	}
}

func TestRunReportsWhatWentWrong(t *testing.T) {
	t.Run("broker refuses the login", func(t *testing.T) {
		b := startFakeBroker(t, func(b *fakeBroker) { b.refuse = "bad credentials" })
		cfg := baseConfig(b.url())
		cfg.MessageCount = 10
		_, err := Run(context.Background(), cfg)
		if !errors.Is(err, ErrConnect) || !errors.Is(err, ErrBroker) || !strings.Contains(err.Error(), "bad credentials") {
			t.Fatalf("err = %v, want ErrConnect quoting the broker", err)
		}
	})
	for _, pending := range []int{1, 8} {
		t.Run(fmt.Sprintf("broker refuses a send, max-pending %d", pending), func(t *testing.T) {
			b := startFakeBroker(t, func(b *fakeBroker) { b.refuseSend = "address full" })
			cfg := baseConfig(b.url())
			cfg.MessageCount, cfg.MaxPending, cfg.Drain = 10, pending, time.Minute
			start := time.Now()
			_, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrBroker) || !strings.Contains(err.Error(), "address full") {
				t.Fatalf("err = %v, want ErrBroker quoting the broker", err)
			}
			// The unconfirmed send will never be confirmed: the run must
			// report at once rather than wait out the drain.
			if took := time.Since(start); took > cfg.Drain/2 {
				t.Errorf("the failed run took %v to report, with a drain of %v", took, cfg.Drain)
			}
		})
	}
	t.Run("nobody listens", func(t *testing.T) {
		b := startFakeBroker(t, nil)
		url := b.url()
		b.ln.Close()
		cfg := baseConfig(url)
		cfg.MessageCount = 10
		_, err := Run(context.Background(), cfg)
		if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), url[len("tcp://"):]) {
			t.Fatalf("err = %v, want ErrConnect naming the address", err)
		}
	})
	t.Run("bad settings", func(t *testing.T) {
		cfg := baseConfig("tcp://localhost:1")
		cfg.MaxPending = 0
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("err = %v, want ErrBadConfig", err)
		}
	})
}

func TestWaitReady(t *testing.T) {
	b := startFakeBroker(t, nil)
	at, err := WaitReady(context.Background(), b.url(), "", "", "", 5*time.Second)
	if err != nil || time.Since(at) > 5*time.Second {
		t.Fatalf("WaitReady = %v, %v", at, err)
	}
	b.ln.Close()
	_, err = WaitReady(context.Background(), b.url(), "", "", "", 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready within 100ms") {
		t.Fatalf("err = %v, want a timeout naming the limit", err)
	}
}

// TestPersistentHeader: persistent sends say persistent:true; the others
// carry no persistent header at all (RabbitMQ would declare the queue
// non-durable from persistent:false, and refuse it on a durable queue).
func TestPersistentHeader(t *testing.T) {
	for _, persistent := range []bool{true, false} {
		b := startFakeBroker(t, nil)
		cfg := baseConfig(b.url())
		cfg.Persistent, cfg.MessageCount = persistent, 50
		runOK(t, cfg)
		want := map[string]int{"(none)": 50}
		if persistent {
			want = map[string]int{"true": 50}
		}
		b.mu.Lock()
		got := b.persistentHdr
		b.mu.Unlock()
		if !maps.Equal(got, want) {
			t.Errorf("persistent=%v: SENDs per persistent header %v, want %v", persistent, got, want)
		}
	}
}
