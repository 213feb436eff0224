package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestScan(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	j, _ := open(t, o)
	mustWrite(t, j, nil, add(1, 4, "one"), upd(1, 5, "u"))
	mustWrite(t, j, nil, del(1))
	mustWrite(t, j, nil, add(2, 6, "two"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	type rec struct {
		kind OpKind
		id   uint64
		typ  uint8
		data string
	}
	var files int
	var got []rec
	if err := Scan(dir, "", func(e ScanEntry) error {
		switch e.Kind {
		case ScanFile:
			files++
			if e.Header.Epoch != 1 || e.Header.Seq == 0 || e.End < headerSize || e.Size != o.FileSize {
				t.Errorf("file entry %+v", e)
			}
		case ScanRecord:
			if e.Offset <= e.Frame || e.File == "" {
				t.Errorf("record entry %+v", e)
			}
			got = append(got, rec{e.Op.Kind, e.Op.ID, e.Op.Type, string(e.Op.Data)})
		default:
			t.Errorf("unexpected %v: %v", e.Kind, e.Err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []rec{{OpAdd, 1, 4, "one"}, {OpUpdate, 1, 5, "u"}, {OpDelete, 1, 0, ""}, {OpAdd, 2, 6, "two"}}
	if fmt.Sprint(got) != fmt.Sprint(want) || files < 2 {
		t.Fatalf("Scan saw %d files and %v, want %v", files, got, want)
	}

	// A torn tail is reported, not repaired.
	path, off, n := lastFrame(t, dir)
	if err := os.Truncate(path, off+n-3); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	var torn []ScanEntry
	if err := Scan(dir, "", func(e ScanEntry) error {
		if e.Kind == ScanTornTail {
			torn = append(torn, e)
		}
		return nil
	}); err != nil {
		t.Fatalf("Scan of a torn journal: %v", err)
	}
	if len(torn) != 1 || torn[0].Offset != off || torn[0].File != filepath.Base(path) {
		t.Fatalf("torn entries %+v, want one at %s offset %d", torn, filepath.Base(path), off)
	}
	if !bytes.Equal(before, snapshot(t, dir)) {
		t.Fatal("Scan changed the directory")
	}
}

func TestPrefixesShareADirectory(t *testing.T) {
	dir := t.TempDir()
	a, b := testOptions(dir), testOptions(dir)
	a.Prefix, b.Prefix = "tandem", "tandem-bindings"
	ja, _ := open(t, a)
	jb, _ := open(t, b)
	ma, mb := newModel(), newModel()
	for i := range 100 {
		mustWrite(t, ja, ma, add(uint64(i), 1, fmt.Sprintf("%050d", i)), del(uint64(i/2)))
		mustWrite(t, jb, mb, add(uint64(i), 2, "binding"))
	}
	if err := ja.Compact(); err != nil {
		t.Fatal(err)
	}
	_, recs := reopen(t, ja, a)
	sameRecords(t, recs, ma.records())
	_, recs = reopen(t, jb, b)
	sameRecords(t, recs, mb.records())
}

func TestBufferTimeoutGathersBatches(t *testing.T) {
	o := testOptions(t.TempDir())
	o.BufferTimeout = 20e6 // 20ms
	j, _ := open(t, o)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 5 {
				if err := j.Write([]Op{add(uint64(w*10+i), 1, "x")}, true); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := j.Stats(); st.Batches != 40 || st.Syncs >= st.Batches {
		t.Fatalf("stats %+v: expected batches to share syncs", st)
	}
}

// FuzzOpen feeds arbitrary bytes to recovery as the only data file of a
// journal. Open and Scan must never panic, must agree on whether the journal is
// corrupt, and a journal Open accepted must reopen to the same records.
// restamp replaces the first 64 bytes with a valid header so that the fuzzer
// gets past the header checksum and into the frames.
func FuzzOpen(f *testing.F) {
	for _, p := range dataFilesIn(f, goldenDir) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{}, false)
	f.Add(make([]byte, 200), true)

	f.Fuzz(func(t *testing.T, data []byte, restamp bool) {
		if len(data) > 1<<20 {
			return
		}
		if restamp && len(data) >= headerSize {
			gen := max(binary.LittleEndian.Uint64(data[24:]), 1)
			encodeHeader(data, FileHeader{Seq: 1, Gen: gen, Epoch: 1})
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, dataName("tandem", 1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		serr := Scan(dir, "", func(ScanEntry) error { return nil })
		o := Options{Dir: dir, FileSize: 1024, CompactMinFiles: -1}
		var first []Record
		j, err := Open(o, func(r Record) error { first = append(first, r); return nil })
		if errors.Is(err, ErrCorrupt) != errors.Is(serr, ErrCorrupt) {
			t.Fatalf("Open says %v, Scan says %v", err, serr)
		}
		if err != nil {
			return
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		var again []Record
		j, err = Open(o, func(r Record) error { again = append(again, r); return nil })
		if err != nil {
			t.Fatalf("reopen after a successful recovery: %v", err)
		}
		j.Close()
		sameRecords(t, again, first)
	})
}

func dataFilesIn(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.tj"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
