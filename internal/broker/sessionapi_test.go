package broker

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/selector"
	"tandem/internal/store/memstore"
)

// This file is the conformance suite of the session API that protocol
// adapters stand on (docs/protocols.md maps each protocol onto it):
// settlement with outcomes and ranges, credit, drain, pull, no-local and
// typed selectors. Each test states one rule an adapter may rely on.

// settle settles [first, last] of c and waits for done.
func settle(t *testing.T, c *Consumer, first, last uint64, s Settlement, tx *Tx) error {
	t.Helper()
	ch := make(chan error, 1)
	c.Settle(first, last, s, tx, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Settle never called done")
		return nil
	}
}

// queueDepth returns the number of messages waiting in queue name.
func queueDepth(t *testing.T, b *Broker, name string) int {
	t.Helper()
	info, err := b.Queue(name)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.Messages)
}

// waitFor polls cond until it holds or fails the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func sendN(t *testing.T, s *Session, addr string, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		send(t, s, msg(addr, body))
	}
}

func withSettings(edit func(*AddressSettings)) Options {
	return Options{Settings: func(string) AddressSettings {
		s := DefaultAddressSettings()
		edit(&s)
		return s
	}}
}

func TestSettleAcceptsARangeAndLeavesTheRest(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1", "2", "3", "4", "5")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	ds := k.wait(t, 5)
	if err := settle(t, c, ds[1].ID, ds[3].ID, Settlement{Outcome: Accepted}, nil); err != nil {
		t.Fatal(err)
	}
	s.Unsubscribe(c)
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	equal(t, bodies(k2.wait(t, 2)), []string{"1", "5"})
}

func TestSettleFromZeroIsCumulative(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1", "2", "3")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	ds := k.wait(t, 3)
	if err := settle(t, c, 0, ds[1].ID, Settlement{Outcome: Accepted}, nil); err != nil {
		t.Fatal(err)
	}
	s.Unsubscribe(c)
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q"})
	equal(t, bodies(k2.wait(t, 1)), []string{"3"})
}

func TestSettleUnknownRangeFails(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	if err := settle(t, c, d.ID+1, d.ID+10, Settlement{Outcome: Accepted}, nil); !errors.Is(err, ErrUnknownDelivery) {
		t.Fatalf("settling a range with no delivery: %v, want ErrUnknownDelivery", err)
	}
	if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Accepted}, nil); err != nil {
		t.Fatal(err)
	}
	if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Accepted}, nil); !errors.Is(err, ErrUnknownDelivery) {
		t.Fatalf("settling twice: %v, want ErrUnknownDelivery", err)
	}
}

func TestReleasedKeepsTheDeliveryCount(t *testing.T) {
	// max-delivery-attempts 1 would send a counted return to the DLQ.
	b := startBroker(t, memstore.New(), withSettings(func(s *AddressSettings) { s.MaxDeliveryAttempts = 1 }))
	s := session(t, b, "")
	sendN(t, s, "q", "m")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	for i := 1; i <= 3; i++ {
		d := k.wait(t, i)[i-1]
		if d.DeliveryCount != 1 || d.Redelivered {
			t.Fatalf("delivery %d after releases: count %d redelivered %v, want 1 and false", i, d.DeliveryCount, d.Redelivered)
		}
		if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Released}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestModifiedWithoutDeliveryFailedIsARelease(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "m")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Modified}, nil); err != nil {
		t.Fatal(err)
	}
	if d2 := k.wait(t, 2)[1]; d2.DeliveryCount != 1 {
		t.Fatalf("after modified without delivery-failed the count is %d, want 1", d2.DeliveryCount)
	}
}

