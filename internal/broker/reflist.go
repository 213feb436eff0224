package broker

import (
	"unsafe"

	"tandem/internal/message"
)

// entry is one message in memory, shared by every queue that references it.
type entry struct {
	m *message.Message
	// acct is the address whose size counts this message's Size() per
	// reference, nil when its address is unlimited.
	acct *address
	// storedRefs counts the references still persisted in the store; the
	// queue whose acknowledgement takes it to zero deletes the message
	// record instead of writing an ack. Changed atomically.
	storedRefs int32
	// liveRefs counts the holders of a large message's body: each queue
	// reference one, and its journal record recordHold (large.go); the
	// file goes with the last. Changed atomically.
	liveRefs int32
}

// ref is one queue's reference to a message. It lives in exactly one
// intrusive list at a time: a queue's priority level while waiting, a
// consumer's in-flight list while delivered, or a queue's scheduled heap.
// Every queued message has one, so every field counts: 48 bytes, a Go size
// class (TestRefSize).
type ref struct {
	// h is the message's entry, or, for a solo (solo.go), its packed
	// properties (nil when they are not packed).
	h             unsafe.Pointer
	q             *queue
	deliveryCount uint32
	state         uint8
	flags         refFlags
	packedLen     uint16 // a solo's packed properties, in bytes at h
	// stamp is the ref's readyAt until it is delivered, and its delivery
	// id while it is in flight: a ref is never both scheduled and in
	// flight, so one field serves both (readyAt, deliveryID).
	stamp      int64
	next, prev *ref
}

// refFlags are a ref's yes-or-no states.
type refFlags uint8

const (
	refStored       refFlags = 1 << iota // persisted in the store
	refCharged                           // counted in its address's size
	refBodyReleased                      // its hold on a large body is gone
	refSolo                              // the ref of a solo (solo.go)
	refAcctQueue                         // a solo counted in its queue's address
)

// newRef returns a ref of e's message in q.
func newRef(e *entry, q *queue) *ref {
	return &ref{h: unsafe.Pointer(e), q: q, stamp: e.m.ScheduledTime}
}

func (r *ref) stored() bool { return r.flags&refStored != 0 }

// readyAt, when non-zero, is the Unix ms time before which a ref that is
// not in flight must not be delivered (scheduled delivery or redelivery
// delay). Only a new ref, and one in the scheduled heap, has one.
func (r *ref) readyAt() int64 { return r.stamp }

// deliveryID identifies an in-flight ref's delivery within its consumer's
// session.
func (r *ref) deliveryID() uint64 { return uint64(r.stamp) }

// refList is an intrusive doubly linked list of refs. Refs carry their own
// links, so moving a ref between lists allocates nothing.
type refList struct {
	head, tail *ref
	n          int
}

func (l *refList) pushBack(r *ref) {
	r.next, r.prev = nil, l.tail
	if l.tail != nil {
		l.tail.next = r
	} else {
		l.head = r
	}
	l.tail = r
	l.n++
}

func (l *refList) pushFront(r *ref) {
	r.prev, r.next = nil, l.head
	if l.head != nil {
		l.head.prev = r
	} else {
		l.tail = r
	}
	l.head = r
	l.n++
}

func (l *refList) remove(r *ref) {
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		l.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		l.tail = r.prev
	}
	r.next, r.prev = nil, nil
	l.n--
}

// refHeap orders scheduled refs by readyAt, then by message id so refs
// scheduled for the same moment keep their send order.
type refHeap []*ref

func (h refHeap) Len() int { return len(h) }
func (h refHeap) Less(i, j int) bool {
	if h[i].stamp != h[j].stamp {
		return h[i].stamp < h[j].stamp
	}
	return h[i].msg().ID < h[j].msg().ID
}
func (h refHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *refHeap) Push(x any)   { *h = append(*h, x.(*ref)) }
func (h *refHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// index returns r's position in h, or -1. Refs keep no index of their own
// (it would make every queued message 16 bytes bigger for a lookup only a
// last-value queue replacing a scheduled message needs), so this scans.
func (h refHeap) index(r *ref) int {
	for i, x := range h {
		if x == r {
			return i
		}
	}
	return -1
}
