package pgstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
)

// BenchmarkCommit measures the store alone: persistent 1 KiB sends (a
// message, its reference and a duplicate id, as the broker writes them)
// committed by 1 and 16 writers, each waiting for its commit.
func BenchmarkCommit(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			e := newEnv(b)
			s, err := Open(b.Context(), e.options(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			body := make([]byte, 1024)
			before := s.Stats()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				n := b.N / writers
				if w < b.N%writers {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						m := &message.Message{ID: s.NewID(), Address: "bench", Durable: true, Body: body}
						var bt store.Batch
						bt.AddMessage(m)
						bt.AddRef(m.ID, 1)
						bt.AddDuplicateID(store.DuplicateID{RecordID: s.NewID(), Address: "bench", ID: fmt.Sprint(m.ID)})
						ch := make(chan error, 1)
						s.Commit(&bt, true, func(err error) { ch <- err })
						if err := <-ch; err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			st := s.Stats()
			if g := st.Groups - before.Groups; g > 0 {
				b.ReportMetric(float64(b.N)/float64(g), "msgs/commit")
				b.ReportMetric(float64((st.CommitTime-before.CommitTime).Microseconds())/float64(g), "µs/commit")
			}
		})
	}
}
