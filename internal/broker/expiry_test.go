package broker

import (
	"sync"
	"testing"
	"time"

	"tandem/internal/store/memstore"
)

// TestExpiryScanSkipsQueuesWithoutExpiringMessages checks that the scanner
// walks a queue only while one of its waiting messages has an expiration,
// and that it still expires what comes later, scheduled or returned.
func TestExpiryScanSkipsQueuesWithoutExpiringMessages(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := startBroker(t, memstore.New(), Options{Now: clock})
	s := session(t, b, "")
	mayExpire := func() bool {
		t.Helper()
		q := b.lookupQueue("q")
		q.lock()
		defer q.unlock()
		return q.mayExpire
	}

	for range 3 {
		send(t, s, msg("q", "forever"))
	}
	if mayExpire() {
		t.Fatal("a queue of messages without expiration is marked for the expiry scan")
	}

	m := msg("q", "stale")
	m.Expiration = clock().Add(time.Second).UnixMilli()
	send(t, s, m)
	if !mayExpire() {
		t.Fatal("a queue holding a message with an expiration is not marked for the expiry scan")
	}
	b.ScanExpired()
	if !mayExpire() {
		t.Fatal("the scan unmarked a queue whose message has not expired yet")
	}
	advance(2 * time.Second)
	b.ScanExpired()
	if mayExpire() {
		t.Fatal("the queue stays marked after its only expiring message expired")
	}
	if info, _ := b.Queue("q"); info.Messages != 3 || info.Stats.Expired != 1 {
		t.Fatalf("queue after the scan: %+v", info)
	}

	// A scheduled message with an expiration marks the queue too.
	m = msg("q", "later")
	m.ScheduledTime = clock().Add(time.Hour).UnixMilli()
	m.Expiration = clock().Add(time.Second).UnixMilli()
	send(t, s, m)
	if !mayExpire() {
		t.Fatal("a scheduled message with an expiration does not mark its queue")
	}
	advance(2 * time.Second)
	b.ScanExpired()
	if info, _ := b.Queue("q"); info.Messages != 3 || info.Stats.Expired != 2 || mayExpire() {
		t.Fatalf("after the scheduled message expired: %+v, marked %v", info, mayExpire())
	}

	// So does one that a consumer returns.
	m = msg("q", "returned")
	m.Expiration = clock().Add(time.Second).UnixMilli()
	send(t, s, m)
	b.ScanExpired()
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	k.wait(t, 4)
	b.ScanExpired() // the expiring message is in delivery, not waiting
	if mayExpire() {
		t.Fatal("the queue stays marked while its expiring message is out for delivery")
	}
	s.Unsubscribe(c)
	if !mayExpire() {
		t.Fatal("a returned message with an expiration does not mark its queue")
	}
	advance(2 * time.Second)
	b.ScanExpired()
	if info, _ := b.Queue("q"); info.Messages != 3 || info.Stats.Expired != 3 {
		t.Fatalf("after the returned message expired: %+v", info)
	}
}
