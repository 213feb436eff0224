package openwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Default limits.
const (
	// DefaultMaxFrameSize is the largest frame a Reader accepts unless told
	// otherwise: ActiveMQ Classic's default limit.
	DefaultMaxFrameSize = 100 << 20
	// DefaultBufferSize is a Reader's buffer: frames up to this size are
	// decoded in place, without a copy.
	DefaultBufferSize = 64 << 10
	// maxRetainedScratch is the largest buffer kept between frames that do
	// not fit in the reader's buffer; bigger ones are left to the garbage
	// collector so an idle connection does not pin them.
	maxRetainedScratch = 1 << 20
)

// ReaderOptions configures a Reader. A zero field takes its default.
type ReaderOptions struct {
	// MaxFrameSize bounds a frame's size prefix. Default
	// DefaultMaxFrameSize.
	MaxFrameSize int
	// BufferSize is the size of the read buffer. Default
	// DefaultBufferSize.
	BufferSize int
	// Reuse makes the Reader decode every message (any of the six kinds),
	// MessageAck, MessageDispatch and Response into the same structs, the
	// identifiers, destinations and dispatched message nested in them
	// included, and leave the message's Content and MarshalledProperties
	// (and any other byte array in them) pointing into its read buffer. Such a command, and everything
	// reachable from it, is valid only until the next ReadFrame,
	// ReadCommand or Decode: a caller that keeps any of it must copy it.
	// Strings are ordinary Go strings and may be kept. Other commands are
	// decoded as without Reuse. A broker that converts each message as it
	// reads it, or a client that handles each dispatch before it reads
	// the next, saves a dozen allocations per message this way.
	Reuse bool
}

// Reader reads frames from a byte stream.
//
// ReadFrame's errors leave the stream out of step and the connection should
// be closed: an I/O error, io.EOF between frames, io.ErrUnexpectedEOF inside
// one, a size prefix over the limit (ErrFrameTooLarge) or not positive
// (ErrMalformed). ReadCommand adds decoding errors — ErrMalformed and
// ErrUnsupportedType — which concern one frame only: it has been consumed
// and the next read starts at the next frame.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	max     int
	pending int // bytes of the last frame still to discard from br
	scratch []byte
	dec     decoder
	recent  recentStrings
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader, opts ReaderOptions) *Reader {
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = DefaultMaxFrameSize
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	rd := &Reader{br: bufio.NewReaderSize(r, opts.BufferSize), max: opts.MaxFrameSize}
	rd.dec.recent = &rd.recent
	if opts.Reuse {
		rd.dec.arena = new(arena)
	}
	return rd
}

// SetStackTraceEnabled sets whether throwables carry stack traces, as
// negotiated. Off by default, as tandem negotiates.
func (r *Reader) SetStackTraceEnabled(on bool) { r.dec.stackTrace = on }

// SetMaxFrameSize changes the frame size limit for the frames that follow.
func (r *Reader) SetMaxFrameSize(n int) {
	if n > 0 {
		r.max = n
	}
}

// Buffered returns the number of bytes read from the stream but not yet
// returned as frames: a reader that sees fewer than a frame's worth knows
// its next read may wait for the peer (and can flush its own writes
// first).
func (r *Reader) Buffered() int { return r.br.Buffered() - r.pending }

// HasFrame reports whether the bytes already read from the stream hold a
// whole frame, or a size prefix ReadFrame refuses, so that the next
// ReadFrame returns without waiting for the peer. A frame larger than the
// read buffer is never reported, since reading it may wait: a broker can
// hold something others wait for across a ReadFrame that HasFrame vouched
// for, which a peer that stops halfway through a frame cannot then stretch.
func (r *Reader) HasFrame() bool {
	n := r.br.Buffered() - r.pending
	if n < 4 {
		return false
	}
	b, _ := r.br.Peek(r.pending + 4) // all buffered: Peek does not read
	size := int64(int32(binary.BigEndian.Uint32(b[r.pending:])))
	if size <= 0 || size > int64(r.max) {
		return true // refused without reading
	}
	return 4+size <= int64(n)
}

// ReadFrame reads one frame and returns its type byte and body, without
// the size prefix. The slice is valid until the next call.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.pending > 0 {
		if _, err := r.br.Discard(r.pending); err != nil {
			return nil, err
		}
		r.pending = 0
	}
	hdr, err := r.br.Peek(4)
	if err != nil {
		if len(hdr) > 0 && errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	size := int64(int32(binary.BigEndian.Uint32(hdr)))
	if size <= 0 {
		return nil, fmt.Errorf("%w: frame size %d", ErrMalformed, size)
	}
	if size > int64(r.max) {
		return nil, fmt.Errorf("%w: a frame of %d bytes, the limit is %d", ErrFrameTooLarge, size, r.max)
	}
	total := 4 + int(size)
	if total <= r.br.Size() {
		b, err := r.br.Peek(total)
		if err != nil {
			return nil, unexpected(err)
		}
		r.pending = total
		return b[4:], nil
	}
	if _, err := r.br.Discard(4); err != nil {
		return nil, unexpected(err)
	}
	buf := r.scratch
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return nil, unexpected(err)
	}
	if cap(buf) <= maxRetainedScratch {
		r.scratch = buf
	} else {
		r.scratch = nil
	}
	return buf, nil
}

// ReadCommand reads and decodes one frame: a *WireFormatInfo first, then
// commands.
func (r *Reader) ReadCommand() (DataStructure, error) {
	frame, err := r.ReadFrame()
	if err != nil {
		return nil, err
	}
	return r.dec.frame(frame)
}

// Decode decodes a frame that ReadFrame returned, as ReadCommand would.
// A broker that reads with ReadFrame and Decode keeps the frame at hand
// when decoding fails, so that ParseHeader can still find the command ID
// to answer.
func (r *Reader) Decode(frame []byte) (DataStructure, error) {
	return r.dec.frame(frame)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
