package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/paging"
	"tandem/internal/store/memstore"
)

// pagedOptions limits every address to maxSize bytes with policy, paging
// into dir.
func pagedOptions(t *testing.T, dir string, maxSize int64, policy FullPolicy) Options {
	t.Helper()
	p, err := paging.New(paging.Options{Dir: dir, PageSize: func(string) int64 { return 64 << 10 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return Options{Pager: p, Settings: settingsWith(func(s *AddressSettings) {
		s.MaxSizeBytes = maxSize
		s.FullPolicy = policy
	})}
}

func (b *Broker) addressSize(name string) int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if a := b.addresses[name]; a != nil {
		return a.size.Load()
	}
	return 0
}

func body(i int) string { return fmt.Sprintf("%05d-%s", i, strings.Repeat("x", 1000)) }

func TestPagingKeepsOrderAcrossRestartAndBoundsMemory(t *testing.T) {
	const n, maxSize = 600, 20 << 10
	dir := t.TempDir()
	st := memstore.New()
	opts := pagedOptions(t, dir, maxSize, FullPage)
	b := startBroker(t, st, opts)
	s := session(t, b, "")
	for i := 0; i < n; i++ {
		send(t, s, msg("big", body(i)))
		if size := b.addressSize("big"); size > maxSize+2<<10 {
			t.Fatalf("after %d sends the address holds %d bytes in memory, limit %d", i+1, size, maxSize)
		}
	}
	if ai := addressInfo(b, "big"); !ai.Paging || ai.SizeBytes < maxSize {
		t.Fatalf("management shows %+v for an address paging beyond %d bytes", ai, maxSize)
	}
	c, k := subscribe(t, s, SubscribeOptions{Address: "big", AckMode: AckIndividual, Window: 50})
	consumeInOrder(t, k, 0, 0, 200)
	s.Unsubscribe(c)

	// Restart on the same journal and page files, as after a crash.
	b.Close()
	st.Reopen()
	opts = pagedOptions(t, dir, maxSize, FullPage)
	b = startBroker(t, st, opts)
	s = session(t, b, "")
	_, k = subscribe(t, s, SubscribeOptions{Address: "big", AckMode: AckIndividual, Window: 50})
	consumeInOrder(t, k, 0, 200, n)
	time.Sleep(50 * time.Millisecond)
	if extra := k.count() - (n - 200); extra != 0 {
		t.Fatalf("%d messages delivered twice", extra)
	}
	if size := b.addressSize("big"); size != 0 {
		t.Fatalf("address counts %d bytes with every message acknowledged", size)
	}
	deadline := time.Now().Add(5 * time.Second)
	for addressInfo(b, "big").Paging {
		if time.Now().After(deadline) {
			t.Fatal("address still paging after every paged message came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func addressInfo(b *Broker, name string) AddressInfo {
	for _, ai := range b.Addresses() {
		if ai.Name == name {
			return ai
		}
	}
	return AddressInfo{}
}

// consumeInOrder acknowledges deliveries from index first of k one at a
// time, checking they carry body(from) .. body(to-1) in order.
func consumeInOrder(t *testing.T, k *sink, first, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		d := k.wait(t, first+i-from+1)[first+i-from]
		if want := body(i); string(d.Message.Body) != want {
			t.Fatalf("message %d is %.5s, want %.5s", i, d.Message.Body, want)
		}
		ack(t, d)
	}
}

func TestAddressFullPolicies(t *testing.T) {
	t.Run("FAIL refuses the send with a clear error", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 3<<10, FullFail))
		s := session(t, b, "")
		var err error
		for i := 0; i < 10 && err == nil; i++ {
			ch := make(chan error, 1)
			s.Send(msg("q", body(i)), nil, func(e error) { ch <- e })
			err = <-ch
		}
		if !errors.Is(err, ErrAddressFull) || !strings.Contains(err.Error(), "max-size-bytes") {
			t.Fatalf("send to a full FAIL address: %v", err)
		}
	})
	t.Run("DROP confirms and drops", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 3<<10, FullDrop))
		s := session(t, b, "")
		for i := 0; i < 10; i++ {
			send(t, s, msg("q", body(i)))
		}
		info, _ := b.Queue("q")
		if info.Messages != 3 {
			t.Fatalf("queue holds %d messages, want the 3 that fitted", info.Messages)
		}
	})
	t.Run("BLOCK holds the producer until a consumer makes room", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 3<<10, FullBlock))
		s := session(t, b, "")
		for i := 0; i < 3; i++ {
			send(t, s, msg("q", body(i)))
		}
		sent := make(chan struct{})
		go func() {
			s.Send(msg("q", body(3)), nil, func(error) {})
			close(sent)
		}()
		select {
		case <-sent:
			t.Fatal("send to a full BLOCK address returned at once")
		case <-time.After(200 * time.Millisecond):
		}
		_, k := subscribe(t, session(t, b, ""), SubscribeOptions{Address: "q"})
		select {
		case <-sent:
		case <-time.After(5 * time.Second):
			t.Fatal("blocked send not released after consuming")
		}
		equal(t, bodies(k.wait(t, 4))[3:], []string{body(3)})
	})
}

