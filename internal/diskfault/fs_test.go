package diskfault

import (
	"errors"
	"os"
	"strings"
	"sync"

	"tandem/internal/journal"
)

// errFrozen is what every mutating call returns after freeze: the disk
// state stays as it was at the simulated crash.
var errFrozen = errors.New("diskfault: simulated crash")

// faultyFS is a journal.FS over the real disk whose failures are decided
// by a rule the test swaps at run time. Unlike journal.FaultFS it tells
// journal data files (*.tj) from files being prepared (*.tj.tmp), so a test
// can fill the disk for new files while the current one still takes writes.
type faultyFS struct {
	base journal.OSFS

	mu     sync.Mutex
	rule   func(op journal.FaultOp, path string) (err error, short bool)
	frozen bool
	fired  int
	// open maps a path to the files open under it, so that a rename
	// (the journal prepares files under a temporary name) renames them.
	open map[string][]*faultyFile
}

var _ journal.FS = (*faultyFS)(nil)

// set installs the fault rule; nil clears it.
func (f *faultyFS) set(rule func(op journal.FaultOp, path string) (error, bool)) {
	f.mu.Lock()
	f.rule = rule
	f.mu.Unlock()
}

// freeze fails every later mutating call, as a process killed now would.
func (f *faultyFS) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

// firedCount says how many calls the rule failed.
func (f *faultyFS) firedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

func (f *faultyFS) check(op journal.FaultOp, path string) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		return errFrozen, false
	}
	if f.rule == nil {
		return nil, false
	}
	err, short := f.rule(op, path)
	if err != nil {
		f.fired++
	}
	return err, short
}

// isData reports a journal data file of the message journal, as opposed to
// one being prepared or the bindings journal.
func isData(path string) bool {
	return strings.HasSuffix(path, ".tj") && strings.Contains(path, "tandem-data")
}

// isPreparing reports a message journal file being prepared.
func isPreparing(path string) bool {
	return strings.HasSuffix(path, ".tj.tmp") && strings.Contains(path, "tandem-data")
}

func (f *faultyFS) OpenFile(name string, flag int, perm os.FileMode) (journal.File, error) {
	if flag&os.O_CREATE != 0 {
		if err, _ := f.check(journal.FaultCreate, name); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff := &faultyFile{File: file, fs: f, name: name}
	f.mu.Lock()
	if f.open == nil {
		f.open = map[string][]*faultyFile{}
	}
	f.open[name] = append(f.open[name], ff)
	f.mu.Unlock()
	return ff, nil
}

func (f *faultyFS) Remove(name string) error {
	if err, _ := f.check(journal.FaultRemove, name); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return f.base.Remove(name)
}

func (f *faultyFS) Rename(oldpath, newpath string) error {
	if err, _ := f.check(journal.FaultRename, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := f.base.Rename(oldpath, newpath); err != nil {
		return err
	}
	f.mu.Lock()
	for _, ff := range f.open[oldpath] {
		ff.name = newpath
	}
	f.open[newpath] = append(f.open[newpath], f.open[oldpath]...)
	delete(f.open, oldpath)
	f.mu.Unlock()
	return nil
}

func (f *faultyFS) ReadDir(dir string) ([]string, error)        { return f.base.ReadDir(dir) }
func (f *faultyFS) MkdirAll(dir string, perm os.FileMode) error { return f.base.MkdirAll(dir, perm) }

func (f *faultyFS) SyncDir(dir string) error {
	if err, _ := f.check(journal.FaultSyncDir, dir); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return f.base.SyncDir(dir)
}

type faultyFile struct {
	journal.File
	fs   *faultyFS
	name string
}

// path is the file's current name.
func (ff *faultyFile) path() string {
	ff.fs.mu.Lock()
	defer ff.fs.mu.Unlock()
	return ff.name
}

func (ff *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	err, short := ff.fs.check(journal.FaultWrite, ff.path())
	if err == nil {
		return ff.File.WriteAt(p, off)
	}
	n := 0
	if short && !errors.Is(err, errFrozen) && len(p) > 1 {
		n, _ = ff.File.WriteAt(p[:len(p)/2], off)
	}
	return n, &os.PathError{Op: "write", Path: ff.name, Err: err}
}

func (ff *faultyFile) Datasync() error {
	if err, _ := ff.fs.check(journal.FaultSync, ff.path()); err != nil {
		return &os.PathError{Op: "fdatasync", Path: ff.name, Err: err}
	}
	return ff.File.Datasync()
}

func (ff *faultyFile) Truncate(size int64) error {
	if err, _ := ff.fs.check(journal.FaultTruncate, ff.path()); err != nil {
		return &os.PathError{Op: "truncate", Path: ff.name, Err: err}
	}
	return ff.File.Truncate(size)
}
