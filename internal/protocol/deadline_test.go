package protocol

import (
	"net"
	"testing"
	"time"
)

// TestExtendReadDeadlineMovesOncePerEighth checks that the deadline moves on
// the first frame and not again until an eighth of the limit has passed.
func TestExtendReadDeadlineMovesOncePerEighth(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	const limit = time.Hour
	var setAt time.Time
	ExtendReadDeadline(a, limit, &setAt)
	if setAt.IsZero() {
		t.Fatal("the first frame did not move the deadline")
	}
	first := setAt
	ExtendReadDeadline(a, limit, &setAt)
	if setAt != first {
		t.Fatal("the deadline moved again within an eighth of the limit")
	}
	setAt = setAt.Add(-limit / 4)
	ExtendReadDeadline(a, limit, &setAt)
	if !setAt.After(first) {
		t.Fatal("the deadline did not move after an eighth of the limit")
	}
}
