package filestore

import "tandem/internal/journal"

// SyncLatency returns the message journal's fdatasync latency histogram,
// for the metrics endpoint.
func (s *Store) SyncLatency() journal.SyncLatency { return s.msgs.SyncLatency() }