func TestGlobalMaxSizeSpansAddresses(t *testing.T) {
	opts := pagedOptions(t, t.TempDir(), -1, FullFail)
	opts.GlobalMaxSize = 7 << 10 // full once six messages of about 1.35 KiB (with RefOverhead) are in
	b := startBroker(t, memstore.New(), opts)
	s := session(t, b, "")
	for i := 0; i < 3; i++ {
		send(t, s, msg("a", body(i)))
		send(t, s, msg("b", body(i)))
	}
	ch := make(chan error, 1)
	s.Send(msg("c", body(0)), nil, func(err error) { ch <- err })
	if err := <-ch; !errors.Is(err, ErrAddressFull) || !strings.Contains(err.Error(), "global-max-size") {
		t.Fatalf("send beyond global-max-size across three addresses: %v", err)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "a"})
	k.wait(t, 3)
	send(t, s, msg("c", body(1))) // room again once a's messages are consumed
}

func TestPagedTopicReachesEverySubscriptionAndDropsNonDurableAtRestart(t *testing.T) {
	const maxSize = 4 << 10
	dir := t.TempDir()
	st := memstore.New()
	b := startBroker(t, st, pagedOptions(t, dir, maxSize, FullPage))
	s := session(t, b, "app")
	for _, name := range []string{"one", "two"} {
		c, _ := subscribe(t, s, SubscribeOptions{Address: "feed", RoutingType: message.Multicast, DurableName: name, AckMode: AckIndividual})
		s.Unsubscribe(c)
	}
	for i := 0; i < 40; i++ {
		m := topicMsg("feed", body(i))
		m.Durable = i%2 == 0 // odd ones are non-durable
		send(t, s, m)
	}
	b.Close()
	st.Reopen()
	b = startBroker(t, st, pagedOptions(t, dir, maxSize, FullPage))
	s = session(t, b, "app")
	// Both subscriptions are consumed side by side: the address's size
	// counts both, so one left alone would hold the other's paged messages
	// back, as in Artemis.
	var sinks []*sink
	for _, name := range []string{"one", "two"} {
		_, k := subscribe(t, s, SubscribeOptions{Address: "feed", RoutingType: message.Multicast, DurableName: name, AckMode: AckIndividual})
		sinks = append(sinks, k)
	}
	for i := 0; i < 40; i += 2 {
		for j, k := range sinks {
			d := k.wait(t, i/2+1)[i/2]
			if want := body(i); string(d.Message.Body) != want {
				t.Fatalf("subscription %d: message %d is %.5s, want %.5s (durable ones only, in order)", j, i/2, d.Message.Body, want)
			}
			ack(t, d)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for j, k := range sinks {
		if n := k.count(); n != 20 {
			t.Fatalf("subscription %d got %d messages after restart, want the 20 durable ones", j, n)
		}
	}
}

func TestTransactionsAgainstFullAddresses(t *testing.T) {
	commit := func(tx *Tx) error {
		ch := make(chan error, 1)
		tx.Commit(func(err error) { ch <- err })
		return <-ch
	}
	t.Run("PAGE: the commit waits for room", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 3<<10, FullPage))
		s := session(t, b, "")
		for i := 0; i < 3; i++ {
			send(t, s, msg("q", body(i)))
		}
		tx, _ := s.Begin("t1")
		s.Send(msg("q", body(3)), tx, nil)
		committed := make(chan error, 1)
		go func() { committed <- commit(tx) }()
		select {
		case err := <-committed:
			t.Fatalf("commit to a full address returned at once: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		_, k := subscribe(t, session(t, b, ""), SubscribeOptions{Address: "q"})
		if err := <-committed; err != nil {
			t.Fatal(err)
		}
		equal(t, bodies(k.wait(t, 4)), []string{body(0), body(1), body(2), body(3)})
	})
	t.Run("FAIL: the whole transaction rolls back", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 3<<10, FullFail))
		s := session(t, b, "")
		for i := 0; i < 3; i++ {
			send(t, s, msg("full", body(i)))
		}
		send(t, s, msg("other", "to-ack"))
		c, k := subscribe(t, s, SubscribeOptions{Address: "other", AckMode: AckIndividual})
		d := k.wait(t, 1)[0]
		tx, _ := s.Begin("t2")
		s.Send(msg("full", body(3)), tx, nil)
		d.Consumer.Ack(d.ID, tx, nil)
		if err := commit(tx); !errors.Is(err, ErrAddressFull) || !errors.Is(err, ErrTxRolledBack) {
			t.Fatalf("commit to a full FAIL address: %v", err)
		}
		s.Unsubscribe(c)
		_, k2 := subscribe(t, s, SubscribeOptions{Address: "other"})
		if got := k2.wait(t, 1)[0]; !got.Redelivered {
			t.Fatal("the rolled-back acknowledgement did not return its message")
		}
	})
}
