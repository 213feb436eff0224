package broker

import (
	"errors"
	"testing"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// denyAll is an Authorizer that refuses everything.
type denyAll struct{}

func (denyAll) Authorize(string, []string, Permission, string) bool { return false }

func TestSendToQueueReachesThatQueueOnly(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "app")
	for _, name := range []string{"one", "two"} {
		if err := s.EnsureQueue(QueueConfig{Name: name, Address: "shared", RoutingType: message.Multicast, Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	m := msg("elsewhere.topic", "copy")
	m.Durable = true
	done := make(chan error, 1)
	s.SendToQueue(m, "one", nil, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if queueDepth(t, b, "one") != 1 || queueDepth(t, b, "two") != 0 {
		t.Fatalf("depths one=%d two=%d, want 1 and 0", queueDepth(t, b, "one"), queueDepth(t, b, "two"))
	}
	b = restart(t, b, st, Options{})
	s = session(t, b, "app")
	_, k := subscribe(t, s, SubscribeOptions{Address: "shared", Queue: "one"})
	d := k.wait(t, 1)[0]
	if string(d.Message.Body) != "copy" || d.Message.Address != "elsewhere.topic" {
		t.Fatalf("got %q on %q after restart; want the copy, still addressed to elsewhere.topic", d.Message.Body, d.Message.Address)
	}
}

func TestSendToQueueInATransaction(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	if err := s.EnsureQueue(QueueConfig{Name: "q", RoutingType: message.Anycast, Durable: true}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin("t")
	if err != nil {
		t.Fatal(err)
	}
	s.SendToQueue(msg("x", "a"), "q", tx, nil)
	s.Send(msg("q", "b"), tx, nil)
	if queueDepth(t, b, "q") != 0 {
		t.Fatal("a transacted send is visible before commit")
	}
	done := make(chan error, 1)
	tx.Commit(func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := queueDepth(t, b, "q"); n != 2 {
		t.Fatalf("depth %d after commit, want 2", n)
	}
	missing := make(chan error, 1)
	s.SendToQueue(msg("x", "c"), "nope", nil, func(err error) { missing <- err })
	if err := <-missing; !errors.Is(err, ErrNoSuchQueue) {
		t.Fatalf("send to a missing queue: %v, want ErrNoSuchQueue", err)
	}
}

func TestInternalSessionSkipsSecuritySettings(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{Authorizer: denyAll{}})
	user, err := b.NewSession(SessionInfo{User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	if err := user.EnsureQueue(QueueConfig{Name: "$sys.x", RoutingType: message.Anycast, Durable: true}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a user session created a queue it may not: %v", err)
	}
	in, err := b.NewSession(SessionInfo{Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.EnsureQueue(QueueConfig{Name: "$sys.x", RoutingType: message.Anycast, Durable: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	in.SendToQueue(msg("a", "state"), "$sys.x", nil, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	userDone := make(chan error, 1)
	user.SendToQueue(msg("a", "state"), "$sys.x", nil, func(err error) { userDone <- err })
	if err := <-userDone; !errors.Is(err, ErrForbidden) {
		t.Fatalf("a user session sent to a queue it may not: %v", err)
	}
	if _, err := in.Subscribe(SubscribeOptions{Address: "$sys.x", Deliver: func(Delivery) {}}); err != nil {
		t.Fatal(err)
	}
}
