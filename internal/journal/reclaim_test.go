package journal

import (
	"fmt"
	"testing"
)

// TestReclaimProduceConsume runs a produce/consume loop over many files and
// checks that the disk footprint stays small and shrinks back to about MinFiles
// once everything is consumed.
func TestReclaimProduceConsume(t *testing.T) {
	for _, minFiles := range []int{2, 4} {
		t.Run(fmt.Sprintf("MinFiles=%d", minFiles), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			o.Sync = false
			o.MinFiles = minFiles
			j, _ := open(t, o)
			m := newModel()
			const n, window = 3000, 20
			maxFiles := 0
			for i := range n {
				ops := []Op{add(uint64(i), 1, fmt.Sprintf("%0120d", i))}
				if i >= window {
					ops = append(ops, del(uint64(i-window)))
				}
				mustWrite(t, j, m, ops...)
				if i%200 == 0 {
					settle(t, j)
					maxFiles = max(maxFiles, len(dataFiles(t, dir)))
				}
			}
			settle(t, j)
			if st := j.Stats(); st.BytesWritten < 20*uint64(o.FileSize) || st.ReclaimedFiles == 0 {
				t.Fatalf("loop did not span enough files: %+v", st)
			}
			// The live window is about one file; allow for files still holding
			// deletes and the ready files.
			if limit := minFiles + 4; maxFiles > limit {
				t.Fatalf("up to %d files on disk during the loop, want <= %d", maxFiles, limit)
			}
			j, recs := reopen(t, j, o)
			sameRecords(t, recs, m.records())

			for i := n - window; i < n; i++ {
				mustWrite(t, j, m, del(uint64(i)))
			}
			settle(t, j)
			if got := len(dataFiles(t, dir)); got > minFiles+1 {
				t.Fatalf("%d files after consuming everything, want about %d (stats %+v)", got, minFiles, j.Stats())
			}
			_, recs = reopen(t, j, o)
			sameRecords(t, recs, nil)
		})
	}
}

// sparse fills several files and deletes most records, leaving a few live in
// every file, so reclaim alone cannot free anything.
func sparse(t *testing.T, j *Journal, m *model, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		ops := []Op{add(uint64(i), 1, fmt.Sprintf("%0100d", i))}
		if i%7 == 0 {
			ops = append(ops, upd(uint64(i), 2, "u"))
		}
		mustWrite(t, j, m, ops...)
	}
	for i := from; i < from+n; i++ {
		if i%5 != 0 {
			mustWrite(t, j, m, del(uint64(i)))
		}
	}
}

func TestCompaction(t *testing.T) {
	tests := []struct {
		name string
		auto bool
	}{
		{"explicit", false},
		{"automatic", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			o.Sync = false
			if tt.auto {
				o.CompactMinFiles, o.CompactPercentage = 4, 30
			}
			j, _ := open(t, o)
			m := newModel()
			sparse(t, j, m, 0, 400)
			settle(t, j)
			// Without compaction the data would take this many files.
			before := int(j.Stats().BytesWritten / uint64(o.FileSize))
			if !tt.auto {
				if err := j.Compact(); err != nil {
					t.Fatal(err)
				}
			}
			settle(t, j)
			st := j.Stats()
			after := len(dataFiles(t, dir))
			if st.Compactions == 0 || after >= before/2 {
				t.Fatalf("files %d -> %d, stats %+v", before, after, st)
			}
			j, recs := reopen(t, j, o)
			sameRecords(t, recs, m.records())

			// Compacted records keep working: update, delete, compact again.
			for i := 0; i < 400; i += 10 {
				mustWrite(t, j, m, upd(uint64(i), 3, "post"))
			}
			for i := 0; i < 400; i += 20 {
				mustWrite(t, j, m, del(uint64(i)))
			}
			if err := j.Compact(); err != nil {
				t.Fatal(err)
			}
			j, recs = reopen(t, j, o)
			sameRecords(t, recs, m.records())
			for _, r := range m.records() {
				mustWrite(t, j, m, del(r.ID))
			}
			if err := j.Compact(); err != nil {
				t.Fatal(err)
			}
			settle(t, j)
			if got := len(dataFiles(t, dir)); got > 3 {
				t.Fatalf("%d files once everything is deleted", got)
			}
			_, recs = reopen(t, j, o)
			sameRecords(t, recs, nil)
		})
	}
}

