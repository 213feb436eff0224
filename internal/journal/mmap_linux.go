package journal

import "syscall"

// mapForReplay maps the first n bytes of f read-only, so replay's passes read
// the page cache in place instead of copying the journal into the heap once
// per pass (three copies of every byte, and the page faults of the buffer
// they land in). It reports false when f is not an operating-system file or
// the mapping fails; the caller then reads with ReadAt. Nothing read through
// the mapping may outlive unmap: replay copies every payload it hands on.
func mapForReplay(f File, n int64) (data []byte, unmap func(), ok bool) {
	of, isOS := f.(osFile)
	if !isOS || n <= 0 || int64(int(n)) != n {
		return nil, nil, false
	}
	b, err := syscall.Mmap(int(of.f.Fd()), 0, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, false
	}
	// Replay reads each file front to back, three times over.
	_ = syscall.Madvise(b, syscall.MADV_SEQUENTIAL)
	return b, func() { _ = syscall.Munmap(b) }, true
}