func TestModifiedDeliveryFailedCountsAndDeadLetters(t *testing.T) {
	b := startBroker(t, memstore.New(), withSettings(func(s *AddressSettings) { s.MaxDeliveryAttempts = 2 }))
	s := session(t, b, "")
	sendN(t, s, "q", "poison")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	for i := 1; i <= 2; i++ {
		d := k.wait(t, i)[i-1]
		if d.DeliveryCount != uint32(i) || d.Redelivered != (i > 1) {
			t.Fatalf("delivery %d: count %d redelivered %v", i, d.DeliveryCount, d.Redelivered)
		}
		if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Modified, DeliveryFailed: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, dlq := subscribe(t, s, SubscribeOptions{Address: "DLQ"})
	if got := dlq.wait(t, 1)[0].Message; string(got.Body) != "poison" {
		t.Fatalf("dead letter %q", got.Body)
	}
}

func TestModifiedDeliveryFailedWaitsOutTheRedeliveryDelay(t *testing.T) {
	b := startBroker(t, memstore.New(), withSettings(func(s *AddressSettings) { s.RedeliveryDelay = 150 * time.Millisecond }))
	s := session(t, b, "")
	sendN(t, s, "q", "m")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	returned := time.Now()
	if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Modified, DeliveryFailed: true}, nil); err != nil {
		t.Fatal(err)
	}
	k.wait(t, 2)
	if waited := time.Since(returned); waited < 150*time.Millisecond {
		t.Fatalf("redelivered after %v, before the 150ms redelivery delay", waited)
	}
}

func TestUndeliverableHereSkipsThatConsumerOnly(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c1, k1 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	sendN(t, s, "q", "m")
	d := k1.wait(t, 1)[0]
	if err := settle(t, c1, d.ID, d.ID, Settlement{Outcome: Modified, UndeliverableHere: true}, nil); err != nil {
		t.Fatal(err)
	}
	// The only consumer may not have it back: it waits in the queue.
	waitFor(t, "the message back in the queue", func() bool { return queueDepth(t, b, "q") == 1 })
	if n := k1.count(); n != 1 {
		t.Fatalf("the consumer that refused it got it %d times", n)
	}
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	if got := k2.wait(t, 1)[0]; string(got.Message.Body) != "m" {
		t.Fatalf("second consumer got %q", got.Message.Body)
	}
	if n := k1.count(); n != 1 {
		t.Fatalf("the consumer that refused it got it %d times", n)
	}
}

func TestRejectedGoesStraightToTheDeadLetterAddress(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "bad")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	if err := settle(t, c, d.ID, d.ID, Settlement{Outcome: Rejected, Reason: "schema mismatch"}, nil); err != nil {
		t.Fatal(err)
	}
	_, dlq := subscribe(t, s, SubscribeOptions{Address: "DLQ"})
	got := dlq.wait(t, 1)[0].Message
	if r, _ := got.Property(message.PropDeadLetterReason); r != "schema mismatch" || string(got.Body) != "bad" {
		t.Fatalf("dead letter %q with reason %q", got.Body, r)
	}
	if n := queueDepth(t, b, "q"); n != 0 {
		t.Fatalf("%d left in the queue", n)
	}
}

func TestAcceptedInATransactionWaitsForCommit(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1", "2")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	ds := k.wait(t, 2)
	tx, err := s.Begin("t1")
	if err != nil {
		t.Fatal(err)
	}
	if err := settle(t, c, ds[0].ID, ds[1].ID, Settlement{Outcome: Accepted}, tx); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	redelivered := k.wait(t, 4)[2:]
	equal(t, bodies(redelivered), []string{"1", "2"})
	tx2, _ := s.Begin("t2")
	if err := settle(t, c, 0, redelivered[1].ID, Settlement{Outcome: Accepted}, tx2); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	tx2.Commit(func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if n := queueDepth(t, b, "q"); n != 0 {
		t.Fatalf("%d messages left after a committed accept", n)
	}
	s.Unsubscribe(c)
	_, k3 := subscribe(t, s, SubscribeOptions{Address: "q"})
	sendN(t, s, "q", "after")
	equal(t, bodies(k3.wait(t, 1)), []string{"after"})
}

func TestCreditModeDeliversExactlyTheCreditGranted(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1", "2", "3", "4", "5")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual, Credit: true})
	if n := k.count(); n != 0 {
		t.Fatalf("no credit, yet %d deliveries", n)
	}
	c.AddCredit(2)
	ds := k.wait(t, 2)
	// Settling does not return credit in credit mode.
	if err := settle(t, c, 0, ds[1].ID, Settlement{Outcome: Accepted}, nil); err != nil {
		t.Fatal(err)
	}
	if n := k.count(); n != 2 || c.Credit() != 0 {
		t.Fatalf("after settling: %d deliveries, credit %d; want 2 and 0", n, c.Credit())
	}
	c.SetCredit(1)
	k.wait(t, 3)
	if n := k.count(); n != 3 {
		t.Fatalf("SetCredit(1) gave %d deliveries in all, want 3", n)
	}
}

func TestInitialCredit(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1", "2", "3")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", Credit: true, InitialCredit: 2})
	k.wait(t, 2)
	if c.Credit() != 0 || k.count() != 2 {
		t.Fatalf("initial credit 2: %d deliveries, credit %d", k.count(), c.Credit())
	}
}

