package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"tandem/client"
	"tandem/internal/config"
)

// startServer runs a broker on a temporary directory and a free port.
func startServer(tb testing.TB) (*Server, string) {
	tb.Helper()
	cfg := config.Default()
	if err := cfg.ResolvePaths(tb.TempDir()); err != nil {
		tb.Fatal(err)
	}
	cfg.Acceptors = []config.Acceptor{{Name: "test", URL: "tcp://127.0.0.1:0"}}
	cfg.JournalSync = os.Getenv("BENCH_NOSYNC") == ""
	s := New(cfg, nil)
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s, "tcp://" + s.Addrs()[0].String()
}

// shareOf is producer i's share of total sends split among n producers.
func shareOf(total, n, i int) int {
	share := total / n
	if i < total%n {
		share++
	}
	return share
}

// cpuMeter measures the CPU time the whole process (clients and server
// alike) spends from start to report.
type cpuMeter struct {
	wall time.Time
	cpu  time.Duration
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuMeter { return cpuMeter{wall: time.Now(), cpu: processCPU(b)} }

// report adds the CPU time per message and the cores kept busy on average,
// which tell a run bound by the machine's two cores from one bound by the
// disk or by waiting.
func (m cpuMeter) report(b *testing.B, msgs int) {
	cpu, wall := processCPU(b)-m.cpu, time.Since(m.wall)
	b.ReportMetric(float64(cpu.Microseconds())/float64(msgs), "cpu-µs/msg")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
}

// BenchmarkPersistentSend measures confirmed persistent 1 KiB sends through
// the whole broker (client, STOMP, broker, journal with fdatasync) with 1
// and with 16 concurrent producers, each waiting for the broker's receipt
// before its next send. Group commit is what lets 16 producers share syncs.
func BenchmarkPersistentSend(b *testing.B) {
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			srv, url := startServer(b)
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
			if fs := srv.fileStore.Load(); fs != nil {
				if st := fs.Stats(); st.Syncs > 0 {
					b.ReportMetric(float64(b.N)/float64(st.Syncs), "msgs/sync")
				}
				if sl := fs.SyncLatency(); sl.Count > 0 {
					b.ReportMetric(float64(sl.Sum.Microseconds())/float64(sl.Count), "µs/sync")
				}
			}
		})
	}
}

// BenchmarkQueuedMessageHeap measures the heap a queued persistent 1 KiB
// message costs beyond its body, with b.N messages queued and no consumer:
// a message with no properties (what tandem perf sends), one with two short
// properties (what tandem perf sent before it moved its stamp into the
// body), and one with a duplicate-detection id (which the Go client adds by
// default). Run it with a fixed count, for example -benchtime 100000x; the
// figure is in heap-B/msg. BENCH_HEAPPROFILE=FILE writes the heap profile
// with the messages queued to FILE.<case>, for
// go tool pprof -sample_index=inuse_space (with -memprofilerate 1 for exact
// figures).
func BenchmarkQueuedMessageHeap(b *testing.B) {
	cases := []struct {
		name string
		opts []client.SendOption
	}{
		{"plain", []client.SendOption{client.WithoutDuplicateID()}},
		{"two-properties", []client.SendOption{client.WithoutDuplicateID(),
			client.WithHeader("tandemPerfRun", "5f3a9c1e2b7d4a60"), client.WithHeader("tandemPerfDue", "1234567890123")}},
		{"duplicate-id", nil},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			_, url := startServer(b)
			ctx := context.Background()
			c, err := client.Dial(ctx, url, client.WithSendWindow(256))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			body := make([]byte, 1024)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				if err := c.Send(ctx, "queue://heap", body, tc.opts...); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			if path := os.Getenv("BENCH_HEAPPROFILE"); path != "" {
				// The live heap with the messages queued, for
				// go tool pprof -sample_index=inuse_space.
				writeHeapProfile(b, path+"."+tc.name)
			}
			per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(b.N)
			b.ReportMetric(per-float64(len(body)), "heap-B/msg")
		})
	}
}

