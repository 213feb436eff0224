//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestRoundTripsAreWrittenDurably serves clients for a moment, one alone
// and sixteen at once, direct and buffered, and checks that every answered
// request reached the file, whole and once: each client sends its own
// byte, so the file must hold exactly as many records of each byte as its
// client had answered, one after the other.
func TestRoundTripsAreWrittenDurably(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		for _, clients := range []int{1, 16} {
			t.Run(fmt.Sprintf("buffered=%v/clients=%d", buffered, clients), func(t *testing.T) {
				a, err := newAppender(t.TempDir(), buffered)
				if err != nil {
					t.Skipf("%v", err)
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go serveOn(ln, a)
				body := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i)}, reqSize) }
				counts, _, err := measure(ln.Addr().String(), 200*time.Millisecond, clients, body)
				ln.Close()
				if err != nil {
					t.Fatal(err)
				}
				total := 0
				for _, n := range counts {
					total += n
				}
				if total == 0 {
					t.Fatal("no round trip")
				}
				// The last answer may go out before the next request is
				// read; the appender's position is final once the
				// clients are done, since each waited for its answer.
				if a.off != int64(total*reqSize) {
					t.Fatalf("appender at %d after %d answered requests", a.off, total)
				}
				got := make([]byte, total*reqSize)
				if _, err := a.f.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				seen := make([]int, clients)
				for r := range total {
					rec := got[r*reqSize : (r+1)*reqSize]
					c := int(rec[0] - 'A')
					if c < 0 || c >= clients || !bytes.Equal(rec, body(c)) {
						t.Fatalf("record %d is not one client's request: %q…", r, rec[:16])
					}
					seen[c]++
				}
				for i := range clients {
					if seen[i] != counts[i] {
						t.Fatalf("client %d had %d answers, the file holds %d of its records", i, counts[i], seen[i])
					}
				}
				// The next byte, were the file written past the
				// records, would not be zero.
				next := make([]byte, 1)
				if _, err := a.f.ReadAt(next, int64(total*reqSize)); err != nil || next[0] != 0 {
					t.Fatalf("byte after the records: %q, %v", next, err)
				}
			})
		}
	}
}

// TestAppendRewritesPartBlocks checks the direct write of appends that
// start and end inside blocks and span several: the file must read back
// as the appends, in order, with zeros after them.
func TestAppendRewritesPartBlocks(t *testing.T) {
	a, err := newAppender(t.TempDir(), false)
	if err != nil {
		t.Skipf("%v", err)
	}
	var want []byte
	for i, n := range []int{1024, 3000, 1, 4096, 9000, 4095, 17 * 1024} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		if err := a.append(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
	}
	got := make([]byte, len(want)+block)
	if _, err := a.f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("file differs from the appends")
	}
	if !bytes.Equal(got[len(want):], make([]byte, block)) {
		t.Fatalf("bytes after the appends are not zero")
	}
}
