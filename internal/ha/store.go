package ha

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tandem/internal/fsutil"
	"tandem/internal/lockfile"
)

// ErrDirMissing is wrapped by the error about a journal directory that does
// not exist and cannot safely be created. Waiting can cure it (the shared
// store gets mounted), so Wait retries.
var ErrDirMissing = errors.New("ha: journal directory does not exist")

// ErrWrongStore is wrapped when this instance remembers a store (its node
// id file) but the directory holds none: most likely the wrong file system
// is mounted, or none. Wait retries until the operator fixes the mount or
// removes the node id file.
var ErrWrongStore = errors.New("ha: not the store this instance last ran on")

// ErrLocalLocking is wrapped by the error about an NFS mount whose byte-range
// locks stay local to each client. Every host would get live.lock there, so
// Wait refuses it outright.
var ErrLocalLocking = errors.New("ha: the file system does not arbitrate locks between hosts")

// errRecordBusy is wrapped when the record lock could not be taken in time.
var errRecordBusy = errors.New("ha: record lock not obtained in time")

// store is one node's set of open lock files in a journal directory. Each
// lockfile.Lock has its own open file description, so the node's locks
// conflict with every other node's, in this process or another.
type store struct {
	dir    string
	live   *lockfile.Lock // live.lock: the right to be live
	backup *lockfile.Lock // backup.lock: first in line among backups
	record *lockfile.Lock // server.lock [0, 4096): guards every record access
	claim  *lockfile.Lock // server.lock [4096, 4097): a primary on its way to live
}

// openStore opens the four locks of dir without taking any. The directory
// must have been prepared by prepareDir.
func openStore(dir string) (*store, error) {
	s := &store{dir: dir}
	var err error
	open := func(name string, start, length int64) *lockfile.Lock {
		if err != nil {
			return nil
		}
		var l *lockfile.Lock
		l, err = lockfile.OpenRange(filepath.Join(dir, name), start, length)
		return l
	}
	s.live = open(liveFileName, 0, 0)
	s.backup = open(backupFileName, 0, 0)
	s.record = open(stateFileName, recordLockStart, recordLockLen)
	s.claim = open(stateFileName, claimLockStart, claimLockLen)
	if err != nil {
		s.close()
		return nil, explain(err)
	}
	return s, nil
}

// close releases every lock and closes every file. Closing the descriptor
// releases its OFD lock in the kernel, so nothing can stay locked behind a
// closed store.
func (s *store) close() error {
	var errs []error
	for _, l := range []*lockfile.Lock{s.live, s.backup, s.record, s.claim} {
		if l != nil {
			errs = append(errs, l.Close())
		}
	}
	return errors.Join(errs...)
}

// lockRecord takes the record lock, waiting at most timeout. The record
// lock is a leaf (docs/ha.md 1.1): callers never wait for another lock
// while holding it, so a bounded wait here cannot deadlock.
func (s *store) lockRecord(ctx context.Context, timeout time.Duration) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.record.Lock(tctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s held by another node for more than %v", errRecordBusy, s.record.Path(), timeout)
	}
	return explain(err)
}

// read returns the record, read under the record lock. empty reports a
// file nobody has initialised yet.
func (s *store) read(ctx context.Context, timeout time.Duration) (rec Record, empty bool, err error) {
	if err := s.lockRecord(ctx, timeout); err != nil {
		return Record{}, false, err
	}
	defer s.record.Unlock()
	rec, empty, err = readRecordAt(s.record.File())
	return rec, empty, explain(err)
}

// update is a read-modify-write of the record under the record lock. fn
// sees the current record and returns whether to write it back; a write
// is one pwrite of the whole record followed by fsync, so that no reader
// ever sees half of it and it is on disk before the lock is released.
func (s *store) update(ctx context.Context, timeout time.Duration, fn func(rec *Record) (bool, error)) (Record, error) {
	if err := s.lockRecord(ctx, timeout); err != nil {
		return Record{}, err
	}
	defer s.record.Unlock()
	f := s.record.File()
	rec, empty, err := readRecordAt(f)
	if err != nil {
		return Record{}, explain(err)
	}
	if empty {
		return Record{}, fmt.Errorf("%w: %s is empty; it was truncated or replaced while in use", ErrDamaged, f.Name())
	}
	write, err := fn(&rec)
	if err != nil || !write {
		return rec, err
	}
	return rec, explain(writeRecord(f, rec))
}

// writeRecord writes rec at offset 0 and syncs it.
func writeRecord(f *os.File, rec Record) error {
	b, err := rec.marshal()
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("ha: write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ha: sync %s: %w", f.Name(), err)
	}
	return nil
}

