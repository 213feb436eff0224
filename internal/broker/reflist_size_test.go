package broker

import (
	"testing"
	"unsafe"
)

// TestRefSize guards the per-queue cost of a queued message: one ref per
// queue holding it, and 64 bytes is a Go size class.
func TestRefSize(t *testing.T) {
	if n := unsafe.Sizeof(ref{}); n > 64 {
		t.Fatalf("ref is %d bytes, want at most 64", n)
	}
}
