package cli

import "syscall"

// childOf makes a broker started by the demo die with the demo's thread
// (PR_SET_PDEATHSIG), so that even a SIGKILL of the demo, which runs no
// cleanup, leaves no broker behind; and puts it in a process group of its
// own, so that Ctrl-C reaches only the demo, which stops the brokers in
// order.
func childOf() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
