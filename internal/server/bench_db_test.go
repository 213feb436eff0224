package server

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"tandem/client"
	"tandem/internal/config"
	"tandem/internal/store/pgstore/pgtest"
)

// startDatabaseServer runs a broker whose store is the database at url,
// on a free port, until the benchmark ends.
func startDatabaseServer(tb testing.TB, url string) (*Server, string) {
	tb.Helper()
	cfg := config.Default()
	if err := cfg.ResolvePaths(tb.TempDir()); err != nil {
		tb.Fatal(err)
	}
	cfg.Acceptors = []config.Acceptor{{Name: "test", URL: "tcp://127.0.0.1:0"}}
	cfg.Web.Enabled = false
	cfg.JournalSync = os.Getenv("BENCH_NOSYNC") == ""
	cfg.Store.Type, cfg.Store.URL = config.StoreDatabase, url
	cfg.Store.LockExpiration = 10 * time.Second // a loaded machine must not lose it mid-run
	cfg.Store.LockRenewPeriod = time.Second
	s := New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if addrs := s.Addrs(); len(addrs) > 0 {
			return s, "tcp://" + addrs[0].String()
		}
		select {
		case err := <-done:
			tb.Fatalf("the broker stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatal("the broker on the database did not start within 30 s")
		}
	}
}

// BenchmarkPersistentSendDatabase is BenchmarkPersistentSend with the
// store in PostgreSQL (started by pgtest, on the same disk as the file
// journal's temporary directory, with fsync and synchronous_commit on):
// confirmed persistent 1 KiB sends with 1 and 16 producers, each waiting
// for the broker's receipt before its next send. Run both in one command
// to compare them on a noisy machine:
//
//	go test -run xxx -bench 'PersistentSend(Database)?/' -benchtime 2s ./internal/server/
func BenchmarkPersistentSendDatabase(b *testing.B) {
	c := pgtest.Start(b)
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			srv, url := startDatabaseServer(b, c.NewDatabase(b))
			ctx := context.Background()
			conns := make([]*client.Conn, producers)
			for i := range conns {
				c, err := client.Dial(ctx, url)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			body := make([]byte, 1024)
			b.SetBytes(int64(len(body)))
			st := srv.db.store.Load()
			before := st.Stats()
			b.ResetTimer()
			start := time.Now()
			cpu := startCPU(b)
			var wg sync.WaitGroup
			for i, c := range conns {
				n := shareOf(b.N, producers, i)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < n; j++ {
						if err := c.Send(ctx, "queue://bench", body); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			cpu.report(b, b.N)
			after := st.Stats()
			if groups := after.Groups - before.Groups; groups > 0 {
				b.ReportMetric(float64(b.N)/float64(groups), "msgs/commit")
				b.ReportMetric(float64((after.CommitTime-before.CommitTime).Microseconds())/float64(groups), "µs/commit")
			}
		})
	}
}
