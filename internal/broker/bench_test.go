package broker

import (
	"testing"

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
			var got int
			cons, err := s.Subscribe(SubscribeOptions{Address: "bench", Window: -1, Deliver: func(Delivery) { got++ }})
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
			b.StopTimer()
			if got != b.N {
				b.Fatalf("%d of %d delivered", got, b.N)
			}
		})
	}
}