// writeHeapProfile writes the heap profile to path.
func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// rawFileSize is the size of rawFile's file; raw benchmarks wrap around in it.
const rawFileSize = 64 << 20

// rawFile returns a synced, zero-filled file of rawFileSize bytes in a
// temporary directory, closed when the benchmark ends. Zero-filled, like the
// journal's files: writing into a merely fallocated range also converts
// extents, which makes each sync slower than the journal's.
func rawFile(b *testing.B) *os.File {
	b.Helper()
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < rawFileSize; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkRawFdatasync is the machine's ceiling for one writer: 1 KiB
// appended to a pre-allocated file in the same kind of temporary directory
// the broker benchmark uses, made durable in one of three ways: pwrite then
// fdatasync (the journal with journal-type NIO); one pwritev2 with
// RWF_DSYNC (what dd's oflag=dsync, which bench/compare uses, does per
// write); or a direct (O_DIRECT) rewrite of the 4 KiB block holding the
// append, then fdatasync (the journal with journal-type ASYNCIO). The
// fastest is the raw rate the broker is held to.
func BenchmarkRawFdatasync(b *testing.B) {
	for _, tc := range []struct {
		name string
		// open returns the append function for the zero-filled file f.
		open func(b *testing.B, f *os.File) func(p []byte, off int64) error
	}{
		{"pwrite+fdatasync", func(b *testing.B, f *os.File) func([]byte, int64) error {
			return func(p []byte, off int64) error {
				if _, err := f.WriteAt(p, off); err != nil {
					return err
				}
				return syscall.Fdatasync(int(f.Fd()))
			}
		}},
		{"pwritev2-dsync", func(b *testing.B, f *os.File) func([]byte, int64) error {
			return func(p []byte, off int64) error {
				_, err := unix.Pwritev2(int(f.Fd()), [][]byte{p}, off, unix.RWF_DSYNC)
				return err
			}
		}},
		{"odirect-block+fdatasync", func(b *testing.B, f *os.File) func([]byte, int64) error {
			d, err := os.OpenFile(f.Name(), os.O_RDWR|syscall.O_DIRECT, 0)
			if err != nil {
				b.Skipf("no direct I/O here: %v", err)
			}
			b.Cleanup(func() { d.Close() })
			const block = 4096
			raw := make([]byte, 2*block)
			skip := (block - int(uintptr(unsafe.Pointer(&raw[0])))%block) % block
			blk := raw[skip : skip+block]
			return func(p []byte, off int64) error {
				start := off &^ (block - 1)
				if off == start {
					clear(blk)
				}
				copy(blk[off-start:], p)
				if _, err := d.WriteAt(blk, start); err != nil {
					return err
				}
				return syscall.Fdatasync(int(f.Fd()))
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := rawFile(b)
			write := tc.open(b, f)
			buf := make([]byte, 1024)
			b.SetBytes(1024)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := write(buf, int64(i*1024)%rawFileSize); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
		})
	}
}

// BenchmarkFdatasyncAfterIdle times the fdatasync alone of a 1 KiB write,
// issued back to back, after the thread slept 100 µs, and after it
// busy-waited 300 µs. On a virtual machine the first sync after a sleep can
// be slower: a request/response server sleeps between requests, so the
// back-to-back rate of BenchmarkRawFdatasync may be out of its reach.
func BenchmarkFdatasyncAfterIdle(b *testing.B) {
	for _, tc := range []struct {
		name  string
		pause func()
	}{
		{"back-to-back", func() {}},
		{"after-sleeping-100us", func() { time.Sleep(100 * time.Microsecond) }},
		{"after-spinning-300us", func() {
			for t := time.Now(); time.Since(t) < 300*time.Microsecond; {
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := rawFile(b)
			buf := make([]byte, 1024)
			var synced time.Duration
			b.ResetTimer()
			for i := range b.N {
				tc.pause()
				if _, err := f.WriteAt(buf, int64(i*1024)%rawFileSize); err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
				synced += time.Since(t)
			}
			b.ReportMetric(float64(synced.Microseconds())/float64(b.N), "µs/sync")
		})
	}
}

// BenchmarkRawDurableRoundTrip is what confirmed producers get on this
// machine with no broker in the way: each producer writes 1 KiB to its own
// loopback TCP connection and waits for an 8-byte answer. With one
// producer the server does the least possible: one goroutine reads the
// request, pwrites it to a pre-allocated file, fdatasyncs and answers; it
// differs from BenchmarkRawFdatasync only by the round trip, which shows
// what a network hop costs a durable write here. With 16, a reader
// goroutine per connection hands requests to one syncer goroutine, which
// writes everything pending with one pwrite, fdatasyncs and answers each
// (a plain group commit); it shows what 16 confirmed producers cost in CPU
// when clients and server share the machine's cores.
func BenchmarkRawDurableRoundTrip(b *testing.B) {
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			benchRawDurable(b, producers)
		})
	}
}

