package openwire

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxInflatedSize bounds the size of a compressed body once inflated, so
// that a small frame cannot make the broker allocate without limit.
const MaxInflatedSize = 256 << 20

// The body helpers below read and write Message.Content the way the Java
// client does for each message kind:
//
//   - TextMessage: a 32-bit length (-1 for a null text) and the text in
//     modified UTF-8.
//   - MapMessage: a primitive map.
//   - StreamMessage: typed values one after another.
//   - BytesMessage and ObjectMessage: the bytes as they are (an
//     ObjectMessage holds a Java-serialised object, opaque to a broker).
//
// A client with useCompression on deflates the body and sets Compressed.
// For a BytesMessage the compressed form is the uncompressed length (32
// bits) followed by a zlib stream; for the other kinds it is the zlib stream
// alone.

// UncompressedContent returns the body bytes with any compression undone.
// Without compression it returns Content itself.
func (x *Message) UncompressedContent() ([]byte, error) {
	if !x.Compressed || x.Content == nil {
		return x.Content, nil
	}
	if x.Kind == TypeBytesMessage {
		if len(x.Content) < 4 {
			return nil, fmt.Errorf("%w: a compressed bytes message body of %d bytes has no length", ErrMalformed, len(x.Content))
		}
		n := be32(x.Content)
		if n < 0 || n > MaxInflatedSize {
			return nil, fmt.Errorf("%w: a compressed bytes message body claims %d bytes (limit %d)", ErrMalformed, n, MaxInflatedSize)
		}
		zr, err := zlib.NewReader(bytes.NewReader(x.Content[4:]))
		if err != nil {
			return nil, fmt.Errorf("%w: compressed body: %v", ErrMalformed, err)
		}
		out := make([]byte, n)
		// Java inflates into a buffer of the stated length and keeps what
		// it got; so do we.
		got, err := io.ReadFull(zr, out)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: compressed body: %v", ErrMalformed, err)
		}
		return out[:got], nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(x.Content))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed body: %v", ErrMalformed, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxInflatedSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed body: %v", ErrMalformed, err)
	}
	if len(out) > MaxInflatedSize {
		return nil, fmt.Errorf("%w: a compressed body inflates past %d bytes", ErrMalformed, MaxInflatedSize)
	}
	return out, nil
}

// SetContent sets an uncompressed body of raw bytes: the body of a
// BytesMessage or the serialised object of an ObjectMessage.
func (x *Message) SetContent(b []byte) {
	x.Content = b
	x.Compressed = false
}

// Compress deflates the body as a Java client with useCompression does.
// A body already compressed, or absent, is left alone.
func (x *Message) Compress() error {
	if x.Compressed || x.Content == nil {
		return nil
	}
	var buf bytes.Buffer
	if x.Kind == TypeBytesMessage {
		if len(x.Content) > math.MaxInt32 {
			return fmt.Errorf("%w: a body of %d bytes", ErrInvalid, len(x.Content))
		}
		buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(x.Content))))
	}
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(x.Content); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	x.Content = buf.Bytes()
	x.Compressed = true
	return nil
}

// Text returns a TextMessage's text; a message without a body, or with a
// null text, yields "".
func (x *Message) Text() (string, error) {
	b, err := x.rawText()
	if err != nil || b == nil {
		return "", err
	}
	s, err := decodeMUTF8(b)
	if err != nil {
		return "", fmt.Errorf("text body: %w", err)
	}
	return s, nil
}

// AppendText appends a TextMessage's text, in UTF-8, to dst: Text without
// the string, for a caller that wants the bytes. A message without a body,
// or with a null text, appends nothing. Given a nil dst, it allocates once,
// as much as the encoded text takes (never less than the decoded one).
func (x *Message) AppendText(dst []byte) ([]byte, error) {
	b, err := x.rawText()
	if err != nil || b == nil {
		return dst, err
	}
	if dst == nil {
		dst = make([]byte, 0, len(b))
	}
	out, err := appendDecodedMUTF8(dst, b)
	if err != nil {
		return dst, fmt.Errorf("text body: %w", err)
	}
	return out, nil
}

// rawText returns the modified UTF-8 bytes of a TextMessage's text, nil
// for no body or a null text.
func (x *Message) rawText() ([]byte, error) {
	b, err := x.UncompressedContent()
	if err != nil || b == nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: a text body of %d bytes has no length", ErrMalformed, len(b))
	}
	n := be32(b)
	if n == -1 {
		return nil, nil
	}
	if n < 0 || int64(n) > int64(len(b)-4) {
		return nil, fmt.Errorf("%w: a text body claims %d bytes and holds %d", ErrMalformed, n, len(b)-4)
	}
	return b[4 : 4+n : 4+n], nil
}

// SetText sets a TextMessage's body to s, uncompressed.
func (x *Message) SetText(s string) {
	b := make([]byte, 4, 4+len(s)+len(s)/8)
	b = appendMUTF8(b, s)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	x.SetContent(b)
}

// MapBody decodes a MapMessage's body; a message without a body yields an
// empty map.
func (x *Message) MapBody() (*Map, error) {
	b, err := x.UncompressedContent()
	if err != nil {
		return nil, err
	}
	if b == nil {
		return NewMap(), nil
	}
	m, err := DecodeMap(b)
	if err != nil {
		return nil, fmt.Errorf("map body: %w", err)
	}
	if m == nil {
		m = NewMap()
	}
	return m, nil
}

// SetMapBody sets a MapMessage's body to m, uncompressed. The Java client
// sends an empty map as no body at all, and so does this.
func (x *Message) SetMapBody(m *Map) error {
	if m.Len() == 0 {
		x.SetContent(nil)
		return nil
	}
	b, err := AppendMap(nil, m)
	if err != nil {
		return fmt.Errorf("map body: %w", err)
	}
	x.SetContent(b)
	return nil
}

// StreamBody decodes a StreamMessage's body.
func (x *Message) StreamBody() ([]Value, error) {
	b, err := x.UncompressedContent()
	if err != nil {
		return nil, err
	}
	vs, err := DecodeStream(b)
	if err != nil {
		return nil, fmt.Errorf("stream body: %w", err)
	}
	return vs, nil
}

// SetStreamBody sets a StreamMessage's body to vs, uncompressed.
func (x *Message) SetStreamBody(vs []Value) error {
	b, err := AppendStream(nil, vs)
	if err != nil {
		return fmt.Errorf("stream body: %w", err)
	}
	if len(vs) == 0 {
		b = nil
	}
	x.SetContent(b)
	return nil
}
