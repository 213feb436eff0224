package broker

import (
	"slices"
	"sync"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
	"tandem/internal/store/memstore"
)

// sink collects deliveries for a test consumer.
type sink struct {
	mu sync.Mutex
	ds []Delivery
	ch chan struct{}
}

func newSink() *sink { return &sink{ch: make(chan struct{}, 1<<16)} }

func (s *sink) deliver(d Delivery) {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	s.ch <- struct{}{}
}

// wait blocks until the sink holds n deliveries or fails the test.
func (s *sink) wait(t *testing.T, n int) []Delivery {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		if len(s.ds) >= n {
			out := append([]Delivery(nil), s.ds...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.ch:
		case <-deadline:
			s.mu.Lock()
			got := len(s.ds)
			s.mu.Unlock()
			t.Fatalf("got %d deliveries, want %d", got, n)
		}
	}
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ds)
}

func startBroker(t *testing.T, st *memstore.Store, opts Options) *Broker {
	t.Helper()
	opts.Store = st
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

func restart(t *testing.T, b *Broker, st *memstore.Store, opts Options) *Broker {
	t.Helper()
	b.Close()
	st.Reopen()
	return startBroker(t, st, opts)
}

func session(t *testing.T, b *Broker, clientID string) *Session {
	t.Helper()
	s, err := b.NewSession(SessionInfo{User: "test", ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func msg(addr string, body string) *message.Message {
	return &message.Message{Address: addr, Durable: true, Priority: message.DefaultPriority, Body: []byte(body)}
}

func send(t *testing.T, s *Session, m *message.Message) {
	t.Helper()
	ch := make(chan error, 1)
	s.Send(m, nil, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatalf("send %q: %v", m.Body, err)
	}
}

func subscribe(t *testing.T, s *Session, o SubscribeOptions) (*Consumer, *sink) {
	t.Helper()
	k := newSink()
	o.Deliver = k.deliver
	c, err := s.Subscribe(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func bodies(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Message.Body)
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func ack(t *testing.T, d Delivery) {
	t.Helper()
	ch := make(chan error, 1)
	d.Consumer.Ack(d.ID, nil, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

func TestAnycastDeliversInOrderOnce(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	for _, body := range []string{"a", "b", "c"} {
		send(t, s, msg("orders", body))
	}
	_, k1 := subscribe(t, s, SubscribeOptions{Address: "orders"})
	equal(t, bodies(k1.wait(t, 3)), []string{"a", "b", "c"})
	info, err := b.Queue("orders")
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 0 || info.Stats.Added != 3 || info.Stats.Acked != 3 {
		t.Fatalf("queue info %+v", info)
	}
}

func TestAnycastRoundRobinsConsumers(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	_, k1 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	for i := 0; i < 10; i++ {
		send(t, s, msg("q", "m"))
	}
	k1.wait(t, 5)
	k2.wait(t, 5)
}

func TestMulticastFansOutToEverySubscription(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	m := msg("news", "before")
	m.RoutingType = message.Multicast
	send(t, s, m) // nobody subscribed: dropped, as a topic does
	_, k1 := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast})
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast})
	m = msg("news", "hello")
	m.RoutingType = message.Multicast
	send(t, s, m)
	equal(t, bodies(k1.wait(t, 1)), []string{"hello"})
	equal(t, bodies(k2.wait(t, 1)), []string{"hello"})
}

func TestUnackedMessagesReturnRedeliveredWhenConsumerCloses(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	send(t, s, msg("q", "one"))
	send(t, s, msg("q", "two"))
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	ds := k.wait(t, 2)
	ack(t, ds[1])
	s.Unsubscribe(c)
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	got := k2.wait(t, 1)
	if string(got[0].Message.Body) != "one" || !got[0].Redelivered || got[0].DeliveryCount != 2 {
		t.Fatalf("redelivery = %q redelivered=%v count=%d", got[0].Message.Body, got[0].Redelivered, got[0].DeliveryCount)
	}
}

func TestClientAckIsCumulative(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	for _, body := range []string{"1", "2", "3"} {
		send(t, s, msg("q", body))
	}
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckClient})
	ds := k.wait(t, 3)
	ack(t, ds[1]) // acknowledges 1 and 2
	s.Unsubscribe(c)
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k2.wait(t, 1)), []string{"3"})
}

func TestWindowLimitsUnackedDeliveries(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	for i := 0; i < 5; i++ {
		send(t, s, msg("q", "m"))
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual, Window: 2})
	ds := k.wait(t, 2)
	if n := k.count(); n != 2 {
		t.Fatalf("window 2 delivered %d", n)
	}
	ack(t, ds[0])
	k.wait(t, 3)
}

func TestDurableMessagesSurviveRestartAndNonDurableDoNot(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	send(t, s, msg("q", "durable"))
	nd := msg("q", "transient")
	nd.Durable = false
	send(t, s, nd)
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual, Window: 1})
	k.wait(t, 1) // delivered but never acknowledged
	_ = c
	b = restart(t, b, st, Options{})
	s = session(t, b, "")
	_, k = subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k.wait(t, 1)), []string{"durable"})
}

