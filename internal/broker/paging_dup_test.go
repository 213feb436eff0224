package broker

import (
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
	"tandem/internal/store/memstore"
)

// unsyncedLost is a memstore that loses every batch written without a
// sync that holds only duplicate-id records: what a crash does to a write
// that was not yet synced.
type unsyncedLost struct{ *memstore.Store }

func (u unsyncedLost) Commit(b *store.Batch, sync bool, done func(error)) {
	only := len(b.Ops) > 0
	for _, op := range b.Ops {
		only = only && (op.Kind == store.OpAddDuplicateID || op.Kind == store.OpDeleteDuplicateID)
	}
	if only && !sync {
		done(nil)
		return
	}
	u.Store.Commit(b, sync, done)
}

// TestPagedSendWithDuplicateIDNotStoredTwice: a paged send's duplicate id
// is kept by its page record until the message is depaged, so a crash
// after the page record is durable and a resend of the same id stores the
// message once: the chaos run's one double with paging in its mix.
func TestPagedSendWithDuplicateIDNotStoredTwice(t *testing.T) {
	dir := t.TempDir()
	mem := memstore.New()
	st := unsyncedLost{mem}
	opts := pagedOptions(t, dir, 8<<10, FullPage)
	opts.Store = st
	start := func() *Broker {
		b, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	b := start()
	s := session(t, b, "")
	n := 0
	for ; !addressInfo(b, "big").Paging; n++ {
		if n > 100 {
			t.Fatal("the address never started paging")
		}
		send(t, s, msg("big", body(n)))
	}
	m := msg("big", "once")
	m.SetProperty(message.PropDuplicateID, "resent-after-crash")
	send(t, s, m) // paged
	b.Close()
	mem.Reopen()
	b = start()
	s = session(t, b, "")
	resend := msg("big", "once")
	resend.SetProperty(message.PropDuplicateID, "resent-after-crash")
	send(t, s, resend)
	_, k := subscribe(t, s, SubscribeOptions{Address: "big", AckMode: AckAuto})
	got := k.wait(t, n+1)
	// Nothing more arrives: a second copy would.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) && k.count() == n+1 {
		time.Sleep(10 * time.Millisecond)
	}
	if k.count() != n+1 {
		t.Fatalf("%d deliveries, want %d: the resend was stored beside the paged original", k.count(), n+1)
	}
	if string(got[n].Message.Body) != "once" {
		t.Fatalf("last delivery %q", got[n].Message.Body)
	}
	// Depaged and consumed, the message is gone from the page files; the
	// depage batch wrote its id's record, which a later start re-learns.
	b.Close()
	mem.Reopen()
	b = start()
	s = session(t, b, "")
	again := msg("big", "once")
	again.SetProperty(message.PropDuplicateID, "resent-after-crash")
	send(t, s, again)
	if q, err := b.Queue("big"); err != nil || q.Messages != 0 {
		t.Fatalf("queue after a resend of a depaged message: %+v, %v; want it refused as a duplicate", q, err)
	}
}
