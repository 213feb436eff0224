package journal

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"
)

func TestReserveResize(t *testing.T) {
	r := NewReserve()
	if got := r.Bytes(); got != 0 {
		t.Fatalf("new reserve holds %d bytes, want 0", got)
	}
	const payload = 40 << 20
	if !r.Resize(payload, nil) {
		t.Fatal("Resize without a stop reported it was stopped")
	}
	if got, want := r.Bytes(), ReserveFor(payload); got != want {
		t.Fatalf("after Resize(%d): %d bytes, want ReserveFor = %d", payload, got, want)
	}
	if ReserveFor(payload) < payload {
		t.Fatalf("ReserveFor(%d) = %d, less than the payload it is for", payload, ReserveFor(payload))
	}
	r.Resize(0, nil)
	if got := r.Bytes(); got != 0 {
		t.Fatalf("after Resize(0): %d bytes, want 0", got)
	}

	stop := make(chan struct{})
	close(stop)
	if r.Resize(payload, stop) {
		t.Fatal("Resize with a closed stop reported it finished")
	}
	if got := r.Bytes(); got >= ReserveFor(payload) {
		t.Fatalf("a stopped Resize still reserved %d bytes", got)
	}
}

// TestReplayTakesReserve checks that replay copies payloads into the
// reserve's blocks, delivers the same records as without one, and leaves the
// reserve empty and closed.
func TestReplayTakesReserve(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.FileSize = 1 << 20
	j, _ := open(t, o)
	m := newModel()
	for i := range 2000 {
		mustWrite(t, j, m, add(uint64(i), 1, fmt.Sprintf("record %d %s", i, bytes.Repeat([]byte{'x'}, i%700))))
		if i%3 == 0 {
			mustWrite(t, j, m, upd(uint64(i), 2, fmt.Sprintf("update of %d", i)))
		}
		if i%5 == 0 {
			mustWrite(t, j, m, del(uint64(i)))
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	r := NewReserve()
	r.Resize(1, nil) // one slab block, which holds the whole journal
	if len(r.blocks) != 1 {
		t.Fatalf("Resize(1) reserved %d slab blocks, want 1", len(r.blocks))
	}
	block := uintptr(unsafe.Pointer(unsafe.SliceData(r.blocks[0])))
	o.Reserve = r
	_, got := open(t, o)
	sameRecords(t, got, m.records())
	if n := r.Bytes(); n != 0 {
		t.Fatalf("after Open the reserve still holds %d bytes", n)
	}
	// Replay must have carved the payloads out of the reserved block, not
	// fresh memory.
	if lo, hi := addrRange(got); lo < block || hi > block+slabBlock {
		t.Fatalf("payloads at [%#x, %#x), outside the reserved block [%#x, %#x)", lo, hi, block, block+slabBlock)
	}
	r.Resize(1, nil)
	if n := r.Bytes(); n != 0 {
		t.Fatalf("a reserve Open used grew again to %d bytes", n)
	}
}

// addrRange returns the lowest and highest addresses of the records' data.
func addrRange(recs []Record) (lo, hi uintptr) {
	lo = ^uintptr(0)
	for _, r := range recs {
		datas := [][]byte{r.Data}
		for _, u := range r.Updates {
			datas = append(datas, u.Data)
		}
		for _, d := range datas {
			if len(d) == 0 {
				continue
			}
			p := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
			lo, hi = min(lo, p), max(hi, p+uintptr(len(d)))
		}
	}
	return lo, hi
}
