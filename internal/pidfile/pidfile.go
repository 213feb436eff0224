package pidfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Sentinel errors.
var (
	// ErrRunning is returned by Acquire when another process holds the
	// file; the error names its process id.
	ErrRunning = errors.New("already running")
	// ErrNotRunning is returned by Running when no process holds the file.
	ErrNotRunning = errors.New("not running")
)

// HeldError is Acquire's error when another process holds the file.
type HeldError struct {
	Path string
	PID  int
}

func (e *HeldError) Error() string { return fmt.Sprintf("process %d holds %s", e.PID, e.Path) }

// Is makes a HeldError match ErrRunning.
func (e *HeldError) Is(target error) bool { return target == ErrRunning }

// File is a held pid file.
type File struct {
	path string
	f    *os.File
}

// Acquire writes this process's id into path and locks it until Release
// or the process's end. When another live process holds it, Acquire fails
// with a *HeldError, which matches ErrRunning.
func Acquire(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the pid file: %w", err)
	}
	held, err := tryLock(f, true)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the pid file %s: %w", path, err)
	}
	if !held {
		pid, _ := readPID(f)
		f.Close()
		return nil, &HeldError{Path: path, PID: pid}
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write the pid file %s: %w", path, err)
	}
	return &File{path: path, f: f}, nil
}

// Release removes the file and drops the lock.
func (p *File) Release() {
	if p == nil || p.f == nil {
		return
	}
	_ = os.Remove(p.path) // removed while still locked, so no one reads a stale id
	p.f.Close()
	p.f = nil
}

// Running returns the id of the process that holds path, or an error
// wrapping ErrNotRunning when none does (no file, or a file left by a
// process that died).
func Running(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w: there is no %s", ErrNotRunning, path)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	free, err := tryLock(f, false)
	if err != nil {
		return 0, fmt.Errorf("lock the pid file %s: %w", path, err)
	}
	if free {
		return 0, fmt.Errorf("%w: %s is left from a process that ended", ErrNotRunning, path)
	}
	pid, err := readPID(f)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return pid, nil
}

// readPID reads the process id a pid file holds.
func readPID(f *os.File) (int, error) {
	b := make([]byte, 32)
	n, err := f.ReadAt(b, 0)
	if n == 0 && err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%q is not a process id", strings.TrimSpace(string(b[:n])))
	}
	return pid, nil
}
