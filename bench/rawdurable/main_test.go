//go:build linux

package main

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestRoundTripsAreWrittenDurably serves a client for a moment and checks
// that every confirmed request reached the file, direct and buffered.
func TestRoundTripsAreWrittenDurably(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		a, err := newAppender(t.TempDir(), buffered)
		if err != nil {
			t.Skipf("buffered=%v: %v", buffered, err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serveOn(ln, a)
		n, _, err := measure(ln.Addr().String(), 100*time.Millisecond)
		ln.Close()
		if err != nil || n == 0 {
			t.Fatalf("buffered=%v: %d round trips, %v", buffered, n, err)
		}
		got := make([]byte, n*reqSize)
		if _, err := a.f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if a.off != int64(n*reqSize) || !bytes.Equal(got, bytes.Repeat([]byte{'x'}, len(got))) {
			t.Fatalf("buffered=%v: %d round trips, appender at %d", buffered, n, a.off)
		}
	}
}