// TestCompactionConcurrentWrites changes records after the compactor copied
// them and before the commit: deleted copies must stay dead, updates and
// re-added IDs must survive, and files must still drain once all is deleted.
func TestCompactionConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.Sync = false
	j, _ := open(t, o)
	m := newModel()
	sparse(t, j, m, 0, 300)
	settle(t, j)
	var during []Op
	for i := 0; i < 300; i += 5 {
		switch i % 20 {
		case 0:
			during = append(during, del(uint64(i)))
		case 5:
			during = append(during, upd(uint64(i), 9, "during"))
		case 10:
			during = append(during, del(uint64(i)), add(uint64(i), 4, "re-added"))
		case 15:
			during = append(during, add(uint64(i), 5, "replaced"))
		}
	}
	j.afterCopy = func() {
		for _, op := range during {
			if err := j.Write([]Op{op}, false); err != nil {
				t.Error(err)
			}
		}
	}
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	j.afterCopy = nil
	m.apply(during)
	if j.Stats().Compactions != 1 {
		t.Fatalf("stats %+v", j.Stats())
	}
	j, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
	for _, r := range m.records() {
		mustWrite(t, j, m, del(r.ID))
	}
	settle(t, j)
	if got := len(dataFiles(t, dir)); got > 3 {
		t.Fatalf("%d files once everything is deleted: %v", got, dataFiles(t, dir))
	}
	_, recs = reopen(t, j, o)
	sameRecords(t, recs, nil)
}

// TestCompactionCrash stops the disk at every mutating call of a compaction
// (write, sync, rename, remove...) and checks that recovery yields the same
// records whatever the crash point.
func TestCompactionCrash(t *testing.T) {
	base := t.TempDir()
	o := testOptions(base)
	o.Sync = false
	j, _ := open(t, o)
	m := newModel()
	sparse(t, j, m, 0, 300)
	settle(t, j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	want := m.records()
	for n := 0; ; n++ {
		dir := copyDir(t, base)
		ffs := NewFaultFS(nil)
		o := testOptions(dir)
		o.FS = ffs
		o.Sync = false
		j, recs := open(t, o)
		sameRecords(t, recs, want)
		if err := j.settle(); err != nil {
			t.Fatal(err)
		}
		ffs.CrashAfter(n)
		cerr := j.Compact()
		j.Close()
		crashed := ffs.Ops() >= 0 && cerr != nil
		o.FS = nil
		_, recs = open(t, o)
		sameRecords(t, recs, want)
		if !crashed {
			if n < 5 {
				t.Fatalf("compaction finished after only %d calls", n)
			}
			t.Logf("compaction survived a crash at each of its %d mutating calls", n)
			return
		}
	}
}

// TestUpdatesSpreadOverFiles gives records updates in several files, so the
// index holds more than the first group of updates inline, then deletes,
// compacts and replays, checking the records and the accounting each time.
func TestUpdatesSpreadOverFiles(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.Sync = false
	j, _ := open(t, o)
	m := newModel()
	const n = 40
	for i := 0; i < n; i++ {
		mustWrite(t, j, m, add(uint64(i), 1, fmt.Sprintf("%0200d", i)), upd(uint64(i), 2, "first"))
	}
	// Each round of updates lands in later files than the adds (4 KiB files).
	for round := 0; round < 3; round++ {
		for i := 0; i < n; i++ {
			if i%(round+2) == 0 {
				mustWrite(t, j, m, upd(uint64(i), 3, fmt.Sprintf("round %d %0100d", round, i)))
			}
		}
	}
	j.idxMu.RLock()
	spread := len(j.upds)
	j.idxMu.RUnlock()
	if spread == 0 {
		t.Fatal("no record has updates in more than one file: the test misses what it is for")
	}
	j, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
	for i := 0; i < n; i += 3 {
		mustWrite(t, j, m, del(uint64(i)))
	}
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	// Updates after compaction go next to the compacted copies' groups.
	for i := 1; i < n; i += 3 {
		mustWrite(t, j, m, upd(uint64(i), 4, "after"))
	}
	j, recs = reopen(t, j, o)
	sameRecords(t, recs, m.records())
	if err := j.Compact(); err != nil {
		t.Fatal(err)
	}
	_, recs = reopen(t, j, o)
	sameRecords(t, recs, m.records())
}
