//go:build !linux

package cli

import "syscall"

// childOf puts a broker started by the demo in a process group of its own,
// so that Ctrl-C reaches only the demo, which stops the brokers in order.
// Without Linux's PR_SET_PDEATHSIG, a SIGKILL of the demo leaves them
// running.
func childOf() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
