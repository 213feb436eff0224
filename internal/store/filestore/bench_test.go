package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
)

// benchMessages is how many 1 KiB messages BenchmarkTakeover queues
// (TANDEM_BENCH_MESSAGES overrides it).
func benchMessages(b *testing.B) int {
	if v := os.Getenv("TANDEM_BENCH_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("TANDEM_BENCH_MESSAGES=%q: %v", v, err)
		}
		return n
	}
	return 100_000
}

// fillStore queues n persistent 1 KiB messages on one queue, 256 to a
// commit, as a broker fed by many producers does.
func fillStore(b *testing.B, o Options, n int) {
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	s.Load()
	var batch store.Batch
	batch.AddQueue(store.Queue{ID: 1, Name: "q", Address: "q", RoutingType: message.Anycast, MaxConsumers: -1})
	body := make([]byte, 1024)
	done := make(chan error, 256)
	pending := 0
	for i := range n {
		m := &message.Message{ID: s.NewID(), Address: "q", Durable: true, Timestamp: time.Now().UnixMilli(), Body: body,
			Properties: []message.Property{{Key: "n", Value: strconv.Itoa(i)}}}
		batch.AddMessage(m)
		batch.AddRef(m.ID, 1)
		if batch.Len() >= 512 || i == n-1 {
			s.Commit(&batch, true, func(err error) { done <- err })
			batch = store.Batch{}
			pending++
		}
		for pending > 64 || (i == n-1 && pending > 0) {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			pending--
		}
	}
	s.Close()
}

// BenchmarkTakeover measures opening a store of queued 1 KiB messages the
// way a backup takes over: a full replay, or with a follower that read the
// journals while they were written.
func BenchmarkTakeover(b *testing.B) {
	n := benchMessages(b)
	for _, followed := range []bool{false, true} {
		b.Run(fmt.Sprintf("messages=%d/followed=%v", n, followed), func(b *testing.B) {
			dir := b.TempDir()
			o := Options{JournalDir: filepath.Join(dir, "journal"), BindingsDir: filepath.Join(dir, "bindings"),
				FileSize: 10 << 20, MinFiles: 2, Sync: true}
			fillStore(b, o, n)
			epoch := uint64(1)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				var fol *Follower
				if followed {
					var err error
					if fol, err = NewFollower(FollowOptions{JournalDir: o.JournalDir, BindingsDir: o.BindingsDir}); err != nil {
						b.Fatal(err)
					}
					for {
						n, err := fol.Poll(nil)
						if err != nil {
							b.Fatal(err)
						}
						if n == 0 {
							break
						}
					}
				}
				epoch++
				ro := o
				ro.Epoch, ro.Follower = epoch, fol
				b.StartTimer()
				s, err := Open(ro)
				if err != nil {
					b.Fatal(err)
				}
				st, err := s.Load()
				if err != nil || len(st.Messages) != n {
					b.Fatalf("recovered %d messages (%v), want %d", len(st.Messages), err, n)
				}
				b.StopTimer()
				if followed && !s.Replayed().Messages.Used {
					b.Fatalf("the follower was not used: %s", s.Replayed().Messages.Reason)
				}
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFollow measures what following costs a waiting node: a follower
// polls, as a waiting node does, while the store is filled with queued 1 KiB
// messages; the figure is the follower's CPU time per message (ns/op is
// the wall time of the fill, per message).
func BenchmarkFollow(b *testing.B) {
	dir := b.TempDir()
	o := Options{JournalDir: filepath.Join(dir, "journal"), BindingsDir: filepath.Join(dir, "bindings"),
		FileSize: 10 << 20, MinFiles: 2, Sync: true}
	fol, err := NewFollower(FollowOptions{JournalDir: o.JournalDir, BindingsDir: o.BindingsDir})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan time.Duration)
	go func() {
		var busy time.Duration
		for {
			select {
			case <-stop:
				done <- busy
				return
			default:
			}
			began := time.Now()
			// Before the store's directories exist, Poll fails; it
			// tries again.
			n, _ := fol.Poll(stop)
			busy += time.Since(began)
			if n == 0 {
				time.Sleep(50 * time.Millisecond)
			} else {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	b.ResetTimer()
	fillStore(b, o, b.N)
	b.StopTimer()
	close(stop)
	busy := <-done
	b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N), "follow-ns/msg")
}
