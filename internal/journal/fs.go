package journal

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"tandem/internal/fsutil"
)

// FS is the file-system seam of the journal. The journal only ever touches the
// directory through it, so tests can inject faults (see FaultFS) and other
// packages can run the journal on something other than the OS.
//
// Every name passed to an FS method is a full path.
type FS interface {
	// OpenFile opens or creates a file, like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove deletes a file.
	Remove(name string) error
	// Rename atomically replaces newpath with oldpath.
	Rename(oldpath, newpath string) error
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates dir and its parents if missing.
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the entries of dir (creations, renames, removals) durable.
	SyncDir(dir string) error
}

// File is an open journal file. The journal only uses positional I/O, so the
// same File may be read by several goroutines at once.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Datasync makes the file's data durable (fdatasync(2) where available).
	Datasync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// OSFS is the real operating-system file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// OpenDirect implements DirectFS.
func (OSFS) OpenDirect(name string) (File, error) {
	f, err := openDirect(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// SyncDir implements FS by fsync(2)ing the directory itself, which is how Linux
// makes renames and unlinks durable.
func (OSFS) SyncDir(dir string) error { return fsutil.SyncDir(dir) }

type osFile struct{ f *os.File }

func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Close() error                             { return o.f.Close() }
func (o osFile) Datasync() error                          { return datasync(o.f) }

func (o osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// ErrInjected is the default error returned by a fault injected with FaultFS.
var ErrInjected = errors.New("journal: injected fault")

// ErrSimulatedCrash is returned by every mutating call of a FaultFS after the
// crash point set with CrashAfter: nothing more reaches the disk, as if the
// process had died there.
var ErrSimulatedCrash = errors.New("journal: simulated crash")

// FaultOp names the FS operation a Fault applies to.
type FaultOp uint8

// The operations FaultFS can fail.
const (
	FaultWrite    FaultOp = iota + 1 // File.WriteAt
	FaultSync                        // File.Datasync
	FaultTruncate                    // File.Truncate
	FaultCreate                      // FS.OpenFile with os.O_CREATE
	FaultRename                      // FS.Rename
	FaultRemove                      // FS.Remove
	FaultSyncDir                     // FS.SyncDir
)

// String returns the name of the operation.
func (op FaultOp) String() string {
	switch op {
	case FaultWrite:
		return "write"
	case FaultSync:
		return "sync"
	case FaultTruncate:
		return "truncate"
	case FaultCreate:
		return "create"
	case FaultRename:
		return "rename"
	case FaultRemove:
		return "remove"
	case FaultSyncDir:
		return "syncdir"
	}
	return fmt.Sprintf("FaultOp(%d)", uint8(op))
}

// Fault describes one injected failure.
type Fault struct {
	Op FaultOp
	// Path restricts the fault to paths containing this substring; empty matches all.
	Path string
	// Skip lets this many matching calls succeed before the fault fires.
	Skip int
	// Count is how many calls fail once the fault fires; 0 means every later call.
	Count int
	// Err is the error returned; nil means ErrInjected. Use syscall.ENOSPC to
	// simulate a full disk.
	Err error
	// Short makes a failing WriteAt write the first half of its buffer before
	// returning the error, the way a write interrupted by a full disk does.
	Short bool
}

// FaultFS wraps an FS and injects failures into it: write, fsync, rename and
// friends can be made to fail, writes can be cut short, and CrashAfter freezes
// the disk state after a given number of mutating calls. It is safe for
// concurrent use. It lives in the package proper, not in a _test file, so other
// packages' tests can drive a journal into its failure paths too.
type FaultFS struct {
	base FS

	mu      sync.Mutex
	faults  []*faultState
	ops     int
	crashAt int // mutating calls allowed before the simulated crash; -1 = never
}

type faultState struct {
	Fault
	seen  int
	fired int
}

var _ FS = (*FaultFS)(nil)

// NewFaultFS returns a FaultFS over base (OSFS when base is nil) with no faults.
func NewFaultFS(base FS) *FaultFS {
	if base == nil {
		base = OSFS{}
	}
	return &FaultFS{base: base, crashAt: -1}
}

// Inject adds a fault.
func (f *FaultFS) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &faultState{Fault: ft})
}

// Clear removes all faults and any pending crash point.
func (f *FaultFS) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
	f.crashAt = -1
}

