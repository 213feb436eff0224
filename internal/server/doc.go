// Package server assembles a running broker from its configuration: it
// opens the store, starts the broker core, the protocol adapters and the
// client listener, and stops them in the reverse order. It is the only
// package that imports broadly; everything it wires declares the small
// interfaces it needs.
package server
