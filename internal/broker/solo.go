package broker

import (
	"encoding/binary"
	"math"
	"unsafe"

	"tandem/internal/message"
)

// How a queued message is kept, cheaply. Every queued message costs the
// heap its Message, a ref per queue holding it and, once, what the broker
// knows of it across queues (an entry); a million messages queued make
// every byte of those count.
//
// A message that only one queue holds (anycast, or a topic with one
// subscription; neither large nor routed through a wildcard address) is a
// solo: its ref and a copy of its Message in one allocation of 160 bytes (a
// Go size class) and no entry, since what the entry counts across queues is
// trivial for one (the ref's stored flag; its address is its queue's).
// The copy is taken when the message is routed; the store writes the
// producer's Message, which never changes after.
//
// While a solo waits in a deep queue (behind packBehind others), its
// properties are packed into one string (pack): the name, kind and value
// of each, length-prefixed, which
// for the two short properties of docs/benchmarks.md takes 64 bytes
// instead of 112 (an 80-byte []Property and the text its strings point
// into). The Message's Properties is nil meanwhile, and the ref's h points
// at the packed bytes. Everything in the broker that reads a waiting
// message's properties goes through the ref (property, view, publicMsg);
// nothing outside it ever sees a packed message: a delivery unpacks the
// properties into the Message first (under the queue's lock, the only one
// a solo is reached through), browsing hands out unpacked copies, and a
// selector matches an unpacked view kept by the queue. A message consumed
// at once is never packed.

// solo is a message held by one queue: its ref and its Message together.
// The ref must stay the first field: a solo's ref is converted back to its
// solo (refSolo).
type solo struct {
	r ref
	m message.Message
}

// newSolo returns the ref of a solo copy of m for queue q; acct says that
// q's address counts its size (refAcctQueue).
func newSolo(m *message.Message, q *queue, acct bool) *ref {
	s := &solo{m: *m}
	r := &s.r
	r.q, r.stamp, r.flags = q, m.ScheduledTime, refSolo
	if acct {
		r.flags |= refAcctQueue
	}
	return r
}

// canSolo reports whether m, routed to the one queue q from address a,
// may be a solo: neither large (its body file is counted across holders in
// an entry) nor counted against another address than q's (a wildcard
// subscription's queue belongs to the wildcard address).
func canSolo(m *message.Message, q *queue, a *address, limited bool) bool {
	return m.Large() == nil && (!limited || q.addr == a)
}

// msg returns the message r refers to.
func (r *ref) msg() *message.Message {
	if r.flags&refSolo != 0 {
		return &(*solo)(unsafe.Pointer(r)).m
	}
	return (*entry)(r.h).m
}

// entry returns the entry of a message held by several queues (or large,
// or counted elsewhere), nil for a solo.
func (r *ref) entry() *entry {
	if r.flags&refSolo != 0 {
		return nil
	}
	return (*entry)(r.h)
}

// acct returns the address whose size counts r, nil when none does.
func (r *ref) acct() *address {
	if r.flags&refSolo == 0 {
		return (*entry)(r.h).acct
	}
	if r.flags&refAcctQueue != 0 {
		return r.q.addr
	}
	return nil
}

// packed returns a solo's packed properties, "" when they are not packed.
func (r *ref) packed() string {
	if r.packedLen == 0 {
		return ""
	}
	return unsafe.String((*byte)(r.h), int(r.packedLen))
}

// packBehind is how many messages must wait ahead of a solo for it to be
// packed: one that will be delivered soon would only pay for packing and
// unpacking, while a deep backlog is where the bytes add up. Tests lower
// it.
var packBehind = 1024

