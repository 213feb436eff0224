package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// followedRE reads what a takeover replayed from a node's log.
var followedRE = regexp.MustCompile(`event=ha_followed replayed_ops=(\d+) records=(\d+)`)

// progressRE reads a waiting node's follower progress (debug level).
var progressRE = regexp.MustCompile(`event=ha_follow_progress epoch=\d+ records=(\d+) applied=(\d+)`)

// waitCaughtUp waits until the waiting node p logs, twice in a row, the
// same count of applied operations, more than min: it has read what the
// live made durable, and the live wrote nothing since. It returns that
// count.
func waitCaughtUp(t *testing.T, p *proc, min int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		m := progressRE.FindAllStringSubmatch(p.output(), -1)
		if n := len(m); n >= 2 && m[n-1][2] == m[n-2][2] {
			if applied, _ := strconv.Atoi(m[n-1][2]); applied > min {
				return applied
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the waiting node did not catch up with the live's journal within %v:\n%s", within, p.output())
	return 0
}

// TestFollowedTakeoverReplaysOnlyTheTail fills a pair's journal, lets the backup
// follow it, writes a little more and kills the live: the backup must
// replay only what it had not read (the log line counts it), and serve
// every message exactly once and in order. TANDEM_VERIFY_FOLLOWER (set for
// the whole package, see TestMain) makes the backup also check its state
// against a full replay of the journal as it found it.
func TestFollowedTakeoverReplaysOnlyTheTail(t *testing.T) {
	p := newPair(t, nil, nil)
	replaceInConfig(t, p.slave, [2]string{"level: info", "level: debug"})
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, p.master.url(), client.WithCredentials("admin", "admin"), client.WithSendWindow(64))
	if err != nil {
		t.Fatal(err)
	}
	const before, consumed, after = 6000, 1500, 20
	// send sends messages from to to; one at a time, each confirmed before
	// the next, when lone is set, so that each has a frame of its own.
	send := func(from, to int, lone bool) {
		t.Helper()
		for i := from; i < to; i++ {
			body := fmt.Sprintf("m%06d %s", i, strings.Repeat("x", 200))
			if err := c.Send(ctx, "queue://follow.main", []byte(body)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			if i%3 == 0 {
				if err := c.Send(ctx, "queue://follow.side", []byte(body)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if lone {
				if err := c.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	send(0, before, false)
	// Acknowledge some of them: the journal gets deletes too.
	sub, err := c.Subscribe(ctx, "queue://follow.main", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	for i := range consumed {
		m := receive(t, sub, 10*time.Second)
		if want := fmt.Sprintf("m%06d ", i); !strings.HasPrefix(string(m.Body), want) {
			t.Fatalf("got %.8q, want %q", m.Body, want)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	applied := waitCaughtUp(t, slave, before, time.Minute)
	// The acknowledgements are written without a sync of their own: the
	// follower applies them once a later frame shows them durable, which
	// the second of the next sends does.
	send(before, before+after, true)
	waitCaughtUp(t, slave, applied, time.Minute)
	send(before+after, before+2*after, false)
	c.Close()

	master.kill()
	waitListening(t, p.slave.addr(), 30*time.Second)
	slave.waitLog("event=ha_followed", 5*time.Second)
	slave.waitLog("event=ha_follow_verified", 5*time.Second)
	m := followedRE.FindStringSubmatch(slave.output())
	if m == nil {
		t.Fatalf("no followed takeover in the slave's log:\n%s", slave.output())
	}
	replayed, _ := strconv.Atoi(m[1])
	records, _ := strconv.Atoi(m[2])
	// The tail: the last sends (a message, its reference and its
	// duplicate-detection id each, and the side queue's), and at most the
	// frames written while the backup could not yet know they were durable.
	if replayed > 10*after || records < before-consumed {
		t.Fatalf("the takeover replayed %d operations for %d records: not just the tail", replayed, records)
	}
	t.Logf("the takeover replayed %d operations of the tail, for %d records", replayed, records)

	// Everything is there once, in order.
	c2, err := client.Dial(ctx, p.slave.url(), client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, q := range []struct {
		name     string
		from, to int
		every    int
	}{{"follow.main", consumed, before + 2*after, 1}, {"follow.side", 0, before + 2*after, 3}} {
		sub, err := c2.Subscribe(ctx, "queue://"+q.name, client.WithAckMode(client.AckClientIndividual))
		if err != nil {
			t.Fatal(err)
		}
		for i := q.from; i < q.to; i++ {
			if i%q.every != 0 {
				continue
			}
			m := receive(t, sub, 10*time.Second)
			if want := fmt.Sprintf("m%06d ", i); !strings.HasPrefix(string(m.Body), want) {
				t.Fatalf("%s: got %.8q, want %q", q.name, m.Body, want)
			}
			if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		if extra, err := sub.Receive(rctx); err == nil {
			t.Fatalf("%s: an extra message %.8q", q.name, extra.Body)
		}
		rcancel()
	}
}
