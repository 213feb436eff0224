package largemsg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"tandem/internal/fsutil"
	"tandem/internal/store"
)

// ErrNoDirectory reports a missing large-messages-directory setting.
var ErrNoDirectory = errors.New("largemsg: the large-messages directory is not set (large-messages-directory in broker.yaml)")

// Store is a directory of large message bodies.
type Store struct {
	dir   string
	sync  bool
	newID func() uint64
	seq   atomic.Uint64 // fallback ids when newID is nil
}

var _ store.LargeStore = (*Store)(nil)

// Open opens (creating it if needed) the directory dir, removing bodies a
// crash left half-written. newID hands out ids unique across restarts (the
// message store's NewID); sync makes Commit fsync the body.
func Open(dir string, newID func() uint64, sync bool) (*Store, error) {
	if dir == "" {
		return nil, ErrNoDirectory
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("largemsg: create %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("largemsg: list %s: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("largemsg: remove unfinished body: %w", err)
			}
		}
	}
	return &Store{dir: dir, sync: sync, newID: newID}, nil
}

func (s *Store) path(id uint64, ext string) string {
	return filepath.Join(s.dir, strconv.FormatUint(id, 10)+ext)
}

func (s *Store) id() uint64 {
	if s.newID != nil {
		return s.newID()
	}
	return s.seq.Add(1)
}

// Create implements store.LargeStore.
func (s *Store) Create() (store.LargeWriter, error) {
	id := s.id()
	f, err := os.OpenFile(s.path(id, ".tmp"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("largemsg: %w", err)
	}
	return &writer{s: s, id: id, f: f}, nil
}

type writer struct {
	s  *Store
	id uint64
	f  *os.File
}

func (w *writer) Write(p []byte) (int, error) { return w.f.Write(p) }
func (w *writer) ID() uint64                  { return w.id }

func (w *writer) Commit() error {
	if w.s.sync {
		if err := w.f.Sync(); err != nil {
			w.Abort()
			return fmt.Errorf("largemsg: sync body %d: %w", w.id, err)
		}
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return fmt.Errorf("largemsg: %w", err)
	}
	if err := os.Rename(w.s.path(w.id, ".tmp"), w.s.path(w.id, ".msg")); err != nil {
		w.Abort()
		return fmt.Errorf("largemsg: %w", err)
	}
	if w.s.sync {
		return fsutil.SyncDir(w.s.dir)
	}
	return nil
}

func (w *writer) Abort() {
	w.f.Close()
	os.Remove(w.s.path(w.id, ".tmp"))
}

// Open implements store.LargeStore.
func (s *Store) Open(id uint64) (io.ReadCloser, error) {
	f, err := os.Open(s.path(id, ".msg"))
	if err != nil {
		return nil, fmt.Errorf("largemsg: body %d: %w", id, err)
	}
	return f, nil
}

// Link implements store.LargeStore with a hard link: the copy costs no
// data, and each name is deleted on its own.
func (s *Store) Link(id uint64) (uint64, error) {
	n := s.id()
	if err := os.Link(s.path(id, ".msg"), s.path(n, ".msg")); err != nil {
		return 0, fmt.Errorf("largemsg: link body %d: %w", id, err)
	}
	return n, nil
}

// Delete implements store.LargeStore.
func (s *Store) Delete(id uint64) error {
	if err := os.Remove(s.path(id, ".msg")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("largemsg: %w", err)
	}
	return nil
}

// IDs implements store.LargeStore.
func (s *Store) IDs() ([]uint64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("largemsg: list %s: %w", s.dir, err)
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".msg")
		if !ok {
			continue
		}
		if id, err := strconv.ParseUint(name, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}
