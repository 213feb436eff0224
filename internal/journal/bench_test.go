package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The write benchmarks measure what a producer sees: one 1 KiB message per
// batch, confirmed after fdatasync. IDs cycle over a small window (an add of a
// live ID replaces it), so the index and the files stay the same size however
// long the benchmark runs. Compare msgs/s with BenchmarkRawFdatasync's syncs/s:
// with one writer the journal can at best match it, with many writers group
// commit should beat it.
func BenchmarkWrite(b *testing.B) {
	payload := make([]byte, 1024)
	for _, bc := range []struct {
		name    string
		writers int
		durable bool
	}{
		{"1KiB-durable-1writer", 1, true},
		{"1KiB-durable-16writers", 16, true},
		{"1KiB-nondurable-1writer", 1, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := Options{Dir: b.TempDir(), Sync: true, CompactMinFiles: -1}
			j, err := Open(o, func(Record) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range bc.writers {
				wg.Go(func() {
					ops := make([]Op, 1)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						ops[0] = Op{Kind: OpAdd, ID: uint64(i % 4096), Type: 1, Data: payload}
						if err := j.Write(ops, bc.durable); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.StopTimer()
			st := j.Stats()
			if st.Syncs > 0 {
				b.ReportMetric(float64(b.N)/float64(st.Syncs), "msgs/sync")
			}
		})
	}
}

// BenchmarkRawFdatasync is the floor the durable write benchmarks are measured
// against: a 1 KiB pwrite plus fdatasync into a pre-allocated, zero-filled file,
// with nothing else.
func BenchmarkRawFdatasync(b *testing.B) {
	const size = 10 << 20
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zero := make([]byte, 1<<20)
	for off := 0; off < size; off += len(zero) {
		if _, err := f.WriteAt(zero, int64(off)); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := f.WriteAt(buf, int64(i*len(buf))%size); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkReplay measures Open on a journal of n small live records (32-byte
// payloads, one update on every tenth), which bounds failover time. heap-B/record
// is the journal's heap use per live record while open: mostly its index.
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			o := Options{Dir: dir, CompactMinFiles: -1}
			j, err := Open(o, func(Record) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 32)
			ops := make([]Op, 0, 1000)
			for i := 0; i < n; {
				ops = ops[:0]
				for ; len(ops) < cap(ops) && i < n; i++ {
					ops = append(ops, Op{Kind: OpAdd, ID: uint64(i), Type: 1, Data: payload})
					if i%10 == 0 {
						ops = append(ops, Op{Kind: OpUpdate, ID: uint64(i), Type: 2, Data: payload[:8]})
					}
				}
				if err := j.Write(ops, false); err != nil {
					b.Fatal(err)
				}
			}
			if err := j.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var heap uint64
			for range b.N {
				got := 0
				j, err := Open(o, func(Record) error { got++; return nil })
				if err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("replayed %d records, want %d", got, n)
				}
				b.StopTimer()
				open := liveHeap()
				j.Close()
				runtime.KeepAlive(j)
				j = nil
				if closed := liveHeap(); open > closed {
					heap = max(heap, open-closed)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "records/s")
			b.ReportMetric(float64(heap)/float64(n), "heap-B/record")
		})
	}
}
