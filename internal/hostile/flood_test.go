package hostile

import (
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/listener"
	stompproto "tandem/internal/protocol/stomp"
)

// memory is a snapshot of the process's heap and goroutines.
type memory struct {
	heap       uint64
	goroutines int
}

func measure() memory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapInuse, goroutines: runtime.NumGoroutine()}
}

// sampleHeap records the highest heap in use until the returned function
// is called, which returns it.
func sampleHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

const floodConns = 600

// TestConnectionFloodStaysBounded opens floodConns connections that never
// say anything, from one address, against a per-IP limit of 100 and a
// handshake timeout: the broker holds at most the limit (plus the few it is
// refusing), its memory per held connection stays small, and every silent
// connection is closed once the timeout passes.
func TestConnectionFloodStaysBounded(t *testing.T) {
	const limit = 100
	r := serve(t, listener.Options{MaxConnectionsPerIP: limit, HandshakeTimeout: time.Second}, stompproto.Options{})
	before := measure()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	var wg sync.WaitGroup
	for i := 0; i < floodConns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				return // the backlog overflowed: also a refusal
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	// Let the listener accept and sort out the flood.
	time.Sleep(300 * time.Millisecond)
	during := measure()
	extraG := during.goroutines - before.goroutines
	extraHeap := int64(during.heap) - int64(before.heap)
	if extraG > limit+40 {
		t.Errorf("%d goroutines more during a flood of %d connections; want at most about the per-IP limit %d", extraG, floodConns, limit)
	}
	perConn := extraHeap / limit
	if perConn > 64<<10 {
		t.Errorf("%d bytes of heap per held connection; want under 64 KiB", perConn)
	}
	// Every silent connection is closed after the handshake timeout.
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range conns {
		_ = c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err != nil && isTimeout(err) {
			t.Fatal("a silent connection was still open 5 s after a 1 s handshake timeout")
		}
	}
	after := measure()
	if g := after.goroutines - before.goroutines; g > 5 {
		t.Errorf("%d goroutines left after the flood was closed", g)
	}
	t.Logf("flood of %d silent connections, per-IP limit %d: +%d goroutines, +%d KiB heap (%d B per held connection) during; +%d goroutines after",
		len(conns), limit, extraG, extraHeap>>10, perConn, after.goroutines-before.goroutines)
}

// TestLargeFrameFloodStaysBounded makes many clients announce frames far
// beyond max-frame-size, in content-length and in headers: each is refused
// as soon as the limit is passed, without the broker buffering the frame.
func TestLargeFrameFloodStaysBounded(t *testing.T) {
	const (
		clients  = 50
		maxFrame = 256 << 10
	)
	r := serve(t, listener.Options{}, stompproto.Options{MaxFrameSize: maxFrame})
	before := measure()
	peakOf := sampleHeap()
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := dialRaw(t, r.addr)
			if c.connect("u") != "" {
				return
			}
			// Announce 64 MiB, then start streaming it; the broker must stop
			// reading long before.
			if i%2 == 0 {
				c.nc.Write([]byte("SEND\ndestination:/queue/big\ncontent-length:67108864\n\n"))
			} else {
				c.nc.Write([]byte("SEND\ndestination:/queue/big\n"))
			}
			chunk := []byte(strings.Repeat("z", 64<<10))
			_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			for sent := 0; sent < 8<<20; sent += len(chunk) {
				if _, err := c.nc.Write(chunk); err != nil {
					break
				}
			}
			c.closedWithin(10 * time.Second)
			mu.Lock()
			refused++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	peak := int64(peakOf()) - int64(before.heap)
	after := measure()
	if refused != clients {
		t.Fatalf("%d of %d clients were disconnected", refused, clients)
	}
	// Each connection may hold up to one frame's worth while it reads; 400
	// MiB of attempted frames must cost far less than that.
	if peak > clients*maxFrame+16<<20 {
		t.Errorf("heap peaked %d MiB above the start during %d oversized frames; want at most one max-frame-size per client", peak>>20, clients)
	}
	t.Logf("%d clients each streaming 8 MiB into a frame announced as 64 MiB (max-frame-size 256 KiB): all disconnected; heap peak +%d KiB, +%d KiB afterwards",
		clients, peak>>10, (int64(after.heap)-int64(before.heap))>>10)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