func TestDuplicateIDIsDroppedAndRememberedAcrossRestart(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	for i := 0; i < 2; i++ {
		m := msg("q", "once")
		m.SetProperty(message.PropDuplicateID, "dup-1")
		send(t, s, m)
	}
	b = restart(t, b, st, Options{})
	s = session(t, b, "")
	m := msg("q", "once")
	m.SetProperty(message.PropDuplicateID, "dup-1")
	send(t, s, m)
	send(t, s, msg("q", "other"))
	_, k := subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k.wait(t, 2)), []string{"once", "other"})
}

func TestDuplicateCacheIsBounded(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{IDCacheSize: 2})
	s := session(t, b, "")
	for _, id := range []string{"a", "b", "c", "a"} {
		m := msg("q", id)
		m.SetProperty(message.PropDuplicateID, id)
		send(t, s, m)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "q"})
	// "a" was evicted by "c", so its second send is accepted.
	equal(t, bodies(k.wait(t, 4)), []string{"a", "b", "c", "a"})
}

func TestTransactionCommitAndRollback(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	tx, err := s.Begin("t1")
	if err != nil {
		t.Fatal(err)
	}
	s.Send(msg("q", "rolled-back"), tx, nil)
	tx.Rollback()
	tx, _ = s.Begin("t2")
	s.Send(msg("q", "committed"), tx, nil)
	if info, _ := b.Queue("q"); info.Messages != 0 {
		t.Fatalf("uncommitted send visible: %+v", info)
	}
	done := make(chan error, 1)
	tx.Commit(func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b = restart(t, b, st, Options{})
	s = session(t, b, "")
	_, k := subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k.wait(t, 1)), []string{"committed"})
}

func TestTransactedAckRollsBackToQueue(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	send(t, s, msg("q", "m"))
	_, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	tx, _ := s.Begin("t")
	d.Consumer.Ack(d.ID, tx, nil)
	tx.Rollback()
	got := k.wait(t, 2)[1]
	if !got.Redelivered || string(got.Message.Body) != "m" {
		t.Fatalf("after rollback got %+v", got)
	}
}

func TestNackedMessageGoesToDeadLetterAfterMaxAttempts(t *testing.T) {
	opts := Options{Settings: func(string) AddressSettings {
		s := DefaultAddressSettings()
		s.MaxDeliveryAttempts = 3
		return s
	}}
	b := startBroker(t, memstore.New(), opts)
	s := session(t, b, "")
	send(t, s, msg("work", "poison"))
	_, k := subscribe(t, s, SubscribeOptions{Address: "work", AckMode: AckIndividual})
	for i := 1; i <= 3; i++ {
		d := k.wait(t, i)[i-1]
		if d.DeliveryCount != uint32(i) {
			t.Fatalf("delivery %d has count %d", i, d.DeliveryCount)
		}
		d.Consumer.Nack(d.ID, nil, nil)
	}
	_, dlq := subscribe(t, s, SubscribeOptions{Address: "DLQ"})
	got := dlq.wait(t, 1)[0].Message
	if orig, _ := got.Property(message.PropOriginalAddress); orig != "work" || string(got.Body) != "poison" {
		t.Fatalf("dead letter %+v", got)
	}
}

func TestExpiredMessagesMoveToExpiryQueueWithoutConsumers(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := startBroker(t, memstore.New(), Options{Now: clock})
	s := session(t, b, "")
	m := msg("q", "stale")
	m.Expiration = now.Add(time.Second).UnixMilli()
	send(t, s, m)
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	b.ScanExpired()
	if info, _ := b.Queue("q"); info.Messages != 0 || info.Stats.Expired != 1 {
		t.Fatalf("queue after scan %+v", info)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "ExpiryQueue"})
	equal(t, bodies(k.wait(t, 1)), []string{"stale"})
}

func TestPriorityOrdersDelivery(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	for _, p := range []uint8{1, 9, 4} {
		m := msg("q", string('0'+rune(p)))
		m.Priority = p
		send(t, s, m)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k.wait(t, 3)), []string{"9", "4", "1"})
}

func TestScheduledDeliveryWaits(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	m := msg("q", "later")
	m.SetProperty(message.PropScheduledDelay, "150")
	send(t, s, m)
	send(t, s, msg("q", "now"))
	_, k := subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k.wait(t, 2)), []string{"now", "later"})
}

func TestDurableSubscriptionKeepsMessagesWhileAway(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "client-1")
	c, _ := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, DurableName: "sub"})
	s.Unsubscribe(c)
	m := msg("news", "while-away")
	m.RoutingType = message.Multicast
	send(t, s, m)
	b = restart(t, b, st, Options{})
	s = session(t, b, "client-1")
	_, k := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, DurableName: "sub"})
	equal(t, bodies(k.wait(t, 1)), []string{"while-away"})
	if err := s.DeleteSubscription("sub"); err != nil {
		t.Fatal(err)
	}
}

func TestBrowseDoesNotConsume(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	send(t, s, msg("q", "x"))
	for i := 0; i < 2; i++ {
		items, err := s.Browse("q", message.Anycast, "", 0)
		if err != nil || len(items) != 1 {
			t.Fatalf("browse %d: %v %v", i, items, err)
		}
	}
}