// loadOrInit reads the record, creating it if server.lock is empty. The
// creation happens under the record lock and only on an empty file, so two
// nodes starting at once agree on one node id. remembered is the node id
// of the instance's node id file, if any: an instance that ran on a store
// before refuses to start a new one, because an empty state file then
// means the wrong file system is mounted.
func (s *store) loadOrInit(ctx context.Context, timeout time.Duration, fresh Record, remembered, idFile string) (rec Record, created bool, err error) {
	if err := s.lockRecord(ctx, timeout); err != nil {
		return Record{}, false, err
	}
	defer s.record.Unlock()
	f := s.record.File()
	rec, empty, err := readRecordAt(f)
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			return Record{}, false, fmt.Errorf("%s is damaged (%w); if no tandem node uses this store, move it away and start again (the store gets a new node id)", f.Name(), err)
		}
		return Record{}, false, explain(err)
	}
	if !empty {
		return rec, false, nil
	}
	if remembered != "" {
		return Record{}, false, fmt.Errorf("%w: this instance last ran on store %s but %s has no state file: is the right file system mounted? (remove %s to start a new store)", ErrWrongStore, remembered, s.dir, idFile)
	}
	if fresh.NodeID, err = newNodeID(); err != nil {
		return Record{}, false, err
	}
	if err := writeRecord(f, fresh); err != nil {
		return Record{}, false, explain(err)
	}
	// The node id must survive a power cut, so the directory entry of
	// server.lock is synced too.
	if err := fsutil.SyncDir(s.dir); err != nil {
		return Record{}, false, explain(err)
	}
	return fresh, true, nil
}

// prepareDir makes sure the journal directory exists. A missing directory
// is created only when its parent exists and this instance does not
// remember another store: `tandem create` does not create --data
// directories, so the first start has to, while a missing parent most
// likely means the shared file system is not mounted, and creating it would
// put a private store on the local disk. It reports whether it created dir.
func prepareDir(dir, remembered, idFile string) (created bool, err error) {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("journal directory %s is not a directory", dir)
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, explain(err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if pfi, perr := os.Stat(parent); perr != nil || !pfi.IsDir() {
		return false, fmt.Errorf("%w: journal directory %s does not exist, nor does its parent %s: is the shared store mounted?", ErrDirMissing, dir, parent)
	}
	if remembered != "" {
		return false, fmt.Errorf("%w: this instance last ran on store %s but journal directory %s does not exist: is the shared store mounted? (remove %s to start a new store)", ErrWrongStore, remembered, dir, idFile)
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return false, explain(fmt.Errorf("create journal directory: %w", err))
	}
	return true, nil
}

// explain appends what to check to an error about the lock files, so the
// log line tells the operator what to fix (docs/ha.md, 5).
func explain(err error) error {
	var hint string
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		hint = "is the shared store mounted?"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		hint = fmt.Sprintf("the lock files need a directory writable by user %s", currentUser())
	case errors.Is(err, syscall.EROFS):
		hint = "the file system is mounted read-only; the lock files need a writable directory"
	case errors.Is(err, syscall.ESTALE), errors.Is(err, syscall.EIO):
		hint = "the shared file system is failing; check the mount and the file server"
	case errors.Is(err, syscall.ENOLCK):
		hint = "the file system refused the lock: on NFS use version 4.1+ and no nolock"
	default:
		return err
	}
	return fmt.Errorf("%w; %s", err, hint)
}

// currentUser names the effective user for error messages.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Geteuid())
}

// isFatal reports whether waiting cannot cure err: a damaged record, a
// kernel without OFD locks (EINVAL from fcntl), a system whose lockfile
// fallback cannot lock byte ranges (errors.ErrUnsupported: server.lock
// needs two), an NFS mount with local locking, or invalid options. Wait
// returns these instead of retrying.
func isFatal(err error) bool {
	return errors.Is(err, ErrDamaged) || errors.Is(err, ErrLocalLocking) ||
		errors.Is(err, ErrInvalidOptions) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, errors.ErrUnsupported)
}

// checkMount refuses a journal directory on an NFS mount with local
// locking (nolock, local_lock=posix or local_lock=all): byte-range locks
// would then be kept by each client, every host would get live.lock, and
// two lives would start. Systems without /proc/self/mountinfo are not
// checked.
func checkMount(dir string) error {
	path, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil // prepareDir reports an unusable directory
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	m, ok := mountOf(bufio.NewScanner(f), path)
	if !ok || !strings.HasPrefix(m.fstype, "nfs") {
		return nil
	}
	for _, o := range m.options {
		if o == "nolock" || o == "local_lock=posix" || o == "local_lock=all" {
			return fmt.Errorf("%w: %s is on an NFS mount with local locking (%s): shared-store HA needs the server to arbitrate locks; remount without nolock/local_lock", ErrLocalLocking, dir, o)
		}
	}
	return nil
}

// mount is the part of a mountinfo line checkMount needs.
type mount struct {
	point   string
	fstype  string
	options []string // per-mount and per-superblock options together
}

// mountOf returns the mount that contains path: the entry with the
// longest mount point that is a prefix of path. Later entries win ties,
// since a later mount on the same point hides the earlier one.
func mountOf(sc *bufio.Scanner, path string) (mount, bool) {
	var best mount
	found := false
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if !ok || !within(path, m.point) {
			continue
		}
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

// within reports whether path is point or lies below it.
func within(path, point string) bool {
	return point == "/" || path == point || strings.HasPrefix(path, point+"/")
}

// parseMountinfo parses one line of /proc/self/mountinfo (proc(5)):
// "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS".
func parseMountinfo(line string) (mount, bool) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+2 >= len(f) {
		return mount{}, false
	}
	m := mount{point: unescapeMount(f[4]), fstype: f[sep+1]}
	m.options = strings.Split(f[5], ",")
	if len(f) > sep+3 {
		m.options = append(m.options, strings.Split(f[sep+3], ",")...)
	}
	return m, true
}

// unescapeMount undoes the octal escapes (\040 for a space and so on) of
// mount points in mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
