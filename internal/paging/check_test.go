package paging

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"tandem/internal/message"
	"tandem/internal/store"
)

// pagedDir writes n records for address "orders.eu" in small pages under
// a new paging directory and returns it with the address's directory.
func pagedDir(t *testing.T, n int) (pagingDir, addrDir string) {
	t.Helper()
	pagingDir = t.TempDir()
	p, err := New(Options{Dir: pagingDir, PageSize: func(string) int64 { return 300 }})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := p.Open("orders.eu")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		appendWait(t, ps.(*PageStore), testMessage(i), []uint64{1})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return pagingDir, filepath.Join(pagingDir, dirName("orders.eu"))
}

func TestInspectAndRepair(t *testing.T) {
	for _, tc := range []struct {
		name       string
		damage     func(t *testing.T, addrDir string)
		wantTorn   bool
		corrupt    int // index of the first corrupt page, -1 none
		wantRecs   int // records readable after Repair
		wantBackup int // files kept in the backup
	}{
		{"healthy", func(*testing.T, string) {}, false, -1, 12, 0},
		{"torn tail of the last page", func(t *testing.T, d string) {
			last := lastPage(t, d)
			appendBytes(t, last, []byte{9, 0, 0, 0, 1, 2})
		}, true, -1, 12, 0},
		{"flipped byte in the second page", func(t *testing.T, d string) {
			flip(t, filepath.Join(d, pageName(2)), headerSize+12)
		}, false, 1, -1, -1},
		{"bad header of the second page", func(t *testing.T, d string) {
			flip(t, filepath.Join(d, pageName(2)), 3)
		}, false, 1, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pagingDir, addrDir := pagedDir(t, 12)
			// Records on the pages before the damaged one survive.
			before := 0
			addrs, err := Inspect(pagingDir, nil)
			if err != nil || len(addrs) != 1 || addrs[0].Address != "orders.eu" || addrs[0].Err != nil {
				t.Fatalf("Inspect of the written directory: %+v, %v", addrs, err)
			}
			pages := len(addrs[0].Pages)
			if pages < 4 {
				t.Fatalf("only %d pages written", pages)
			}
			before = addrs[0].Pages[0].Records
			tc.damage(t, addrDir)
			var seen int
			addrs, err = Inspect(pagingDir, func(a *AddressDir, pos store.PagePosition, m *message.Message) { seen++ })
			if err != nil {
				t.Fatal(err)
			}
			a := addrs[0]
			if got := a.Corrupt(); got != tc.corrupt {
				t.Fatalf("Corrupt() = %d, want %d (pages %+v)", got, tc.corrupt, a.Pages)
			}
			if torn := a.Pages[len(a.Pages)-1].Torn; torn != tc.wantTorn {
				t.Fatalf("last page torn = %v, want %v", torn, tc.wantTorn)
			}
			backup := filepath.Join(t.TempDir(), "backup")
			dry, err := Repair(pagingDir, backup, true)
			if err != nil {
				t.Fatal(err)
			}
			cuts, err := Repair(pagingDir, backup, false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dry, cuts) {
				t.Errorf("repair did %v, the dry run said %v", cuts, dry)
			}
			wantRecs, wantBackup := tc.wantRecs, tc.wantBackup
			if tc.corrupt >= 0 {
				// The damage is in the second page's first record or its
				// header: the first page's records survive; the second page
				// is cut (a copy kept) or moved, the later ones moved.
				wantRecs, wantBackup = before, pages-1
			}
			kept, _ := os.ReadDir(filepath.Join(backup, filepath.Base(addrDir)))
			if len(kept) != wantBackup || len(cuts) != wantBackup {
				t.Errorf("%d cuts, %d files kept; want %d (%v)", len(cuts), len(kept), wantBackup, cuts)
			}
			s, err := openPageStore(addrDir, 300, true, nil)
			if err != nil {
				t.Fatalf("open after Repair: %v", err)
			}
			defer s.Close()
			got := readAll(t, s, s.Start())
			if len(got) != wantRecs {
				t.Fatalf("%d records readable after Repair, want %d", len(got), wantRecs)
			}
			for i, pm := range got {
				if want := fmt.Sprint("body ", i); string(pm.Message.Body) != want {
					t.Fatalf("record %d is %q, want the prefix", i, pm.Message.Body)
				}
			}
		})
	}
}

func lastPage(t *testing.T, dir string) string {
	t.Helper()
	pages, err := listPages(dir)
	if err != nil || len(pages) == 0 {
		t.Fatal(pages, err)
	}
	return filepath.Join(dir, pageName(pages[len(pages)-1]))
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x20
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
