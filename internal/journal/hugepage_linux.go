package journal

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 and arm64 transparent huge page.
const hugePage = 2 << 20

// hugeBlock returns an empty slice with capacity n whose memory starts on
// a huge-page boundary, and asks the kernel to back it with transparent
// huge pages when it is first touched. Where THP is set to "madvise" (a
// common default) this cuts the page faults of filling fresh memory during
// replay by up to 512 times. The advice may be ignored; the block works
// either way.
func hugeBlock(n int) []byte {
	if n < 8*hugePage {
		// Aligning costs up to a huge page of slack: not worth it here.
		return make([]byte, 0, n)
	}
	raw := make([]byte, n+hugePage)
	off := 0
	if rem := uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % hugePage; rem != 0 {
		off = int(hugePage - rem)
	}
	b := raw[off : off+n : off+n]
	_ = syscall.Madvise(b, 14 /* MADV_HUGEPAGE */)
	return b[:0]
}
