package journal

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

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
