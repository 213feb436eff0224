package journal

import (
	"os"
	"syscall"
)

// datasync flushes f's data without forcing a metadata flush the data does not
// need (fdatasync(2)). It goes through SyscallConn rather than Fd so the file
// stays in the runtime's non-blocking mode bookkeeping.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// openDirect opens name for direct I/O.
func openDirect(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|syscall.O_DIRECT, 0)
}
