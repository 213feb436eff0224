package journal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
)

// RepairCut is one change Repair made (or, dry, would make) to a journal
// directory.
type RepairCut struct {
	File   string // base name
	Action string // what was done to it
	Why    string
}

// Repair cuts the journal with the given prefix in dir back to its last
// consistent point, for a journal that Open refuses as corrupt. It is meant
// for a stopped broker (`tandem data repair`), and keeps in backupDir
// everything it removes:
//
//   - a damaged compaction control file is moved away (the compaction it
//     described never counts; its outputs are leftovers Open removes);
//   - the data file holding the first corruption, in sequence order, is
//     cut after its last good frame: copied whole to backupDir, then the
//     rest of it zeroed, as Open does with a torn tail. A file whose header
//     is bad is moved away whole;
//   - every later data file is moved away whole, because its records may
//     depend on the ones cut (an acknowledgement of a message added in the
//     lost part, a deletion that the lost part's re-add would undo).
//
// What remains is what Open would recover had the journal ended at the
// corruption: a prefix of the journal's history. A torn tail is not
// corruption and is left to Open. With dry set nothing changes; the cuts
// are only reported.
func Repair(dir, prefix, backupDir string, dry bool) ([]RepairCut, error) {
	return RepairFS(OSFS{}, dir, prefix, backupDir, dry)
}

// RepairFS is Repair on the given file system; backupDir is on the OS.
func RepairFS(fs FS, dir, prefix, backupDir string, dry bool) ([]RepairCut, error) {
	if prefix == "" {
		prefix = "tandem"
	}
	names, err := fs.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list %s: %w", dir, err)
	}
	var cuts []RepairCut
	backup := func() error {
		if dry {
			return nil
		}
		if err := os.MkdirAll(backupDir, 0o755); err != nil {
			return fmt.Errorf("journal: create backup directory: %w", err)
		}
		return nil
	}
	ctl := ctlName(prefix)
	if slices.Contains(names, ctl) {
		b, err := readSmallFile(fs, filepath.Join(dir, ctl))
		_, _, reason := decodeControl(b)
		if err != nil {
			reason = err.Error()
		}
		if reason != "" {
			cuts = append(cuts, RepairCut{File: ctl, Action: "moved", Why: "damaged compaction control file: " + reason})
			if err := backup(); err != nil {
				return cuts, err
			}
			if !dry {
				if err := moveOut(fs, dir, ctl, backupDir); err != nil {
					return cuts, err
				}
			}
		} else if !dry {
			// Finish the compaction it commits, as Open would, so that
			// the files below are the ones Open will see.
			j := &Journal{opts: Options{Dir: dir, Prefix: prefix}, fs: fs, log: slog.New(slog.DiscardHandler)}
			if _, err := j.finishControl(names); err != nil {
				return cuts, err
			}
		}
	}

	// The first corruption in sequence order.
	type problem struct {
		seq    uint64
		name   string
		off    int64
		header bool
		err    error
	}
	var first *problem
	seen := map[string]bool{}
	err = ScanFS(fs, dir, prefix, func(e ScanEntry) error {
		if e.Kind == ScanFile {
			seen[e.File] = true
		}
		if e.Kind != ScanCorrupt || e.File == ctl {
			return nil
		}
		kind, seq := parseName(prefix, e.File)
		if kind != nameData && kind != nameCmp {
			return nil
		}
		header := !seen[e.File]
		if header && e.Header.Seq != 0 && e.Header.Seq < seq {
			// A file whose header names an earlier sequence number than
			// its name (a file renamed by another process) breaks the
			// history from that earlier point on.
			seq = e.Header.Seq
		}
		if first == nil || seq < first.seq {
			first = &problem{seq: seq, name: e.File, off: e.Offset, header: header, err: e.Err}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return cuts, err
	}
	if first == nil {
		return cuts, nil
	}
	if err := backup(); err != nil {
		return cuts, err
	}
	if first.header {
		cuts = append(cuts, RepairCut{File: first.name, Action: "moved", Why: first.err.Error()})
		if !dry {
			if err := moveOut(fs, dir, first.name, backupDir); err != nil {
				return cuts, err
			}
		}
	} else {
		cuts = append(cuts, RepairCut{File: first.name, Action: fmt.Sprintf("cut at offset %d (a copy of the whole file kept)", first.off), Why: first.err.Error()})
		if !dry {
			if err := cutFile(fs, filepath.Join(dir, first.name), first.off, filepath.Join(backupDir, first.name)); err != nil {
				return cuts, err
			}
		}
	}
	for _, n := range names {
		kind, seq := parseName(prefix, n)
		if (kind != nameData && kind != nameCmp) || seq <= first.seq || n == first.name {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			continue // removed by finishing a compaction
		}
		cuts = append(cuts, RepairCut{File: n, Action: "moved", Why: "after the corruption in " + first.name})
		if !dry {
			if err := moveOut(fs, dir, n, backupDir); err != nil {
				return cuts, err
			}
		}
	}
	if !dry {
		if err := fs.SyncDir(dir); err != nil {
			return cuts, fmt.Errorf("journal: sync %s: %w", dir, err)
		}
	}
	return cuts, nil
}

// moveOut moves dir/name into backupDir, copying when they lie on
// different file systems.
func moveOut(fs FS, dir, name, backupDir string) error {
	src, dst := filepath.Join(dir, name), filepath.Join(backupDir, name)
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	if err := copyOut(fs, src, dst); err != nil {
		return err
	}
	if err := fs.Remove(src); err != nil {
		return fmt.Errorf("journal: remove %s after keeping a copy: %w", src, err)
	}
	return nil
}

// copyOut copies src (through fs) to dst and syncs dst.
func copyOut(fs FS, src, dst string) error {
	in, err := fs.OpenFile(src, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer in.Close()
	size, err := in.Size()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("journal: keep a copy of %s: %w", src, err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, 0, size)); err != nil {
		out.Close()
		return fmt.Errorf("journal: keep a copy of %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("journal: keep a copy of %s: %w", src, err)
	}
	return out.Close()
}

// cutFile keeps a copy of path in backup and zeroes path from off to its
// end, where recovery then finds the journal ending cleanly.
func cutFile(fs FS, path string, off int64, backup string) error {
	if err := copyOut(fs, path, backup); err != nil {
		return err
	}
	f, err := fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	zero := make([]byte, 1<<20)
	for p := off; p < size; {
		n := min(int64(len(zero)), size-p)
		if _, err := f.WriteAt(zero[:n], p); err != nil {
			return fmt.Errorf("journal: cut %s at offset %d: %w", path, off, err)
		}
		p += n
	}
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", path, err)
	}
	return nil
}
