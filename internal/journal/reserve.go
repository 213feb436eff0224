package journal

import (
	"runtime"
	"sync"
)

// Reserve is memory faulted in ahead of a replay, for a process that knows it
// will replay a journal later: the backup of a shared-store pair waits for the
// live to die and then replays everything the live wrote, with clients
// waiting. Most of replay's time on a large journal is spent in the page
// faults of fresh memory for the live payloads (the kernel zeroes each page,
// and under a hypervisor the host may first have to back it), not in reading
// or decoding. A backup that grows a Reserve while it waits has that memory
// touched already when it takes over, the way a JVM started with
// -XX:+AlwaysPreTouch has its heap.
//
// A Reserve holds two kinds of memory. Slab blocks, which Open takes in place
// of fresh ones for the payloads it copies. And heap blocks, for everything
// else replay and the broker built on it allocate (the index, the messages,
// the queues): Open drops them and runs a collection before it starts, which
// hands their pages, resident already, back to the Go heap for reuse. Its
// methods are safe for concurrent use.
type Reserve struct {
	mu     sync.Mutex
	blocks [][]byte
	heap   [][]byte
	closed bool
}

// reserveHeapShare is the heap reserved per payload byte. Replaying 1 KiB
// messages and rebuilding their queues allocates about 0.6 bytes of heap per
// journal byte; smaller messages allocate more, and replay faults in the rest.
const reserveHeapShare = 0.75

// reserveHeapBlock is the size of a heap block: large enough to be a span
// of its own, which the collector returns whole to the page heap.
const reserveHeapBlock = 1 << 20

// NewReserve returns an empty reserve.
func NewReserve() *Reserve { return &Reserve{} }

// ReserveBlock is the unit in which a Reserve grows and shrinks.
const ReserveBlock = slabBlock

// Bytes returns the memory the reserve holds.
func (r *Reserve) Bytes() int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.blocks))*slabBlock + int64(len(r.heap))*reserveHeapBlock
}

// slabBytes returns the memory held in slab blocks.
func (r *Reserve) slabBytes() int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.blocks)) * slabBlock
}

// ReserveFor returns the memory a Reserve resized for payload bytes holds.
func ReserveFor(payload int64) int64 {
	return (payload+slabBlock-1)/slabBlock*slabBlock + int64(float64(payload)*reserveHeapShare)/reserveHeapBlock*reserveHeapBlock
}

// Resize grows or shrinks the reserve toward what replaying about payload
// bytes of live records needs (ReserveFor tells how much that is), touching
// every page of each new block so that it is resident when replay needs it.
// Growing stops early, returning false, if stop is closed. Blocks given back
// are left to the collector. A reserve that Open has used stays empty.
func (r *Reserve) Resize(payload int64, stop <-chan struct{}) bool {
	wantSlabs := int((payload + slabBlock - 1) / slabBlock)
	wantHeap := int(float64(payload) * reserveHeapShare / reserveHeapBlock)
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return true
		}
		if len(r.blocks) > wantSlabs {
			clear(r.blocks[wantSlabs:])
			r.blocks = r.blocks[:wantSlabs]
		}
		if len(r.heap) > wantHeap {
			clear(r.heap[wantHeap:])
			r.heap = r.heap[:wantHeap]
		}
		slabs, heap := len(r.blocks) < wantSlabs, len(r.heap) < wantHeap
		r.mu.Unlock()
		if !slabs && !heap {
			return true
		}
		select {
		case <-stop:
			return false
		default:
		}
		// Fault the block in outside the lock: it takes milliseconds.
		var b []byte
		if slabs {
			b = touchedBlock(slabBlock)
		} else {
			b = make([]byte, reserveHeapBlock)
			touch(b)
		}
		r.mu.Lock()
		switch {
		case r.closed:
		case slabs:
			r.blocks = append(r.blocks, b)
		default:
			r.heap = append(r.heap, b)
		}
		r.mu.Unlock()
	}
}

// freeHeap drops the heap blocks and collects them, so that their pages,
// already faulted in, are what the allocations of replay reuse.
func (r *Reserve) freeHeap() {
	if r == nil {
		return
	}
	r.mu.Lock()
	n := len(r.heap)
	r.heap = nil
	r.mu.Unlock()
	if n > 0 {
		runtime.GC()
	}
}

// take removes one block, or returns nil when the reserve is empty.
func (r *Reserve) take() []byte {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.blocks) == 0 {
		return nil
	}
	b := r.blocks[len(r.blocks)-1]
	r.blocks[len(r.blocks)-1] = nil
	r.blocks = r.blocks[:len(r.blocks)-1]
	return b
}

// close drops what replay did not use and keeps the reserve empty from then
// on, so a Resize still running cannot pin memory nobody will take.
func (r *Reserve) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blocks, r.heap, r.closed = nil, nil, true
}

// touchedBlock returns an empty slice with capacity n whose pages have all
// been written once, so none faults when it is filled.
func touchedBlock(n int) []byte {
	b := hugeBlock(n)
	touch(b[:n])
	return b
}

// touch writes one byte of every page of b.
func touch(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0
	}
}
