// Package store defines the broker's persistence contract: the durable
// operations the broker performs (create and delete addresses and queues,
// add a message with its queue references, acknowledge, update a delivery
// count, remember a duplicate-detection id) grouped in atomic batches, and
// the State a store hands back on start-up.
//
// The broker is the only writer. It decides what is durable; a Store only
// makes a Batch durable, in order, and recovers it. Implementations:
// filestore (on the journal), pgstore (on PostgreSQL) and memstore (in
// memory, for tests and for brokers with persistence disabled). All pass
// the conformance suite in storetest.
package store
