package broker

import (
	"testing"
	"unsafe"
)

// TestRefSize guards the per-queue cost of a queued message: one ref per
// queue holding it and one entry per message, 48 and 24 bytes, both Go size
// classes.
func TestRefSize(t *testing.T) {
	if n := unsafe.Sizeof(ref{}); n > 48 {
		t.Fatalf("ref is %d bytes, want at most 48", n)
	}
	if n := unsafe.Sizeof(entry{}); n > 24 {
		t.Fatalf("entry is %d bytes, want at most 24", n)
	}
}