func TestDrainDeliversWhatIsReadyAndReportsTheRest(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual, Credit: true})
	sendN(t, s, "q", "1", "2", "3")
	c.SetCredit(0)
	c.AddCredit(5)
	k.wait(t, 3)
	var unused int
	var after int
	c.Drain(func(n int) { unused, after = n, k.count() })
	if unused != 2 || after != 3 || c.Credit() != 0 {
		t.Fatalf("drain: unused %d, %d delivered before the answer, credit %d after; want 2, 3, 0", unused, after, c.Credit())
	}
	sendN(t, s, "q", "4")
	if n := k.count(); n != 3 {
		t.Fatalf("a drained consumer got a new message (%d deliveries)", n)
	}
}

func TestDrainAnswersAfterTheDeliveriesItMade(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "1", "2")
	var events []string
	c, err := s.Subscribe(SubscribeOptions{Address: "q", Credit: true, Deliver: func(d Delivery) {
		events = append(events, string(d.Message.Body))
	}})
	if err != nil {
		t.Fatal(err)
	}
	c.AddCredit(3)
	c.Drain(func(n int) { events = append(events, "drained") })
	if len(events) != 3 || events[2] != "drained" {
		t.Fatalf("events %q, want the two deliveries then the drain", events)
	}
}

func TestPullWithoutWaitAnswersAtOnce(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual, Credit: true})
	var got atomic.Int32 // 1 delivered, 2 none
	c.Pull(-1, func(ok bool) { got.Store(map[bool]int32{true: 1, false: 2}[ok]) })
	if got.Load() != 2 {
		t.Fatalf("pull on an empty queue answered %d, want none at once", got.Load())
	}
	sendN(t, s, "q", "1", "2")
	got.Store(0)
	c.Pull(-1, func(ok bool) { got.Store(map[bool]int32{true: 1, false: 2}[ok]) })
	if got.Load() != 1 || k.count() != 1 {
		t.Fatalf("pull with two ready: answer %d, %d deliveries; want delivered and exactly 1", got.Load(), k.count())
	}
	if c.Credit() != 0 {
		t.Fatalf("credit %d left after a pull", c.Credit())
	}
}

func TestPullWaitsForAMessageOrTimesOut(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual, Credit: true})
	answers := make(chan bool, 2)
	c.Pull(time.Minute, func(ok bool) { answers <- ok })
	sendN(t, s, "q", "late")
	if ok := <-answers; !ok || k.count() != 1 {
		t.Fatalf("waiting pull: answer %v with %d deliveries", ok, k.count())
	}
	start := time.Now()
	c.Pull(50*time.Millisecond, func(ok bool) { answers <- ok })
	if ok := <-answers; ok || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("pull on an empty queue: answer %v after %v", ok, time.Since(start))
	}
	sendN(t, s, "q", "unasked")
	if k.count() != 1 || c.Credit() != 0 {
		t.Fatalf("a timed-out pull left credit: %d deliveries, credit %d", k.count(), c.Credit())
	}
}

