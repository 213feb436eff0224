package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// directSupported reports whether dir's file system takes O_DIRECT.
func directSupported(t *testing.T, dir string) bool {
	t.Helper()
	p := filepath.Join(dir, "probe")
	if err := os.WriteFile(p, make([]byte, directAlign), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	f, err := OSFS{}.OpenDirect(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// directHistory writes records of sizes that start and end anywhere in a
// 4 KiB block, some frames spanning several blocks, across enough files that
// some are reclaimed and recycled, and returns the model of what it wrote.
func directHistory(t *testing.T, j *Journal) *model {
	t.Helper()
	m := newModel()
	sizes := []int{1, 100, 1000, 3000, 4095, 4096, 4097, 9000, 17}
	for i := range 120 {
		id := uint64(i + 1)
		ops := []Op{add(id, 1, strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)]))}
		if i >= 10 {
			ops = append(ops, del(id-10))
		}
		mustWrite(t, j, m, ops...)
	}
	return m
}

// TestDirectWritesMatchBufferedWrites runs the same history with direct and
// with buffered writes: every file holds the same bytes up to the end of its
// frames, and both reopen to the same records.
func TestDirectWritesMatchBufferedWrites(t *testing.T) {
	dirs := map[bool]string{}
	for _, buffered := range []bool{false, true} {
		dir := t.TempDir()
		o := Options{Dir: dir, FileSize: 64 << 10, MinFiles: 2, Sync: true, Epoch: 1, CompactMinFiles: -1, BufferedWrites: buffered}
		j, _ := open(t, o)
		m := directHistory(t, j)
		if !buffered && directSupported(t, dir) && j.direct.h == nil {
			t.Fatal("the journal did not write directly on a file system that supports it")
		}
		if buffered && j.direct.h != nil {
			t.Fatal("BufferedWrites is set, yet the journal opened a direct handle")
		}
		if st := j.Stats(); st.ReclaimedFiles == 0 {
			t.Fatalf("the history should reclaim files: %+v", st)
		}
		_, recs := reopen(t, j, o)
		sameRecords(t, recs, m.records())
		dirs[buffered] = dir
	}
	ends := map[string]int64{}
	if err := Scan(dirs[true], "", func(e ScanEntry) error {
		if e.Kind == ScanFile {
			ends[e.File] = e.End
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, end := range ends {
		a, err := os.ReadFile(filepath.Join(dirs[false], name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dirs[true], name))
		if int64(len(a)) != int64(len(b)) || !bytes.Equal(a[:end], b[:end]) {
			t.Errorf("%s: direct and buffered files differ at byte %d (end %d)", name, firstDiff(a, b), end)
		}
	}
}

// TestDirectWriteKeepsTheBlockBeforeIt reopens a journal between every
// write, so that every direct write starts from a block loaded from disk,
// not one kept in memory, and checks nothing written before is lost.
func TestDirectWriteKeepsTheBlockBeforeIt(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, FileSize: 64 << 10, Sync: true, Epoch: 1, CompactMinFiles: -1}
	j, _ := open(t, o)
	m := newModel()
	for i := range 30 {
		mustWrite(t, j, m, add(uint64(i), 1, fmt.Sprintf("record %d %s", i, strings.Repeat("z", 300*i))))
		var recs []Record
		j, recs = reopen(t, j, o)
		sameRecords(t, recs, m.records())
	}
}

// TestDirectWritesFallBack runs the journal on file systems where direct
// I/O does not work: one without DirectFS, and one that opens files for
// direct I/O and then refuses every direct write with EINVAL, as some do.
// Frames go through the page cache and nothing is lost.
func TestDirectWritesFallBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   FS
	}{
		{"no DirectFS", plainFS{OSFS{}}},
		{"direct writes refused", refusingFS{OSFS{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir(), FileSize: 64 << 10, Sync: true, Epoch: 1, CompactMinFiles: -1, FS: tc.fs}
			j, _ := open(t, o)
			m := directHistory(t, j)
			if j.direct.h != nil || !j.direct.disabled {
				t.Fatal("direct writes should be off")
			}
			_, recs := reopen(t, j, o)
			sameRecords(t, recs, m.records())
		})
	}
}

// plainFS hides OSFS's DirectFS.
type plainFS struct{ FS }

// refusingFS opens direct handles whose writes fail with EINVAL.
type refusingFS struct{ OSFS }

func (r refusingFS) OpenDirect(name string) (File, error) {
	f, err := r.OSFS.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return refusingFile{f}, nil
}

type refusingFile struct{ File }

func (refusingFile) WriteAt([]byte, int64) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "direct", Err: syscall.EINVAL}
}

// TestDirectWritesInFilesOfUnalignedSize uses files whose size is not a
// multiple of 4 KiB, so frames in each file's last block go through the
// page cache between direct writes, and checks every record comes back.
func TestDirectWritesInFilesOfUnalignedSize(t *testing.T) {
	o := Options{Dir: t.TempDir(), FileSize: 64<<10 + 1000, Sync: true, Epoch: 1, CompactMinFiles: -1}
	j, _ := open(t, o)
	m := directHistory(t, j)
	_, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
}
