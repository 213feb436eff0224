package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRedeliveryDelay(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delay     time.Duration
		mult      float64
		max       time.Duration
		wantDelay []time.Duration // after the 1st, 2nd... failed delivery
	}{
		{"constant", 100 * time.Millisecond, 1, 0, []time.Duration{100, 100, 100}},
		{"multiplier", 100 * time.Millisecond, 2, 0, []time.Duration{100, 200, 400, 800}},
		{"multiplier capped", 100 * time.Millisecond, 2, 300 * time.Millisecond, []time.Duration{100, 200, 300, 300}},
		{"fractional multiplier", 100 * time.Millisecond, 1.5, 0, []time.Duration{100, 150, 225}},
		{"none", 0, 2, 0, []time.Duration{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
			b := startBroker(t, memstore.New(), Options{Now: clock.Now, Settings: settingsWith(func(s *AddressSettings) {
				s.RedeliveryDelay, s.RedeliveryMultiplier, s.MaxRedeliveryDelay = tc.delay, tc.mult, tc.max
				s.MaxDeliveryAttempts = 10
			})})
			s := session(t, b, "")
			send(t, s, msg("q", "again"))
			_, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
			q := b.lookupQueue("q")
			for i, want := range tc.wantDelay {
				want *= time.Millisecond
				d := k.wait(t, i+1)[i]
				if d.DeliveryCount != uint32(i+1) || d.Redelivered != (i > 0) {
					t.Fatalf("delivery %d: count %d, redelivered %v", i+1, d.DeliveryCount, d.Redelivered)
				}
				nacked := clock.Now().UnixMilli()
				d.Consumer.Nack(d.ID, nil, nil)
				if want == 0 {
					continue // redelivered at once: the next wait sees it
				}
				q.lock()
				if len(q.sched) != 1 {
					q.unlock()
					t.Fatalf("after failed delivery %d the message is not held back", i+1)
				}
				got := time.Duration(q.sched[0].readyAt()-nacked) * time.Millisecond
				q.unlock()
				if got != want {
					t.Fatalf("delay after failed delivery %d = %v, want %v", i+1, got, want)
				}
				// Not before its time, whatever the timers do...
				clock.advance(want - time.Millisecond)
				q.onTimer()
				if n := k.count(); n != i+1 {
					t.Fatalf("redelivered %v before its delay was up", time.Millisecond)
				}
				// ...and at its time.
				clock.advance(time.Millisecond)
				q.onTimer()
			}
		})
	}
}

// TestDeliveryCountSurvivesRestart: a message's delivery count is stored
// with every failed delivery, so max-delivery-attempts holds across a
// restart: the third failure sends it to the dead-letter address although
// two of them happened before the restart.
func TestDeliveryCountSurvivesRestart(t *testing.T) {
	st := memstore.New()
	// A long redelivery delay on a clock the test moves keeps the message
	// waiting between failures, never in flight when the broker stops.
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	opts := Options{Now: clock.Now, Settings: settingsWith(func(s *AddressSettings) {
		s.MaxDeliveryAttempts, s.RedeliveryDelay = 3, time.Hour
	})}
	b := startBroker(t, st, opts)
	s := session(t, b, "")
	send(t, s, msg("q", "poison"))
	_, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	for i := 1; i <= 2; i++ {
		d := k.wait(t, i)[i-1]
		if d.DeliveryCount != uint32(i) {
			t.Fatalf("delivery %d has count %d", i, d.DeliveryCount)
		}
		d.Consumer.Nack(d.ID, nil, nil)
		if i == 1 {
			clock.advance(time.Hour)
			b.lookupQueue("q").onTimer()
		}
	}
	b = restart(t, b, st, opts)
	s = session(t, b, "")
	_, k = subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	if d.DeliveryCount != 3 || !d.Redelivered {
		t.Fatalf("after restart: delivery count %d, redelivered %v; want 3, true", d.DeliveryCount, d.Redelivered)
	}
	d.Consumer.Nack(d.ID, nil, nil)
	_, dk := subscribe(t, s, SubscribeOptions{Address: "DLQ", AckMode: AckIndividual})
	dl := dk.wait(t, 1)[0]
	if reason, _ := dl.Message.Property(message.PropDeadLetterReason); string(dl.Message.Body) != "poison" || reason == "" {
		t.Fatalf("dead letter %q, reason %q", dl.Message.Body, reason)
	}
}

func cachedSettings(b *Broker) int {
	n := 0
	b.settingsCache.Range(func(any, any) bool { n++; return true })
	return n
}

// TestSettingsCacheBounded: the per-address settings cache forgets
// deleted addresses (temporary queues come and go by the thousand) and
// never holds more than maxCachedSettings entries, whatever names clients
// send to.
func TestSettingsCacheBounded(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	base := cachedSettings(b)
	for i := range 2000 {
		s := session(t, b, "")
		if err := s.CreateTempQueue(fmt.Sprintf("temp.%d", i)); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if n := cachedSettings(b); n > base+10 {
		t.Fatalf("%d cached settings after 2000 temporary queues came and went, %d before", n, base)
	}
	denied := startBroker(t, memstore.New(), Options{Settings: settingsWith(func(s *AddressSettings) { s.AutoCreateAddresses = false })})
	s := session(t, denied, "")
	for i := range 3 * maxCachedSettings {
		m := msg(fmt.Sprintf("nowhere.%d", i), "x")
		ch := make(chan error, 1)
		s.Send(m, nil, func(err error) { ch <- err })
		if err := <-ch; err == nil {
			t.Fatal("a send to a missing address with auto-create off succeeded")
		}
	}
	if n := cachedSettings(denied); n > maxCachedSettings {
		t.Fatalf("%d cached settings, more than the bound %d", n, maxCachedSettings)
	}
}
