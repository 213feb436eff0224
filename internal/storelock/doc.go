// Package storelock is the lock every broker process takes on its store
// before it reads a byte of it, whatever its HA policy: an exclusive
// internal/lockfile lock on a file named tandem.lock in each of the
// store's directories (journal, bindings, paging, large messages). A
// second process pointed at the same store, by the same instance started
// twice or by another instance given the same --data, fails to take it and
// is told who holds it and what to do, as Artemis and KahaDB do with their
// lock files.
//
// The holder writes who it is into the lock file (process id, host,
// instance directory, broker name, since when), so that a refused process
// can name it. The kernel releases the lock the moment the holder dies, so
// a crash never leaves a stale lock behind; what the file says is only
// informational, and a file nobody holds is simply taken over.
//
// Shared-store HA (internal/ha) decides which node of a pair may be live;
// the live node then takes this lock too, so that a standalone broker or a
// data tool cannot open the pair's store while it serves.
package storelock
