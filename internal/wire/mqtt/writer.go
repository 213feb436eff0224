package mqtt

import (
	"fmt"
	"io"
)

// maxRetainedBuffer is the largest write buffer a Writer keeps between
// flushes; a buffer grown by one big packet is dropped rather than pinned
// to an idle connection.
const maxRetainedBuffer = 4 << 20

// Writer encodes packets into a buffer and hands the whole buffer to the
// underlying writer on Flush, in one Write call, so that a burst of packets
// costs one system call. WritePacket does no I/O.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	buf     []byte
	version Version
	max     int // the peer's Maximum Packet Size
	aliases *OutboundAliases
	aliased Publish // scratch copy of a PUBLISH being aliased
	err     error   // sticky: after a failed write the stream is broken
}

// NewWriter returns a Writer on w that speaks MQTT 3.1.1 until SetVersion
// or a written CONNECT says otherwise.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, version: V311, max: MaxPacketSize}
}

// SetVersion sets the protocol version of the packets written from now on.
func (w *Writer) SetVersion(v Version) { w.version = v }

// Version returns the version in force.
func (w *Writer) Version() Version { return w.version }

// SetMaxPacketSize sets the largest packet the peer accepts (its Maximum
// Packet Size); 0 or less means the protocol's limit. A larger packet is
// refused with ErrPacketTooLarge and not written, which is what the
// specification asks of a sender ([MQTT-3.1.2-25]).
func (w *Writer) SetMaxPacketSize(n int) {
	if n <= 0 || n > MaxPacketSize {
		n = MaxPacketSize
	}
	w.max = n
}

// SetOutboundAliases makes the writer give PUBLISH packets topic aliases
// from a (nil turns aliasing off). A PUBLISH that already carries a Topic
// Alias property, or has an empty topic, is written as it is. The table
// only records an alias once the packet that introduces it is buffered,
// so a packet refused as too large leaves it consistent with the peer.
func (w *Writer) SetOutboundAliases(a *OutboundAliases) { w.aliases = a }

// Buffered returns the number of encoded bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// WritePacket encodes p into the buffer. A CONNECT is encoded in its own
// Version, which then becomes the writer's. A packet that cannot be
// encoded in the writer's version (ErrBadPacket) or is larger than the
// peer accepts (ErrPacketTooLarge) leaves the buffer as it was, so the
// stream stays usable.
func (w *Writer) WritePacket(p Packet) error {
	if w.err != nil {
		return w.err
	}
	if pub, ok := p.(*Publish); ok && w.aliases != nil && w.version == V5 {
		return w.writeAliased(pub)
	}
	v := w.version
	if c, ok := p.(*Connect); ok {
		v = c.Version
	}
	buf, err := appendPacket(w.buf, p, v, w.max)
	if err != nil {
		return err
	}
	w.buf = buf
	if _, ok := p.(*Connect); ok {
		w.version = v
	}
	return nil
}

// writeAliased writes a PUBLISH through the outbound alias table.
func (w *Writer) writeAliased(p *Publish) error {
	if p.Topic == "" || p.Properties.Has(PropTopicAlias) || w.aliases.max == 0 {
		buf, err := appendPacket(w.buf, p, w.version, w.max)
		if err == nil {
			w.buf = buf
		}
		return err
	}
	plan := w.aliases.plan(p.Topic)
	// Encode a copy with the alias, so the caller's packet is untouched;
	// the copy and its property slice are reused from packet to packet.
	q := &w.aliased
	props := append(q.Properties[:0], p.Properties...)
	*q = *p
	q.Properties = append(props, IntProp(PropTopicAlias, uint32(plan.alias)))
	if plan.known {
		q.Topic = ""
	}
	buf, err := appendPacket(w.buf, q, w.version, w.max)
	clear(q.Properties)
	*q = Publish{Properties: q.Properties[:0]}
	if err != nil {
		return err
	}
	w.buf = buf
	w.aliases.commit(p.Topic, plan)
	return nil
}

// Flush writes everything buffered with one Write call. After a write
// error the Writer is broken: every later call returns that error.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.w.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("mqtt: write: %w", err)
		return w.err
	}
	if cap(w.buf) > maxRetainedBuffer {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// AppendPacket appends the encoding of p in version v to dst (a CONNECT is
// encoded in its own Version). On error it returns dst unchanged and an
// error wrapping ErrBadPacket or ErrPacketTooLarge.
func AppendPacket(dst []byte, p Packet, v Version) ([]byte, error) {
	if c, ok := p.(*Connect); ok {
		v = c.Version
	}
	return appendPacket(dst, p, v, MaxPacketSize)
}

// PacketSize returns the size p would have encoded in version v, fixed
// header included, or an error if it cannot be encoded. The adapter can
// use it to drop a message too large for a client without encoding it.
func PacketSize(p Packet, v Version) (int, error) {
	if c, ok := p.(*Connect); ok {
		v = c.Version
	}
	if e := p.check(v, true); e != nil {
		return 0, fmt.Errorf("%w: %v: %s", ErrBadPacket, p.Type(), e.Detail)
	}
	n := p.size(v)
	if n > MaxVarint {
		return 0, fmt.Errorf("%w: %v: %d bytes after the fixed header; the protocol allows %d", ErrPacketTooLarge, p.Type(), n, MaxVarint)
	}
	return 1 + varintLen(n) + n, nil
}

func appendPacket(dst []byte, p Packet, v Version, max int) ([]byte, error) {
	if !v.Supported() {
		return dst, fmt.Errorf("%w: %v: cannot write %v", ErrBadPacket, p.Type(), v)
	}
	if e := p.check(v, true); e != nil {
		return dst, fmt.Errorf("%w: %v: %s", ErrBadPacket, p.Type(), e.Detail)
	}
	n := p.size(v)
	if n > MaxVarint {
		return dst, fmt.Errorf("%w: %v: %d bytes after the fixed header; the protocol allows %d", ErrPacketTooLarge, p.Type(), n, MaxVarint)
	}
	total := 1 + varintLen(n) + n
	if total > max {
		return dst, fmt.Errorf("%w: %v of %d bytes; the peer accepts %d", ErrPacketTooLarge, p.Type(), total, max)
	}
	start := len(dst)
	dst = append(dst, byte(p.Type())<<4|p.flags())
	dst = appendVarint(dst, n)
	dst = p.appendBody(dst, v)
	if len(dst)-start != total {
		panic(fmt.Sprintf("mqtt: %v encoded to %d bytes, expected %d", p.Type(), len(dst)-start, total))
	}
	return dst, nil
}
