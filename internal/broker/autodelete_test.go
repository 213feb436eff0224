package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// hasQueue and hasAddress report what the broker's registries hold.
func (b *Broker) hasQueueNamed(name string) bool { return b.lookupQueue(name) != nil }

func (b *Broker) hasAddressNamed(name string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.addresses[name] != nil
}

func settingsWith(edit func(*AddressSettings)) func(string) AddressSettings {
	return func(string) AddressSettings {
		s := DefaultAddressSettings()
		edit(&s)
		return s
	}
}

func TestAutoDeleteQueues(t *testing.T) {
	cases := []struct {
		name      string
		edit      func(*AddressSettings)
		leftOver  int  // messages still queued when the consumer leaves
		consume   bool // whether a consumer ever attached
		wantGone  bool
		wantAddrs bool // whether the address survives
	}{
		{"empty queue goes with its last consumer", func(*AddressSettings) {}, 0, true, true, false},
		{"queue still holding messages stays", func(*AddressSettings) {}, 2, true, false, true},
		{"message count -1 drops what it holds", func(s *AddressSettings) { s.AutoDeleteQueuesMessageCount = -1 }, 2, true, true, false},
		{"message count 2 tolerates two", func(s *AddressSettings) { s.AutoDeleteQueuesMessageCount = 2 }, 2, true, true, false},
		{"never consumed queue stays", func(*AddressSettings) {}, 0, false, false, true},
		{"auto-delete-queues false keeps it", func(s *AddressSettings) { s.AutoDeleteQueues = false }, 0, true, false, true},
		{"auto-delete-addresses false keeps the address", func(s *AddressSettings) { s.AutoDeleteAddresses = false }, 0, true, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := startBroker(t, memstore.New(), Options{Settings: settingsWith(c.edit)})
			s := session(t, b, "")
			for i := 0; i < c.leftOver+1; i++ {
				send(t, s, msg("jobs", "m"))
			}
			if c.consume {
				cons, k := subscribe(t, s, SubscribeOptions{Address: "jobs", Window: 1, AckMode: AckIndividual})
				ack(t, k.wait(t, 1)[0])
				s.Unsubscribe(cons)
			}
			if got := !b.hasQueueNamed("jobs"); got != c.wantGone {
				t.Fatalf("queue deleted = %v, want %v", got, c.wantGone)
			}
			if got := b.hasAddressNamed("jobs"); got != c.wantAddrs {
				t.Fatalf("address kept = %v, want %v", got, c.wantAddrs)
			}
		})
	}
}

func TestAutoDeleteWaitsForItsDelay(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	b := startBroker(t, memstore.New(), Options{Now: clock, Settings: settingsWith(func(s *AddressSettings) {
		s.AutoDeleteQueuesDelay = 5 * time.Second
		s.AutoDeleteAddressesDelay = 5 * time.Second
	})})
	s := session(t, b, "")
	c, _ := subscribe(t, s, SubscribeOptions{Address: "jobs"})
	s.Unsubscribe(c)
	b.reapAutoDeleted()
	if !b.hasQueueNamed("jobs") {
		t.Fatal("queue deleted before auto-delete-queues-delay passed")
	}
	now = now.Add(5 * time.Second)
	b.reapAutoDeleted()
	if b.hasQueueNamed("jobs") {
		t.Fatal("queue kept after auto-delete-queues-delay")
	}
	if !b.hasAddressNamed("jobs") {
		t.Fatal("address deleted before auto-delete-addresses-delay passed")
	}
	now = now.Add(5 * time.Second)
	b.reapAutoDeleted()
	if b.hasAddressNamed("jobs") {
		t.Fatal("address kept after auto-delete-addresses-delay")
	}
}

func TestAutoDeletedQueueIsRecreatedBySend(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	c, _ := subscribe(t, s, SubscribeOptions{Address: "jobs"})
	s.Unsubscribe(c)
	if b.hasQueueNamed("jobs") {
		t.Fatal("queue not auto-deleted")
	}
	send(t, s, msg("jobs", "after"))
	b = restart(t, b, st, Options{})
	s = session(t, b, "")
	_, k := subscribe(t, s, SubscribeOptions{Address: "jobs"})
	equal(t, bodies(k.wait(t, 1)), []string{"after"})
}

func TestAutoDeleteSurvivesRestart(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	for _, name := range []string{"gone", "kept"} {
		send(t, s, msg(name, "m"))
	}
	c, k := subscribe(t, s, SubscribeOptions{Address: "gone"})
	k.wait(t, 1)
	s.Unsubscribe(c)
	b = restart(t, b, st, Options{})
	if b.hasQueueNamed("gone") || b.hasAddressNamed("gone") {
		t.Fatal("auto-deleted queue or address came back after restart")
	}
	if !b.hasQueueNamed("kept") {
		t.Fatal("unconsumed queue lost")
	}
}

func TestWildcardAddressGoesWithItsLastSubscription(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c, _ := subscribe(t, s, SubscribeOptions{Address: "news.#", RoutingType: message.Multicast})
	s.Unsubscribe(c)
	if b.hasAddressNamed("news.#") {
		t.Fatal("wildcard address kept after its only subscription went")
	}
	b.mu.RLock()
	n := len(b.wildcards)
	b.mu.RUnlock()
	if n != 0 {
		t.Fatalf("wildcard index still holds %d addresses", n)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast})
	send(t, s, topicMsg("news", "still-routed"))
	equal(t, bodies(k.wait(t, 1)), []string{"still-routed"})
}

// TestAutoDeleteNeverLosesAConfirmedSend churns the only consumer of an
// auto-created queue, so the queue is deleted and recreated again and
// again, while producers send: every confirmed message must be consumed.
func TestAutoDeleteNeverLosesAConfirmedSend(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	const producers, each = 4, 300
	var got sync.Map
	done := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			s := session(t, b, "")
			for i := 0; i < each; i++ {
				ch := make(chan error, 1)
				s.Send(msg("churn", fmt.Sprintf("%d-%d", p, i)), nil, func(err error) { ch <- err })
				if err := <-ch; err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}(p)
	}
	go func() { wg.Wait(); close(done) }()
	cs := session(t, b, "")
	record := func(d Delivery) { got.Store(string(d.Message.Body), true) }
	churning := true
	for churning {
		select {
		case <-done:
			churning = false
		default:
		}
		c, err := cs.Subscribe(SubscribeOptions{Address: "churn", Deliver: record})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		cs.Unsubscribe(c)
	}
	c, err := cs.Subscribe(SubscribeOptions{Address: "churn", Deliver: record})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Unsubscribe(c)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		got.Range(func(any, any) bool { n++; return true })
		if n == producers*each {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d confirmed messages consumed", n, producers*each)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
