package openwire

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"tandem/internal/message"
	wire "tandem/internal/wire/openwire"
)

// Conversion between OpenWire messages and the protocol-neutral model, as
// docs/protocols.md tables it. Everything a JMS application can observe
// maps onto a neutral field, so a message converted in and out again is the
// same to the application. The exceptions — a Map or List value nested in
// a property or a MapMessage body, which ActiveMQ allows and the neutral
// model flattens to text — keep the producer's marshalled message as
// Extra.Native, from which an OpenWire consumer gets the body and
// properties as sent.

const classMessageFormat = "javax.jms.MessageFormatException"

// withExtra is a message and its Extra in one allocation: nearly every
// message from a JMS client has an Extra (its message id at least).
type withExtra struct {
	m  message.Message
	ex message.Extra
}

// toMessage converts a message the client sent. Address and routing type
// are left to the caller. x may be the reader's reused message, whose
// Content points into the read buffer: what the result keeps is copied.
func (c *conn) toMessage(x *wire.Message) (*message.Message, error) {
	we := &withExtra{m: message.Message{
		Durable:    x.Persistent,
		Priority:   min(x.Priority, message.MaxPriority),
		Timestamp:  x.Timestamp,
		Expiration: max(x.Expiration, 0),
	}}
	m := &we.m
	nested := false
	switch x.Kind {
	case wire.TypeTextMessage:
		b, err := x.AppendText(nil)
		if err != nil {
			return nil, errorf(classMessageFormat, "the TextMessage body does not decode: %v", err)
		}
		if b == nil {
			b = []byte{} // a null text reads as an empty one
		}
		m.BodyKind, m.Body = message.BodyText, b
	case wire.TypeBytesMessage, wire.TypeObjectMessage:
		b, err := x.UncompressedContent()
		if err != nil {
			return nil, errorf(classMessageFormat, "the message body does not decode: %v", err)
		}
		if !x.Compressed && b != nil {
			b = append(make([]byte, 0, len(b)), b...) // Content is the reader's
		}
		m.BodyKind, m.Body = message.BodyBytes, b
		if x.Kind == wire.TypeObjectMessage {
			m.BodyKind = message.BodyObject
		}
	case wire.TypeMapMessage:
		mb, err := x.MapBody()
		if err != nil {
			return nil, errorf(classMessageFormat, "the MapMessage body does not decode: %v", err)
		}
		entries := make([]message.Property, 0, mb.Len())
		for k, v := range mb.All() {
			p, n := neutralValue(k, v)
			nested = nested || n
			entries = append(entries, p)
		}
		m.BodyKind, m.Body = message.BodyMap, message.EncodeMap(entries)
	case wire.TypeStreamMessage:
		vs, err := x.StreamBody()
		if err != nil {
			return nil, errorf(classMessageFormat, "the StreamMessage body does not decode: %v", err)
		}
		values := make([]message.Property, 0, len(vs))
		for _, v := range vs {
			p, n := neutralValue("", v)
			nested = nested || n
			values = append(values, p)
		}
		m.BodyKind, m.Body = message.BodyList, message.EncodeList(values)
	default:
		m.BodyKind = message.BodyNone
	}
	if x.MarshalledProperties != nil {
		props, err := x.Properties()
		if err != nil {
			return nil, errorf(classMessageFormat, "the message properties do not decode: %v", err)
		}
		m.Properties = make([]message.Property, 0, props.Len()+1)
		for k, v := range props.All() {
			p, n := neutralValue(k, v)
			nested = nested || n
			m.Properties = append(m.Properties, p)
		}
	}
	ex := &we.ex
	ex.CorrelationID = x.CorrelationID
	ex.ReplyTo = canonical(x.ReplyTo)
	ex.Type = x.Type
	ex.UserID = x.UserID
	ex.GroupID, ex.GroupSeq = x.GroupID, x.GroupSequence
	if x.MessageID != nil {
		ex.MessageID = messageIDText(x.MessageID)
	}
	// A persistent message from a failover client carries its OpenWire id
	// as its duplicate id, so that a send the client replays after losing
	// its connection is answered from the store's duplicate cache instead
	// of storing the message twice. A client without a failover URL never
	// replays a send, and its messages are spared the cache's cost (a
	// journal record per message), as Artemis spares them.
	if x.Persistent && c.faultTolerant && ex.MessageID != "" {
		if _, ok := m.Property(message.PropDuplicateID); !ok {
			m.Properties = append(m.Properties, message.Str(message.PropDuplicateID, ex.MessageID))
		}
	}
	if nested {
		keep := *x
		keep.TransactionID, keep.Destination, keep.ProducerID = nil, nil, nil
		if data, err := wire.Marshal(&keep); err == nil {
			ex.Native = &message.Native{Format: message.NativeOpenWire, Data: data}
		}
	}
	if *ex != (message.Extra{}) {
		m.Extra = ex
	}
	return m, nil
}

