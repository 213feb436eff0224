package paging

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes a page file's data without its unchanged metadata.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
