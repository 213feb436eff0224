package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// BodyKind says what a message body holds, in the terms of the JMS message
// types every protocol can be mapped onto (docs/protocols.md).
type BodyKind uint8

// Body kinds. Their numbers are stored: append, never renumber. The zero
// value is BodyBytes because a body of unknown kind (every message written
// before body kinds existed) is delivered as the bytes it is.
const (
	// BodyBytes is opaque bytes: a JMS BytesMessage, an AMQP data section,
	// an MQTT payload, a STOMP body sent with content-length.
	BodyBytes BodyKind = iota
	// BodyText is UTF-8 text: a JMS TextMessage, an AMQP amqp-value string,
	// a STOMP body sent without content-length.
	BodyText
	// BodyMap is a map of typed entries in the neutral map encoding
	// (EncodeMap): a JMS MapMessage, an AMQP amqp-value map.
	BodyMap
	// BodyList is a sequence of typed values in the neutral list encoding
	// (EncodeList): a JMS StreamMessage, an AMQP amqp-value list or
	// amqp-sequence.
	BodyList
	// BodyObject is a serialized object the broker never looks into: a JMS
	// ObjectMessage.
	BodyObject
	// BodyNone is a message without a body: a plain JMS Message.
	BodyNone
	bodyKindCount
)

var bodyKindNames = [bodyKindCount]string{"bytes", "text", "map", "list", "object", "none"}

// String returns the body kind's name.
func (k BodyKind) String() string {
	if k < bodyKindCount {
		return bodyKindNames[k]
	}
	return fmt.Sprintf("body(%d)", uint8(k))
}

// Valid reports whether k is a body kind this build knows.
func (k BodyKind) Valid() bool { return k < bodyKindCount }

// ErrBadBody reports a map or list body that does not decode.
var ErrBadBody = errors.New("message: malformed map or list body")

// EncodeMap encodes the entries of a map body: a uvarint count, then per
// entry its key, its kind and its value text, each string length-prefixed
// with a uvarint. Entries keep their order.
func EncodeMap(entries []Property) []byte {
	b := binary.AppendUvarint(nil, uint64(len(entries)))
	for _, e := range entries {
		b = appendStr(b, e.Key)
		b = append(b, byte(e.Kind))
		b = appendStr(b, e.Value)
	}
	return b
}

// DecodeMap decodes a body written by EncodeMap.
func DecodeMap(p []byte) ([]Property, error) {
	return decodeEntries(p, true)
}

// EncodeList encodes the values of a list body as EncodeMap encodes
// entries, without keys.
func EncodeList(values []Property) []byte {
	b := binary.AppendUvarint(nil, uint64(len(values)))
	for _, v := range values {
		b = append(b, byte(v.Kind))
		b = appendStr(b, v.Value)
	}
	return b
}

// DecodeList decodes a body written by EncodeList; the values have no keys.
func DecodeList(p []byte) ([]Property, error) {
	return decodeEntries(p, false)
}

func decodeEntries(p []byte, keyed bool) ([]Property, error) {
	d := decoder{b: p}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(p)) {
		return nil, ErrBadBody
	}
	out := make([]Property, 0, n)
	for i := uint64(0); i < n; i++ {
		var e Property
		if keyed {
			e.Key = string(d.raw())
		}
		e.Kind = Kind(d.byte())
		e.Value = string(d.raw())
		if d.err != nil || !e.Kind.Valid() || !e.Check() {
			return nil, ErrBadBody
		}
		out = append(out, e)
	}
	if len(d.b) != 0 {
		return nil, ErrBadBody
	}
	return out, nil
}

// RenderBody renders a body for a reader that wants text (the console, `tandem
// data print`, a STOMP consumer of a map): text and bytes as they are, a map
// as {k=v, ...}, a list as [v, ...].
func RenderBody(kind BodyKind, body []byte) string {
	switch kind {
	case BodyMap:
		es, err := DecodeMap(body)
		if err != nil {
			return string(body)
		}
		var b strings.Builder
		b.WriteByte('{')
		for i, e := range es {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.Key)
			b.WriteByte('=')
			b.WriteString(e.Text())
		}
		b.WriteByte('}')
		return b.String()
	case BodyList:
		vs, err := DecodeList(body)
		if err != nil {
			return string(body)
		}
		var b strings.Builder
		b.WriteByte('[')
		for i, v := range vs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.Text())
		}
		b.WriteByte(']')
		return b.String()
	}
	return string(body)
}

// JSON renders a map body as a JSON object and a list body as a JSON
// array, for protocols without typed bodies (STOMP, MQTT): numbers and
// booleans as JSON numbers and booleans, null as null, binary as a base64
// string, everything else as a string. ok is false for other body kinds
// and for a body that does not decode.
func JSON(kind BodyKind, body []byte) (out []byte, ok bool) {
	var es []Property
	var err error
	switch kind {
	case BodyMap:
		es, err = DecodeMap(body)
	case BodyList:
		es, err = DecodeList(body)
	default:
		return nil, false
	}
	if err != nil {
		return nil, false
	}
	open, close := byte('{'), byte('}')
	if kind == BodyList {
		open, close = '[', ']'
	}
	b := []byte{open}
	for i, e := range es {
		if i > 0 {
			b = append(b, ',')
		}
		if kind == BodyMap {
			b = appendJSONString(b, e.Key)
			b = append(b, ':')
		}
		b = appendJSONValue(b, e)
	}
	return append(b, close), true
}

func appendJSONValue(b []byte, p Property) []byte {
	switch {
	case p.Kind == KindNull:
		return append(b, "null"...)
	case p.Kind == KindBool:
		return append(b, p.Value...)
	case p.Kind.Numeric():
		if f, ok := p.AsFloat64(); ok && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return append(b, p.Value...)
		}
	}
	return appendJSONString(b, p.Text())
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[r>>4], hexd[r&15])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
