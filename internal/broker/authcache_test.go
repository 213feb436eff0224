package broker

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// changingAuthorizer permits sends by the users in allowed, counts the
// questions it is asked, and changes its generation when allowed changes.
type changingAuthorizer struct {
	mu      sync.Mutex
	allowed map[string]bool
	asked   atomic.Int64
	gen     atomic.Uint64
}

func (a *changingAuthorizer) Authorize(user string, _ []string, perm Permission, _ string) bool {
	a.asked.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	return perm != PermSend || a.allowed[user]
}

func (a *changingAuthorizer) Generation() uint64 { return a.gen.Load() }

func (a *changingAuthorizer) set(user string, ok bool) {
	a.mu.Lock()
	a.allowed[user] = ok
	a.mu.Unlock()
	a.gen.Add(1)
}

// TestPermittedSendIsRememberedUntilTheUsersChange pins the contract of
// GenerationAuthorizer: a session sending to one address is asked once, a
// new address is asked again, and a change of generation (a user removed
// from the users file) refuses the first send once permitRecheck has
// passed, on an open session too.
func TestPermittedSendIsRememberedUntilTheUsersChange(t *testing.T) {
	az := &changingAuthorizer{allowed: map[string]bool{"alice": true}}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	b := startBroker(t, memstore.New(), Options{Authorizer: az, Now: now})
	s, err := b.NewSession(SessionInfo{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sendTo := func(addr string) error {
		t.Helper()
		done := make(chan error, 1)
		s.Send(&message.Message{Address: addr, RoutingType: message.Anycast, Body: []byte("x")}, nil, func(err error) { done <- err })
		return <-done
	}
	if err := sendTo("orders"); err != nil {
		t.Fatal(err)
	}
	first := az.asked.Load()
	for i := range 50 {
		if err := sendTo("orders"); err != nil {
			t.Fatal(err)
		}
		clock.Add(permitRecheck / 10 * int64(i%2)) // past recheck now and then: the generation is unchanged
	}
	if n := az.asked.Load() - first; n != 0 {
		t.Fatalf("50 more sends to the same address asked the authorizer %d more times; want 0", n)
	}
	if err := sendTo("invoices"); err != nil {
		t.Fatal(err)
	}
	if az.asked.Load() == first {
		t.Fatal("a send to another address was not authorized")
	}
	az.set("alice", false)
	clock.Add(permitRecheck)
	if err := sendTo("invoices"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a send after the user lost the permission: %v; want ErrForbidden", err)
	}
	if n := queueDepth(t, b, "invoices"); n != 1 {
		t.Fatalf("invoices holds %d messages; want the 1 sent before the change", n)
	}
}

// TestAuthorizerWithoutGenerationIsAskedEverySend keeps an Authorizer that
// cannot say when it changes in charge of every message.
func TestAuthorizerWithoutGenerationIsAskedEverySend(t *testing.T) {
	az := &countingAuthorizer{}
	b := startBroker(t, memstore.New(), Options{Authorizer: az})
	s, err := b.NewSession(SessionInfo{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		send(t, s, msg("orders", "x"))
	}
	if n := az.sends.Load(); n != 3 {
		t.Fatalf("the authorizer was asked about %d of 3 sends", n)
	}
}

type countingAuthorizer struct{ sends atomic.Int64 }

func (a *countingAuthorizer) Authorize(_ string, _ []string, perm Permission, _ string) bool {
	if perm == PermSend {
		a.sends.Add(1)
	}
	return true
}
