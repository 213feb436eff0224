package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRepair damages a journal spread over several files in the ways Open
// refuses and checks that Repair cuts it back to a journal Open accepts,
// holding exactly the records written before the damage, with everything
// it removed kept in the backup directory; a dry run changes nothing.
func TestRepair(t *testing.T) {
	base := t.TempDir()
	writeSpread(t, testOptions(base)) // record i is add(i) with 100 bytes, one batch each
	fs := frames(t, base)
	files := dataFiles(t, base)
	if len(files) < 4 {
		t.Fatalf("want a journal over several files, got %d", len(files))
	}
	// A frame in the middle of the second file: records before it stay.
	var mid frameAt
	for _, f := range fs {
		if f.file == filepath.Base(files[1]) {
			mid = f
		}
	}
	recsBefore := func(file string, off int64) int {
		n := 0
		for _, f := range fs {
			if f.file < file || f.file == file && f.off < off {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		keep   int    // records that survive
		cut    string // file the first cut names
	}{
		{
			name:   "flipped byte in a middle file",
			damage: func(t *testing.T, dir string) { flipByte(t, filepath.Join(dir, mid.file), mid.off+30) },
			keep:   recsBefore(mid.file, mid.off),
			cut:    mid.file,
		},
		{
			name: "a file renamed to another sequence number",
			damage: func(t *testing.T, dir string) {
				// As when a second broker recycled a file of this one:
				// "header has sequence number 2, the name says 9".
				if err := os.Rename(filepath.Join(dir, filepath.Base(files[1])), filepath.Join(dir, "tandem-0000000009.tj")); err != nil {
					t.Fatal(err)
				}
			},
			keep: recsBefore(filepath.Base(files[1]), 0),
			cut:  "tandem-0000000009.tj",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tc.damage(t, dir)
			if _, err := Open(testOptions(dir), func(Record) error { return nil }); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open of the damaged journal = %v, want ErrCorrupt", err)
			}
			before := snapshot(t, dir)
			backup := filepath.Join(t.TempDir(), "backup")
			dry, err := Repair(dir, "", backup, true)
			if err != nil || len(dry) == 0 {
				t.Fatalf("dry run: %v, %v", dry, err)
			}
			if !bytes.Equal(before, snapshot(t, dir)) {
				t.Fatal("a dry run changed the journal")
			}
			if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a dry run created the backup directory")
			}
			cuts, err := Repair(dir, "", backup, false)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(cuts) != fmt.Sprint(dry) {
				t.Errorf("repair did %v, the dry run said %v", cuts, dry)
			}
			kept, err := os.ReadDir(backup)
			if err != nil || len(kept) != len(cuts) {
				t.Errorf("backup holds %d files for %d cuts (%v)", len(kept), len(cuts), err)
			}
			var got []Record
			j, err := Open(testOptions(dir), func(r Record) error { got = append(got, r); return nil })
			if err != nil {
				t.Fatalf("Open after Repair: %v (cuts %v)", err, cuts)
			}
			defer j.Close()
			for i, r := range got {
				if r.ID != uint64(i) || string(r.Data) != fmt.Sprintf("%0100d", i) {
					t.Fatalf("record %d after repair is %s; want the prefix of the journal", i, recordString(r))
				}
			}
			if len(got) != tc.keep {
				t.Errorf("%d records after repair, want the %d written before the damaged frame", len(got), tc.keep)
			}
			if cuts[0].File != tc.cut {
				t.Errorf("first cut %v, want %s", cuts[0], tc.cut)
			}
			if again, err := Repair(dir, "", backup, true); err != nil || len(again) != 0 {
				t.Errorf("a repaired journal still needs %v (%v)", again, err)
			}
		})
	}
}
