//go:build !linux

package journal

import "os"

// datasync falls back to fsync(2) where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }
