package store

import "io"

// LargeStore keeps the bodies of large messages, one file each, so they
// are streamed between disk and network instead of held in memory.
// Implementations are safe for concurrent use.
type LargeStore interface {
	// Create starts a new body.
	Create() (LargeWriter, error)
	// Open returns the body id for reading. An open body stays readable
	// after Delete.
	Open(id uint64) (io.ReadCloser, error)
	// Link gives the body id a second name, for a copy of its message (a
	// dead letter, say), and returns it.
	Link(id uint64) (uint64, error)
	// Delete removes the body id.
	Delete(id uint64) error
	// IDs lists the bodies on disk.
	IDs() ([]uint64, error)
}

// LargeWriter writes one new body.
type LargeWriter interface {
	io.Writer
	// ID names the body.
	ID() uint64
	// Commit makes the body durable and readable by ID.
	Commit() error
	// Abort discards it.
	Abort()
}
