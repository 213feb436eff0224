package amqp

import (
	"io"
)

// maxRetainedWriteBuffer bounds the write buffer a Writer keeps between
// flushes, for the same reason as the Reader's.
const maxRetainedWriteBuffer = 4 << 20

// Writer encodes headers and frames into a buffer and hands the whole
// buffer to the underlying writer on Flush, in one Write call, so that a
// burst of frames costs one system call. The Write methods never perform
// I/O; callers that queue much flush early, watching Buffered. It is not
// safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
	max uint32
	err error // sticky: after a failed write the stream is broken
}

// NewWriter returns a Writer on w that checks no frame size until
// SetMaxFrameSize is called.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// SetMaxFrameSize sets the peer's max-frame-size: WriteFrame refuses
// larger frames and WriteTransfer cuts messages to fit.
func (w *Writer) SetMaxFrameSize(n uint32) { w.max = n }

// MaxFrameSize returns the limit set by SetMaxFrameSize (0: none).
func (w *Writer) MaxFrameSize() uint32 { return w.max }

// Buffered returns the number of encoded bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// WriteProtocolHeader buffers a protocol header.
func (w *Writer) WriteProtocolHeader(h ProtocolHeader) {
	b := h.Bytes()
	w.buf = append(w.buf, b[:]...)
}

// WriteHeartbeat buffers an empty frame.
func (w *Writer) WriteHeartbeat() { w.buf = AppendHeartbeat(w.buf) }

// WriteFrame buffers a frame carrying body (and payload, for a transfer
// whose message fits one frame). A frame that cannot be encoded or is
// larger than the peer's max-frame-size is refused with an error wrapping
// ErrEncode, and the buffer is left as it was.
func (w *Writer) WriteFrame(channel uint16, body FrameBody, payload []byte) error {
	start := len(w.buf)
	b, err := AppendFrame(w.buf, channel, body, payload)
	if err != nil {
		w.buf = b[:start]
		return err
	}
	if w.max != 0 && uint64(len(b)-start) > uint64(w.max) {
		w.buf = b[:start]
		return encodeErr("frame of %d bytes exceeds the peer's max-frame-size %d", len(b)-start, w.max)
	}
	w.buf = b
	return nil
}

// WriteTransfer buffers the transfer frames that carry one message:
// one frame when it fits the peer's max-frame-size, else as many as
// needed, cut as AppendTransfer does.
func (w *Writer) WriteTransfer(channel uint16, t *Transfer, payload []byte) error {
	start := len(w.buf)
	b, err := AppendTransfer(w.buf, channel, t, payload, w.max)
	if err != nil {
		w.buf = b[:start]
		return err
	}
	w.buf = b
	return nil
}

// WriteRaw buffers bytes already encoded (a frame prepared elsewhere).
func (w *Writer) WriteRaw(p []byte) { w.buf = append(w.buf, p...) }

// Flush writes everything buffered. After a failed write every later
// Flush returns the same error.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if err != nil {
		w.err = err
		return err
	}
	if cap(w.buf) > maxRetainedWriteBuffer {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// WriteNextTransfer buffers the next frame of the message s is cutting,
// for a sender that writes a message's frames as its session window
// allows (WriteTransfer writes them all at once).
func (w *Writer) WriteNextTransfer(s *TransferSplitter) error {
	start := len(w.buf)
	b, err := s.AppendNext(w.buf)
	if err != nil {
		w.buf = b[:start]
		return err
	}
	w.buf = b
	return nil
}
