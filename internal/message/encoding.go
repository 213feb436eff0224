package message

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The message encoding is shared by every store (the file journal, page
// files, the database) so that a message reads back the same from all of
// them. Its layout is in docs/journal-format.md ("Message encoding").
//
// Version 1 and 2 are what tandem wrote before typed properties (2 adds a
// large body's location); they are still read. Version 3 is written.
const (
	encodingV1 = 1
	encodingV2 = 2
	encodingV3 = 3
)

// Field bits of version 3: which optional headers follow.
const (
	fContentType = 1 << iota
	fCorrelationID
	fReplyTo
	fType
	fMessageID
	fUserID
	fGroupID
	fGroupSeq
	fLarge
	fNative
	fKnown = fNative<<1 - 1
)

// Errors of Decode.
var (
	// ErrTruncated reports an encoded message cut short.
	ErrTruncated = errors.New("message: encoded message is truncated")
	// ErrUnknownEncoding reports an encoding this build cannot read,
	// typically one written by a newer tandem.
	ErrUnknownEncoding = errors.New("message: unknown message encoding (written by a newer tandem?)")
)

// Interner shares the strings that repeat across many decoded messages
// (addresses, property names). A nil Interner copies every string.
type Interner interface {
	Intern(b []byte) string
}

// AppendEncoded appends the encoding of m to b.
func AppendEncoded(b []byte, m *Message) []byte {
	b = append(b, encodingV3)
	b = binary.AppendUvarint(b, m.ID)
	b = appendStr(b, m.Address)
	var flags byte
	if m.Durable {
		flags |= 1
	}
	b = append(b, byte(m.RoutingType), m.Priority, flags, byte(m.BodyKind))
	b = binary.AppendVarint(b, m.Timestamp)
	b = binary.AppendVarint(b, m.Expiration)
	b = binary.AppendVarint(b, m.ScheduledTime)
	x := m.Extra
	if x == nil {
		b = append(b, 0)
	} else {
		var mask uint64
		for i, s := range [...]string{x.ContentType, x.CorrelationID, x.ReplyTo, x.Type, x.MessageID, x.UserID, x.GroupID} {
			if s != "" {
				mask |= 1 << i
			}
		}
		if x.GroupSeq != 0 {
			mask |= fGroupSeq
		}
		if x.Large != nil {
			mask |= fLarge
		}
		if x.Native != nil {
			mask |= fNative
		}
		b = binary.AppendUvarint(b, mask)
		for i, s := range [...]string{x.ContentType, x.CorrelationID, x.ReplyTo, x.Type, x.MessageID, x.UserID, x.GroupID} {
			if mask&(1<<i) != 0 {
				b = appendStr(b, s)
			}
		}
		if mask&fGroupSeq != 0 {
			b = binary.AppendVarint(b, int64(x.GroupSeq))
		}
		if x.Large != nil {
			b = binary.AppendUvarint(b, x.Large.ID)
			b = binary.AppendUvarint(b, uint64(x.Large.Size))
		}
		if x.Native != nil {
			b = append(b, byte(x.Native.Format))
			b = appendStr(b, string(x.Native.Data))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(m.Properties)))
	for _, p := range m.Properties {
		b = appendStr(b, p.Key)
		b = append(b, byte(p.Kind))
		b = appendStr(b, p.Value)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Body)))
	return append(b, m.Body...)
}

// Decode decodes one encoded message, of any version this build reads.
// The body (and a native encoding) alias p; strings are copies, shared
// through in when it is not nil.
func Decode(p []byte, in Interner) (*Message, error) {
	if len(p) < 1 {
		return nil, ErrTruncated
	}
	d := &decoder{b: p[1:], in: in}
	var m *Message
	switch p[0] {
	case encodingV1, encodingV2:
		m = d.legacy(p[0] == encodingV2)
	case encodingV3:
		m = d.v3()
	default:
		return nil, fmt.Errorf("%w: version %d", ErrUnknownEncoding, p[0])
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d stray bytes after the message", ErrTruncated, len(d.b))
	}
	return m, nil
}

