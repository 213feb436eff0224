package perf

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

// TestConsumersAcknowledge runs consumers in each ack mode against a fake
// broker that, like a real one, stops sending a subscription once
// prefetch messages are unacknowledged: a consumer that failed to
// acknowledge would stall the run. Every message must be received and
// acknowledged by the end, with the number of ACK frames the mode implies.
func TestConsumersAcknowledge(t *testing.T) {
	tests := []struct {
		name      string
		ack       AckMode
		prefetch  int
		every     int
		destCount int
		eol       bool
		wantAcks  func(perSub []int) int
	}{
		{"client-individual, prefetch 1", AckClientIndividual, 1, 1, 1, false, sum},
		{"client-individual, prefetch 10", AckClientIndividual, 10, 1, 1, false, sum},
		{"client-individual, prefetch 10, an end of line after each frame", AckClientIndividual, 10, 1, 1, true, sum},
		{"client, each message", AckClient, 4, 1, 1, false, sum},
		{"client, every 10th, prefetch 10", AckClient, 10, 10, 1, false, ceilEach(10)},
		{"client, every 10th, prefetch 10, an end of line after each frame", AckClient, 10, 10, 1, true, ceilEach(10)},
		{"client, every 7th over 5 destinations", AckClient, 7, 7, 5, false, ceilEach(7)},
		{"client, every 3rd, no prefetch", AckClient, 0, 3, 1, false, ceilEach(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startFakeBroker(t, func(b *fakeBroker) { b.eol = tt.eol })
			cfg := baseConfig(b.url())
			cfg.Producers, cfg.Consumers, cfg.MaxPending, cfg.MessageCount = 2, 2, 8, 301
			cfg.Destinations = ExpandDestinations("queue://T", tt.destCount)
			cfg.Ack, cfg.Prefetch, cfg.AckEvery = tt.ack, tt.prefetch, tt.every
			rep := runOK(t, cfg)
			if rep.TotalReceived != cfg.MessageCount {
				t.Fatalf("received %d of %d: the consumers stalled on their prefetch", rep.TotalReceived, cfg.MessageCount)
			}
			// The last ACKs may still be in flight when the run closes
			// its connections; the broker reads them before the close.
			deadline := time.Now().Add(5 * time.Second)
			for {
				delivered, outstanding, frames, perSub := b.ackState()
				if outstanding == 0 && frames == tt.wantAcks(perSub) {
					if delivered != int(cfg.MessageCount) {
						t.Errorf("broker delivered %d, want %d", delivered, cfg.MessageCount)
					}
					if rep.TotalAcks != int64(frames) {
						t.Errorf("report counts %d ACKs, the broker %d", rep.TotalAcks, frames)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("broker: %d messages unacknowledged, %d ACK frames (want %d for %v per subscription)",
						outstanding, frames, tt.wantAcks(perSub), perSub)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if rep.Ack != string(tt.ack) || rep.Prefetch != tt.prefetch {
				t.Errorf("report says ack %q prefetch %d", rep.Ack, rep.Prefetch)
			}
		})
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// ceilEach is the ACK count of cumulative acks every n messages, the
// remainder of each subscription acknowledged at the end.
func ceilEach(n int) func([]int) int {
	return func(perSub []int) int {
		acks := 0
		for _, d := range perSub {
			acks += (d + n - 1) / n
		}
		return acks
	}
}

// TestAutoAckSendsNoAck: with ack:auto the consumer acknowledges nothing,
// and the SUBSCRIBE says auto.
func TestAutoAckSendsNoAck(t *testing.T) {
	b := startFakeBroker(t, nil)
	cfg := baseConfig(b.url())
	cfg.MessageCount = 100
	rep := runOK(t, cfg)
	if _, _, frames, _ := b.ackState(); frames != 0 || rep.TotalAcks != 0 {
		t.Fatalf("ack:auto sent %d ACK frames (report: %d)", frames, rep.TotalAcks)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subscribes) != 1 || b.subscribes[0].Headers.Value(stomp.HdrAck) != "auto" {
		t.Fatalf("SUBSCRIBE frames %v, want one with ack:auto", b.subscribes)
	}
	if _, ok := b.subscribes[0].Headers.Get(hdrPrefetchSize); ok {
		t.Errorf("a prefetch header was sent without --prefetch")
	}
}

func TestSubscribeFrameCarriesAckModeAndPrefetch(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		last bool
		want map[string]string // header -> value; "" means absent
	}{
		{"defaults", Config{}, false, map[string]string{"ack": "auto", hdrPrefetchSize: "", hdrPrefetchCount: "", "receipt": ""}},
		{"client, prefetch 100", Config{Ack: AckClient, Prefetch: 100}, false,
			map[string]string{"ack": "client", hdrPrefetchSize: "100", hdrPrefetchCount: "100"}},
		{"client-individual, prefetch 1, last", Config{Ack: AckClientIndividual, Prefetch: 1}, true,
			map[string]string{"ack": "client-individual", hdrPrefetchSize: "1", hdrPrefetchCount: "1", "receipt": "subscribed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := subscribeFrame(&tt.cfg, 3, "/queue/X", tt.last)
			if f.Headers.Value("id") != "3" || f.Headers.Value("destination") != "/queue/X" {
				t.Errorf("headers %v", f.Headers)
			}
			for k, v := range tt.want {
				got, ok := f.Headers.Get(k)
				if v == "" && ok || v != "" && got != v {
					t.Errorf("%s: got %q (present %v), want %q", k, got, ok, v)
				}
			}
		})
	}
}

func TestAckFrameFollowsTheVersion(t *testing.T) {
	msg := &stomp.Frame{Command: stomp.CmdMessage, Headers: stomp.Headers{
		{Key: "subscription", Value: "2"}, {Key: "message-id", Value: "ID:m-7"}, {Key: "ack", Value: "k-7"}}}
	noAckHdr := &stomp.Frame{Command: stomp.CmdMessage, Headers: stomp.Headers{
		{Key: "subscription", Value: "2"}, {Key: "message-id", Value: "ID:m-7"}}}
	tests := []struct {
		name string
		m    *stomp.Frame
		v    stomp.Version
		want stomp.Headers
	}{
		{"1.2 names the ack header", msg, stomp.V12, stomp.Headers{{Key: "id", Value: "k-7"}}},
		{"1.1 names message-id and subscription", msg, stomp.V11, stomp.Headers{{Key: "message-id", Value: "ID:m-7"}, {Key: "subscription", Value: "2"}}},
		{"1.0 likewise", msg, stomp.V10, stomp.Headers{{Key: "message-id", Value: "ID:m-7"}, {Key: "subscription", Value: "2"}}},
		{"1.2 without an ack header falls back", noAckHdr, stomp.V12, stomp.Headers{{Key: "message-id", Value: "ID:m-7"}, {Key: "subscription", Value: "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ackFrame(tt.m, tt.v)
			if f.Command != stomp.CmdAck || len(f.Headers) != len(tt.want) {
				t.Fatalf("got %s %v, want ACK %v", f.Command, f.Headers, tt.want)
			}
			for i, h := range tt.want {
				if f.Headers[i] != h {
					t.Errorf("header %d = %v, want %v", i, f.Headers[i], h)
				}
			}
		})
	}
}

func TestAckSettingsAreChecked(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown mode", func(c *Config) { c.Ack = "sometimes" }, "--ack"},
		{"negative prefetch", func(c *Config) { c.Prefetch = -1 }, "--prefetch -1"},
		{"ack-every without client", func(c *Config) { c.Ack, c.AckEvery = AckClientIndividual, 5 }, "--ack-every 5 needs --ack client"},
		{"ack-every above prefetch", func(c *Config) { c.Ack, c.AckEvery, c.Prefetch = AckClient, 50, 10 }, "--ack-every 50 is above --prefetch 10"},
		{"negative pid", func(c *Config) { c.BrokerPID = -3 }, "--broker-pid -3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig("tcp://127.0.0.1:1")
			cfg.MessageCount = 1
			tt.mutate(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrBadConfig saying %q", err, tt.want)
			}
		})
	}
	if m, err := ParseAckMode(""); err != nil || m != AckAuto {
		t.Errorf(`ParseAckMode("") = %q, %v; want auto`, m, err)
	}
}

// TestBrokerCPUIsMeasured points --broker-pid at this very process, which
// runs the fake broker and the load generator both: the broker's CPU time
// over the window must then be there, and match the load generator's own
// (the same process read at the same moments).
func TestBrokerCPUIsMeasured(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is read from Linux's /proc")
	}
	b := startFakeBroker(t, nil)
	cfg := baseConfig(b.url())
	cfg.Persistent, cfg.Duration, cfg.BrokerPID = false, 400*time.Millisecond, os.Getpid()
	rep := runOK(t, cfg)
	if rep.BrokerCPUError != "" || rep.BrokerPID != os.Getpid() {
		t.Fatalf("broker CPU not measured: pid %d, %q", rep.BrokerPID, rep.BrokerCPUError)
	}
	if rep.CPUMessages != rep.Received || rep.Received == 0 {
		t.Errorf("CPU divided by %d messages, received %d", rep.CPUMessages, rep.Received)
	}
	if rep.BrokerCPUSeconds <= 0 || rep.BrokerCPUPerMessage <= 0 {
		t.Fatalf("broker CPU %.3f s, %.2f µs per message, after %.2f s of sending as fast as possible",
			rep.BrokerCPUSeconds, rep.BrokerCPUPerMessage, rep.MeasuredSeconds)
	}
	if d := rep.BrokerCPUSeconds - rep.ClientCPUSeconds; d < -0.05 || d > 0.05 {
		t.Errorf("the same process read twice: broker %.3f s, load generator %.3f s", rep.BrokerCPUSeconds, rep.ClientCPUSeconds)
	}
	want := rep.BrokerCPUSeconds * 1e6 / float64(rep.CPUMessages)
	if d := rep.BrokerCPUPerMessage - want; d < -0.01 || d > 0.01 {
		t.Errorf("%.3f µs per message, want %.3f", rep.BrokerCPUPerMessage, want)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "Broker CPU:") {
		t.Errorf("text report lacks the broker CPU line: %v\n%s", err, text.String())
	}
}

// TestBrokerPIDMustExist: a pid that names no process is refused before
// connecting.
func TestBrokerPIDMustExist(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is read from Linux's /proc")
	}
	b := startFakeBroker(t, nil)
	cfg := baseConfig(b.url())
	cfg.MessageCount, cfg.BrokerPID = 10, 1<<30
	_, err := Run(t.Context(), cfg)
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "--broker-pid") {
		t.Fatalf("err = %v, want ErrBadConfig naming --broker-pid", err)
	}
	if sends, _ := b.counts(); sends != 0 {
		t.Errorf("%d messages sent before the refusal", sends)
	}
}
