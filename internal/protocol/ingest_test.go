package protocol

import (
	"testing"
	"time"
)

func TestTurn(t *testing.T) {
	t.Run("no gate admits everyone", func(t *testing.T) {
		var a, b Turn
		a.Take()
		b.Take()
		a.Release()
		if a.Held() || b.Held() {
			t.Fatal("a turn without a gate counts as held")
		}
	})

	g := NewIngestGate(1)
	a, b := NewTurn(g), NewTurn(g)
	a.Take()
	if !a.Held() {
		t.Fatal("Take did not take the turn")
	}
	for range TurnFrames - 1 {
		a.Take() // the same turn: returns at once
	}
	took := make(chan struct{})
	go func() {
		b.Take()
		close(took)
	}()
	select {
	case <-took:
		t.Fatal("a second connection took the only slot while the first held it")
	case <-time.After(50 * time.Millisecond):
	}
	// The turn is used up: the next Take lets b go first.
	yielded := make(chan struct{})
	go func() {
		a.Take()
		close(yielded)
	}()
	select {
	case <-took:
	case <-time.After(5 * time.Second):
		t.Fatalf("the connection waiting was not let in after %d messages on one turn", TurnFrames)
	}
	select {
	case <-yielded:
		t.Fatal("the connection that yielded got the slot back while the other held it")
	case <-time.After(50 * time.Millisecond):
	}
	b.Release()
	b.Release() // a second release is harmless
	select {
	case <-yielded:
	case <-time.After(5 * time.Second):
		t.Fatal("the slot released was not taken by the connection waiting")
	}
	a.Release()
}
