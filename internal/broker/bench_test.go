package broker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// BenchmarkSendAndConsume measures the broker's own CPU per message on the
// in-memory store: a durable send to an auto-created queue and its
// auto-acknowledged delivery. "limited" gives the address a max-size-bytes
// it never reaches, to price the size accounting against "unlimited".
func BenchmarkSendAndConsume(b *testing.B) {
	for _, c := range []struct {
		name    string
		maxSize int64
	}{{"unlimited", -1}, {"limited", 1 << 40}} {
		b.Run(c.name, func(b *testing.B) {
			st := memstore.New()
			br, err := New(Options{Store: st, Settings: func(string) AddressSettings {
				s := DefaultAddressSettings()
				s.MaxSizeBytes = c.maxSize
				return s
			}})
			if err != nil {
				b.Fatal(err)
			}
			if err := br.Start(); err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			s, _ := br.NewSession(SessionInfo{User: "bench"})
			var got atomic.Int64
			cons, err := s.Subscribe(SubscribeOptions{Address: "bench", Window: -1, WindowBytes: -1, Deliver: func(Delivery) { got.Add(1) }})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Unsubscribe(cons)
			body := make([]byte, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Send(&message.Message{Address: "bench", Durable: true, Priority: 4, Body: body}, nil, nil)
			}
			// A durable send completes on the store's goroutine: the
			// timed loop ends when the last delivery is made.
			for deadline := time.Now().Add(10 * time.Second); got.Load() < int64(b.N); {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d delivered", got.Load(), b.N)
				}
				runtime.Gosched()
			}
			b.StopTimer()
		})
	}
}

// BenchmarkBacklog sends b.N durable messages to a queue nobody consumes
// yet, then consumes them all: the path of a backlog, where a message with
// properties waits packed (solo.go) and is unpacked for its delivery.
func BenchmarkBacklog(b *testing.B) {
	for _, c := range []struct {
		name  string
		props []message.Property
	}{
		{"plain", nil},
		{"two-properties", []message.Property{message.Str("tandemPerfRun", "5f3a9c1e2b7d4a60"), message.Str("tandemPerfDue", "1234567890123")}},
	} {
		b.Run(c.name, func(b *testing.B) {
			br, err := New(Options{Store: memstore.New()})
			if err != nil {
				b.Fatal(err)
			}
			if err := br.Start(); err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			s, _ := br.NewSession(SessionInfo{User: "bench"})
			body := make([]byte, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			var sent sync.WaitGroup
			sent.Add(b.N)
			for i := 0; i < b.N; i++ {
				m := &message.Message{Address: "backlog", Durable: true, Priority: 4, Body: body}
				if c.props != nil {
					m.Properties = append([]message.Property(nil), c.props...)
				}
				s.Send(m, nil, func(error) { sent.Done() })
			}
			sent.Wait()
			var got atomic.Int64
			cons, err := s.Subscribe(SubscribeOptions{Address: "backlog", Window: -1, WindowBytes: -1, Deliver: func(d Delivery) {
				if len(d.Message.Properties) != len(c.props) {
					panic("a delivery lost its properties")
				}
				got.Add(1)
			}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Unsubscribe(cons)
			for deadline := time.Now().Add(30 * time.Second); got.Load() < int64(b.N); {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d delivered", got.Load(), b.N)
				}
				runtime.Gosched()
			}
			b.StopTimer()
		})
	}
}
