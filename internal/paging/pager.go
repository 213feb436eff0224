package paging

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"tandem/internal/fsutil"
	"tandem/internal/store"
)

// addressFile names the file in an address's page directory that holds the
// address name; directory names are hashes, so any name is safe on disk.
const addressFile = "address.txt"

// Options configure a Pager.
type Options struct {
	// Dir is the paging directory (paging-directory).
	Dir string
	// PageSize returns the page-size-bytes of an address; nil means 10 MiB.
	PageSize func(address string) int64
	// NoSync skips fdatasync (journal-sync: false): faster, and a crash may
	// lose confirmed paged messages.
	NoSync bool
	// Fence is the broker's fencing point (store.Fence): once it falls the
	// page files are neither written nor deleted, and no append is
	// confirmed. Nil never fences.
	Fence *store.Fence
}

// Pager opens the page stores under one paging directory. It implements
// store.Pager.
type Pager struct {
	opts Options

	mu     sync.Mutex
	stores map[string]*PageStore
}

var _ store.Pager = (*Pager)(nil)

// New returns a pager on opts.Dir, creating the directory if needed.
func New(opts Options) (*Pager, error) {
	if opts.Dir == "" {
		return nil, errors.New("paging: the paging directory is not set (paging-directory in broker.yaml)")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("paging: create paging directory: %w", err)
	}
	return &Pager{opts: opts, stores: map[string]*PageStore{}}, nil
}

func dirName(address string) string {
	h := sha256.Sum256([]byte(address))
	return hex.EncodeToString(h[:10])
}

// Open implements store.Pager.
func (p *Pager) Open(address string) (store.PageStore, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stores[address]; s != nil {
		return s, nil
	}
	dir := filepath.Join(p.opts.Dir, dirName(address))
	if err := p.prepare(dir, address); err != nil {
		return nil, err
	}
	size := int64(10 << 20)
	if p.opts.PageSize != nil {
		size = p.opts.PageSize(address)
	}
	s, err := openPageStore(dir, size, !p.opts.NoSync, p.opts.Fence)
	if err != nil {
		return nil, err
	}
	p.stores[address] = s
	return s, nil
}

// prepare makes sure the page directory of address exists and names it.
func (p *Pager) prepare(dir, address string) error {
	name := filepath.Join(dir, addressFile)
	b, err := os.ReadFile(name)
	switch {
	case err == nil && string(b) != address:
		return fmt.Errorf("paging: %s names address %q, not %q", name, b, address)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("paging: %w", err)
	}
	if err := p.opts.Fence.Enter(); err != nil {
		return fmt.Errorf("paging: create the page directory of %q: %w", address, err)
	}
	defer p.opts.Fence.Exit()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("paging: create %s: %w", dir, err)
	}
	if err := fsutil.WriteFile(name, []byte(address), 0o644); err != nil {
		return fmt.Errorf("paging: %w", err)
	}
	return nil
}

// Addresses implements store.Pager.
func (p *Pager) Addresses() ([]string, error) {
	ents, err := os.ReadDir(p.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("paging: list %s: %w", p.opts.Dir, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.opts.Dir, e.Name(), addressFile))
		if errors.Is(err, os.ErrNotExist) {
			continue // not a page directory
		}
		if err != nil {
			return nil, fmt.Errorf("paging: %w", err)
		}
		out = append(out, string(b))
	}
	return out, nil
}

// Close closes every open page store.
func (p *Pager) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for a, s := range p.stores {
		errs = append(errs, s.Close())
		delete(p.stores, a)
	}
	return errors.Join(errs...)
}