// neutralValue converts one typed OpenWire value; nested reports a Map or
// List, which the neutral model keeps only as text.
func neutralValue(key string, v wire.Value) (p message.Property, nested bool) {
	switch v.Type() {
	case wire.ValueNull:
		return message.Null(key), false
	case wire.ValueBool:
		return message.Bool(key, v.Any().(bool)), false
	case wire.ValueByte:
		return message.Int64(key, message.KindByte, int64(v.Any().(int8))), false
	case wire.ValueShort:
		return message.Int64(key, message.KindShort, int64(v.Any().(int16))), false
	case wire.ValueInt:
		return message.Int64(key, message.KindInt, int64(v.Any().(int32))), false
	case wire.ValueLong:
		return message.Int64(key, message.KindLong, v.Any().(int64)), false
	case wire.ValueFloat:
		return message.Float(key, v.Any().(float32)), false
	case wire.ValueDouble:
		return message.Double(key, v.Any().(float64)), false
	case wire.ValueChar:
		u := v.Any().(uint16)
		if utf16.IsSurrogate(rune(u)) {
			// A lone surrogate is a valid Java char but no character.
			return message.Char(key, utf8.RuneError), true
		}
		return message.Char(key, rune(u)), false
	case wire.ValueBytes:
		return message.Binary(key, v.Any().([]byte)), false
	case wire.ValueMap, wire.ValueList:
		return message.Str(key, v.String()), true
	}
	return message.Str(key, v.String()), false
}

// wireValue converts a neutral property value to the Java type
// docs/protocols.md gives it.
func wireValue(p message.Property) wire.Value {
	switch p.Kind {
	case message.KindNull:
		return wire.Null()
	case message.KindBool:
		return wire.Bool(p.Value == "true")
	case message.KindByte:
		n, _ := strconv.ParseInt(p.Value, 10, 8)
		return wire.Byte(int8(n))
	case message.KindShort, message.KindUByte:
		n, _ := strconv.ParseInt(p.Value, 10, 16)
		return wire.Short(int16(n))
	case message.KindInt, message.KindUShort:
		n, _ := strconv.ParseInt(p.Value, 10, 32)
		return wire.Int(int32(n))
	case message.KindLong, message.KindUInt, message.KindTimestamp:
		n, _ := strconv.ParseInt(p.Value, 10, 64)
		return wire.Long(n)
	case message.KindULong:
		if n, err := strconv.ParseUint(p.Value, 10, 64); err == nil && n <= math.MaxInt64 {
			return wire.Long(int64(n))
		}
		return wire.String(p.Value)
	case message.KindFloat:
		f, _ := strconv.ParseFloat(p.Value, 32)
		return wire.Float(float32(f))
	case message.KindDouble:
		f, _ := strconv.ParseFloat(p.Value, 64)
		return wire.Double(f)
	case message.KindBinary:
		return wire.Bytes([]byte(p.Value))
	case message.KindChar:
		r, _ := utf8.DecodeRuneInString(p.Value)
		return wire.Char(uint16(r))
	}
	return wire.String(p.Value)
}

// wireKind is the OpenWire message type of a body kind.
func wireKind(k message.BodyKind) wire.DataType {
	switch k {
	case message.BodyText:
		return wire.TypeTextMessage
	case message.BodyMap:
		return wire.TypeMapMessage
	case message.BodyList:
		return wire.TypeStreamMessage
	case message.BodyObject:
		return wire.TypeObjectMessage
	case message.BodyNone:
		return wire.TypeMessage
	}
	return wire.TypeBytesMessage
}

