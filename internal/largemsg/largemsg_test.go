package largemsg

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"tandem/internal/store"
)

func openStore(t *testing.T, dir string, fence *store.Fence) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Sync: true, Fence: fence})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeBody(t *testing.T, s *Store, body string) uint64 {
	t.Helper()
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w.ID()
}

func readBody(t *testing.T, s *Store, id uint64) string {
	t.Helper()
	rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	// A body a crash left half-written is removed at open.
	if err := os.WriteFile(filepath.Join(dir, "77"+TempSuffix), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, nil)
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("after Open: %v, want the unfinished body gone", got)
	}
	id := writeBody(t, s, "hello")
	if got := readBody(t, s, id); got != "hello" {
		t.Fatalf("body %q", got)
	}
	cp, err := s.Link(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, s, cp); got != "hello" {
		t.Fatalf("the copy reads %q after the original was deleted", got)
	}
	if err := s.Delete(id); err != nil {
		t.Fatalf("deleting a deleted body: %v", err)
	}
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	ids, err := s.IDs()
	if err != nil || !slices.Equal(ids, []uint64{cp}) {
		t.Fatalf("IDs = %v, %v; want [%d]", ids, err, cp)
	}
	if id, ok := ParseBodyName(BodyName(42)); !ok || id != 42 {
		t.Fatalf("ParseBodyName(BodyName(42)) = %d, %v", id, ok)
	}
}

// TestFencedStoreChangesNothing: once the fence has fallen, no body file
// is created, written, committed, linked or deleted.
func TestFencedStoreChangesNothing(t *testing.T) {
	dir := t.TempDir()
	fence := store.NewFence()
	s := openStore(t, dir, fence)
	kept := writeBody(t, s, "confirmed before the fence")
	open, err := s.Create() // a body being streamed when the fence falls
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(open, "first chunk"); err != nil {
		t.Fatal(err)
	}
	fence.Fence(errors.New("lock lost"))
	before := names(t, dir)
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, "2"+TempSuffix))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	written := size()

	if _, err := s.Create(); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Create after the fence = %v, want ErrFenced", err)
	}
	if _, err := io.WriteString(open, "second chunk"); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Write after the fence = %v, want ErrFenced", err)
	}
	if got := size(); got != written {
		t.Errorf("the open body grew from %d to %d bytes after the fence", written, got)
	}
	if err := open.Commit(); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Commit after the fence = %v, want ErrFenced", err)
	}
	if _, err := s.Link(kept); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Link after the fence = %v, want ErrFenced", err)
	}
	if err := s.Delete(kept); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Delete after the fence = %v, want ErrFenced", err)
	}
	if got := names(t, dir); !slices.Equal(got, before) {
		t.Errorf("directory after the fence: %v, before: %v", got, before)
	}
	if _, err := Open(Options{Dir: dir, Fence: fence}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Open after the fence = %v, want ErrFenced (it removes unfinished bodies)", err)
	}
}
