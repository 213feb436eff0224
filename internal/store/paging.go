package store

import "tandem/internal/message"

// PagePosition is a place in an address's page files: the page number and
// the byte offset of a record in it.
type PagePosition struct {
	Page   uint64
	Offset uint64
}

// Less reports whether p comes before q.
func (p PagePosition) Less(q PagePosition) bool {
	return p.Page < q.Page || (p.Page == q.Page && p.Offset < q.Offset)
}

// PagedMessage is one message spilled to an address's page files, with the
// queues it was routed to when it was paged.
type PagedMessage struct {
	Message *message.Message
	Queues  []uint64
	// Pos is where the record starts; Next is where the one after it starts.
	Pos, Next PagePosition
}

// PageStore holds one address's paged messages in order. Implementations
// are safe for concurrent use.
type PageStore interface {
	// Append adds a message at the end. When sync is true done runs once
	// the record is on stable storage; done must not block.
	Append(m *message.Message, queues []uint64, sync bool, done func(error))
	// Read returns records from 'from' on, in order, until about maxBytes
	// of them or the end of what is written. An empty result means there is
	// nothing written past from yet.
	Read(from PagePosition, maxBytes int) ([]PagedMessage, error)
	// Start is the position of the first record the store still holds.
	Start() PagePosition
	// End is the position after the last appended record.
	End() PagePosition
	// Release deletes the page files wholly before pos.
	Release(pos PagePosition) error
	// Close flushes pending appends and closes the files.
	Close() error
}

// Pager opens the page stores of addresses.
type Pager interface {
	// Open returns the page store of an address, creating it if needed.
	Open(address string) (PageStore, error)
	// Addresses lists the addresses that have page files on disk.
	Addresses() ([]string, error)
}
