package mqtt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultBufferSize is the Reader's default read buffer: enough for a
// burst of small packets per read system call, small enough for many
// connections.
const DefaultBufferSize = 16 << 10

// MaxPacketSize is the largest packet the protocol can express: a fixed
// header of one byte plus a four-byte remaining length, and MaxVarint
// bytes after it.
const MaxPacketSize = 1 + 4 + MaxVarint

// bodyChunk is how much of a packet body the Reader allocates before the
// bytes arrive; a bigger body grows as it is read, so a peer that only
// claims a large packet costs no more memory than it sends.
const bodyChunk = 64 << 10

// ReaderOptions configure a Reader. Zero fields take their defaults.
type ReaderOptions struct {
	// Role is the end of the connection the reader serves: ServerSide
	// (the default) reads client packets, ClientSide server packets.
	Role Role
	// MaxPacketSize bounds a whole packet, fixed header included, as MQTT
	// 5's Maximum Packet Size does. A larger packet fails with
	// ErrPacketTooLarge before any of its body is read. Default and
	// upper bound: MaxPacketSize, the protocol's own limit.
	MaxPacketSize int
	// BufferSize is the size of the read buffer. Default
	// DefaultBufferSize.
	BufferSize int
	// Version is the protocol version in force from the first packet on
	// the client side (the one the client's CONNECT asked for). Default
	// 3.1.1. The server side learns it from CONNECT.
	Version Version
}

// Reader decodes MQTT packets from a byte stream and enforces what the
// codec can know about the connection's state: on the server side the
// first packet must be CONNECT and there is only one; on the client side
// the first is CONNACK or AUTH; each side refuses the packets only the
// other side sends. After an error other than io.EOF the stream is out of
// step and the connection should be closed (after a CONNACK or DISCONNECT
// carrying the error's reason code, on the server side).
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br        *bufio.Reader
	role      Role
	max       int
	version   Version
	connected bool // a CONNECT (server side) or CONNACK (client side) was read
	topics    topicCache
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader, opts ReaderOptions) *Reader {
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	rd := &Reader{br: bufio.NewReaderSize(r, opts.BufferSize), role: opts.Role}
	rd.SetMaxPacketSize(opts.MaxPacketSize)
	if opts.Role == ClientSide {
		rd.version = opts.Version
		if rd.version == 0 {
			rd.version = V311
		}
	}
	return rd
}

// SetVersion sets the protocol version of the packets read from now on.
// The server side sets it itself from the CONNECT it reads; a client sets
// it before reading the CONNACK of the CONNECT it sent.
func (r *Reader) SetVersion(v Version) { r.version = v }

// Version returns the protocol version in force, 0 on the server side
// before CONNECT.
func (r *Reader) Version() Version { return r.version }

// SetMaxPacketSize changes the largest packet accepted; 0 or less means
// the protocol's limit.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 || n > MaxPacketSize {
		n = MaxPacketSize
	}
	r.max = n
}

// Connected reports whether the connection is established as far as the
// reader can tell: a valid CONNECT read on the server side, a CONNACK on
// the client side.
func (r *Reader) Connected() bool { return r.connected }

// Buffered returns how many bytes are read from the stream but not yet
// decoded.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// HasPacket reports whether the bytes already read from the stream hold a
// whole packet, or a fixed header ReadPacket refuses before the body (a
// remaining length that is no valid variable byte integer, a packet over
// the size limit), so that the next ReadPacket returns without waiting for
// the peer. A packet larger than the read buffer is never whole in it, so
// never reported: a broker may hold what other connections wait for (its
// turn at an ingest gate) across a ReadPacket that HasPacket vouched for,
// and a peer that stops in the middle of a packet must not stretch that.
func (r *Reader) HasPacket() bool {
	n := r.br.Buffered()
	if n < 2 {
		return false
	}
	b, _ := r.br.Peek(min(n, 5)) // buffered: Peek does not read
	remaining, used := decodeVarint(b[1:])
	switch {
	case used < 0:
		return true // refused without reading
	case used == 0:
		return false // the remaining length goes on past what is buffered
	}
	total := 1 + used + remaining
	return total > r.max || total <= n
}

