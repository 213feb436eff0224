package journal

import (
	"sync/atomic"
	"time"
)

// SyncBuckets are the upper bounds of the fdatasync latency histogram's
// buckets, from 50 µs (a battery-backed cache) doubling to about 1.6 s (a
// disk in trouble). A sync slower than the last bound is counted only in
// the total.
var SyncBuckets = func() []time.Duration {
	b := make([]time.Duration, 16)
	for i := range b {
		b[i] = 50 * time.Microsecond << i
	}
	return b
}()

// syncHistogram counts fdatasync latencies with atomic adds only, so the
// writer goroutine pays a few nanoseconds per sync and readers never block
// it. Its zero value is ready to use.
type syncHistogram struct {
	buckets [16]atomic.Uint64 // non-cumulative counts per SyncBuckets bound
	count   atomic.Uint64
	sumNs   atomic.Uint64
}

// observe records one sync that took d.
func (h *syncHistogram) observe(d time.Duration) {
	h.count.Add(1)
	h.sumNs.Add(uint64(d))
	for i, bound := range SyncBuckets {
		if d <= bound {
			h.buckets[i].Add(1)
			return
		}
	}
}

// SyncLatency is a snapshot of the journal's fdatasync latency histogram.
// Counts[i] is the number of syncs that took at most SyncBuckets[i]
// (cumulative, as Prometheus expects); Count and Sum cover every sync.
type SyncLatency struct {
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// SyncLatency returns a snapshot of the fdatasync latencies of group
// commits since Open. The fields are read one by one without a lock, so a
// snapshot taken during a sync may be off by that one sync.
func (j *Journal) SyncLatency() SyncLatency {
	h := &j.syncHist
	s := SyncLatency{Counts: make([]uint64, len(SyncBuckets)), Count: h.count.Load(), Sum: time.Duration(h.sumNs.Load())}
	var cum uint64
	for i := range SyncBuckets {
		cum += h.buckets[i].Load()
		s.Counts[i] = cum
	}
	return s
}
