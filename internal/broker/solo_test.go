package broker

import (
	"reflect"
	"testing"
	"time"
	"unsafe"

	"tandem/internal/message"
	"tandem/internal/selector"
	"tandem/internal/store/memstore"
)

// TestOnlyADeepBacklogIsPacked: a message that will soon be delivered is
// not packed, one behind packBehind others is.
func TestOnlyADeepBacklogIsPacked(t *testing.T) {
	old := packBehind
	packBehind = 2
	t.Cleanup(func() { packBehind = old })
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	for i := 0; i < 4; i++ {
		m := msg("q", "x")
		m.Properties = typedProps()
		send(t, s, m)
	}
	q := b.lookupQueue("q")
	q.lock()
	var packed []bool
	for r := q.levels[message.DefaultPriority].head; r != nil; r = r.next {
		packed = append(packed, r.packedLen != 0)
	}
	q.unlock()
	if want := []bool{false, false, true, true}; !reflect.DeepEqual(packed, want) {
		t.Fatalf("packed %v, want %v", packed, want)
	}
}

// TestSoloSize guards what a message held by one queue costs: its ref and
// its Message in 160 bytes, a Go size class.
func TestSoloSize(t *testing.T) {
	if n := unsafe.Sizeof(solo{}); n != 160 {
		t.Fatalf("solo is %d bytes, want 160 (a ref of 48 and a Message of 112)", n)
	}
}

// typedProps are properties of every kind, with text that needs care when
// packed: empty values, binary bytes, a long value.
func typedProps() []message.Property {
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte(i)
	}
	return []message.Property{
		message.Str("color", "red"),
		message.Str("empty", ""),
		message.Int64("n", message.KindInt, -42),
		message.Bool("ok", true),
		message.Double("pi", 3.25),
		message.Binary("raw", long),
		message.Null("nothing"),
		message.Str("color", "blue"), // repeated: the first counts
	}
}

// queued reports whether the queue's first waiting ref of name is packed.
func queuedPacked(t *testing.T, b *Broker, name string) bool {
	t.Helper()
	q := b.lookupQueue(name)
	q.lock()
	defer q.unlock()
	for lvl := range q.levels {
		if r := q.levels[lvl].head; r != nil {
			return r.packedLen != 0 && r.msg().Properties == nil
		}
	}
	t.Fatalf("queue %q has no waiting message", name)
	return false
}

// packEverything makes every waiting solo packed for the test's length.
func packEverything(t *testing.T) {
	old := packBehind
	packBehind = -1
	t.Cleanup(func() { packBehind = old })
}

