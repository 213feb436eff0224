package openwire

import "io"

// maxRetainedBuffer is the largest write buffer a Writer keeps between
// flushes, so that one big message does not pin its memory to an idle
// connection.
const maxRetainedBuffer = 4 << 20

// Writer encodes commands into a buffer and hands the whole buffer to the
// underlying writer on Flush, in one Write call, so that a burst of frames
// costs one system call. WriteCommand never performs I/O.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	enc encoder // its buf holds the frames waiting for Flush
	max int64
	err error // sticky: after a failed write the stream is broken
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// SetMaxFrameSize sets the largest frame the peer accepts, as negotiated;
// 0 means no limit. A larger command is refused by WriteCommand.
func (w *Writer) SetMaxFrameSize(n int64) { w.max = n }

// SetStackTraceEnabled sets whether throwables are written with stack
// traces, as negotiated. Off by default.
func (w *Writer) SetStackTraceEnabled(on bool) { w.enc.stackTrace = on }

// Buffered returns the number of encoded bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.enc.buf) }

// WriteCommand encodes ds into the buffer. A command that cannot be encoded
// (ErrInvalid) or is larger than the peer accepts (ErrFrameTooLarge) leaves
// the buffer as it was, so the stream stays usable.
func (w *Writer) WriteCommand(ds DataStructure) error {
	if w.err != nil {
		return w.err
	}
	return w.enc.frame(ds, w.max)
}

// Flush writes the buffered frames.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.enc.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.enc.buf)
	if cap(w.enc.buf) > maxRetainedBuffer {
		w.enc.buf = nil
	} else {
		w.enc.buf = w.enc.buf[:0]
	}
	if err != nil {
		w.err = err
	}
	return err
}
