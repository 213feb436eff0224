package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// TestDefaultGlobalMaxSizePagesAndBoundsMemory runs a broker with nothing
// set about memory, as if on a machine of 256 MiB (TANDEM_MEMORY), so that
// its default global-max-size (25%) is 64 MiB, and queues TANDEM_MEMORY_MB
// (default 200) MiB of persistent 1 KiB messages with no consumer: beyond
// the limit the address pages, and the broker's resident memory stays within
// the memory it was told the machine has (it reached 1.7-1.8 GiB for
// 1,000,000 such messages before there was a default limit). Then every
// message is consumed, in order.
func TestDefaultGlobalMaxSizePagesAndBoundsMemory(t *testing.T) {
	const msgSize = 1 << 10
	const machine = 256 << 20
	totalMiB := envMiB(t, "TANDEM_MEMORY_MB", 200)
	n := totalMiB << 20 / msgSize
	t.Setenv("TANDEM_MEMORY", fmt.Sprint(machine))
	in := create(t, "memory")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	p.waitLog("event=global_max_size", 5*time.Second)
	if out := p.output(); !strings.Contains(out, "global_max_size=64MiB") || !strings.Contains(out, "memory_source=TANDEM_MEMORY") {
		t.Fatalf("the broker did not derive a global-max-size of 64MiB from TANDEM_MEMORY:\n%s", out)
	}
	pid := p.cmd.Process.Pid
	idle := vmRSS(t, pid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	fill := sampleRSS(t, pid)
	prod, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"), client.WithSendWindow(256))
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	for i := 0; i < n; i++ {
		if err := prod.Send(ctx, "queue://mem.orders", pagedBody(i, msgSize), client.WithoutDuplicateID()); err != nil {
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
	if len(pages) == 0 {
		t.Fatalf("no page files after queueing %d MiB past a default global-max-size of 64 MiB", totalMiB)
	}

	drain := sampleRSS(t, pid)
	c := dialAdmin(t, ctx, in.url())
	// Cumulative acknowledgements, one per 100 messages: each waits for
	// its receipt, and one per message would make the test slow.
	sub, err := c.Subscribe(ctx, "queue://mem.orders", client.WithAckMode(client.AckClient), client.WithPrefetch(200))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := receive(t, sub, 30*time.Second)
		if string(m.Body) != string(pagedBody(i, msgSize)) {
			t.Fatalf("message %d: got %.9q (%d bytes)", i, m.Body, len(m.Body))
		}
		if i%100 == 99 || i == n-1 {
			if err := m.Ack(ctx); err != nil {
				t.Fatalf("ack %d: %v", i, err)
			}
		}
	}
	nothing(t, sub, 300*time.Millisecond)
	drainPeak := drain.finish()

	t.Logf("queued %d MiB (%d messages of 1 KiB) in %v with a default global-max-size of 64 MiB (TANDEM_MEMORY=256MiB): "+
		"%d page files; resident memory idle %d MiB, peak while filling %d MiB, while consuming %d MiB",
		totalMiB, n, fillTime.Round(time.Millisecond), len(pages), idle>>20, fillPeak>>20, drainPeak>>20)
	if peak := max(fillPeak, drainPeak); peak > machine {
		t.Fatalf("peak resident memory %d MiB exceeds the %d MiB the broker was told the machine has", peak>>20, machine>>20)
	}
}
