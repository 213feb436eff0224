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

// Options configure a Store.
type Options struct {
	// Dir is the large-messages directory; it is created if needed.
	Dir string
	// NewID hands out ids unique across restarts (the message store's
	// NewID). Nil numbers bodies from 1, for tests.
	NewID func() uint64
	// Sync makes Commit fsync the body and the directory.
	Sync bool
	// Fence is the broker's fencing point: once it falls no body file is
	// created, written, renamed, linked or deleted. Nil never fences.
	Fence *store.Fence
}

// Store is a directory of large message bodies.
type Store struct {
	dir   string
	sync  bool
	newID func() uint64
	fence *store.Fence
	seq   atomic.Uint64 // fallback ids when newID is nil
}

var _ store.LargeStore = (*Store)(nil)

// Open opens (creating it if needed) the directory opts.Dir, removing
// bodies a crash left half-written.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, ErrNoDirectory
	}
	s := &Store{dir: opts.Dir, sync: opts.Sync, newID: opts.NewID, fence: opts.Fence}
	if err := s.fence.Enter(); err != nil {
		return nil, fmt.Errorf("largemsg: open %s: %w", s.dir, err)
	}
	defer s.fence.Exit()
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("largemsg: create %s: %w", s.dir, err)
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("largemsg: list %s: %w", s.dir, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), TempSuffix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return nil, fmt.Errorf("largemsg: remove unfinished body: %w", err)
			}
		}
	}
	return s, nil
}

// The suffixes of body files: a complete body, and one being written.
const (
	BodySuffix = ".msg"
	TempSuffix = ".tmp"
)

// BodyName is the file name of body id in the large-messages directory.
func BodyName(id uint64) string { return strconv.FormatUint(id, 10) + BodySuffix }

// ParseBodyName returns the id of a complete body's file name.
func ParseBodyName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, BodySuffix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
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

// fenced runs fn as a section of the fence.
func (s *Store) fenced(fn func() error) error {
	if err := s.fence.Enter(); err != nil {
		return fmt.Errorf("largemsg: %w", err)
	}
	defer s.fence.Exit()
	return fn()
}

// Create implements store.LargeStore.
func (s *Store) Create() (store.LargeWriter, error) {
	id := s.id()
	var f *os.File
	err := s.fenced(func() (err error) {
		f, err = os.OpenFile(s.path(id, TempSuffix), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		return err
	})
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

func (w *writer) Write(p []byte) (n int, err error) {
	err = w.s.fenced(func() (err error) {
		n, err = w.f.Write(p)
		return err
	})
	return n, err
}

func (w *writer) ID() uint64 { return w.id }

// Commit syncs the body (outside the fence's section: a sync only makes
// earlier writes durable), then renames it into place within one.
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
	err := w.s.fenced(func() error { return os.Rename(w.s.path(w.id, TempSuffix), w.s.path(w.id, BodySuffix)) })
	if err != nil {
		w.Abort()
		return fmt.Errorf("largemsg: commit body %d: %w", w.id, err)
	}
	if w.s.sync {
		return fsutil.SyncDir(w.s.dir)
	}
	return nil
}

// Abort discards the body. After the fence the temporary file stays for
// the next start to remove.
func (w *writer) Abort() {
	w.f.Close()
	_ = w.s.fenced(func() error { return os.Remove(w.s.path(w.id, TempSuffix)) })
}

// Open implements store.LargeStore.
func (s *Store) Open(id uint64) (io.ReadCloser, error) {
	f, err := os.Open(s.path(id, BodySuffix))
	if err != nil {
		return nil, fmt.Errorf("largemsg: body %d: %w", id, err)
	}
	return f, nil
}

// Link implements store.LargeStore with a hard link: the copy costs no
// data, and each name is deleted on its own.
func (s *Store) Link(id uint64) (uint64, error) {
	n := s.id()
	if err := s.fenced(func() error { return os.Link(s.path(id, BodySuffix), s.path(n, BodySuffix)) }); err != nil {
		return 0, fmt.Errorf("largemsg: link body %d: %w", id, err)
	}
	return n, nil
}

// Delete implements store.LargeStore.
func (s *Store) Delete(id uint64) error {
	err := s.fenced(func() error { return os.Remove(s.path(id, BodySuffix)) })
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("largemsg: delete body %d: %w", id, err)
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
		if id, ok := ParseBodyName(e.Name()); ok {
			out = append(out, id)
		}
	}
	return out, nil
}