// CrashAfter lets n more mutating calls (writes, syncs, truncates, creates,
// renames, removes, directory syncs) through and fails every one after that with
// ErrSimulatedCrash. n < 0 cancels the crash point.
func (f *FaultFS) CrashAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		f.crashAt = -1
		return
	}
	f.crashAt = f.ops + n
}

// Ops returns the number of mutating calls seen so far.
func (f *FaultFS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// check counts a mutating call and decides whether it fails.
func (f *FaultFS) check(op FaultOp, path string) (err error, short bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashAt >= 0 && f.ops >= f.crashAt {
		return ErrSimulatedCrash, false
	}
	f.ops++
	for _, ft := range f.faults {
		if ft.Op != op || !strings.Contains(path, ft.Path) {
			continue
		}
		ft.seen++
		if ft.seen <= ft.Skip || (ft.Count > 0 && ft.fired >= ft.Count) {
			continue
		}
		ft.fired++
		err := ft.Err
		if err == nil {
			err = ErrInjected
		}
		return err, ft.Short
	}
	return nil, false
}

func pathErr(op, path string, err error) error { return &os.PathError{Op: op, Path: path, Err: err} }

// OpenFile implements FS.
func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if err, _ := f.check(FaultCreate, name); err != nil {
			return nil, pathErr("open", name, err)
		}
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, name: name, File: file}, nil
}

// OpenDirect implements DirectFS when the wrapped FS does; its handles
// fail like the others.
func (f *FaultFS) OpenDirect(name string) (File, error) {
	d, ok := f.base.(DirectFS)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	file, err := d.OpenDirect(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, name: name, File: file}, nil
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if err, _ := f.check(FaultRemove, name); err != nil {
		return pathErr("remove", name, err)
	}
	return f.base.Remove(name)
}

// Rename implements FS.
func (f *FaultFS) Rename(oldpath, newpath string) error {
	if err, _ := f.check(FaultRename, oldpath+" "+newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return f.base.Rename(oldpath, newpath)
}

// ReadDir implements FS.
func (f *FaultFS) ReadDir(dir string) ([]string, error) { return f.base.ReadDir(dir) }

// MkdirAll implements FS.
func (f *FaultFS) MkdirAll(dir string, perm os.FileMode) error { return f.base.MkdirAll(dir, perm) }

// SyncDir implements FS.
func (f *FaultFS) SyncDir(dir string) error {
	if err, _ := f.check(FaultSyncDir, dir); err != nil {
		return pathErr("fsync", dir, err)
	}
	return f.base.SyncDir(dir)
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (ff *faultFile) WriteAt(p []byte, off int64) (int, error) {
	err, short := ff.fs.check(FaultWrite, ff.name)
	if err == nil {
		return ff.File.WriteAt(p, off)
	}
	n := 0
	if short && len(p) > 1 {
		n, _ = ff.File.WriteAt(p[:len(p)/2], off)
	}
	return n, pathErr("write", ff.name, err)
}

func (ff *faultFile) Datasync() error {
	if err, _ := ff.fs.check(FaultSync, ff.name); err != nil {
		return pathErr("fdatasync", ff.name, err)
	}
	return ff.File.Datasync()
}

func (ff *faultFile) Truncate(size int64) error {
	if err, _ := ff.fs.check(FaultTruncate, ff.name); err != nil {
		return pathErr("truncate", ff.name, err)
	}
	return ff.File.Truncate(size)
}
