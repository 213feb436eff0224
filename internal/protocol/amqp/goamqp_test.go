package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/internal/broker"
)

// The go-amqp scenarios of issue 18's "done means", each against a real
// broker behind the adapter.

func ptr[T any](v T) *T { return &v }

// TestSettleModesEchoed attaches senders and receivers with every
// settlement mode go-amqp can ask for: go-amqp fails the attach unless
// the broker echoes the mode it asked, and a message must go through in
// each.
func TestSettleModesEchoed(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	snd := []*goamqp.SenderSettleMode{nil, ptr(goamqp.SenderSettleModeUnsettled), ptr(goamqp.SenderSettleModeSettled), ptr(goamqp.SenderSettleModeMixed)}
	rcv := []*goamqp.ReceiverSettleMode{nil, ptr(goamqp.ReceiverSettleModeFirst), ptr(goamqp.ReceiverSettleModeSecond)}
	n := 0
	for _, sm := range snd {
		for _, rm := range rcv {
			n++
			name := fmt.Sprintf("modes-%d", n)
			t.Run(fmt.Sprintf("snd=%v,rcv=%v", sm, rm), func(t *testing.T) {
				sender := newSender(t, s, name, &goamqp.SenderOptions{SettlementMode: sm, RequestedReceiverSettleMode: rm})
				send(t, sender, goamqp.NewMessage([]byte("hello "+name)))
				receiver := newReceiver(t, s, name, &goamqp.ReceiverOptions{RequestedSenderSettleMode: sm, SettlementMode: rm})
				m := receive(t, receiver)
				if got := string(m.GetData()); got != "hello "+name {
					t.Fatalf("got %q", got)
				}
				if sm == nil || *sm != goamqp.SenderSettleModeSettled {
					if err := receiver.AcceptMessage(testCtx(t), m); err != nil {
						t.Fatalf("accept: %v", err)
					}
				}
				waitFor(t, "the message to be consumed", func() bool { return r.depth(t, name) == 0 })
				_ = receiver.Close(testCtx(t))
				_ = sender.Close(testCtx(t))
			})
		}
	}
}

