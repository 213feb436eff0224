package store

import (
	"errors"

	"tandem/internal/message"
)

// Sentinel errors shared by every Store implementation.
var (
	// ErrClosed is returned by a Store used after Close.
	ErrClosed = errors.New("store: closed")
	// ErrFenced is returned once a Store has been fenced: another node owns
	// the shared store now, and nothing more may be written.
	ErrFenced = errors.New("store: fenced by a newer live node")
)

// Queue is the durable definition of a queue (or of a durable topic
// subscription, which is a multicast queue).
type Queue struct {
	ID          uint64
	Name        string
	Address     string
	RoutingType message.RoutingType
	Filter      string
	// MaxConsumers is -1 for unlimited.
	MaxConsumers int
	Exclusive    bool
	LastValue    bool
	// LastValueKey names the property that identifies a last value; empty
	// means the standard _AMQ_LVQ_NAME.
	LastValueKey string
	// AutoCreated queues may be deleted automatically once empty and unused.
	AutoCreated bool
	// Configured queues come from broker.yaml rather than from a client.
	Configured bool
}

// Address is the durable definition of an address.
type Address struct {
	ID          uint64
	Name        string
	Anycast     bool
	Multicast   bool
	AutoCreated bool
	Configured  bool
}

// Ref is one queue's reference to a stored message.
type Ref struct {
	QueueID       uint64
	DeliveryCount uint32
}

// StoredMessage is a durable message with the queues still holding it.
type StoredMessage struct {
	Message *message.Message
	Refs    []Ref
}

// DuplicateID is one remembered duplicate-detection id.
type DuplicateID struct {
	// RecordID identifies the stored entry so it can be forgotten later.
	RecordID uint64
	Address  string
	ID       string
}

// PageCursor records how far the broker has moved an address's paged
// messages back into the journal: every page record before (Page, Offset)
// is in the journal (or was consumed), every one from there on is still
// only in the page files.
type PageCursor struct {
	// RecordID identifies the stored cursor so the next one can replace it.
	RecordID uint64
	Address  string
	Page     uint64
	Offset   uint64
}

// State is everything a Store recovered at start-up, in the order it was
// first written.
type State struct {
	Addresses    []Address
	Queues       []Queue
	Messages     []StoredMessage
	DuplicateIDs []DuplicateID
	// PageCursors holds at most one cursor per address.
	PageCursors []PageCursor
	// NextID is the smallest id that has never been handed out.
	NextID uint64
}

// Store makes batches of broker operations durable and recovers them.
type Store interface {
	// Load returns the recovered state. It is called once, before the first
	// Commit.
	Load() (*State, error)
	// NewID hands out an id unique within the store, across restarts.
	NewID() uint64
	// Commit applies b atomically. When sync is true, done runs only after
	// the batch is on stable storage. done runs exactly once, in commit order,
	// and must not block. The batch must not be modified after Commit.
	Commit(b *Batch, sync bool, done func(error))
	// Close flushes pending work and releases the store.
	Close() error
}

// OpKind says what one batch operation does.
type OpKind uint8

// Batch operation kinds.
const (
	OpAddAddress OpKind = iota + 1
	OpDeleteAddress
	OpAddQueue
	OpDeleteQueue
	OpAddMessage
	OpAddRef
	OpAck
	OpDeleteMessage
	OpDeliveryCount
	OpAddDuplicateID
	OpDeleteDuplicateID
	OpAddPageCursor
	OpDeletePageCursor
)

// Op is one durable operation. Which fields matter depends on Kind.
type Op struct {
	Kind    OpKind
	ID      uint64 // address, queue, message or duplicate-id record id
	QueueID uint64
	Count   uint32
	Address *Address
	Queue   *Queue
	Message *message.Message
	Dup     *DuplicateID
	Cursor  *PageCursor
}

// Batch is an ordered group of operations applied atomically. The zero
// value is an empty batch ready to use.
type Batch struct {
	Ops []Op
	// Inline lets the store write the batch on the goroutine that calls
	// Commit when it is idle, running done before Commit returns, instead
	// of handing it to a writer goroutine. Set it only for a caller that
	// would do nothing but wait for done anyway and holds no lock that
	// done takes. A store may ignore it.
	Inline bool
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() { b.Ops, b.Inline = b.Ops[:0], false }

// AddAddress records a new durable address.
func (b *Batch) AddAddress(a Address) {
	b.Ops = append(b.Ops, Op{Kind: OpAddAddress, ID: a.ID, Address: &a})
}

// DeleteAddress removes a durable address.
func (b *Batch) DeleteAddress(id uint64) { b.Ops = append(b.Ops, Op{Kind: OpDeleteAddress, ID: id}) }

// AddQueue records a new durable queue.
func (b *Batch) AddQueue(q Queue) { b.Ops = append(b.Ops, Op{Kind: OpAddQueue, ID: q.ID, Queue: &q}) }

// DeleteQueue removes a durable queue. The broker acknowledges or deletes the
// queue's messages in the same batch.
func (b *Batch) DeleteQueue(id uint64) { b.Ops = append(b.Ops, Op{Kind: OpDeleteQueue, ID: id}) }

// AddMessage stores a message. It must be followed, in the same batch, by
// the AddRef operations of the queues it was routed to.
func (b *Batch) AddMessage(m *message.Message) {
	b.Ops = append(b.Ops, Op{Kind: OpAddMessage, ID: m.ID, Message: m})
}

// AddRef records that queue queueID holds message msgID.
func (b *Batch) AddRef(msgID, queueID uint64) {
	b.Ops = append(b.Ops, Op{Kind: OpAddRef, ID: msgID, QueueID: queueID})
}

// Ack records that queue queueID no longer holds message msgID, while other
// queues still do. When the last reference goes, use DeleteMessage instead.
func (b *Batch) Ack(msgID, queueID uint64) {
	b.Ops = append(b.Ops, Op{Kind: OpAck, ID: msgID, QueueID: queueID})
}

// DeleteMessage forgets a message and all its references.
func (b *Batch) DeleteMessage(msgID uint64) {
	b.Ops = append(b.Ops, Op{Kind: OpDeleteMessage, ID: msgID})
}

// SetDeliveryCount records how often queue queueID has delivered msgID, so
// redelivery limits hold across a restart.
func (b *Batch) SetDeliveryCount(msgID, queueID uint64, count uint32) {
	b.Ops = append(b.Ops, Op{Kind: OpDeliveryCount, ID: msgID, QueueID: queueID, Count: count})
}

// AddDuplicateID remembers a duplicate-detection id for an address.
func (b *Batch) AddDuplicateID(d DuplicateID) {
	b.Ops = append(b.Ops, Op{Kind: OpAddDuplicateID, ID: d.RecordID, Dup: &d})
}

// DeleteDuplicateID forgets a remembered duplicate-detection id.
func (b *Batch) DeleteDuplicateID(recordID uint64) {
	b.Ops = append(b.Ops, Op{Kind: OpDeleteDuplicateID, ID: recordID})
}

// AddPageCursor records an address's page cursor. Replace the previous
// cursor in the same batch with DeletePageCursor, so exactly one survives.
func (b *Batch) AddPageCursor(c PageCursor) {
	b.Ops = append(b.Ops, Op{Kind: OpAddPageCursor, ID: c.RecordID, Cursor: &c})
}

// DeletePageCursor forgets a stored page cursor.
func (b *Batch) DeletePageCursor(recordID uint64) {
	b.Ops = append(b.Ops, Op{Kind: OpDeletePageCursor, ID: recordID})
}