// setBody encodes a neutral body into x, whose Kind is set.
func setBody(x *wire.Message, kind message.BodyKind, body []byte) error {
	switch kind {
	case message.BodyText:
		x.SetText(string(body))
	case message.BodyMap:
		es, err := message.DecodeMap(body)
		if err != nil {
			return err
		}
		mb := wire.NewMap()
		for _, e := range es {
			mb.Set(e.Key, wireValue(e))
		}
		return x.SetMapBody(mb)
	case message.BodyList:
		vs, err := message.DecodeList(body)
		if err != nil {
			return err
		}
		out := make([]wire.Value, len(vs))
		for i, v := range vs {
			out[i] = wireValue(v)
		}
		return x.SetStreamBody(out)
	case message.BodyNone:
	default:
		x.SetContent(body)
	}
	return nil
}

// producerSeq is the ProducerSequenceID of m's OpenWire id, as
// fillMessageID sets it, without building the id: every ack checks one.
func (c *conn) producerSeq(m *message.Message) int64 {
	if _, seq, ok := parseMessageID(m.MessageID()); ok {
		return seq
	}
	return int64(m.ID)
}

// isMessage reports whether id names m: the producer id and sequence
// fillMessageID gives m, whatever broker sequence number id carries.
func (c *conn) isMessage(m *message.Message, id *wire.MessageID) bool {
	p, seq, ok := parseMessageID(m.MessageID())
	if !ok {
		p, seq = wire.ProducerID{ConnectionID: c.idPrefix}, int64(m.ID)
	}
	q := id.ProducerID
	return seq == id.ProducerSequenceID && p.ConnectionID == q.ConnectionID && p.SessionID == q.SessionID && p.Value == q.Value
}

// fillMessageID sets mid, with pid as its producer, to m's OpenWire id:
// the producer's own when it came by OpenWire, else one made up from the
// broker's message id, which stays the same for the message's every
// delivery (the client drops a redelivery of an id it has seen as a
// duplicate, so ids must never be reused for another message).
func (c *conn) fillMessageID(m *message.Message, mid *wire.MessageID, pid *wire.ProducerID) {
	text := m.MessageID()
	*mid = wire.MessageID{ProducerID: pid}
	if p, seq, ok := parseMessageID(text); ok {
		*pid, mid.ProducerSequenceID = p, seq
		return
	}
	*pid = wire.ProducerID{ConnectionID: c.idPrefix}
	mid.ProducerSequenceID = int64(m.ID)
	if text != "" {
		// Another protocol's id is what the application sees as
		// JMSMessageID; the made-up one keeps the client's duplicate check
		// working.
		if !strings.HasPrefix(text, "ID:") {
			text = "ID:" + text
		}
		mid.TextView = text
	}
}

// messageIDText is id.String() built in one allocation: it is made for
// every message sent.
func messageIDText(id *wire.MessageID) string {
	if id.TextView != "" || id.ProducerID == nil {
		return id.String()
	}
	p := id.ProducerID
	var buf [128]byte // on the stack: the string is the one allocation
	b := append(buf[:0], p.ConnectionID...)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.SessionID, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.Value, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, id.ProducerSequenceID, 10)
	return string(b)
}

// parseMessageID reads an OpenWire message id in its text form,
// "connection:session:producer:sequence" (the connection id holds colons
// of its own), as Java's MessageId(String) does.
func parseMessageID(s string) (wire.ProducerID, int64, bool) {
	cut := func(s string) (string, int64, bool) {
		i := strings.LastIndexByte(s, ':')
		if i <= 0 {
			return "", 0, false
		}
		n, err := strconv.ParseInt(s[i+1:], 10, 64)
		return s[:i], n, err == nil
	}
	rest, seq, ok := cut(s)
	if !ok || !strings.HasPrefix(s, "ID:") {
		return wire.ProducerID{}, 0, false
	}
	rest, value, ok := cut(rest)
	if !ok {
		return wire.ProducerID{}, 0, false
	}
	conn, session, ok := cut(rest)
	if !ok || conn == "" {
		return wire.ProducerID{}, 0, false
	}
	return wire.ProducerID{ConnectionID: conn, SessionID: session, Value: value}, seq, true
}
