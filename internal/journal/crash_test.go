package journal

import (
	"fmt"
	"testing"
)

// crashWorkload produces and consumes records, keeps a few long-lived ones and
// lets automatic compaction run, so that a crash can hit every kind of disk
// change: frame writes, rollovers, file creation, recycling, removal and
// compaction. It stops at the first failed write and returns the model of the
// acknowledged batches and the failed one (nil if none failed).
func crashWorkload(j *Journal) (*model, []Op) {
	m := newModel()
	for i := range 160 {
		ops := []Op{add(uint64(i), 1, fmt.Sprintf("%060d", i))}
		switch {
		case i%9 == 0:
			// long-lived
		case i >= 4:
			ops = append(ops, del(uint64(i-4)))
		}
		if i%9 == 4 {
			ops = append(ops, upd(uint64(i-4), 2, "u"))
		}
		if err := j.Write(ops, i%2 == 0); err != nil {
			return m, ops
		}
		m.apply(ops)
	}
	return m, nil
}

func crashOptions(dir string) Options {
	o := testOptions(dir)
	o.FileSize = 1024
	o.CompactMinFiles, o.CompactPercentage = 4, 40
	return o
}

// TestCrashAnywhere freezes the disk after n mutating calls, for n spread over
// the whole workload, and checks that recovery finds exactly the acknowledged
// batches (plus, possibly, the batch whose write had gone out when the disk
// froze, but only as a whole).
func TestCrashAnywhere(t *testing.T) {
	// A dry run counts the mutating calls of the workload.
	ffs := NewFaultFS(nil)
	o := crashOptions(t.TempDir())
	o.FS = ffs
	j, _ := open(t, o)
	start := ffs.Ops()
	crashWorkload(j)
	settle(t, j)
	if j.Stats().Compactions == 0 {
		t.Fatalf("workload should compact: %+v", j.Stats())
	}
	j.Close()
	total := ffs.Ops() - start

	const points = 80
	for k := range points {
		n := k * total / points
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			ffs := NewFaultFS(nil)
			o := crashOptions(dir)
			o.FS = ffs
			j, _ := open(t, o)
			ffs.CrashAfter(n)
			m, failed := crashWorkload(j)
			j.Close()

			o.FS = nil
			j, recs := open(t, o)
			with := m.clone()
			with.apply(failed)
			if failed != nil && equalRecords(recs, with.records()) {
				m = with
			} else {
				sameRecords(t, recs, m.records())
			}
			// The recovered journal takes writes and replays them.
			mustWrite(t, j, m, add(9999, 1, "after the crash"))
			_, recs = reopen(t, j, o)
			sameRecords(t, recs, m.records())
		})
	}
}
