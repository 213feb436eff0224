package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tandem/client"
)

// vmRSS reads a process's resident memory from /proc/PID/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read resident memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// rssSampler records the peak resident memory of a process until stopped.
type rssSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(t *testing.T, pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
						if kb<<10 > s.peak.Load() {
							s.peak.Store(kb << 10)
						}
					}
				}
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() int64 {
	close(s.stop)
	<-s.done
	return s.peak.Load()
}

// envMiB reads a size in MiB from the environment, or def.
func envMiB(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: expected a positive number of MiB", name, v)
	}
	return n
}

func pagedBody(i, size int) []byte {
	b := make([]byte, size)
	copy(b, fmt.Sprintf("%08d:", i))
	for j := 9; j < size; j++ {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

// TestPagingBeyondMaxSizeSurvivesSIGKILL fills an address far beyond its
// max-size-bytes with address-full-policy PAGE, consumes part, SIGKILLs the
// broker mid-way, restarts it and consumes the rest: every message exactly
// once and in order, with the broker's resident memory bounded throughout.
// TANDEM_PAGING_MB sets the volume (default 64 MiB).
func TestPagingBeyondMaxSizeSurvivesSIGKILL(t *testing.T) {
	const msgSize = 16 << 10
	const maxSize = 2 << 20
	totalMiB := envMiB(t, "TANDEM_PAGING_MB", 64)
	n := totalMiB << 20 / msgSize
	in := create(t, "paging")
	editConfig(t, in, func(s string) string {
		return strings.Replace(s, "address-settings:\n", `address-settings:
  "paged.#":
    max-size-bytes: 2MiB
    page-size-bytes: 4MiB
    address-full-policy: PAGE
`, 1)
	})
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	pid := p.cmd.Process.Pid
	idle := vmRSS(t, pid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	fill := sampleRSS(t, pid)
	prod, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"), client.WithSendWindow(64))
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	for i := 0; i < n; i++ {
		if err := prod.Send(ctx, "queue://paged.orders", pagedBody(i, msgSize)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	fillTime := time.Since(begin)
	fillPeak := fill.finish()
	pages, _ := filepath.Glob(filepath.Join(in.dir, "data", "paging", "*", "*.page"))
	if len(pages) < 2 {
		t.Fatalf("only %d page files after sending %d MiB to an address limited to 2 MiB", len(pages), totalMiB)
	}

	// consume takes messages first..last-1 in order, acknowledging each.
	consume := func(first, last int) {
		t.Helper()
		c := dialAdmin(t, ctx, in.url())
		sub, err := c.Subscribe(ctx, "queue://paged.orders", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(100))
		if err != nil {
			t.Fatal(err)
		}
		for i := first; i < last; i++ {
			m := receive(t, sub, 30*time.Second)
			if want := fmt.Sprintf("%08d:", i); !strings.HasPrefix(string(m.Body), want) || len(m.Body) != msgSize {
				t.Fatalf("message %d: got %.9q (%d bytes), want %q", i, m.Body, len(m.Body), want)
			}
			if string(m.Body) != string(pagedBody(i, msgSize)) {
				t.Fatalf("message %d: body corrupted", i)
			}
			if err := m.Ack(ctx); err != nil {
				t.Fatalf("ack %d: %v", i, err)
			}
		}
	}
	drain := sampleRSS(t, pid)
	half := n / 2
	consume(0, half)
	drainPeak := drain.finish()
	p.kill()

	p = start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	pid = p.cmd.Process.Pid
	after := sampleRSS(t, pid)
	consume(half, n)
	afterPeak := after.finish()
	c := dialAdmin(t, ctx, in.url())
	sub, err := c.Subscribe(ctx, "queue://paged.orders")
	if err != nil {
		t.Fatal(err)
	}
	nothing(t, sub, 500*time.Millisecond)

	peak := max(fillPeak, drainPeak, afterPeak)
	t.Logf("paged %d MiB (%d messages of %d KiB) through an address limited to %d MiB: fill %v; resident memory idle %d MiB, peak while filling %d MiB, consuming %d MiB, after SIGKILL+restart %d MiB; %d page files",
		totalMiB, n, msgSize>>10, maxSize>>20, fillTime.Round(time.Millisecond), idle>>20, fillPeak>>20, drainPeak>>20, afterPeak>>20, len(pages))
	// The bound: the idle broker plus room for the address's limit, the
	// journal's and the connections' buffers and the garbage collector's
	// headroom, independent of how much was paged.
	if limit := idle + 96<<20; peak > limit {
		t.Fatalf("peak resident memory %d MiB exceeds %d MiB (idle %d MiB + 96 MiB) while paging %d MiB",
			peak>>20, limit>>20, idle>>20, totalMiB)
	}
}

// TestAddressFullPoliciesThroughSTOMP checks BLOCK, FAIL and DROP as a
// STOMP producer sees them.
func TestAddressFullPoliciesThroughSTOMP(t *testing.T) {
	const msgSize = 16 << 10
	in := create(t, "policies")
	editConfig(t, in, func(s string) string {
		return strings.Replace(s, "address-settings:\n", `address-settings:
  "blocked.#":
    max-size-bytes: 64KiB
    address-full-policy: BLOCK
  "failed.#":
    max-size-bytes: 64KiB
    address-full-policy: FAIL
  "dropped.#":
    max-size-bytes: 64KiB
    address-full-policy: DROP
`, 1)
	})
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("BLOCK holds the receipt until a consumer makes room", func(t *testing.T) {
		prod := dialAdmin(t, ctx, in.url())
		var sent atomic.Int32
		errc := make(chan error, 1)
		go func() {
			for i := 0; i < 20; i++ {
				if err := prod.Send(ctx, "queue://blocked.q", pagedBody(i, msgSize)); err != nil {
					errc <- err
					return
				}
				sent.Add(1)
			}
			errc <- nil
		}()
		deadline := time.Now().Add(5 * time.Second)
		for sent.Load() < 4 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // give a broken BLOCK the chance to let more through
		if n := sent.Load(); n < 4 || n > 6 {
			t.Fatalf("%d sends of 16 KiB confirmed to an address blocking at 64 KiB", n)
		}
		sub, err := dialAdmin(t, ctx, in.url()).Subscribe(ctx, "queue://blocked.q")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if m := receive(t, sub, 10*time.Second); string(m.Body) != string(pagedBody(i, msgSize)) {
				t.Fatalf("message %d out of order: %.9q", i, m.Body)
			}
		}
		if err := <-errc; err != nil {
			t.Fatalf("blocked producer: %v", err)
		}
	})
	t.Run("BLOCK outlasts the heart-beat timeout", func(t *testing.T) {
		// With 300 ms heart-beats the broker drops a silent client after
		// about 1.5 s; a producer blocked for 3 s must survive that.
		prod, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"),
			client.WithHeartBeat(300*time.Millisecond, 300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		errc := make(chan error, 1)
		go func() {
			for i := 0; i < 6; i++ {
				if err := prod.Send(ctx, "queue://blocked.hb", pagedBody(i, msgSize)); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		time.Sleep(3 * time.Second)
		sub, err := dialAdmin(t, ctx, in.url()).Subscribe(ctx, "queue://blocked.hb")
		if err != nil {
			t.Fatal(err)
		}
		bodiesOf(t, sub, 6)
		if err := <-errc; err != nil {
			t.Fatalf("producer blocked for 3 s with 300 ms heart-beats: %v", err)
		}
	})
	t.Run("FAIL refuses the send with an ERROR that says why", func(t *testing.T) {
		prod := dialAdmin(t, ctx, in.url())
		var err error
		i := 0
		for ; i < 20 && err == nil; i++ {
			err = prod.Send(ctx, "queue://failed.q", pagedBody(i, msgSize))
		}
		if err == nil || !strings.Contains(err.Error(), "address is full") || !strings.Contains(err.Error(), "max-size-bytes") {
			t.Fatalf("send %d to a full FAIL address: %v", i, err)
		}
		if i < 4 {
			t.Fatalf("refused already at send %d, below max-size-bytes", i)
		}
	})
	t.Run("DROP confirms every send and keeps what fits", func(t *testing.T) {
		prod := dialAdmin(t, ctx, in.url())
		for i := 0; i < 20; i++ {
			if err := prod.Send(ctx, "queue://dropped.q", pagedBody(i, msgSize)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		msgs, err := prod.Browse(ctx, "queue://dropped.q")
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) < 3 || len(msgs) > 5 {
			t.Fatalf("%d of 20 messages of 16 KiB kept by an address dropping beyond 64 KiB", len(msgs))
		}
		for i, m := range msgs {
			if string(m.Body) != string(pagedBody(i, msgSize)) {
				t.Fatalf("kept message %d is %.9q; DROP must keep the first ones", i, m.Body)
			}
		}
	})
}
