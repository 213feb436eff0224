// Package lockfile provides exclusive advisory locks on files, the primitive
// that shared-store high availability is built on: a live broker holds a lock
// in the journal directory, and a backup blocks on the same lock until the
// kernel hands it over.
//
// # Which kernel lock, and why
//
// On Linux a Lock is an open file description (OFD) lock, taken with fcntl
// F_OFD_SETLK, F_OFD_SETLKW and F_OFD_GETLK. Such a lock belongs to the open
// file description that took it, not to the process, which gives three
// properties the HA design relies on:
//
//   - Two Locks on the same path conflict even inside one process, because
//     each Lock opens its own description. Tests can therefore play live and
//     backup in one process, and a node cannot accidentally "share" a lock
//     with itself.
//   - Closing some other descriptor of the same file does not release the
//     lock. Classic POSIX locks (F_SETLK) are dropped when the process closes
//     any descriptor of the file — one stray os.Open plus Close of the lock
//     file, by us or by a library, and a second live could start. That
//     pitfall is why classic POSIX locks are never used here.
//   - The kernel releases the lock the moment the last descriptor of the
//     description goes away, including when the process is killed with
//     SIGKILL, and wakes a waiter blocked in F_OFD_SETLKW at once. A backup
//     therefore takes over within milliseconds of the live dying, with no
//     polling.
//
// flock(2) has the same per-description semantics but is not used on Linux:
// over NFS it is either emulated with byte-range locks or kept local to one
// client, depending on kernel and mount options, so two hosts could both
// "hold" it. Byte-range locks, OFD locks included, are forwarded to an NFSv4
// server.
//
// Other Unix systems get a flock fallback (lock_flock.go). It is adequate for
// development on a laptop and nothing more: it cannot lock byte ranges, its
// blocking Lock polls every few tens of milliseconds instead of sleeping in
// the kernel, Verify cannot tell our lock from someone else's, and flock
// must not be trusted on network file systems. Production shared-store HA
// runs on Linux.
//
// # Cancelling a lock wait
//
// F_OFD_SETLKW has no timeout, and Go installs all of its signal handlers
// with SA_RESTART, for which the kernel transparently restarts an
// interrupted F_OFD_SETLKW instead of failing it with EINTR. Simply
// signalling the waiting thread therefore does nothing visible. Lock cancels
// a wait in three steps instead:
//
//  1. The wait runs on a goroutine locked to its OS thread, on a private
//     duplicate of the Lock's descriptor (same open file description, so a
//     granted lock belongs to the Lock).
//  2. On cancellation the duplicate's descriptor number is atomically
//     re-pointed with dup3 at the read end of a pipe created before the
//     wait began.
//  3. The thread is sent SIGURG with tgkill. SIGURG is the signal the Go
//     runtime already uses for preemption, so a stray one is harmless. The
//     kernel restarts the fcntl, which now looks the descriptor number up
//     again, finds a read-only pipe, and fails at once with EBADF because a
//     write lock needs a writable descriptor.
//
// Whatever the ordering of these steps against the waiting goroutine, the
// wait ends: either it had not yet entered the kernel and meets the pipe
// directly, or it is interrupted and restarted onto the pipe. If the lock
// was granted in the instant before the swap, it is released again, so a
// Lock call that returns an error never leaves the lock held.
//
// # Verifying a held lock
//
// Verify asks the kernel rather than trusting memory. It opens the path
// anew, so a lock file that was deleted or replaced (the lock then sits on
// an inode nobody else will ever open) is detected by comparing file
// identities, and it queries F_OFD_GETLK twice: from the Lock's own
// description, where any conflicting lock must belong to somebody else, and
// from the fresh description, where a lock must be visible at all. Neither
// query changes lock state, so Verify can never silently re-acquire a lock
// that had been lost.
package lockfile