// ReadPacket reads and decodes the next packet. At a clean end of stream,
// between packets, it returns io.EOF; an end inside a packet gives an
// error wrapping io.ErrUnexpectedEOF. Bad input gives an *Error (see
// ErrMalformed, ErrProtocol, ErrPacketTooLarge, ErrUnsupportedVersion).
func (r *Reader) ReadPacket() (Packet, error) {
	b0, err := r.br.ReadByte()
	if err != nil {
		return nil, err // io.EOF between packets is a clean end
	}
	t, fl := Type(b0>>4), b0&0x0F
	var lenBuf [4]byte
	n, remaining := 0, 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return nil, unexpected(err, "the remaining length")
		}
		lenBuf[n] = c
		n++
		v, used := decodeVarint(lenBuf[:n])
		if used > 0 {
			remaining = v
			break
		}
		if used < 0 || n == 4 {
			// Copied so that lenBuf stays on the stack.
			bad := append([]byte(nil), lenBuf[:n]...)
			return nil, r.annotate(malformed("the remaining length is not a valid variable byte integer (% X)", bad), t)
		}
	}
	if e := r.checkHeader(t, fl); e != nil {
		return nil, r.annotate(e, t)
	}
	if total := 1 + n + remaining; total > r.max {
		return nil, r.annotate(&Error{Kind: ErrPacketTooLarge, Reason: PacketTooLarge,
			Detail: fmt.Sprintf("%d bytes; the limit is %d", total, r.max)}, t)
	}
	body, err := r.readBody(remaining)
	if err != nil {
		return nil, unexpected(err, t.String())
	}
	p, e := decodeBody(t, fl, body, r.version, &r.topics)
	if e != nil {
		if c, ok := p.(*Connect); ok && c != nil {
			// The version of a bad CONNECT decides the form of the
			// CONNACK that reports it.
			e.Version = c.Version
			e.Packet, e.BeforeConnect = t, true
			return nil, e
		}
		return nil, r.annotate(e, t)
	}
	if e := r.checkDirection(p); e != nil {
		return nil, r.annotate(e, t)
	}
	switch p := p.(type) {
	case *Connect:
		r.version, r.connected = p.Version, true
	case *Connack:
		r.connected = true
	}
	return p, nil
}

// annotate fills in where the error happened.
func (r *Reader) annotate(e *Error, t Type) *Error {
	e.Packet, e.Version, e.BeforeConnect = t, r.version, !r.connected
	return e
}

func unexpected(err error, where string) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("mqtt: reading %s: %w", where, err)
}

// checkHeader checks the first byte against the packet type's fixed flags
// and the connection's state, before the body is read.
func (r *Reader) checkHeader(t Type, fl byte) *Error {
	switch {
	case t == 0:
		return malformed("reserved packet type 0")
	case t == TypePublish:
		if fl>>1&0x03 == 3 {
			return malformed("QoS 3")
		}
		if fl&0x08 != 0 && fl>>1&0x03 == 0 {
			return malformed("DUP set on a QoS 0 PUBLISH")
		}
	case fl != t.fixedFlags():
		return malformed("reserved flags 0x%X in the fixed header (want 0x%X)", fl, t.fixedFlags())
	}
	if r.role == ServerSide {
		switch {
		case !t.fromClient():
			return protocolError("clients do not send %v", t)
		case !r.connected && t != TypeConnect:
			return protocolError("the first packet must be CONNECT, not %v", t)
		case r.connected && t == TypeConnect:
			return protocolError("a second CONNECT")
		}
	} else {
		switch {
		case !t.fromServer():
			return protocolError("servers do not send %v", t)
		case !r.connected && t != TypeConnack && t != TypeAuth:
			return protocolError("the first packet must be CONNACK, not %v", t)
		case r.connected && t == TypeConnack:
			return protocolError("a second CONNACK")
		}
	}
	if t == TypeAuth && r.version != V5 {
		return malformed("AUTH does not exist in MQTT %v", r.version)
	}
	return nil
}

// checkDirection applies the rules that depend on who sent the packet.
func (r *Reader) checkDirection(p Packet) *Error {
	switch p := p.(type) {
	case *Publish:
		if r.role == ServerSide && p.Properties.Has(PropSubscriptionID) {
			return protocolError("a PUBLISH from a client must not carry a Subscription Identifier [MQTT-3.3.4-6]")
		}
	case *Disconnect:
		if r.role == ClientSide && p.Properties.Has(PropSessionExpiry) {
			return protocolError("a DISCONNECT from the server must not carry a Session Expiry Interval [MQTT-3.14.2-2]")
		}
	}
	return nil
}

// readBody reads n bytes into a new buffer, growing it as bytes arrive
// rather than trusting n up front.
func (r *Reader) readBody(n int) ([]byte, error) {
	if n <= bodyChunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r.br, buf)
		return buf, err
	}
	buf := make([]byte, 0, bodyChunk)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		end := min(n, cap(buf))
		m, err := io.ReadFull(r.br, buf[len(buf):end])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// topicCache shares the strings of topic names a connection repeats, so
// that decoding a PUBLISH to a known topic does not allocate its name. It
// holds at most topicCacheSize names and then stops adding.
type topicCache struct {
	m map[string]string
}

const (
	topicCacheSize   = 256
	topicCacheMaxLen = 256
)

// get reads a topic name string from d, through the cache.
func (c *topicCache) get(d *decoder, what string) string {
	b := d.binary(what)
	if d.err != nil {
		return ""
	}
	if c != nil && len(b) <= topicCacheMaxLen {
		if s, ok := c.m[string(b)]; ok {
			return s
		}
	}
	if !validUTF8Bytes(b) {
		d.fail(malformed("the %s %q is not valid MQTT UTF-8 (ill-formed, a surrogate, or U+0000)", what, b))
		return ""
	}
	s := string(b)
	if c != nil && len(b) <= topicCacheMaxLen && len(c.m) < topicCacheSize {
		if c.m == nil {
			c.m = make(map[string]string)
		}
		c.m[s] = s
	}
	return s
}
