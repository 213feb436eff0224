package paging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Offline checking and repair of page files, for `tandem data verify` and
// `tandem data repair`: nothing here is used while a broker runs.

// PageFile is what Inspect found in one page file.
type PageFile struct {
	Page    uint64
	Path    string
	Size    int64
	End     int64 // offset after the last good record (0: bad header)
	Records int   // good records
	// Err says why the good records stop before Size; nil when the file
	// ends cleanly. On an address's last page a problem at the end is a
	// torn write, which opening the store cuts (Torn).
	Err  error
	Torn bool
}

// AddressDir is one address's page directory.
type AddressDir struct {
	Path    string
	Address string // empty when address.txt is missing or unreadable
	// Err says what is wrong with the directory itself (no address.txt,
	// badly named files); such a directory is ignored by the broker.
	Err   error
	Pages []PageFile
}

// Corrupt returns the first page of a whose records are corrupt (not a
// torn tail), or -1.
func (a *AddressDir) Corrupt() int {
	for i := range a.Pages {
		if a.Pages[i].Err != nil && !a.Pages[i].Torn {
			return i
		}
	}
	return -1
}

// Inspect reads every page file under pagingDir without changing anything
// and calls fn, when not nil, for every good record with its position.
func Inspect(pagingDir string, fn func(a *AddressDir, pos store.PagePosition, m *message.Message)) ([]AddressDir, error) {
	ents, err := os.ReadDir(pagingDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("paging: list %s: %w", pagingDir, err)
	}
	var out []AddressDir
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		a := AddressDir{Path: filepath.Join(pagingDir, e.Name())}
		b, err := os.ReadFile(filepath.Join(a.Path, addressFile))
		if err != nil {
			a.Err = fmt.Errorf("no readable %s: the broker ignores this directory: %w", addressFile, err)
		} else {
			a.Address = string(b)
		}
		pages, err := listPages(a.Path)
		if err != nil {
			a.Err = errors.Join(a.Err, err)
		}
		for i, p := range pages {
			pf := inspectPage(filepath.Join(a.Path, pageName(p)), p, func(pos store.PagePosition, m *message.Message) {
				if fn != nil {
					fn(&a, pos, m)
				}
			})
			// Opening the store cuts a bad end of the last page, and
			// rewrites its header if the file is shorter than one.
			pf.Torn = pf.Err != nil && i == len(pages)-1 && (pf.End >= headerSize || pf.Size < headerSize)
			a.Pages = append(a.Pages, pf)
		}
		out = append(out, a)
	}
	return out, nil
}

// inspectPage checks one page file.
func inspectPage(path string, page uint64, fn func(store.PagePosition, *message.Message)) PageFile {
	pf := PageFile{Page: page, Path: path}
	f, err := os.Open(path)
	if err != nil {
		pf.Err = fmt.Errorf("paging: %w", err)
		return pf
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		pf.Err = fmt.Errorf("paging: read %s: %w", path, err)
		return pf
	}
	pf.Size = int64(len(data))
	if n, err := decodeHeader(data); err != nil || n != page {
		pf.Err = fmt.Errorf("%s: bad header: %w (header says page %d)", path, errors.Join(err, ErrCorrupt), n)
		return pf
	}
	off := headerSize
	for off < len(data) {
		if len(data)-off < recordHeaderSize {
			pf.Err = fmt.Errorf("%w: %s at offset %d: %d bytes, too few for a record", ErrCorrupt, path, off, len(data)-off)
			break
		}
		n, err := checkRecord(data[off:])
		if err != nil {
			pf.Err = fmt.Errorf("%s at offset %d: %w", path, off, err)
			break
		}
		m, _, err := decodePayload(data[off+recordHeaderSize : off+recordHeaderSize+n])
		if err != nil {
			pf.Err = fmt.Errorf("%s at offset %d: %w", path, off, err)
			break
		}
		if fn != nil {
			fn(store.PagePosition{Page: page, Offset: uint64(off)}, m)
		}
		pf.Records++
		off += recordHeaderSize + n
	}
	pf.End = int64(off)
	return pf
}

// Cut is one change Repair made (or, dry, would make) to a page directory.
type Cut struct {
	Path   string
	Action string // "truncated at offset N" or "moved"
	Why    string
}

// Repair cuts every address's page files back to their last consistent
// point: a page whose records are corrupt is truncated after its last good
// record (its bad header: moved away whole), and every later page of the
// address is moved away, into backupDir/<directory name>/. A torn tail on
// the last page is left to the broker, which cuts it at start. With dry
// set nothing changes and the cuts are only reported.
func Repair(pagingDir, backupDir string, dry bool) ([]Cut, error) {
	addrs, err := Inspect(pagingDir, nil)
	if err != nil {
		return nil, err
	}
	var cuts []Cut
	for i := range addrs {
		a := &addrs[i]
		first := a.Corrupt()
		if first < 0 {
			continue
		}
		bdir := filepath.Join(backupDir, filepath.Base(a.Path))
		if !dry {
			if err := os.MkdirAll(bdir, 0o755); err != nil {
				return cuts, fmt.Errorf("paging: %w", err)
			}
		}
		for j := first; j < len(a.Pages); j++ {
			pf := a.Pages[j]
			why := fmt.Sprintf("after the corruption in %s: %v", filepath.Base(a.Pages[first].Path), a.Pages[first].Err)
			if j == first && pf.End >= headerSize {
				cuts = append(cuts, Cut{Path: pf.Path, Action: fmt.Sprintf("truncated at offset %d (a copy of the whole file kept)", pf.End), Why: pf.Err.Error()})
				if !dry {
					if err := copyFile(pf.Path, filepath.Join(bdir, filepath.Base(pf.Path))); err != nil {
						return cuts, err
					}
					if err := os.Truncate(pf.Path, pf.End); err != nil {
						return cuts, fmt.Errorf("paging: %w", err)
					}
				}
				continue
			}
			if j == first {
				why = pf.Err.Error()
			}
			cuts = append(cuts, Cut{Path: pf.Path, Action: "moved", Why: why})
			if !dry {
				if err := os.Rename(pf.Path, filepath.Join(bdir, filepath.Base(pf.Path))); err != nil {
					return cuts, fmt.Errorf("paging: %w", err)
				}
			}
		}
	}
	return cuts, nil
}

// copyFile copies src to dst and syncs dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("paging: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("paging: keep a copy of %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("paging: keep a copy of %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("paging: keep a copy of %s: %w", src, err)
	}
	return out.Close()
}

// IsPageFile reports whether name is a page file's name.
func IsPageFile(name string) bool { return strings.HasSuffix(name, ".page") }
