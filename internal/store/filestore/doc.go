// Package filestore implements store.Store on two journals: the bindings
// journal (addresses and queues, small and rarely written) and the message
// journal (messages, their queue references, acknowledgements, delivery
// counts and duplicate-detection ids).
//
// A message is one journal record keyed by its id; each queue reference,
// acknowledgement and delivery count is an update of that record, and the
// acknowledgement of the last reference deletes it. The journal therefore
// knows by itself which files still hold live data, and reclaims the rest.
// The record payloads are described in docs/journal-format.md.
package filestore
