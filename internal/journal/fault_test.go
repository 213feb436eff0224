package journal

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// TestWriteFaults makes the disk fail under a write and checks that the write
// reports it, that the journal refuses to go on, and that a reopen recovers
// every confirmed batch.
func TestWriteFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		want  error
		// mayPersist: the failed batch may legitimately be found on reopen
		// (its bytes were written, only the sync failed).
		mayPersist bool
		buffered   bool // Options.BufferedWrites
	}{
		{"write error", Fault{Op: FaultWrite, Count: 1}, ErrInjected, false, false},
		// A direct write rewrites the last block from its start, so the
		// half that got through can hold the whole new frame.
		{"short write ENOSPC", Fault{Op: FaultWrite, Count: 1, Short: true, Err: syscall.ENOSPC}, syscall.ENOSPC, true, false},
		{"short buffered write ENOSPC", Fault{Op: FaultWrite, Count: 1, Short: true, Err: syscall.ENOSPC}, syscall.ENOSPC, false, true},
		{"fsync error", Fault{Op: FaultSync, Count: 1, Err: syscall.EIO}, syscall.EIO, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := NewFaultFS(nil)
			o := testOptions(dir)
			o.FS = ffs
			o.BufferedWrites = tt.buffered
			j, _ := open(t, o)
			m := newModel()
			for i := range 5 {
				mustWrite(t, j, m, add(uint64(i), 1, fmt.Sprintf("ok %d", i)))
			}
			settle(t, j)
			ffs.Inject(tt.fault)
			failed := []Op{add(10, 1, "failed batch"), del(1)}
			err := j.Write(failed, true)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrFailed) {
				t.Fatalf("Write = %v, want %v and ErrFailed", err, tt.want)
			}
			if err := j.Write([]Op{add(11, 1, "later")}, true); !errors.Is(err, ErrFailed) {
				t.Fatalf("Write after failure = %v, want ErrFailed", err)
			}
			done := make(chan error, 1)
			j.WriteAsync([]Op{add(12, 1, "later")}, false, func(err error) { done <- err })
			if err := <-done; !errors.Is(err, ErrFailed) {
				t.Fatalf("WriteAsync after failure = %v, want ErrFailed", err)
			}
			j.Close()

			o.FS = nil
			_, recs := open(t, o)
			with := m.clone()
			with.apply(failed)
			if tt.mayPersist && equalRecords(recs, with.records()) {
				t.Log("the failed batch made it to disk")
			} else {
				sameRecords(t, recs, m.records())
			}
		})
	}
}

// TestNoSpaceForNewFile fills the disk where new files come from: writes that
// need a new file fail with ENOSPC, the journal stays usable, and once space is
// back writing resumes.
func TestNoSpaceForNewFile(t *testing.T) {
	dir := t.TempDir()
	ffs := NewFaultFS(nil)
	o := testOptions(dir)
	o.FS = ffs
	o.Sync = false
	j, _ := open(t, o)
	settle(t, j)
	ffs.Inject(Fault{Op: FaultCreate, Err: syscall.ENOSPC})
	m := newModel()
	var werr error
	for i := 0; i < 200 && werr == nil; i++ {
		op := add(uint64(i), 1, fmt.Sprintf("%0200d", i))
		if werr = j.Write([]Op{op}, true); werr == nil {
			m.apply([]Op{op})
		}
	}
	if !errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, ErrFailed) {
		t.Fatalf("Write = %v, want ENOSPC without ErrFailed", werr)
	}
	ffs.Clear()
	mustWrite(t, j, m, add(1000, 1, "space is back"))
	_, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
}

// TestRetireFaults makes recycling and removing dead files fail: the journal
// keeps working and a reopen sorts out whatever was left behind.
func TestRetireFaults(t *testing.T) {
	for _, op := range []FaultOp{FaultRename, FaultRemove, FaultSyncDir} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			dir := t.TempDir()
			ffs := NewFaultFS(nil)
			o := testOptions(dir)
			o.FS = ffs
			o.Sync = false
			j, _ := open(t, o)
			settle(t, j)
			ffs.Inject(Fault{Op: op, Count: 3})
			m := newModel()
			failures := 0
			for i := range 300 {
				ops := []Op{add(uint64(i), 1, fmt.Sprintf("%0100d", i))}
				if i >= 3 {
					ops = append(ops, del(uint64(i-3)))
				}
				// Preparing a new file may fail too; such a write fails
				// without stopping the journal and is simply not there.
				if err := j.Write(ops, true); err != nil {
					if errors.Is(err, ErrFailed) {
						t.Fatalf("Write: %v", err)
					}
					failures++
					continue
				}
				m.apply(ops)
			}
			if failures > 3 {
				t.Fatalf("%d writes failed", failures)
			}
			ffs.Clear()
			o.FS = nil
			_, recs := reopen(t, j, o)
			sameRecords(t, recs, m.records())
		})
	}
}

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
