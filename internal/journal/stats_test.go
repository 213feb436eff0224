package journal

import (
	"testing"
	"time"
)

func TestSyncHistogramBuckets(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		wantIdx int // first bucket whose cumulative count includes d; -1 for none
	}{
		{"faster than the first bound", 10 * time.Microsecond, 0},
		{"exactly the first bound", 50 * time.Microsecond, 0},
		{"just above the first bound", 51 * time.Microsecond, 1},
		{"a typical disk", 3 * time.Millisecond, 6},
		{"slower than the last bound", 5 * time.Second, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := &Journal{}
			j.syncHist.observe(tc.d)
			s := j.SyncLatency()
			if s.Count != 1 || s.Sum != tc.d {
				t.Fatalf("count %d sum %v, want 1 and %v", s.Count, s.Sum, tc.d)
			}
			for i, c := range s.Counts {
				want := uint64(0)
				if tc.wantIdx >= 0 && i >= tc.wantIdx {
					want = 1
				}
				if c != want {
					t.Fatalf("bucket %d (<= %v) = %d, want %d", i, SyncBuckets[i], c, want)
				}
			}
		})
	}
}

func TestSyncLatencyCountsGroupCommits(t *testing.T) {
	j, _ := open(t, testOptions(t.TempDir()))
	for i := uint64(1); i <= 3; i++ {
		mustWrite(t, j, nil, add(i, 1, "x"))
	}
	s := j.SyncLatency()
	if s.Count < 3 || s.Sum <= 0 {
		t.Fatalf("after 3 durable writes: %d syncs timed, sum %v", s.Count, s.Sum)
	}
	if st := j.Stats(); st.Syncs < s.Count {
		t.Fatalf("timed %d syncs but Stats counts only %d", s.Count, st.Syncs)
	}
}
