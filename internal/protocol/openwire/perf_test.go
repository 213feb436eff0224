package openwire

import (
	"context"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/perf"
)

// TestPerfOverOpenWire runs `tandem perf --protocol openwire`'s engine
// against the adapter: every message is sent, confirmed when it should be,
// received and acknowledged exactly once, whatever the load's shape.
func TestPerfOverOpenWire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*perf.Config)
		confirmed bool
		acks      int64
	}{
		{"persistent, one at a time", func(c *perf.Config) {}, true, 300},
		{"persistent, windowed, 3 producers", func(c *perf.Config) { c.Producers, c.Consumers, c.MaxPending = 3, 2, 16 }, true, 300},
		{"non-persistent", func(c *perf.Config) { c.Persistent = false }, false, 300},
		{"transactions of 10", func(c *perf.Config) { c.TxBatch, c.MaxPending = 10, 20 }, true, 300},
		{"transactions with a partial last batch", func(c *perf.Config) { c.TxBatch, c.MaxPending = 7, 7 }, true, 300},
		{"individual acks", func(c *perf.Config) { c.Ack = perf.AckClientIndividual }, true, 300},
		{"a standard ack every 25", func(c *perf.Config) { c.Ack, c.AckEvery, c.Prefetch = perf.AckClient, 25, 100 }, true, 12},
		// 42 ranges of 7, and the last 6 messages acknowledged at the end
		// from the copies of their ids the consumer holds.
		{"a standard ack every 7, the rest at the end", func(c *perf.Config) {
			c.Ack, c.AckEvery, c.Prefetch, c.Producers, c.MaxPending = perf.AckClient, 7, 100, 2, 8
		}, true, 43},
		{"many destinations", func(c *perf.Config) {
			c.Destinations = perf.ExpandDestinations("queue://T", 5)
			c.Producers, c.Consumers = 2, 2
		}, true, 300},
		{"bodies too short for a stamp", func(c *perf.Config) { c.MessageSize = 10 }, true, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{}, broker.Options{})
			cfg := perf.Config{Protocol: perf.ProtocolOpenWire, URL: "tcp://" + s.addr, Destinations: []string{"queue://perf"},
				Producers: 1, Consumers: 1, MessageSize: 256, Persistent: true, MaxPending: 1, MessageCount: 300,
				Drain: 10 * time.Second, IdleEnd: 200 * time.Millisecond}
			tc.edit(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := perf.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.TotalSent != 300 || rep.TotalReceived != 300 || rep.EndToEnd == nil || rep.EndToEnd.Count != 300 {
				t.Fatalf("sent %d, received %d, end-to-end %+v", rep.TotalSent, rep.TotalReceived, rep.EndToEnd)
			}
			if tc.confirmed && (rep.TotalConfirmed != 300 || rep.Unconfirmed != 0) || !tc.confirmed && rep.TotalConfirmed != 0 {
				t.Fatalf("confirmed %d, unconfirmed %d", rep.TotalConfirmed, rep.Unconfirmed)
			}
			if rep.TotalAcks != tc.acks {
				t.Fatalf("%d acks, want %d", rep.TotalAcks, tc.acks)
			}
			if rep.Broker == "" || rep.Protocol != perf.ProtocolOpenWire {
				t.Fatalf("broker %q, protocol %q", rep.Broker, rep.Protocol)
			}
			waitFor(t, "every message acknowledged", func() bool {
				for _, d := range cfg.Destinations {
					if s.depth(t, d[len("queue://"):]) != 0 {
						return false
					}
				}
				return true
			})
		})
	}
}
