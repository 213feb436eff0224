package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Record types in the message journal.
const (
	recMessage       uint8 = 1 // add: an encoded message
	recAddRef        uint8 = 2 // update: uvarint queue id
	recAck           uint8 = 3 // update: uvarint queue id
	recDeliveryCount uint8 = 4 // update: uvarint queue id, uvarint count
	recDuplicateID   uint8 = 5 // add: string address, string id
	recIDCounter     uint8 = 6 // add: uvarint end of the reserved id block
	recPageCursor    uint8 = 7 // add: string address, uvarint page, uvarint offset
)

// Record types in the bindings journal.
const (
	recAddress uint8 = 16 // add: an encoded address
	recQueue   uint8 = 17 // add: an encoded queue
)

// codecVersion leads every encoded message, address and queue so the
// encoding can evolve while old journals stay readable.
const codecVersion = 1

var errShort = errors.New("record payload is truncated")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next length-prefixed bytes, aliasing the input.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < 1 {
		d.err = errShort
		return false
	}
	v := d.b[0] != 0
	d.b = d.b[1:]
	return v
}

func encodeMessage(e *encoder, m *message.Message) { e.b = message.AppendEncoded(e.b, m) }

// interner shares the strings that repeat across the messages of a replay
// (addresses, property names), so a million messages to one queue hold one
// copy of its name instead of a million.
type interner map[string]string

// Intern returns the shared copy of b, making one while the table has room.
func (in interner) Intern(b []byte) string {
	if in == nil || len(b) > 64 {
		return string(b)
	}
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in) < 4096 {
		in[s] = s
	}
	return s
}

// decodeMessage decodes a message; its body aliases p, which the journal
// hands over as a fresh slice. in, when not nil, shares repeated strings.
func decodeMessage(p []byte, in interner) (*message.Message, error) {
	var i message.Interner
	if in != nil {
		i = in
	}
	m, err := message.Decode(p, i)
	if err != nil {
		return nil, fmt.Errorf("message record: %w", err)
	}
	return m, nil
}

func encodeAddress(e *encoder, a *store.Address) {
	e.b = append(e.b, codecVersion)
	e.str(a.Name)
	e.bool(a.Anycast)
	e.bool(a.Multicast)
	e.bool(a.AutoCreated)
	e.bool(a.Configured)
}

func decodeAddress(id uint64, p []byte) (store.Address, error) {
	if len(p) < 1 || p[0] != codecVersion {
		return store.Address{}, fmt.Errorf("address record: unknown encoding version")
	}
	d := &decoder{b: p[1:]}
	a := store.Address{ID: id, Name: d.str(), Anycast: d.bool(), Multicast: d.bool(), AutoCreated: d.bool(), Configured: d.bool()}
	if d.err != nil {
		return a, fmt.Errorf("address record: %w", d.err)
	}
	return a, nil
}

func encodeQueue(e *encoder, q *store.Queue) {
	e.b = append(e.b, codecVersion)
	e.str(q.Name)
	e.str(q.Address)
	e.b = append(e.b, byte(q.RoutingType))
	e.str(q.Filter)
	e.varint(int64(q.MaxConsumers))
	e.bool(q.Exclusive)
	e.bool(q.LastValue)
	e.str(q.LastValueKey)
	e.bool(q.AutoCreated)
	e.bool(q.Configured)
}

func decodeQueue(id uint64, p []byte) (store.Queue, error) {
	if len(p) < 1 || p[0] != codecVersion {
		return store.Queue{}, fmt.Errorf("queue record: unknown encoding version")
	}
	d := &decoder{b: p[1:]}
	q := store.Queue{ID: id, Name: d.str(), Address: d.str()}
	if len(d.b) < 1 {
		return q, fmt.Errorf("queue record: %w", errShort)
	}
	q.RoutingType = message.RoutingType(d.b[0])
	d.b = d.b[1:]
	q.Filter = d.str()
	q.MaxConsumers = int(d.varint())
	q.Exclusive = d.bool()
	q.LastValue = d.bool()
	q.LastValueKey = d.str()
	q.AutoCreated = d.bool()
	q.Configured = d.bool()
	if d.err != nil {
		return q, fmt.Errorf("queue record: %w", d.err)
	}
	return q, nil
}