func TestPullIsAnsweredWhenTheConsumerCloses(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c, _ := subscribe(t, s, SubscribeOptions{Address: "q", Credit: true})
	answers := make(chan bool, 1)
	c.Pull(0, func(ok bool) { answers <- ok })
	s.Unsubscribe(c)
	select {
	case ok := <-answers:
		if ok {
			t.Fatal("a closed consumer's pull answered delivered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a pull without a timeout was never answered after the consumer closed")
	}
}

func TestMarkRedeliveredRaisesTheCountWithoutSettling(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	sendN(t, s, "q", "m")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	c.MarkRedelivered(d.ID, d.ID)
	c.MarkRedelivered(0, d.ID)
	// Still unsettled: a restart gives it back with every attempt counted.
	b = restart(t, b, st, Options{})
	s = session(t, b, "")
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	if got := k2.wait(t, 1)[0]; got.DeliveryCount != 4 {
		t.Fatalf("after two marks and a restart the count is %d, want 4 (3 recorded + this delivery)", got.DeliveryCount)
	}
}

func TestNoLocalSkipsTheSessionsOwnMessages(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	mine, other := session(t, b, ""), session(t, b, "")
	_, k := subscribe(t, mine, SubscribeOptions{Address: "chat", RoutingType: message.Multicast, NoLocal: true})
	_, all := subscribe(t, mine, SubscribeOptions{Address: "chat", RoutingType: message.Multicast})
	for _, s := range []*Session{mine, other} {
		m := msg("chat", map[*Session]string{mine: "mine", other: "other"}[s])
		m.RoutingType = message.Multicast
		send(t, s, m)
	}
	all.wait(t, 2)
	equal(t, bodies(k.wait(t, 1)), []string{"other"})
	if n := k.count(); n != 1 {
		t.Fatalf("no-local consumer got %d messages", n)
	}
}

func TestTypedSelectorOnAConsumer(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{Filters: func(sel string) (Filter, error) { return selector.Compile(sel) }})
	s := session(t, b, "")
	for i, qty := range []int64{5, 50, 500} {
		m := msg("q", string(rune('a'+i)))
		m.Properties = []message.Property{message.Int64("qty", message.KindInt, qty)}
		send(t, s, m)
	}
	_, k := subscribe(t, s, SubscribeOptions{Address: "q", Selector: "qty >= 50 AND qty < 100.5"})
	equal(t, bodies(k.wait(t, 1)), []string{"b"})
}

func TestFirstInGroupMarksTheAssignment(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	c1, k1 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	for _, body := range []string{"g1", "g2"} {
		m := msg("q", body)
		m.EditExtra(func(x *message.Extra) { x.GroupID = "G" })
		send(t, s, m)
	}
	ds := k1.wait(t, 2)
	if !ds[0].FirstInGroup || ds[1].FirstInGroup {
		t.Fatalf("first-in-group flags %v %v, want true false", ds[0].FirstInGroup, ds[1].FirstInGroup)
	}
	// The owner leaves: the group goes to the next consumer, whose first
	// message of it is marked again.
	_, k2 := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	s.Unsubscribe(c1)
	ds2 := k2.wait(t, 2)
	if !ds2[0].FirstInGroup || ds2[1].FirstInGroup {
		t.Fatalf("after reassignment flags %v %v, want true false", ds2[0].FirstInGroup, ds2[1].FirstInGroup)
	}
}

func publish(t *testing.T, s *Session, addr, body string) {
	t.Helper()
	m := msg(addr, body)
	m.RoutingType = message.Multicast
	send(t, s, m)
}

func TestNamedDurableSubscriptionKeepsMessagesAcrossRestart(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "")
	sub := &Subscription{Queue: "container-1.link-a", Durable: true}
	c, _ := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	s.Unsubscribe(c)
	publish(t, s, "news", "while away")
	b = restart(t, b, st, Options{})
	s = session(t, b, "")
	_, k := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	equal(t, bodies(k.wait(t, 1)), []string{"while away"})
}

func TestUnsharedSubscriptionAdmitsOneConsumer(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sub := &Subscription{Queue: "c.sub", Durable: true}
	subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	_, err := s.Subscribe(SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub, Deliver: func(Delivery) {}})
	if !errors.Is(err, ErrSubscriptionBusy) {
		t.Fatalf("second consumer on an unshared subscription: %v, want ErrSubscriptionBusy", err)
	}
}

func TestSharedSubscriptionSplitsMessages(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{Filters: func(sel string) (Filter, error) { return selector.Compile(sel) }})
	s1, s2 := session(t, b, ""), session(t, b, "")
	sub := &Subscription{Queue: "shared-sub:global", Durable: true, Shared: true}
	_, k1 := subscribe(t, s1, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	_, k2 := subscribe(t, s2, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	for i := 0; i < 10; i++ {
		publish(t, s1, "news", "m")
	}
	waitFor(t, "all ten delivered", func() bool { return k1.count()+k2.count() == 10 })
	if k1.count() == 0 || k2.count() == 0 {
		t.Fatalf("shared subscription split %d/%d", k1.count(), k2.count())
	}
	// Joining with another selector is refused rather than silently
	// changing what the others receive.
	_, err := s2.Subscribe(SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub,
		Selector: "x = 1", Deliver: func(Delivery) {}})
	if !errors.Is(err, ErrSubscriptionBusy) {
		t.Fatalf("joining a shared subscription with another selector: %v", err)
	}
}