// TestCreditAndDrain grants credit by hand: exactly the credit is
// delivered, and a drain comes back at once whether or not messages wait.
func TestCreditAndDrain(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	snd := newSender(t, s, "credit", nil)
	for i := 0; i < 5; i++ {
		send(t, snd, goamqp.NewMessage([]byte(fmt.Sprint(i))))
	}
	rcv := newReceiver(t, s, "credit", &goamqp.ReceiverOptions{Credit: -1})
	if err := rcv.IssueCredit(2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		m := receive(t, rcv)
		if got := string(m.GetData()); got != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
		if err := rcv.AcceptMessage(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	expectNone(t, rcv, 300*time.Millisecond)
	// More credit than messages: the three waiting come; a drain then
	// spends the rest of the credit and is answered at once.
	// (go-amqp drops credit issued just before a drain, so the drain
	// follows the deliveries that prove the credit arrived.)
	if err := rcv.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 5; i++ {
		m := receive(t, rcv)
		if got := string(m.GetData()); got != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
		if err := rcv.AcceptMessage(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := rcv.DrainCredit(testCtx(t), nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	// Drained: a new message waits for new credit.
	send(t, snd, goamqp.NewMessage([]byte("5")))
	expectNone(t, rcv, 300*time.Millisecond)
	if err := rcv.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	m := receive(t, rcv)
	if got := string(m.GetData()); got != "5" {
		t.Fatalf("got %q", got)
	}
	_ = rcv.AcceptMessage(testCtx(t), m)
	// Nothing waiting and no credit: the drain is still answered.
	if err := rcv.DrainCredit(testCtx(t), nil); err != nil {
		t.Fatalf("drain of an empty queue: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("drains took %v", d)
	}
}

// TestOutcomes settles deliveries with each outcome: released comes back
// with its count unchanged, modified delivery-failed with the count
// raised, undeliverable-here goes to another consumer only, rejected goes
// to the dead-letter address.
func TestOutcomes(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	snd := newSender(t, s, "outcomes", nil)
	send(t, snd, goamqp.NewMessage([]byte("m")))
	rcv := newReceiver(t, s, "outcomes", nil)
	ctx := testCtx(t)

	m := receive(t, rcv)
	if m.Header != nil && m.Header.DeliveryCount != 0 {
		t.Fatalf("first delivery has delivery-count %d", m.Header.DeliveryCount)
	}
	if err := rcv.ReleaseMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	m = receive(t, rcv)
	if m.Header != nil && m.Header.DeliveryCount != 0 {
		t.Fatalf("after release: delivery-count %d, want 0", m.Header.DeliveryCount)
	}
	if err := rcv.ModifyMessage(ctx, m, &goamqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	m = receive(t, rcv)
	if m.Header == nil || m.Header.DeliveryCount != 1 {
		t.Fatalf("after modified delivery-failed: header %+v, want delivery-count 1", m.Header)
	}
	if err := rcv.ModifyMessage(ctx, m, &goamqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true}); err != nil {
		t.Fatal(err)
	}
	expectNone(t, rcv, 300*time.Millisecond)
	other := newReceiver(t, newSession(t, r.dialGo(t, nil)), "outcomes", nil)
	m = receive(t, other)
	if m.Header == nil || m.Header.DeliveryCount != 2 {
		t.Fatalf("on the other consumer: header %+v, want delivery-count 2", m.Header)
	}
	if err := other.RejectMessage(ctx, m, &goamqp.Error{Condition: "app:bad", Description: "cannot parse"}); err != nil {
		t.Fatal(err)
	}
	dlq := newReceiver(t, s, "DLQ", nil)
	m = receive(t, dlq)
	if string(m.GetData()) != "m" {
		t.Fatalf("dead letter body %q", m.GetData())
	}
	if got := m.Annotations["x-opt-ORIG-ADDRESS"]; got != "outcomes" {
		t.Errorf("dead letter x-opt-ORIG-ADDRESS = %v, want outcomes", got)
	}
	_ = dlq.AcceptMessage(ctx, m)
	waitFor(t, "the queue to empty", func() bool { return r.depth(t, "outcomes") == 0 })
}

// TestSharedGlobalSubscription joins one shared global subscription from
// two connections with different container ids: each message goes to one
// of them, and the subscription outlives both.
func TestSharedGlobalSubscription(t *testing.T) {
	r := startRig(t, rigOptions{})
	caps := []string{"topic", "shared", "global"}
	var receivers []*goamqp.Receiver
	for i := 0; i < 2; i++ {
		c := r.dialGo(t, &goamqp.ConnOptions{ContainerID: fmt.Sprintf("app-%d", i)})
		rcv := newReceiver(t, newSession(t, c), "prices", &goamqp.ReceiverOptions{Name: "sub|global",
			SourceCapabilities: caps, SourceDurability: goamqp.DurabilityUnsettledState, SourceExpiryPolicy: goamqp.ExpiryPolicyNever,
			Credit: 10})
		receivers = append(receivers, rcv)
	}
	if _, err := r.b.Queue("sub:global"); err != nil {
		t.Fatalf("the shared global subscription's queue: %v", err)
	}
	snd := newSender(t, newSession(t, r.dialGo(t, nil)), "prices", &goamqp.SenderOptions{TargetCapabilities: []string{"topic"}})
	const n = 20
	for i := 0; i < n; i++ {
		send(t, snd, goamqp.NewMessage([]byte(fmt.Sprint(i))))
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i, rcv := range receivers {
		wg.Add(1)
		go func(i int, rcv *goamqp.Receiver) {
			defer wg.Done()
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				m, err := rcv.Receive(ctx, nil)
				cancel()
				if err != nil {
					return
				}
				_ = rcv.AcceptMessage(context.Background(), m)
				mu.Lock()
				got[string(m.GetData())]++
				got[fmt.Sprintf("by-%d", i)]++
				mu.Unlock()
			}
		}(i, rcv)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if got[fmt.Sprint(i)] != 1 {
			t.Errorf("message %d received %d times", i, got[fmt.Sprint(i)])
		}
	}
	if got["by-0"] == 0 || got["by-1"] == 0 {
		t.Errorf("messages not shared: %v", got)
	}
}

// TestQpidJMSDurableSubscription makes a durable subscription shaped as
// Qpid JMS makes one: fixed container id, link name = subscription name,
// durable 2, expiry never, a selector with the ulong descriptor. Closing
// the connection keeps it (messages sent meanwhile wait), attaching again
// resumes it, and closing the link unsubscribes.
func TestQpidJMSDurableSubscription(t *testing.T) {
	r := startRig(t, rigOptions{})
	opts := func() *goamqp.ReceiverOptions {
		return &goamqp.ReceiverOptions{Name: "orders-sub", SourceCapabilities: []string{"topic"},
			SourceDurability: goamqp.DurabilityUnsettledState, SourceExpiryPolicy: goamqp.ExpiryPolicyNever, Credit: 10,
			Filters: []goamqp.LinkFilter{goamqp.NewLinkFilter("jms-selector", 0x0000468C00000004, "color = 'red'")}}
	}
	dialApp := func() *goamqp.Conn {
		return r.dialGo(t, &goamqp.ConnOptions{ContainerID: "jms-client"})
	}
	c1 := dialApp()
	rcv := newReceiver(t, newSession(t, c1), "orders", opts())
	if _, err := r.b.Queue("jms-client.orders-sub"); err != nil {
		t.Fatalf("durable subscription queue: %v", err)
	}
	pub := newSender(t, newSession(t, r.dialGo(t, nil)), "orders", &goamqp.SenderOptions{TargetCapabilities: []string{"topic"}})
	publish := func(body, color string) {
		send(t, pub, &goamqp.Message{Data: [][]byte{[]byte(body)}, ApplicationProperties: map[string]any{"color": color}})
	}
	publish("r1", "red")
	publish("b1", "blue")
	m := receive(t, rcv)
	if string(m.GetData()) != "r1" {
		t.Fatalf("got %q, want r1", m.GetData())
	}
	_ = rcv.AcceptMessage(testCtx(t), m)
	c1.Close() // go-amqp's Receiver.Close would unsubscribe; closing the connection keeps it
	publish("r2", "red")
	publish("b2", "blue")
	waitFor(t, "the message to wait in the subscription", func() bool { return r.depth(t, "jms-client.orders-sub") == 1 })
	c2 := dialApp()
	rcv = newReceiver(t, newSession(t, c2), "orders", opts())
	m = receive(t, rcv)
	if string(m.GetData()) != "r2" {
		t.Fatalf("after reattaching got %q, want r2", m.GetData())
	}
	_ = rcv.AcceptMessage(testCtx(t), m)
	if err := rcv.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription to go", func() bool {
		_, err := r.b.Queue("jms-client.orders-sub")
		return errors.Is(err, broker.ErrNoSuchQueue)
	})
}

// TestSmallFramesLargeMessage negotiates 512-byte frames: a 1 MiB message
// goes both ways cut into them.
func TestSmallFramesLargeMessage(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, &goamqp.ConnOptions{MaxFrameSize: 512})
	s := newSession(t, c)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	send(t, newSender(t, s, "big", nil), goamqp.NewMessage(body))
	rcv := newReceiver(t, s, "big", nil)
	m := receive(t, rcv)
	if !bytes.Equal(m.GetData(), body) {
		t.Fatalf("received %d bytes, not the %d sent", len(m.GetData()), len(body))
	}
	_ = rcv.AcceptMessage(testCtx(t), m)
}

// TestManyMessagesThroughTheSessionWindow receives 20,000 messages with
// more credit than go-amqp's 5,000-frame session window: the broker must
// stop at the window and go on as the client widens it.
func TestManyMessagesThroughTheSessionWindow(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	snd := newSender(t, s, "window", &goamqp.SenderOptions{SettlementMode: ptr(goamqp.SenderSettleModeSettled)})
	const n = 20000
	for i := 0; i < n; i++ {
		if err := snd.Send(testCtx(t), goamqp.NewMessage([]byte(fmt.Sprint(i))), &goamqp.SendOptions{Settled: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every message to be queued", func() bool { return r.depth(t, "window") == n })
	rcv := newReceiver(t, newSession(t, c), "window", &goamqp.ReceiverOptions{Credit: 20000,
		RequestedSenderSettleMode: ptr(goamqp.SenderSettleModeSettled)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if got := string(m.GetData()); got != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
	}
}

// TestIdleTimeout has go-amqp ask for a 500 ms idle timeout and the
// broker announce one: idle for four times as long, the connection is
// still usable, because each side sends empty frames.
func TestIdleTimeout(t *testing.T) {
	r := startRig(t, rigOptions{opts: Options{IdleTimeout: 500 * time.Millisecond}})
	c := r.dialGo(t, &goamqp.ConnOptions{IdleTimeout: 500 * time.Millisecond})
	s := newSession(t, c)
	snd := newSender(t, s, "idle", nil)
	time.Sleep(2 * time.Second) // the behaviour under test is time itself
	send(t, snd, goamqp.NewMessage([]byte("still here")))
	rcv := newReceiver(t, s, "idle", nil)
	if got := string(receive(t, rcv).GetData()); got != "still here" {
		t.Fatalf("got %q", got)
	}
}

// TestUnknownAddressWithoutAutoCreate attaches to an address that does
// not exist where auto-creation is off: amqp:not-found, for a receiver
// and for a sender.
func TestUnknownAddressWithoutAutoCreate(t *testing.T) {
	r := startRig(t, rigOptions{
		opts: Options{Addresses: func(string) AddressPolicy { return AddressPolicy{} }},
		settings: func(string) broker.AddressSettings {
			s := broker.DefaultAddressSettings()
			s.AutoCreateAddresses, s.AutoCreateQueues = false, false
			return s
		}})
	s := newSession(t, r.dialGo(t, nil))
	_, err := s.NewReceiver(testCtx(t), "nowhere", nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotFound {
		t.Fatalf("receiver attach: %v, want amqp:not-found", err)
	}
	_, err = s.NewSender(testCtx(t), "nowhere", nil)
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotFound {
		t.Fatalf("sender attach: %v, want amqp:not-found", err)
	}
}

// TestTemporaryTopicAndVolatileSharedSubscription makes a dynamic node
// with the temporary-topic capability (a multicast address) and a shared
// non-durable subscription, which goes with its last consumer.
func TestTemporaryTopicAndVolatileSharedSubscription(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, &goamqp.ConnOptions{ContainerID: "vol"})
	s := newSession(t, c)
	tmp := newReceiver(t, s, "", &goamqp.ReceiverOptions{DynamicAddress: true, SourceCapabilities: []string{"temporary-topic"}})
	multicast := false
	for _, a := range r.b.Addresses() {
		if a.Name == tmp.Address() && a.Multicast {
			multicast = true
		}
	}
	if !multicast {
		t.Fatalf("dynamic temporary-topic %q is not a multicast address", tmp.Address())
	}
	send(t, newSender(t, s, tmp.Address(), &goamqp.SenderOptions{TargetCapabilities: []string{"topic"}}), goamqp.NewMessage([]byte("t")))
	if got := string(receive(t, tmp).GetData()); got != "t" {
		t.Fatalf("got %q", got)
	}
	opts := func(name string) *goamqp.ReceiverOptions {
		return &goamqp.ReceiverOptions{Name: name, SourceCapabilities: []string{"topic", "shared"}}
	}
	a := newReceiver(t, s, "feed", opts("vsub"))
	b := newReceiver(t, s, "feed", opts("vsub|2"))
	if _, err := r.b.Queue("vol.vsub:shared-volatile"); err != nil {
		t.Fatalf("volatile shared subscription queue: %v", err)
	}
	_ = a.Close(testCtx(t))
	if _, err := r.b.Queue("vol.vsub:shared-volatile"); err != nil {
		t.Fatalf("the subscription went with its first consumer: %v", err)
	}
	_ = b.Close(testCtx(t))
	waitFor(t, "the volatile subscription to go with its last consumer", func() bool {
		_, err := r.b.Queue("vol.vsub:shared-volatile")
		return errors.Is(err, broker.ErrNoSuchQueue)
	})
}