func (d *decoder) v3() *Message {
	m := &Message{}
	m.ID = d.uvarint()
	m.Address = d.str()
	m.RoutingType = RoutingType(d.byte())
	m.Priority = d.byte()
	flags := d.byte()
	m.Durable = flags&1 != 0
	m.BodyKind = BodyKind(d.byte())
	if d.err == nil && (!m.BodyKind.Valid() || m.RoutingType > Multicast) {
		d.err = fmt.Errorf("%w: body kind %d, routing type %d", ErrUnknownEncoding, m.BodyKind, m.RoutingType)
	}
	m.Timestamp = d.varint()
	m.Expiration = d.varint()
	m.ScheduledTime = d.varint()
	mask := d.uvarint()
	if d.err == nil && mask&^fKnown != 0 {
		d.err = fmt.Errorf("%w: header fields %#x", ErrUnknownEncoding, mask&^fKnown)
	}
	if mask != 0 && d.err == nil {
		x := &Extra{}
		for i, s := range [...]*string{&x.ContentType, &x.CorrelationID, &x.ReplyTo, &x.Type, &x.MessageID, &x.UserID, &x.GroupID} {
			if mask&(1<<i) != 0 {
				*s = string(d.raw())
			}
		}
		if mask&fGroupSeq != 0 {
			x.GroupSeq = int32(d.varint())
		}
		if mask&fLarge != 0 {
			x.Large = &Large{ID: d.uvarint(), Size: int64(d.uvarint())}
		}
		if mask&fNative != 0 {
			x.Native = &Native{Format: NativeFormat(d.byte())}
			x.Native.Data = d.raw()
		}
		m.Extra = x
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = ErrTruncated
	}
	if n > 0 && d.err == nil {
		m.Properties = make([]Property, n)
		for i := range m.Properties {
			pr := &m.Properties[i]
			pr.Key = d.str()
			pr.Kind = Kind(d.byte())
			pr.Value = string(d.raw())
			if d.err == nil && !pr.Kind.Valid() {
				d.err = fmt.Errorf("%w: property %q has kind %d", ErrUnknownEncoding, pr.Key, pr.Kind)
			}
		}
	}
	m.Body = d.raw()
	return m
}

// legacy decodes versions 1 and 2, whose properties are all text.
func (d *decoder) legacy(large bool) *Message {
	m := &Message{}
	m.ID = d.uvarint()
	m.Address = d.str()
	m.RoutingType = RoutingType(d.byte())
	m.Priority = d.byte()
	m.Durable = d.byte() != 0
	m.Timestamp = d.varint()
	m.Expiration = d.varint()
	m.ScheduledTime = d.varint()
	ct, corr, replyTo, typ := string(d.raw()), string(d.raw()), string(d.raw()), string(d.raw())
	if ct != "" || corr != "" || replyTo != "" || typ != "" {
		m.SetHeaders(ct, corr, replyTo, typ)
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = ErrTruncated
	}
	if n > 0 && d.err == nil {
		m.Properties = make([]Property, n)
		for i := range m.Properties {
			m.Properties[i].Key = d.str()
			m.Properties[i].Value = string(d.raw())
		}
	}
	m.Body = d.raw()
	if large {
		m.SetLarge(&Large{ID: d.uvarint(), Size: int64(d.uvarint())})
	}
	MigrateLegacy(m)
	return m
}

// MigrateLegacy moves what messages written before typed headers kept as
// properties into the fields that hold it now: the group id and sequence,
// which STOMP clients send as the JMSXGroupID and JMSXGroupSeq headers.
// Decoders of old formats call it so the broker sees one model.
func MigrateLegacy(m *Message) {
	g, hasG := m.Property(PropGroupID)
	s, hasS := m.Property(PropGroupSeq)
	if !hasG && !hasS {
		return
	}
	var seq int64
	if hasS {
		if v, ok := (Property{Value: s}).AsInt64(); ok && v >= -1<<31 && v < 1<<31 {
			seq = v
		} else {
			hasS = false // not a number: leave it a property
		}
	}
	m.EditExtra(func(x *Extra) {
		if hasG {
			x.GroupID = g
		}
		if hasS {
			x.GroupSeq = int32(seq)
		}
	})
	if hasG {
		m.DeleteProperty(PropGroupID)
	}
	if hasS {
		m.DeleteProperty(PropGroupSeq)
	}
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads an encoding; the first error sticks.
type decoder struct {
	b   []byte
	err error
	in  Interner
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = ErrTruncated
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
		d.err = ErrTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.err = ErrTruncated
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// raw returns the next length-prefixed bytes, aliasing the input.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = ErrTruncated
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// str returns the next string, interned when the decoder has an Interner.
func (d *decoder) str() string {
	b := d.raw()
	if d.in != nil && d.err == nil {
		return d.in.Intern(b)
	}
	return string(b)
}