func TestSoloKeepsPropertiesPackedWhileQueued(t *testing.T) {
	packEverything(t)
	st := memstore.New()
	opts := Options{Filters: func(sel string) (Filter, error) { return selector.Compile(sel) }}
	b := startBroker(t, st, opts)
	s := session(t, b, "")
	want := typedProps()
	m := msg("q", "body")
	m.Properties = append([]message.Property(nil), want...)
	send(t, s, m)
	if !queuedPacked(t, b, "q") {
		t.Fatal("a waiting message held by one queue does not keep its properties packed")
	}
	if !reflect.DeepEqual(m.Properties, want) {
		t.Fatal("routing changed the producer's message")
	}

	// Browsing sees the properties, in a copy.
	items, err := s.Browse("q", message.Anycast, "n = -42 AND color = 'red'", 0)
	if err != nil || len(items) != 1 || !reflect.DeepEqual(items[0].Message.Properties, want) {
		t.Fatalf("browse: %v, %+v", err, items)
	}
	if !queuedPacked(t, b, "q") {
		t.Fatal("browsing unpacked the queued message")
	}

	// A selector that does not match leaves it packed; one that does
	// gets it whole.
	_, none := subscribe(t, s, SubscribeOptions{Address: "q", Selector: "color = 'blue'"})
	time.Sleep(20 * time.Millisecond)
	if none.count() != 0 || !queuedPacked(t, b, "q") {
		t.Fatalf("selector on a repeated property's second value: %d delivered", none.count())
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "q", Selector: "ok = TRUE AND pi > 3", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	if !reflect.DeepEqual(d.Message.Properties, want) {
		t.Fatalf("delivered properties %+v, want %+v", d.Message.Properties, want)
	}
	ack(t, d)
	if size := b.addressSize("q"); size != 0 {
		t.Fatalf("address counts %d bytes after its only message was acknowledged", size)
	}

	// After a restart the recovered message is packed again and comes back
	// whole.
	m = msg("q", "again")
	m.Properties = append([]message.Property(nil), want...)
	send(t, s, m)
	b = restart(t, b, st, opts)
	if !queuedPacked(t, b, "q") {
		t.Fatal("a recovered message does not keep its properties packed")
	}
	_, k = subscribe(t, session(t, b, ""), SubscribeOptions{Address: "q"})
	if got := k.wait(t, 1)[0].Message; string(got.Body) != "again" || !reflect.DeepEqual(got.Properties, want) {
		t.Fatalf("after restart: %q %+v", got.Body, got.Properties)
	}
}

// TestPackedMessagesThroughTheBroker sends messages with properties that
// wait packed and then take every path that reads them: counted sizes,
// last-value replacement, dead-lettering, expiry, and a topic with one
// subscription and with two (which share an entry and are never packed).
func TestPackedMessagesThroughTheBroker(t *testing.T) {
	packEverything(t)
	t.Run("address size is the same packed or not", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 1<<20, FullPage))
		s := session(t, b, "")
		m := msg("q", "x")
		m.Properties = typedProps()
		send(t, s, m)
		want := int64(m.Size()) + RefOverhead
		if got := b.addressSize("q"); got != want {
			t.Fatalf("address counts %d, want %d", got, want)
		}
		if !queuedPacked(t, b, "q") {
			t.Fatal("the message is not packed")
		}
		_, k := subscribe(t, s, SubscribeOptions{Address: "q"})
		k.wait(t, 1)
		if got := b.addressSize("q"); got != 0 {
			t.Fatalf("address counts %d after delivery", got)
		}
	})
	t.Run("last-value queue replaces by a packed key", func(t *testing.T) {
		b := startBroker(t, memstore.New(), Options{Settings: settingsWith(func(s *AddressSettings) { s.DefaultLastValue = true })})
		s := session(t, b, "")
		for _, v := range []struct{ key, body string }{{"a", "1"}, {"b", "2"}, {"a", "3"}} {
			m := msg("lv", v.body)
			m.Properties = []message.Property{message.Str("other", "x"), message.Str(message.PropLastValue, v.key)}
			send(t, s, m)
		}
		_, k := subscribe(t, s, SubscribeOptions{Address: "lv", AckMode: AckIndividual})
		ds := k.wait(t, 2)
		equal(t, bodies(ds), []string{"2", "3"})
		for _, d := range ds {
			ack(t, d) // forgetting the key reads it from the packed form too
		}
		m := msg("lv", "4")
		m.Properties = []message.Property{message.Str(message.PropLastValue, "a")}
		send(t, s, m)
		equal(t, bodies(k.wait(t, 3))[2:], []string{"4"})
	})
	t.Run("a dead letter keeps the properties", func(t *testing.T) {
		b := startBroker(t, memstore.New(), Options{Settings: settingsWith(func(s *AddressSettings) { s.MaxDeliveryAttempts = 1 })})
		s := session(t, b, "")
		m := msg("work", "poison")
		m.Properties = typedProps()
		send(t, s, m)
		_, k := subscribe(t, s, SubscribeOptions{Address: "work", AckMode: AckIndividual})
		d := k.wait(t, 1)[0]
		d.Consumer.Nack(d.ID, nil, nil)
		_, dlq := subscribe(t, s, SubscribeOptions{Address: "DLQ"})
		got := dlq.wait(t, 1)[0].Message
		if orig, _ := got.Property(message.PropOriginalAddress); orig != "work" {
			t.Fatalf("dead letter without its original address: %+v", got.Properties)
		}
		if !reflect.DeepEqual(got.Properties[:len(typedProps())], typedProps()) {
			t.Fatalf("dead letter properties %+v", got.Properties)
		}
	})
	t.Run("an expired message moves with its properties", func(t *testing.T) {
		now := time.Now()
		b := startBroker(t, memstore.New(), Options{Now: func() time.Time { return now }})
		s := session(t, b, "")
		m := msg("q", "stale")
		m.Properties = typedProps()
		m.Expiration = now.Add(-time.Second).UnixMilli()
		send(t, s, m)
		b.ScanExpired()
		_, k := subscribe(t, s, SubscribeOptions{Address: "ExpiryQueue"})
		got := k.wait(t, 1)[0].Message
		if !reflect.DeepEqual(got.Properties[:len(typedProps())], typedProps()) {
			t.Fatalf("expired message properties %+v", got.Properties)
		}
	})
	t.Run("a topic with two subscriptions shares one unpacked message", func(t *testing.T) {
		b := startBroker(t, memstore.New(), Options{})
		s := session(t, b, "app")
		var sinks []*sink
		for _, name := range []string{"one", "two"} {
			_, k := subscribe(t, s, SubscribeOptions{Address: "feed", RoutingType: message.Multicast, DurableName: name,
				AckMode: AckIndividual, Window: 1})
			sinks = append(sinks, k)
		}
		for _, body := range []string{"first", "second"} {
			m := topicMsg("feed", body)
			m.Properties = typedProps()
			send(t, s, m)
		}
		// Each subscription holds "first" unacknowledged, so "second"
		// waits in both queues, sharing its entry, never packed.
		for _, name := range []string{"app.one", "app.two"} {
			if queuedPacked(t, b, name) {
				t.Fatalf("a message two queues hold is packed in %s", name)
			}
		}
		for _, k := range sinks {
			ack(t, k.wait(t, 1)[0])
			if got := k.wait(t, 2)[1].Message; string(got.Body) != "second" || !reflect.DeepEqual(got.Properties, typedProps()) {
				t.Fatalf("second message on a shared topic: %q %+v", got.Body, got.Properties)
			}
		}
	})
}
