//go:build !linux

package cli

import "golang.org/x/sys/unix"

// fdIsTerminal reports whether fd is a terminal (it answers TIOCGETA, the
// BSD and macOS spelling of TCGETS).
func fdIsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TIOCGETA)
	return err == nil
}
