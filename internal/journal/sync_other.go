//go:build !linux

package journal

import (
	"errors"
	"os"
)

// datasync falls back to fsync(2) where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }

// openDirect reports that direct I/O is not used on this system.
func openDirect(name string) (*os.File, error) {
	return nil, &os.PathError{Op: "open direct", Path: name, Err: errors.ErrUnsupported}
}
