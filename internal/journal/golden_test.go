package journal

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate testdata/golden and testdata/golden.txt")

const goldenDir = "testdata/golden"

func goldenOptions(dir string) Options {
	return Options{Dir: dir, FileSize: 1024, MinFiles: 2, Sync: true, Epoch: 7, CompactMinFiles: -1}
}

// goldenStep is one step of the golden history: a batch, or a compaction when
// ops is nil.
type goldenStep struct{ ops []Op }

// goldenHistory is the fixed history of the golden journal. It exercises every
// operation kind, a batch larger than a file, reclaim, recycling and compaction.
func goldenHistory() []goldenStep {
	var h []goldenStep
	step := func(ops ...Op) { h = append(h, goldenStep{ops}) }
	step(add(1, 1, "first record"))
	step(add(2, 2, "second"), upd(1, 3, "update of 1"))
	step(add(3, 1, strings.Repeat("0123456789", 20)))
	step(del(2))
	for id := uint64(10); id < 40; id++ {
		step(add(id, uint8(id), fmt.Sprintf("record %d %s", id, strings.Repeat("x", 40))))
	}
	for id := uint64(10); id < 30; id++ {
		step(del(id))
	}
	step(upd(3, 4, "late update"), upd(35, 4, "another"))
	// A batch larger than a file gets a file of its own; the next batch
	// starts a fresh file.
	step(add(40, 5, strings.Repeat("big", 500)))
	// Produce and consume so that files die and are recycled, with frames of
	// an older generation still in them. No long-lived record shares these
	// files: its file would keep every later delete alive until compaction.
	for id := uint64(60); id < 100; id++ {
		step(add(id, 1, fmt.Sprintf("short-lived %d %s", id, strings.Repeat("y", 30))), del(id-2))
	}
	step(add(41, 6, "after the short-lived ones"))
	step() // compaction
	step(add(50, 1, "after compaction"), del(1))
	step(Op{Kind: OpAdd, ID: 1 << 63, Type: 255})
	return h
}

func goldenModel() *model {
	m := newModel()
	for _, s := range goldenHistory() {
		m.apply(s.ops)
	}
	return m
}

// writeGolden writes the golden history into dir. Every step settles, so
// background file work happens at the same points every time and the bytes on
// disk are reproducible.
func writeGolden(t *testing.T, dir string) {
	t.Helper()
	j, _ := open(t, goldenOptions(dir))
	for _, s := range goldenHistory() {
		if s.ops == nil {
			if err := j.Compact(); err != nil {
				t.Fatal(err)
			}
		} else if err := j.Write(s.ops, true); err != nil {
			t.Fatal(err)
		}
		settle(t, j)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j.Stats().Compactions != 1 || j.Stats().ReclaimedFiles == 0 {
		t.Fatalf("the golden history should exercise compaction and reclaim: %+v", j.Stats())
	}
	if !hasStaleFrames(t, dir) {
		t.Fatal("the golden history should leave a recycled file with stale frames behind")
	}
}

// scanDump renders what Scan reports, one line per entry.
func scanDump(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := Scan(dir, "", func(e ScanEntry) error {
		switch e.Kind {
		case ScanFile:
			fmt.Fprintf(&b, "file %s seq=%d gen=%d epoch=%d compacted=%v size=%d end=%d\n",
				e.File, e.Header.Seq, e.Header.Gen, e.Header.Epoch, e.Header.Compacted, e.Size, e.End)
		case ScanRecord:
			data := string(e.Op.Data)
			if len(data) > 24 {
				data = fmt.Sprintf("%s...(%d bytes)", data[:24], len(data))
			}
			fmt.Fprintf(&b, "  @%d frame=%d %s id=%d type=%d %q\n", e.Offset, e.Frame, e.Op.Kind, e.Op.ID, e.Op.Type, data)
		default:
			fmt.Fprintf(&b, "%s %s @%d: %v\n", e.Kind, e.File, e.Offset, e.Err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	t.Run("write", func(t *testing.T) {
		dir := t.TempDir()
		writeGolden(t, dir)
		if *update {
			if err := os.RemoveAll(goldenDir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(goldenDir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, p := range dataFiles(t, dir) {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(goldenDir, filepath.Base(p)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile("testdata/golden.txt", []byte(scanDump(t, goldenDir)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, exp := dataFiles(t, dir), dataFiles(t, goldenDir)
		if len(got) != len(exp) {
			t.Fatalf("wrote %d files, golden has %d (run with -update after a deliberate format change)", len(got), len(exp))
		}
		for i := range got {
			if filepath.Base(got[i]) != filepath.Base(exp[i]) {
				t.Fatalf("file %d is %s, golden has %s", i, filepath.Base(got[i]), filepath.Base(exp[i]))
			}
			a, _ := os.ReadFile(got[i])
			b, _ := os.ReadFile(exp[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("%s differs from the golden file at byte %d (run with -update after a deliberate format change)",
					filepath.Base(got[i]), firstDiff(a, b))
			}
		}
	})
	t.Run("read", func(t *testing.T) {
		if got, exp := scanDump(t, goldenDir), mustRead(t, "testdata/golden.txt"); got != exp {
			t.Fatalf("Scan of the golden journal changed:\n%s\nwant:\n%s", got, exp)
		}
		dir := copyDir(t, goldenDir)
		j, recs := open(t, goldenOptions(dir))
		if j.MaxEpoch() != 7 {
			t.Fatalf("MaxEpoch = %d", j.MaxEpoch())
		}
		sameRecords(t, recs, goldenModel().records())
	})
}

// hasStaleFrames reports whether some file holds non-zero bytes beyond the end
// of its data: frames of an earlier life of a recycled file.
func hasStaleFrames(t *testing.T, dir string) bool {
	t.Helper()
	stale := false
	err := Scan(dir, "", func(e ScanEntry) error {
		if e.Kind == ScanFile {
			b, err := os.ReadFile(filepath.Join(dir, e.File))
			if err != nil {
				return err
			}
			stale = stale || bytes.ContainsFunc(b[e.End:], func(r rune) bool { return r != 0 })
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stale
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
