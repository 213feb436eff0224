package amqp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// FrameType is the type byte of a frame header.
type FrameType uint8

// The frame types of AMQP 1.0.
const (
	FrameAMQP FrameType = 0
	FrameSASL FrameType = 1
)

// frameHeaderSize is the fixed part of a frame header: size (4), data
// offset (1), type (1), type-specific (2, the channel for AMQP frames).
const frameHeaderSize = 8

// Frame is one frame read from the wire. Body is the frame body after the
// header and any extended header: the performative and, for a transfer,
// the payload. An empty Body is an empty frame, which peers send as a
// heartbeat.
type Frame struct {
	Type    FrameType
	Channel uint16
	Body    []byte
}

// IsHeartbeat reports whether f is an empty frame.
func (f Frame) IsHeartbeat() bool { return len(f.Body) == 0 }

// ParseFrame parses one frame at the start of b and returns it with the
// number of bytes it took. It returns n == 0 and no error when b holds
// less than a whole frame. A frame larger than maxFrameSize fails with
// ErrFrameTooLarge as soon as its header is seen. Body aliases b.
func ParseFrame(b []byte, maxFrameSize uint32) (Frame, int, error) {
	if len(b) < frameHeaderSize {
		return Frame{}, 0, nil
	}
	size, err := checkFrameHeader(b, maxFrameSize)
	if err != nil {
		return Frame{}, 0, err
	}
	if uint64(len(b)) < uint64(size) {
		return Frame{}, 0, nil
	}
	return frameOf(b[:size]), int(size), nil
}

// checkFrameHeader validates the eight header bytes in h and returns the
// frame size.
func checkFrameHeader(h []byte, maxFrameSize uint32) (uint32, error) {
	size := binary.BigEndian.Uint32(h)
	doff := h[4]
	switch {
	case size < frameHeaderSize:
		return 0, fmt.Errorf("%w: frame size %d is below the 8-byte header", ErrFraming, size)
	case maxFrameSize != 0 && size > maxFrameSize:
		return 0, fmt.Errorf("%w: frame of %d bytes, max-frame-size is %d", ErrFrameTooLarge, size, maxFrameSize)
	case doff < 2:
		return 0, fmt.Errorf("%w: data offset %d is below the minimum 2", ErrFraming, doff)
	case uint32(doff)*4 > size:
		return 0, fmt.Errorf("%w: data offset %d (%d bytes) runs past the frame's %d bytes", ErrFraming, doff, uint32(doff)*4, size)
	case FrameType(h[5]) != FrameAMQP && FrameType(h[5]) != FrameSASL:
		return 0, fmt.Errorf("%w: unknown frame type %d", ErrFraming, h[5])
	}
	return size, nil
}

// frameOf builds a Frame from a whole frame already checked by
// checkFrameHeader. The extended header (between byte 8 and the data
// offset) is skipped: AMQP 1.0 defines nothing for it.
func frameOf(b []byte) Frame {
	doff := int(b[4]) * 4
	return Frame{Type: FrameType(b[5]), Channel: binary.BigEndian.Uint16(b[6:]), Body: b[doff:]}
}

// Reader reads protocol headers and frames from a byte stream. It is not
// safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	max uint32
	buf []byte // body storage for frames larger than br's buffer
}

// DefaultReadBufferSize is the Reader's buffer: frames that fit are
// returned without a copy.
const DefaultReadBufferSize = 64 << 10

// maxRetainedReadBuffer bounds the body buffer a Reader keeps between
// frames, so that one large message does not pin its size to an idle
// connection.
const maxRetainedReadBuffer = 1 << 20

// NewReader returns a Reader on r that refuses frames larger than
// maxFrameSize (0: no limit beyond the 4 GiB the size field allows).
func NewReader(r io.Reader, maxFrameSize uint32) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, DefaultReadBufferSize), max: maxFrameSize}
}

// SetMaxFrameSize changes the largest frame accepted from now on: the
// engine starts at what it will announce and never lowers it below that.
func (r *Reader) SetMaxFrameSize(n uint32) { r.max = n }

// MaxFrameSize returns the current limit.
func (r *Reader) MaxFrameSize() uint32 { return r.max }

// Buffered returns the number of bytes read from the stream but not yet
// returned, for a caller that hands the stream over (to TLS, say).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// HasFrame reports whether the bytes already read from the stream hold a
// whole frame, or a frame header ReadFrame refuses, so that the next
// ReadFrame returns without waiting for the peer. A frame larger than the
// read buffer is never whole in it, so never reported: a broker may hold
// what other connections wait for (its turn at an ingest gate) across a
// ReadFrame that HasFrame vouched for, and a peer that stops in the middle
// of a frame must not stretch that.
func (r *Reader) HasFrame() bool {
	n := r.br.Buffered()
	if n < frameHeaderSize {
		return false
	}
	h, _ := r.br.Peek(frameHeaderSize) // buffered: Peek does not read
	size, err := checkFrameHeader(h, r.max)
	if err != nil {
		return true // refused without reading
	}
	return int64(size) <= int64(n)
}

// ReadProtocolHeader reads an eight-byte protocol header. It fails with
// ErrBadHeader when the bytes do not start with "AMQP".
func (r *Reader) ReadProtocolHeader() (ProtocolHeader, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r.br, b[:]); err != nil {
		return ProtocolHeader{}, err
	}
	return ParseProtocolHeader(b[:])
}

// ReadFrame reads the next frame. The frame's Body is valid until the next
// call. The size is checked against the limit before any memory is set
// aside for the body. At the end of the stream it returns io.EOF if no
// byte of a new frame was read, io.ErrUnexpectedEOF otherwise.
func (r *Reader) ReadFrame() (Frame, error) {
	h, err := r.br.Peek(frameHeaderSize)
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	size, err := checkFrameHeader(h, r.max)
	if err != nil {
		return Frame{}, err
	}
	if int64(size) <= int64(r.br.Size()) {
		b, err := r.br.Peek(int(size))
		if err != nil {
			return Frame{}, unexpected(err)
		}
		f := frameOf(b)
		_, _ = r.br.Discard(int(size))
		return f, nil
	}
	// A frame larger than the buffer: read it into r.buf.
	if uint64(size) > math.MaxInt {
		return Frame{}, fmt.Errorf("%w: frame of %d bytes", ErrFrameTooLarge, size)
	}
	if cap(r.buf) < int(size) {
		r.buf = make([]byte, size)
	}
	b := r.buf[:size]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return Frame{}, unexpected(err)
	}
	f := frameOf(b)
	if cap(r.buf) > maxRetainedReadBuffer {
		r.buf = nil // f.Body keeps the memory alive until the caller drops it
	}
	return f, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends a whole frame to b: header, the encoded body and
// payload (a transfer's message bytes; nil otherwise).
func AppendFrame(b []byte, channel uint16, body FrameBody, payload []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, byte(body.frameType()), byte(channel>>8), byte(channel))
	b, err := body.appendTo(b)
	if err != nil {
		return b[:start], err
	}
	b = append(b, payload...)
	size := len(b) - start
	if uint64(size) > math.MaxUint32 {
		return b[:start], encodeErr("frame of %d bytes", size)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(size))
	return b, nil
}

// emptyFrame is the heartbeat frame: a header with no body.
var emptyFrame = []byte{0, 0, 0, 8, 2, byte(FrameAMQP), 0, 0}

// AppendHeartbeat appends an empty frame to b.
func AppendHeartbeat(b []byte) []byte { return append(b, emptyFrame...) }
