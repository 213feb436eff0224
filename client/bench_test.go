package client

import (
	"fmt"
	"testing"

	"tandem/internal/wire/stomp"
)

// BenchmarkSend measures confirmed persistent sends of 1 KiB against the
// in-process fake broker, which confirms each at once. The window sizes show
// what pipelining buys over one round trip per message; against a real
// broker the gap is larger, since each confirmation waits for a disk sync.
func BenchmarkSend(b *testing.B) {
	body := make([]byte, 1024)
	for _, window := range []int{1, 64} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			s := newFakeServer(b, nil)
			c, sc := dial(b, s, WithSendWindow(window))
			go func() {
				// Drain what the fake broker records so it never blocks.
				for range sc.frames {
				}
			}()
			ctx := testCtx(b)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Send(ctx, "queue://bench", body); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkReceive measures delivery of 1 KiB messages in auto mode from
// the fake broker to Receive.
func BenchmarkReceive(b *testing.B) {
	s := newFakeServer(b, nil)
	c, sc := dial(b, s)
	ctx := testCtx(b)
	sub, err := c.Subscribe(ctx, "q")
	if err != nil {
		b.Fatal(err)
	}
	sc.expect(b, stomp.CmdSubscribe)
	body := string(make([]byte, 1024))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	go func() {
		for i := range b.N {
			sc.message(sub.ID(), "/queue/q", fmt.Sprint(i), body)
		}
	}()
	for range b.N {
		if _, err := sub.Receive(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
