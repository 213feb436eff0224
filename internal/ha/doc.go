// Package ha implements shared-store high availability as designed in
// docs/ha.md: which node of a live/backup pair may serve the shared journal
// directory, how the others wait for it, and how the live node makes sure,
// while it serves, that it still may.
//
// # Files and locks
//
// Three files in the journal directory carry everything; nobody deletes,
// renames or truncates them:
//
//   - server.lock holds a 128-byte record (state letter N, L, P or F, the
//     store's node id, the epoch, and who wrote it last) and two byte-range
//     locks: the record lock over its first 4096 bytes, taken briefly around
//     every read and write of the record, and the claim lock on byte 4096,
//     held by a primary on its way to live.
//   - live.lock: its whole-file lock is the right to be live.
//   - backup.lock: its whole-file lock makes a backup first in line.
//
// All locks are internal/lockfile OFD locks, one open file description per
// lock, so two nodes in one process conflict exactly like two processes,
// and a waiting node sleeps in the kernel: it wakes within milliseconds of
// the live process dying, with no polling.
//
// # Use
//
// internal/server runs a node as:
//
//	live, err := ha.Wait(ctx, opts)  // returns holding live.lock, L written
//	open the store with live.Epoch(); replay; open the acceptor
//	live.Monitor()
//	select {
//	case <-ctx.Done():               // stop the broker and store, then live.Stop()
//	case <-live.Lost():              // Fence was already called; close clients, exit 3
//	case <-live.FailbackRequested(): // stop the broker and store, live.HandBack(), Wait again
//	}
//
// Wait is the waiting path (docs/ha.md 2.1 and 2.2) and activation up to
// writing L (2.3 steps 1–3). Errors the node can wait out are logged and
// retried with back-off while OnState reports the node's state; Wait
// returns early only for errors no amount of waiting cures: a damaged
// record, a kernel without OFD locks, an NFS mount with local locking.
//
// Live.Monitor is the lock monitor (section 3): every lock check period it
// asks the kernel whether live.lock is still held by this node and still
// names the file it locked, and rereads the record, which must carry this
// node's node id and epoch. A watchdog covers a monitor stuck in a hung
// file system. On loss the monitor calls Options.Fence synchronously, then
// closes Lost.
//
// # The journal directory
//
// docs/ha.md 1.3 asks that the directory exist, because creating it under
// an unmounted mount point would start a private store on the local disk.
// `tandem create --data` does not create the directory, though, so Wait
// creates it when its parent exists, and reports a missing parent as an
// unmounted store. Two safeguards remain for the unmounted case: a backup
// never activates on a store no primary was ever live on, and an instance
// given a NodeIDFile remembers the store it ran on and refuses both to
// create the directory and to initialise a new state file.
//
// # Logging
//
// Every log line about roles and locks carries a stable event attribute:
// ha_store, ha_store_init, ha_dir_created, ha_queued, ha_waiting,
// ha_paused, ha_yielding, ha_failback_requested, ha_failback_orphaned,
// ha_live, ha_failing_back, ha_failback_refused, ha_failback_ignored,
// ha_handed_back, ha_stopped, ha_lock_lost, ha_record_unreadable,
// ha_monitor, ha_error, ha_config and ha_node_id_file.
package ha
