package journal

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lastFrame returns the file, offset and unpadded length of the last frame of
// the journal in dir.
func lastFrame(t *testing.T, dir string) (string, int64, int64) {
	t.Helper()
	var file string
	var off, end int64
	ends := map[string]int64{}
	err := Scan(dir, "", func(e ScanEntry) error {
		switch e.Kind {
		case ScanFile:
			ends[e.File] = e.End
		case ScanRecord:
			file, off = e.File, e.Frame
		case ScanTornTail, ScanCorrupt:
			t.Fatalf("unexpected %v: %v", e.Kind, e.Err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if file == "" {
		t.Fatal("no frames")
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	end = off + int64(leUint32(b[off+4:]))
	if align8(end) != ends[file] {
		t.Fatalf("last frame of %s ends at %d, file data at %d", file, end, ends[file])
	}
	return filepath.Join(dir, file), off, end - off
}

func allZero(t *testing.T, path string, from, to int64) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b[from:to], []byte{0}) == int(to-from)
}

func zeroFrom(t *testing.T, path string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, to-from), from); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTornTailEveryOffset cuts the last batch at every byte offset, by
// truncating the file and by zeroing from the offset, and checks that recovery
// drops exactly that batch and that the journal works afterwards.
func TestTornTailEveryOffset(t *testing.T) {
	base := t.TempDir()
	o := testOptions(base)
	j, _ := open(t, o)
	m := newModel()
	for i := range 6 {
		mustWrite(t, j, m, add(uint64(i), 1, fmt.Sprintf("record %d", i)))
	}
	mustWrite(t, j, m, upd(2, 5, "kept update"))
	before := m.clone()
	// The last batch mixes all kinds; it must vanish as a whole.
	mustWrite(t, j, m, add(100, 2, "torn"), upd(1, 3, "torn update"), del(3))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	path, off, n := lastFrame(t, base)
	name := filepath.Base(path)

	for _, mode := range []string{"truncate", "zero"} {
		for cut := off; cut < off+n; cut++ {
			dir := copyDir(t, base)
			p := filepath.Join(dir, name)
			want := before
			if mode == "zero" && allZero(t, p, cut, off+n) {
				// Zeroing bytes that are zero already leaves the batch intact.
				want = m
			}
			if mode == "truncate" {
				if err := os.Truncate(p, cut); err != nil {
					t.Fatal(err)
				}
			} else {
				zeroFrom(t, p, cut, off+n)
			}
			o := testOptions(dir)
			var recs []Record
			j, err := Open(o, func(r Record) error { recs = append(recs, r); return nil })
			if err != nil {
				t.Fatalf("%s at %d: Open: %v", mode, cut, err)
			}
			sameRecords(t, recs, want.records())
			after := want.clone()
			if err := j.Write([]Op{add(200, 1, "new"), upd(0, 1, "new update")}, true); err != nil {
				t.Fatalf("%s at %d: Write: %v", mode, cut, err)
			}
			after.apply([]Op{add(200, 1, "new"), upd(0, 1, "new update")})
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			recs = nil
			j, err = Open(o, func(r Record) error { recs = append(recs, r); return nil })
			if err != nil {
				t.Fatalf("%s at %d: second Open: %v", mode, cut, err)
			}
			sameRecords(t, recs, after.records())
			j.Close()
		}
	}
}

// TestUnsyncedHole covers a crash that persisted a later frame but not an
// earlier one of the same unsynced window: a torn tail, unless the later frame's
// watermark shows the earlier one had been synced.
func TestUnsyncedHole(t *testing.T) {
	tests := []struct {
		name        string
		firstDur    bool
		wantCorrupt bool
	}{
		{"hole in unsynced window is torn", false, false},
		{"hole in synced data is corruption", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			j, _ := open(t, o)
			m := newModel()
			mustWrite(t, j, m, add(1, 1, "synced"))
			before := m.clone()
			if err := j.Write([]Op{add(2, 1, "first")}, tt.firstDur); err != nil {
				t.Fatal(err)
			}
			path, off, n := lastFrame(t, dir)
			if err := j.Write([]Op{add(3, 1, "second")}, false); err != nil {
				t.Fatal(err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			zeroFrom(t, path, off, off+n)
			var recs []Record
			j, err := Open(o, func(r Record) error { recs = append(recs, r); return nil })
			if tt.wantCorrupt {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(path)) {
					t.Fatalf("Open = %v, want corruption naming %s", err, filepath.Base(path))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			sameRecords(t, recs, before.records())
		})
	}
}

// writeSpread writes records until the journal spans several files and returns
// the model.
func writeSpread(t *testing.T, o Options) *model {
	t.Helper()
	j, _ := open(t, o)
	m := newModel()
	for i := range 60 {
		mustWrite(t, j, m, add(uint64(i), 1, fmt.Sprintf("%0100d", i)))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

type frameAt struct {
	file     string
	off, len int64
}

func frames(t *testing.T, dir string) []frameAt {
	t.Helper()
	var fs []frameAt
	err := Scan(dir, "", func(e ScanEntry) error {
		if e.Kind == ScanRecord && (len(fs) == 0 || fs[len(fs)-1].off != e.Frame || fs[len(fs)-1].file != e.File) {
			b, err := os.ReadFile(filepath.Join(dir, e.File))
			if err != nil {
				return err
			}
			fs = append(fs, frameAt{e.File, e.Frame, int64(leUint32(b[e.Frame+4:]))})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestCorruption flips bytes where a torn write cannot explain the damage and
// checks that Open refuses, naming file and offset, without changing anything.
func TestCorruption(t *testing.T) {
	base := t.TempDir()
	writeSpread(t, testOptions(base))
	fs := frames(t, base)
	files := dataFiles(t, base)
	if len(fs) < 10 || len(files) < 3 {
		t.Fatalf("want a journal over several files, got %d frames in %d files", len(fs), len(files))
	}
	first := fs[0]
	var midLast frameAt // a frame of the last file with data that has frames after it
	for i := len(fs) - 2; i >= 0; i-- {
		if fs[i].file == fs[len(fs)-1].file {
			midLast = fs[i]
		} else {
			break
		}
	}
	if midLast.file == "" {
		t.Fatal("last file has a single frame")
	}
	tests := []struct {
		name   string
		file   string
		off    int64 // where the damage is reported
		flipAt []int64
	}{
		{"header of the first file", fs[0].file, 0, []int64{0, 20, 59}},
		{"old frame, every byte", first.file, first.off, seq(first.off, first.off+first.len)},
		{"synced frame in the last file", midLast.file, midLast.off, []int64{midLast.off + 4, midLast.off + 10, midLast.off + 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, at := range tt.flipAt {
				dir := copyDir(t, base)
				flipByte(t, filepath.Join(dir, tt.file), at)
				snap := snapshot(t, dir)
				_, err := Open(testOptions(dir), func(Record) error { return nil })
				want := fmt.Sprintf("%s at offset %d", tt.file, tt.off)
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
					t.Fatalf("flip at %d: Open = %v, want ErrCorrupt with %q", at, err, want)
				}
				if !bytes.Equal(snap, snapshot(t, dir)) {
					t.Fatalf("flip at %d: Open changed the directory", at)
				}
				serr := Scan(dir, "", func(ScanEntry) error { return nil })
				if !errors.Is(serr, ErrCorrupt) {
					t.Fatalf("flip at %d: Scan = %v", at, serr)
				}
			}
		})
	}
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// snapshot returns the names and contents of every file in dir.
func snapshot(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		c, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d\n", e.Name(), len(c))
		b.Write(c)
	}
	return b.Bytes()
}

func TestStaleRecycledDataNeverReplays(t *testing.T) {
	// Produce and consume until files are recycled, then reopen: records of the
	// recycled files' earlier lives must not come back.
	dir := t.TempDir()
	o := testOptions(dir)
	o.Sync = false
	j, _ := open(t, o)
	m := newModel()
	for i := range 400 {
		ops := []Op{add(uint64(i), 1, fmt.Sprintf("%080d", i))}
		if i >= 3 {
			ops = append(ops, del(uint64(i-3)))
		}
		mustWrite(t, j, m, ops...)
	}
	settle(t, j)
	if st := j.Stats(); st.ReclaimedFiles == 0 {
		t.Fatalf("no file was reclaimed: %+v", st)
	}
	_, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
}

func TestSortHigh32(t *testing.T) {
	for _, n := range []int{0, 1, 2, 100, 5000} {
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = uint64((i*7919)%1_000_003)<<32 | uint64(i)
		}
		want := slices.Clone(keys)
		slices.SortStableFunc(want, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
		sortHigh32(keys, nil)
		for i := range keys {
			if keys[i]>>32 != want[i]>>32 {
				t.Fatalf("n=%d: keys[%d] = %x, want %x", n, i, keys[i], want[i])
			}
		}
	}
}
