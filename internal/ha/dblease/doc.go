// Package dblease decides which node of a live/backup pair serves a store
// kept in PostgreSQL, as internal/ha does for a store on a shared file
// system, with a lease row instead of file locks. docs/ha.md ("The
// database lease") is the design.
//
// # The lease row
//
// One row of the node-manager table holds the store's node id, its state
// (N new, L live, P paused, F failback requested: Artemis' letters), the
// epoch, the holder and the lease's expiry. Every time in it is the
// database's clock (clock_timestamp()); a broker never sends its own clock
// to the database, so a broker whose clock is wrong cannot take over early
// or late. Acquiring, renewing and taking over are conditional UPDATEs:
// only one node can win, and every acquisition increments the epoch.
//
// # Fencing
//
// The table comes with a PL/pgSQL function, NAME_fence(epoch), that every
// write transaction of the store calls first. It locks the lease row FOR
// KEY SHARE while the epoch is current and RAISEs (SQLSTATE TF001) when it
// is not, which aborts the whole transaction, even a pipelined one. A
// takeover locks the row FOR UPDATE before it increments the epoch, so it
// waits for every write transaction of the old epoch still in flight; from
// the moment it commits, nothing of the old epoch can commit.
//
// # The live node
//
// A live node renews every renew period. It counts its lease, on its own
// monotonic clock, from when it sent its last successful renewal, and
// stops confirming (Live.Valid turns false) and steps down a safety margin
// before the lease could expire in the database. A waiting node polls the
// row and, as a fast path beside it, blocks on an advisory lock that the
// live's lease session holds: when the live process dies the lock is
// released within milliseconds, and the waiting node may take over before
// the expiry if the database confirms that the holder's session is gone.
package dblease
