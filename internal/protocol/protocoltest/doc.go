// Package protocoltest holds what the protocol adapters' tests share about
// the parts of package protocol they all use, such as the ingest gate.
package protocoltest
