package stomp

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// frameBuild is the state of a frame being built in a Writer's buffer
// (BeginFrame to EndFrame).
type frameBuild struct {
	on          bool
	start       int // where the frame starts in buf
	cmd         string
	mode        escaping
	bodyLen     int64
	wroteLength bool
	err         error // the first header that could not be written
}

// BeginFrame starts a frame of command cmd, whose body will be bodyLen
// bytes, encoded header by header straight into the buffer: the way to
// write a frame that is built once and written once, such as a MESSAGE for
// each delivery, without making a Frame and a string for each header
// value first. Add its headers with AddHeader, AddHeaderInt and
// AddHeaderUintPair, and finish it with EndFrame or EndFrameStream. The
// encoding is WriteFrame's: the same escaping, the same refusals, and a
// content-length with the true body length in place of the first
// content-length header.
func (w *Writer) BeginFrame(cmd string, bodyLen int64) {
	w.fb = frameBuild{on: true, start: len(w.buf), cmd: cmd, mode: escapeMode(w.version, cmd), bodyLen: bodyLen}
	if !isKnownCommand(cmd) {
		w.fb.err = fmt.Errorf("%w: cannot write %q: it is not a STOMP command", ErrBadFrame, cmd)
		return
	}
	w.buf = append(w.buf, cmd...)
	w.buf = append(w.buf, '\n')
}

// AddHeader adds a header to the frame begun by BeginFrame.
func (w *Writer) AddHeader(key, value string) {
	if w.fb.err != nil {
		return
	}
	if key == HdrContentLength && !w.fb.wroteLength {
		w.addLength()
		return
	}
	buf, err := appendHeader(w.buf, Header{Key: key, Value: value}, w.fb.mode)
	if err != nil {
		w.fb.err = fmt.Errorf("%w: cannot write %s frame header %q: %s", ErrBadFrame, w.fb.cmd, key, err.Error())
		return
	}
	w.buf = buf
}

// AddHeaderInt adds a header whose value is the decimal v.
func (w *Writer) AddHeaderInt(key string, v int64) {
	if w.fb.err != nil || !w.plainKey(key) {
		return
	}
	w.buf = strconv.AppendInt(w.buf, v, 10)
	w.buf = append(w.buf, '\n')
}

// AddHeaderPrefixedUint adds a header whose value is prefix followed by
// the decimal v (an id such as "ID:1234"). The prefix is escaped like any
// header text; it must not end with a carriage return.
func (w *Writer) AddHeaderPrefixedUint(key, prefix string, v uint64) {
	if w.fb.err != nil || !w.plainKey(key) {
		return
	}
	if w.fb.mode == escapeNone {
		if strings.IndexByte(prefix, '\n') >= 0 {
			w.fb.err = fmt.Errorf("%w: cannot write %s frame header %q: without escaping a header value cannot contain a newline", ErrBadFrame, w.fb.cmd, key)
			return
		}
		w.buf = append(w.buf, prefix...)
	} else {
		w.buf = appendEscaped(w.buf, prefix, w.fb.mode)
	}
	w.buf = strconv.AppendUint(w.buf, v, 10)
	w.buf = append(w.buf, '\n')
}

// AddHeaderUintPair adds a header whose value is two decimal numbers
// joined by sep (an id made of two parts, such as "7.1234"). sep must be
// a byte that needs no escaping.
func (w *Writer) AddHeaderUintPair(key string, a uint64, sep byte, b uint64) {
	if w.fb.err != nil || !w.plainKey(key) {
		return
	}
	w.buf = strconv.AppendUint(w.buf, a, 10)
	w.buf = append(w.buf, sep)
	w.buf = strconv.AppendUint(w.buf, b, 10)
	w.buf = append(w.buf, '\n')
}

// plainKey appends "key:" for a header whose value needs no escaping, and
// reports whether it did.
func (w *Writer) plainKey(key string) bool {
	if key == HdrContentLength && !w.fb.wroteLength {
		// The first content-length states the real length, whatever the
		// caller gives (WriteFrame's rule).
		w.addLength()
		return false
	}
	buf, err := appendHeader(w.buf, Header{Key: key}, w.fb.mode)
	if err != nil {
		w.fb.err = fmt.Errorf("%w: cannot write %s frame header %q: %s", ErrBadFrame, w.fb.cmd, key, err.Error())
		return false
	}
	w.buf = buf[:len(buf)-1] // drop the EOL after the empty value
	return true
}

// addLength writes the content-length header with the real length.
func (w *Writer) addLength() {
	w.buf = appendContentLength(w.buf, int(w.fb.bodyLen))
	w.fb.wroteLength = true
}

// endHead finishes the headers of the frame being built, or undoes the
// frame and returns the error that stopped it.
func (w *Writer) endHead() error {
	fb := w.fb
	w.fb = frameBuild{}
	if !fb.on {
		return fmt.Errorf("%w: a frame was ended that was not begun", ErrBadFrame)
	}
	if fb.err != nil {
		w.buf = w.buf[:fb.start]
		return fb.err
	}
	if !fb.wroteLength && fb.bodyLen > 0 {
		w.buf = appendContentLength(w.buf, int(fb.bodyLen))
	}
	w.buf = append(w.buf, '\n')
	return nil
}

// EndFrame finishes the frame begun by BeginFrame with body, which must be
// the bodyLen bytes promised. A frame one of whose headers could not be
// written is taken out of the buffer whole, and the error (wrapping
// ErrBadFrame) returned, so the stream stays usable.
func (w *Writer) EndFrame(body []byte) error {
	if w.err != nil {
		w.fb = frameBuild{}
		return w.err
	}
	if fb := w.fb; fb.on && int64(len(body)) != fb.bodyLen {
		w.fb = frameBuild{}
		w.buf = w.buf[:fb.start]
		return fmt.Errorf("%w: a frame begun for a %d-byte body was ended with %d bytes", ErrBadFrame, fb.bodyLen, len(body))
	}
	if err := w.endHead(); err != nil {
		return err
	}
	w.buf = append(w.buf, body...)
	w.buf = append(w.buf, 0)
	if w.eol {
		w.buf = append(w.buf, '\n')
	}
	return nil
}

// EndFrameStream finishes the frame begun by BeginFrame with a body of
// bodyLen bytes read from body, as WriteFrameStream does: what is buffered
// is flushed and the body copied to the connection.
func (w *Writer) EndFrameStream(body io.Reader) error {
	if w.err != nil {
		w.fb = frameBuild{}
		return w.err
	}
	n, cmd := w.fb.bodyLen, w.fb.cmd
	if err := w.endHead(); err != nil {
		return err
	}
	return w.streamBody(cmd, n, body)
}