// packLocked packs the properties of a solo that waits behind packBehind
// others (see above).
func (q *queue) packLocked(r *ref) {
	if r.flags&refSolo == 0 || r.packedLen != 0 || q.ready+len(q.sched) <= packBehind {
		return
	}
	m := r.msg()
	if len(m.Properties) == 0 {
		return
	}
	n := 0
	for _, p := range m.Properties {
		n += uvarintLen(len(p.Key)) + len(p.Key) + 1 + uvarintLen(len(p.Value)) + len(p.Value)
	}
	if n > math.MaxUint16 {
		return
	}
	b := make([]byte, 0, n)
	for _, p := range m.Properties {
		b = binary.AppendUvarint(b, uint64(len(p.Key)))
		b = append(b, p.Key...)
		b = append(b, byte(p.Kind))
		b = binary.AppendUvarint(b, uint64(len(p.Value)))
		b = append(b, p.Value...)
	}
	r.h, r.packedLen = unsafe.Pointer(unsafe.SliceData(b)), uint16(n)
	m.Properties = nil
}

// expandLocked unpacks a solo's properties back into its Message, before
// the message leaves the broker's hands (a delivery). The strings alias the
// packed bytes, which they keep alive.
func (q *queue) expandLocked(r *ref) {
	if r.packedLen == 0 {
		return
	}
	r.msg().Properties = unpack(nil, r.packed())
	r.h, r.packedLen = nil, 0
}

// viewLocked returns r's message with its properties readable, for a
// selector: the message itself, or, for a packed solo, the queue's scratch
// copy with them unpacked (valid until the next view, under q.mu).
func (q *queue) viewLocked(r *ref) *message.Message {
	m := r.msg()
	if r.packedLen == 0 {
		return m
	}
	q.scratch = *m
	q.scratchProps = unpack(q.scratchProps[:0], r.packed())
	q.scratch.Properties = q.scratchProps
	return &q.scratch
}

// publicMsg returns r's message as it may leave the broker (a browser, the
// console): the message itself, or a copy with its properties unpacked.
func (r *ref) publicMsg() *message.Message {
	m := r.msg()
	if r.packedLen == 0 {
		return m
	}
	c := *m
	c.Properties = unpack(nil, r.packed())
	return &c
}

// messageCopy is r's message as Message.Clone makes it: a copy that owns
// its properties.
func (r *ref) messageCopy() *message.Message {
	if r.packedLen == 0 {
		return r.msg().Clone()
	}
	return r.publicMsg()
}

// property returns the text of the first property of r's message named
// key, packed or not.
func (r *ref) property(key string) (string, bool) {
	if r.packedLen == 0 {
		return r.msg().Property(key)
	}
	for p := r.packed(); p != ""; {
		var pr message.Property
		pr, p = nextPacked(p)
		if pr.Key == key {
			return pr.Value, true
		}
	}
	return "", false
}

// size is Message.Size of r's message, its packed properties included, so
// that a solo counts against its address the same packed or not.
func (r *ref) size() int {
	n := r.msg().Size()
	for p := r.packed(); p != ""; {
		var pr message.Property
		pr, p = nextPacked(p)
		n += message.PropertySize(pr.Key, pr.Value)
	}
	return n
}

// unpack appends the properties packed in p to dst.
func unpack(dst []message.Property, p string) []message.Property {
	if dst == nil {
		k := 0
		for rest := p; rest != ""; k++ {
			_, rest = nextPacked(rest)
		}
		dst = make([]message.Property, 0, k)
	}
	for p != "" {
		var pr message.Property
		pr, p = nextPacked(p)
		dst = append(dst, pr)
	}
	return dst
}

// nextPacked decodes the first property packed in p and returns it with
// the rest. p was written by packLocked, so it is never malformed.
func nextPacked(p string) (message.Property, string) {
	var pr message.Property
	n, w := uvarintString(p)
	p = p[w:]
	pr.Key, p = p[:n], p[n:]
	pr.Kind, p = message.Kind(p[0]), p[1:]
	n, w = uvarintString(p)
	p = p[w:]
	pr.Value, p = p[:n], p[n:]
	return pr, p
}

func uvarintString(s string) (int, int) {
	x, shift := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		x |= int(c&0x7f) << shift
		if c < 0x80 {
			return x, i + 1
		}
		shift += 7
	}
	return x, len(s)
}

func uvarintLen(n int) int {
	w := 1
	for n >= 0x80 {
		n >>= 7
		w++
	}
	return w
}