func benchRawDurable(b *testing.B, producers int) {
	f := rawFile(b)
	const size = rawFileSize
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()

	// The syncer: takes every pending request, one write, one sync, then
	// the answers.
	var (
		mu      sync.Mutex
		pending []net.Conn
		buf     []byte
		kick    = make(chan struct{}, 1)
		quit    = make(chan struct{})
		syncs   int
	)
	syncerDone := make(chan error, 1)
	go func() {
		var conns []net.Conn
		var data []byte
		ack := make([]byte, 8)
		off := int64(0)
		for {
			select {
			case <-kick:
			case <-quit:
				syncerDone <- nil
				return
			}
			mu.Lock()
			conns, pending = pending, conns[:0]
			data, buf = buf, data[:0]
			mu.Unlock()
			if len(conns) == 0 {
				continue
			}
			if off+int64(len(data)) > size {
				off = 0
			}
			if _, err := f.WriteAt(data, off); err != nil {
				syncerDone <- err
				return
			}
			off += int64(len(data))
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				syncerDone <- err
				return
			}
			mu.Lock()
			syncs++
			mu.Unlock()
			for _, nc := range conns {
				if _, err := nc.Write(ack); err != nil {
					syncerDone <- err
					return
				}
			}
		}
	}()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if producers == 1 {
				go serveRawDurable(nc, f, size, &mu, &syncs)
				continue
			}
			go func() {
				req := make([]byte, 1024)
				for {
					if _, err := io.ReadFull(nc, req); err != nil {
						nc.Close()
						return
					}
					mu.Lock()
					pending = append(pending, nc)
					buf = append(buf, req...)
					mu.Unlock()
					select {
					case kick <- struct{}{}:
					default:
					}
				}
			}()
		}
	}()

	conns := make([]net.Conn, producers)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close()
	}
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	cpu := startCPU(b)
	var wg sync.WaitGroup
	for i, nc := range conns {
		n := shareOf(b.N, producers, i)
		wg.Go(func() {
			req, ack := make([]byte, 1024), make([]byte, 8)
			for range n {
				if _, err := nc.Write(req); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(nc, ack); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu.report(b, b.N)
	b.StopTimer()
	close(quit)
	if err := <-syncerDone; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	mu.Lock()
	n := syncs
	mu.Unlock()
	if n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "msgs/sync")
	}
}

// serveRawDurable answers one connection's requests, each written and
// synced on the connection's own goroutine.
func serveRawDurable(nc net.Conn, f *os.File, size int64, mu *sync.Mutex, syncs *int) {
	defer nc.Close()
	req, ack := make([]byte, 1024), make([]byte, 8)
	for off := int64(0); ; off = (off + 1024) % size {
		if _, err := io.ReadFull(nc, req); err != nil {
			return
		}
		if _, err := f.WriteAt(req, off); err != nil {
			return
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return
		}
		mu.Lock()
		*syncs++
		mu.Unlock()
		if _, err := nc.Write(ack); err != nil {
			return
		}
	}
}
