package openwire

import (
	"context"
	"testing"

	"tandem/client/openwire"
	"tandem/internal/broker"
)

// BenchmarkThroughput sends 1 KiB messages through the adapter with the Go
// client (a window of 64 unconfirmed sends) to a consumer that acks each
// message without waiting: the adapter's cost per message, both ways, on
// an in-memory store.
func BenchmarkThroughput(b *testing.B) {
	for _, tc := range []struct {
		name       string
		persistent bool
	}{{"non-persistent", false}, {"persistent-memstore", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startServer(&testing.T{}, Options{}, broker.Options{})
			ctx := context.Background()
			p, err := openwire.Dial(ctx, "tcp://"+s.addr, openwire.Options{SendWindow: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			c, err := openwire.Dial(ctx, "tcp://"+s.addr, openwire.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			sub, err := c.Subscribe(ctx, "queue://bench", openwire.SubscribeOptions{Prefetch: 1000})
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 1024)
			done := make(chan error, 1)
			go func() {
				for i := 0; i < b.N; i++ {
					m, err := sub.Receive(ctx)
					if err != nil {
						done <- err
						return
					}
					if err := m.AckAsync(); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.SetBytes(1024)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.Send(ctx, "queue://bench", body, openwire.SendOptions{NonPersistent: !tc.persistent}); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
