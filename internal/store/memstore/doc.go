// Package memstore implements store.Store in memory. It backs brokers with
// persistence disabled and tests that need a store without a disk; a
// memstore keeps its state across a broker restart within one process, so
// tests can restart a broker on it.
package memstore