func TestVolatileSharedSubscriptionGoesWithItsLastConsumer(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sub := &Subscription{Queue: "vol", Shared: true}
	c1, _ := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	c2, _ := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	s.Unsubscribe(c1)
	if _, err := b.Queue("vol"); err != nil {
		t.Fatalf("the subscription went while a consumer remained: %v", err)
	}
	s.Unsubscribe(c2)
	if _, err := b.Queue("vol"); !errors.Is(err, ErrNoSuchQueue) {
		t.Fatalf("after the last consumer: %v, want ErrNoSuchQueue", err)
	}
}

func TestDurableSubscriptionWithANewSelectorIsReplaced(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{Filters: func(sel string) (Filter, error) { return selector.Compile(sel) }})
	s := session(t, b, "")
	sub := &Subscription{Queue: "c.d", Durable: true}
	c, _ := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub, Selector: "x = 1"})
	s.Unsubscribe(c)
	publish(t, s, "news", "kept by the old subscription")
	_, k := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	publish(t, s, "news", "new")
	equal(t, bodies(k.wait(t, 1)), []string{"new"})
}

func TestDeleteSubscriptionQueue(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	sub := &Subscription{Queue: "c.gone", Durable: true}
	c, _ := subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: sub})
	if err := s.DeleteSubscriptionQueue("c.gone"); !errors.Is(err, ErrSubscriptionBusy) {
		t.Fatalf("deleting an active subscription: %v", err)
	}
	s.Unsubscribe(c)
	if err := s.DeleteSubscriptionQueue("c.gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubscriptionQueue("c.gone"); !errors.Is(err, ErrNoSuchQueue) {
		t.Fatalf("deleting it twice: %v", err)
	}
}

func TestTempTopicGoesWithItsSession(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	owner, other := session(t, b, ""), session(t, b, "")
	if err := owner.CreateTempTopic("tt-1"); err != nil {
		t.Fatal(err)
	}
	_, k := subscribe(t, other, SubscribeOptions{Address: "tt-1", RoutingType: message.Multicast})
	publish(t, owner, "tt-1", "hello")
	equal(t, bodies(k.wait(t, 1)), []string{"hello"})
	owner.Close()
	waitFor(t, "the temporary topic to go", func() bool {
		for _, a := range b.Addresses() {
			if a.Name == "tt-1" {
				return false
			}
		}
		return true
	})
}

func TestSubscriptionKindSurvivesRestart(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "client-1")
	shared := &Subscription{Queue: "s:global", Durable: true, Shared: true}
	subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: shared})
	subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, DurableName: "d"})
	b = restart(t, b, st, Options{})
	s = session(t, b, "client-1")
	subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: shared})
	subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, Subscription: shared})
	subscribe(t, s, SubscribeOptions{Address: "news", RoutingType: message.Multicast, DurableName: "d"})
	_, err := s.Subscribe(SubscribeOptions{Address: "news", RoutingType: message.Multicast, DurableName: "d", Deliver: func(Delivery) {}})
	if !errors.Is(err, ErrSubscriptionBusy) {
		t.Fatalf("a second subscriber on a recovered unshared durable subscription: %v", err)
	}
}

func TestEnsureQueueAndLookups(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	qc := QueueConfig{Name: "$sys.retain", Address: "$sys.retain", Durable: true, LastValue: true}
	if err := s.EnsureQueue(qc); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureQueue(qc); err != nil {
		t.Fatalf("EnsureQueue of an existing queue: %v", err)
	}
	if err := s.EnsureQueue(QueueConfig{Name: "$sys.retain", Address: "other"}); !errors.Is(err, ErrBadDestination) {
		t.Fatalf("EnsureQueue on another address: %v", err)
	}
	qi, err := s.QueueInfo("$sys.retain")
	if err != nil || !qi.Durable || !qi.LastValue || qi.Address != "$sys.retain" {
		t.Fatalf("QueueInfo = %+v, %v", qi, err)
	}
	ai, err := s.AddressInfo("$sys.retain")
	if err != nil || !ai.Anycast || ai.Multicast || len(ai.Queues) != 1 {
		t.Fatalf("AddressInfo = %+v, %v", ai, err)
	}
	if _, err := s.AddressInfo("nowhere"); !errors.Is(err, ErrNoSuchAddress) {
		t.Fatalf("AddressInfo of a missing address: %v", err)
	}
}
