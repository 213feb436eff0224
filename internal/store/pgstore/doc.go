// Package pgstore implements the broker's stores on PostgreSQL: the
// message store (store.Store), the bodies of large messages
// (store.LargeStore, in chunks) and the page store of addresses in paging
// mode (store.Pager), all in one database, so that a live/backup pair
// shares nothing but it. docs/database-format.md describes the tables.
//
// # Writing
//
// Every write goes through one writer goroutine (writer.go). It takes
// everything pending, from every producer, consumer, page store and large
// message, builds one transaction of it, and sends that as one pipelined
// round trip: BEGIN, the fence, the progress row, a few multi-row
// statements (INSERT ... SELECT FROM unnest($1::bigint[], ...)), COMMIT.
// A send is confirmed only after its transaction committed (a broker-style
// group commit, not a commit per message).
//
// The fence is the lease's PL/pgSQL function (internal/ha/dblease): it
// RAISEs when the store's epoch is no longer live, which aborts the whole
// pipelined transaction. A transaction whose COMMIT was in flight when the
// connection broke has an unknown outcome; the writer reconnects and reads
// the progress row, which every transaction updates with its group number,
// to learn whether it committed. Fence stops the writer locally: nothing
// is confirmed or written after it returns.
//
// Messages are stored in the shared encoding of internal/message, the
// same bytes the file journal holds.
package pgstore