func TestLastValueQueueKeepsNewest(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{Addresses: []AddressConfig{{Name: "prices", Anycast: true,
		Queues: []QueueConfig{{Name: "prices", RoutingType: message.Anycast, Durable: true, LastValue: true}}}}})
	s := session(t, b, "")
	for _, v := range []string{"1", "2", "3"} {
		m := msg("prices", v)
		m.SetProperty(message.PropLastValue, "ACME")
		send(t, s, m)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "prices"})
	equal(t, bodies(k.wait(t, 1)), []string{"3"})
}

// TestLastValueReplacesScheduled checks that a newer value replaces one that
// waits for its scheduled time, leaving other keys' scheduled messages alone.
func TestLastValueReplacesScheduled(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{Addresses: []AddressConfig{{Name: "prices", Anycast: true,
		Queues: []QueueConfig{{Name: "prices", RoutingType: message.Anycast, Durable: true, LastValue: true}}}}})
	s := session(t, b, "")
	later := time.Now().Add(time.Hour).UnixMilli()
	for _, kv := range [][2]string{{"ACME", "1"}, {"INIT", "i"}, {"ACME", "2"}, {"BETA", "b"}} {
		m := msg("prices", kv[1])
		m.SetProperty(message.PropLastValue, kv[0])
		m.ScheduledTime = later
		send(t, s, m)
	}
	m := msg("prices", "3")
	m.SetProperty(message.PropLastValue, "ACME")
	send(t, s, m)
	info, err := b.Queue("prices")
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 3 || info.Scheduled != 2 {
		t.Fatalf("queue holds %d messages, %d scheduled; want 3 and 2 (ACME=3 ready, INIT and BETA scheduled)", info.Messages, info.Scheduled)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "prices"})
	equal(t, bodies(k.wait(t, 1)), []string{"3"})
}

// TestConsumerIDsDifferAcrossStarts checks that a broker started on the same
// store (a restart, or a backup taking over) numbers its consumers apart from
// the previous one: acknowledgement ids embed the consumer id, and a client's
// stale acknowledgement must not name a new, unrelated delivery.
func TestConsumerIDsDifferAcrossStarts(t *testing.T) {
	st := memstore.New()
	seen := map[uint64]bool{}
	for range 3 {
		b := startBroker(t, st, Options{})
		c, _ := subscribe(t, session(t, b, ""), SubscribeOptions{Address: "q"})
		if c.ID() < 1<<44 || c.ID() >= 1<<53 {
			t.Fatalf("consumer id %d outside [2^44, 2^53)", c.ID())
		}
		if seen[c.ID()] {
			t.Fatalf("consumer id %d again after a restart", c.ID())
		}
		seen[c.ID()] = true
		b.Close()
	}
}

// heldStore is a memstore whose commits can be held back, to finish after
// the broker closed, as a journal write does when a stop overtakes it.
type heldStore struct {
	*memstore.Store
	mu   sync.Mutex
	hold bool
	held []func()
}

func (h *heldStore) Commit(b *store.Batch, sync bool, done func(error)) {
	h.mu.Lock()
	if h.hold {
		cp := *b
		cp.Ops = slices.Clone(b.Ops)
		h.held = append(h.held, func() { h.Store.Commit(&cp, sync, done) })
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	h.Store.Commit(b, sync, done)
}

// release lets the held commits through, in order, and stops holding.
func (h *heldStore) release() {
	h.mu.Lock()
	held := h.held
	h.held, h.hold = nil, false
	h.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// TestSendDurableWhenCloseOvertakesIt is the chaos test's lost message: a
// send whose write completes after the broker closed (a failback, a stop)
// must stay in the store for the next start, not be acknowledged away. Its
// duplicate-detection id is stored with it, so a resend to the next live
// node is confirmed as a duplicate of the stored message.
func TestSendDurableWhenCloseOvertakesIt(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	send(t, session(t, b, ""), msg("orders", "before"))
	b.Close()
	st.Reopen()

	hs := &heldStore{Store: st}
	b, err := New(Options{Store: hs})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	s := session(t, b, "")
	hs.mu.Lock()
	hs.hold = true
	hs.mu.Unlock()
	m := msg("orders", "overtaken")
	m.SetProperty(message.PropDuplicateID, "d-1")
	confirmed := make(chan error, 1)
	s.Send(m, nil, func(err error) { confirmed <- err })
	b.Close()
	hs.release()
	if err := <-confirmed; err != nil {
		t.Fatalf("the send's write succeeded but the send reported %v", err)
	}

	st.Reopen()
	b = startBroker(t, st, Options{})
	s = session(t, b, "")
	resend := msg("orders", "overtaken")
	resend.SetProperty(message.PropDuplicateID, "d-1")
	send(t, s, resend) // confirmed as a duplicate of the stored message
	_, k := subscribe(t, s, SubscribeOptions{Address: "orders"})
	equal(t, bodies(k.wait(t, 2)), []string{"before", "overtaken"})
}
