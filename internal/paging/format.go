package paging

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"tandem/internal/message"
)

// Page file layout; docs/paging-format.md is the prose version.
const (
	// headerSize is the size of a page file's header.
	headerSize = 32
	// recordHeaderSize is a record's length and checksum words.
	recordHeaderSize = 8
	// formatVersion is the version in every page header.
	formatVersion = 1
	// payloadVersion leads every record payload this build writes: 2, the
	// queue ids and then the shared message encoding
	// (message.AppendEncoded). Version 1, with a message layout of its
	// own and text-only properties, is still read.
	payloadVersion   = 2
	payloadVersionV1 = 1
	// maxRecordSize bounds one record, so a corrupt length cannot make the
	// reader allocate without limit.
	maxRecordSize = 1 << 30
)

var magic = [8]byte{'T', 'D', 'M', 'P', 'A', 'G', 'E', 0}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors of the package.
var (
	// ErrCorrupt reports a page file whose bytes do not check out.
	ErrCorrupt = errors.New("paging: corrupt page file")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("paging: store is closed")
)

// encodeHeader returns the header of page number page.
func encodeHeader(page uint64) []byte {
	h := make([]byte, headerSize)
	copy(h, magic[:])
	binary.LittleEndian.PutUint32(h[8:], formatVersion)
	binary.LittleEndian.PutUint64(h[16:], page)
	binary.LittleEndian.PutUint32(h[24:], crc32.Checksum(h[:24], castagnoli))
	return h
}

// decodeHeader checks a page header and returns its page number.
func decodeHeader(h []byte) (uint64, error) {
	if len(h) < headerSize {
		return 0, fmt.Errorf("%w: header is %d bytes, want %d", ErrCorrupt, len(h), headerSize)
	}
	if [8]byte(h[:8]) != magic {
		return 0, fmt.Errorf("%w: bad magic %q", ErrCorrupt, h[:8])
	}
	if crc32.Checksum(h[:24], castagnoli) != binary.LittleEndian.Uint32(h[24:]) {
		return 0, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != formatVersion {
		return 0, fmt.Errorf("%w: format version %d, this build reads %d", ErrCorrupt, v, formatVersion)
	}
	return binary.LittleEndian.Uint64(h[16:]), nil
}

// appendRecord appends the record of m routed to queues to b.
func appendRecord(b []byte, m *message.Message, queues []uint64) []byte {
	start := len(b)
	b = append(b, make([]byte, recordHeaderSize)...)
	b = append(b, payloadVersion)
	b = binary.AppendUvarint(b, uint64(len(queues)))
	for _, q := range queues {
		b = binary.AppendUvarint(b, q)
	}
	b = message.AppendEncoded(b, m)
	payload := b[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// reader decodes a record payload; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: record payload truncated or malformed at %s", ErrCorrupt, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// decodePayload decodes a record payload. The message's strings and body
// are copies, so the payload buffer may be reused.
func decodePayload(p []byte) (*message.Message, []uint64, error) {
	r := &reader{b: p}
	v := r.byte("version")
	if r.err == nil && v != payloadVersion && v != payloadVersionV1 {
		return nil, nil, fmt.Errorf("%w: record payload version %d, this build reads %d and %d", ErrCorrupt, v, payloadVersionV1, payloadVersion)
	}
	n := r.uvarint("queue count")
	if n > uint64(len(p)) {
		r.fail("queue count")
	}
	var queues []uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		queues = append(queues, r.uvarint("queue id"))
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if v == payloadVersion {
		m, err := message.Decode(r.b, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		// Decode aliases its input; the payload buffer is reused.
		m.Body = append([]byte(nil), m.Body...)
		if nv := m.Native(); nv != nil {
			nv.Data = append([]byte(nil), nv.Data...)
		}
		return m, queues, nil
	}
	m := &message.Message{Address: string(r.bytes("address"))}
	flags := r.byte("flags")
	m.RoutingType = message.RoutingType(flags & 1)
	m.Durable = flags&2 != 0
	m.Priority = r.byte("priority")
	m.Timestamp = r.varint("timestamp")
	m.Expiration = r.varint("expiration")
	m.ScheduledTime = r.varint("scheduled time")
	ct := string(r.bytes("content type"))
	corr := string(r.bytes("correlation id"))
	replyTo := string(r.bytes("reply-to"))
	typ := string(r.bytes("type"))
	if ct != "" || corr != "" || replyTo != "" || typ != "" {
		m.SetHeaders(ct, corr, replyTo, typ)
	}
	np := r.uvarint("property count")
	if np > uint64(len(p)) {
		r.fail("property count")
	}
	for i := uint64(0); i < np && r.err == nil; i++ {
		k := string(r.bytes("property key"))
		v := string(r.bytes("property value"))
		m.Properties = append(m.Properties, message.Property{Key: k, Value: v})
	}
	if body := r.bytes("body"); r.err == nil {
		m.Body = append([]byte(nil), body...)
	}
	if flags&4 != 0 {
		m.SetLarge(&message.Large{ID: r.uvarint("large body id"), Size: int64(r.uvarint("large body size"))})
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d stray bytes after the record", ErrCorrupt, len(r.b))
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	message.MigrateLegacy(m)
	return m, queues, nil
}

// checkRecord validates the record at the start of b, which holds at least
// the record header. It returns the payload length, or an error when the
// record is not whole or does not check out.
func checkRecord(b []byte) (int, error) {
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxRecordSize {
		return 0, fmt.Errorf("%w: record length %d", ErrCorrupt, n)
	}
	if uint64(len(b)) < recordHeaderSize+uint64(n) {
		return 0, fmt.Errorf("%w: record of %d bytes runs past the end", ErrCorrupt, n)
	}
	if crc32.Checksum(b[recordHeaderSize:recordHeaderSize+n], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, fmt.Errorf("%w: record checksum mismatch", ErrCorrupt)
	}
	return int(n), nil
}
