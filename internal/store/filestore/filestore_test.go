package filestore

import (
	"path/filepath"
	"testing"

	"tandem/internal/store"
	"tandem/internal/store/storetest"
)

func options(dir string) Options {
	return Options{JournalDir: filepath.Join(dir, "journal"), BindingsDir: filepath.Join(dir, "bindings"),
		FileSize: 256 << 10, MinFiles: 2, Sync: true}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) store.Store {
			s, err := Open(options(dir))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func TestIDsStayUniqueAcrossBlockReservations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(options(dir))
	if err != nil {
		t.Fatal(err)
	}
	s.Load()
	var last uint64
	for i := 0; i < idBlock+10; i++ {
		last = s.NewID()
	}
	s.Close()
	s, err = Open(options(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id := s.NewID(); id <= last {
		t.Fatalf("id %d after reopen is not above %d handed out before", id, last)
	}
}
