package amqp

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tandem/internal/message"
	wire "tandem/internal/wire/amqp"
)

// Conversion between AMQP messages and the broker's (docs/protocols.md).
// An AMQP message keeps its encoding beside the neutral fields every
// other protocol reads; a message from another protocol is built into
// sections when an AMQP consumer takes it.

// contentTypeJavaObject is the content-type of a serialized Java object,
// which Qpid JMS sends an ObjectMessage as.
const contentTypeJavaObject = "application/x-java-serialized-object"

// toMessage builds the broker message for an AMQP message sent to d.
func toMessage(pm *wire.Message, d dest, now time.Time) (*message.Message, error) {
	h := pm.Header()
	m := &message.Message{Address: d.address, RoutingType: d.rt, Durable: h.Durable,
		Priority: min(h.EffectivePriority(), message.MaxPriority)}
	ann, err := pm.Annotations()
	if err != nil {
		return nil, err
	}
	nowMs := now.UnixMilli()
	var x message.Extra
	msgType, hasMsgType := ann.JMSMsgType()
	if p := pm.Properties(); p != nil {
		x.MessageID = idText(p.MessageID)
		x.CorrelationID = idText(p.CorrelationID)
		x.ContentType = string(p.ContentType)
		x.Type = p.Subject
		x.UserID = string(p.UserID)
		x.GroupID = p.GroupID
		if seq, ok := p.GroupSequence.Get(); ok {
			x.GroupSeq = int32(seq)
		}
		if p.ReplyTo != "" {
			x.ReplyTo = replyToIn(p.ReplyTo, ann)
		}
		m.Timestamp = int64(p.CreationTime)
		m.Expiration = int64(p.AbsoluteExpiryTime)
	}
	if ttl, ok := h.TTL.Get(); ok && ttl > 0 && m.Expiration == 0 {
		m.Expiration = nowMs + int64(ttl)
	}
	if t, ok := ann.DeliveryTime(); ok && t > 0 {
		m.ScheduledTime = int64(t)
	} else if delay, ok := ann.DeliveryDelay(); ok && delay > 0 {
		m.ScheduledTime = nowMs + delay
	}
	app, err := pm.ApplicationPropertiesMap()
	if err != nil {
		return nil, err
	}
	if len(app) > 0 {
		m.Properties = make([]message.Property, 0, len(app))
		for _, e := range app {
			k, ok := e.Key.(string)
			if !ok {
				return nil, fmt.Errorf("%w: an application-properties key is a %T, not a string", wire.ErrDecode, e.Key)
			}
			m.Properties = append(m.Properties, propertyOf(k, e.Value))
		}
	}
	if err := setBody(m, pm, x.ContentType, msgType, hasMsgType); err != nil {
		return nil, err
	}
	raw := pm.Raw()
	if _, ok := pm.Span(wire.SectionDeliveryAnnotations); ok {
		// Delivery-annotations are meant for this hop alone.
		raw = pm.AppendForDelivery(nil, h.DeliveryCount, h.FirstAcquirer)
	}
	x.Native = &message.Native{Format: message.NativeAMQP, Data: raw}
	m.Extra = &x
	return m, nil
}

// setBody fills the neutral body of m from the AMQP body.
func setBody(m *message.Message, pm *wire.Message, contentType string, msgType byte, hasMsgType bool) error {
	switch pm.BodyKind() {
	case wire.BodyData:
		parts := pm.Data()
		if len(parts) == 1 {
			m.Body = parts[0]
		} else {
			for _, p := range parts {
				m.Body = append(m.Body, p...)
			}
		}
		m.BodyKind = message.BodyBytes
		if (hasMsgType && msgType == wire.JMSMsgTypeObject) || contentType == contentTypeJavaObject {
			m.BodyKind = message.BodyObject
		}
	case wire.BodyValue:
		if s, ok := stringValue(pm); ok {
			m.Body, m.BodyKind = s, message.BodyText
			return nil
		}
		v, _, err := pm.Value()
		if err != nil {
			return err
		}
		switch v := v.(type) {
		case nil:
			m.BodyKind = message.BodyNone
		case []byte:
			m.Body, m.BodyKind = v, message.BodyBytes
		case wire.Map:
			entries := make([]message.Property, 0, len(v))
			for _, e := range v {
				entries = append(entries, propertyOf(keyText(e.Key), e.Value))
			}
			m.Body, m.BodyKind = message.EncodeMap(entries), message.BodyMap
		case wire.List:
			m.Body, m.BodyKind = message.EncodeList(listProperties(v)), message.BodyList
		default:
			// A single number, a symbol...: text for everyone else.
			m.Body, m.BodyKind = []byte(propertyOf("", v).Text()), message.BodyText
		}
	case wire.BodySequence:
		seqs, err := pm.Sequence()
		if err != nil {
			return err
		}
		var all wire.List
		for _, s := range seqs {
			all = append(all, s...)
		}
		m.Body, m.BodyKind = message.EncodeList(listProperties(all)), message.BodyList
	default:
		m.BodyKind = message.BodyNone
	}
	return nil
}

// stringValue returns the bytes of an amqp-value string body where they
// lie in the message, so a text body costs no copy.
func stringValue(pm *wire.Message) ([]byte, bool) {
	spans := pm.BodySpans()
	if len(spans) != 1 {
		return nil, false
	}
	b := pm.Raw()[spans[0].Start:spans[0].End]
	// 00 53 77 is the amqp-value descriptor as every client writes it.
	if len(b) < 5 || b[0] != 0 || b[1] != 0x53 || b[2] != 0x77 {
		return nil, false
	}
	switch b[3] {
	case 0xa1:
		if int(b[4]) == len(b)-5 {
			return b[5:], true
		}
	case 0xb1:
		if len(b) >= 8 && int(uint32(b[4])<<24|uint32(b[5])<<16|uint32(b[6])<<8|uint32(b[7])) == len(b)-8 {
			return b[8:], true
		}
	}
	return nil, false
}

func listProperties(l wire.List) []message.Property {
	out := make([]message.Property, 0, len(l))
	for _, v := range l {
		out = append(out, propertyOf("", v))
	}
	return out
}

// keyText renders a map body's key; JMS map keys are strings.
func keyText(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case wire.Symbol:
		return string(k)
	}
	return propertyOf("", k).Text()
}

// propertyOf converts an AMQP value into a typed property. Values no
// property kind holds (lists, maps, described values, decimals) become
// their text, as docs/protocols.md says of nested values.
func propertyOf(key string, v any) message.Property {
	switch v := v.(type) {
	case string:
		return message.Str(key, v)
	case nil:
		return message.Null(key)
	case bool:
		return message.Bool(key, v)
	case int8:
		return message.Int64(key, message.KindByte, int64(v))
	case int16:
		return message.Int64(key, message.KindShort, int64(v))
	case int32:
		return message.Int64(key, message.KindInt, int64(v))
	case int64:
		return message.Int64(key, message.KindLong, v)
	case uint8:
		return message.Uint64(key, message.KindUByte, uint64(v))
	case uint16:
		return message.Uint64(key, message.KindUShort, uint64(v))
	case uint32:
		return message.Uint64(key, message.KindUInt, uint64(v))
	case uint64:
		return message.Uint64(key, message.KindULong, v)
	case float32:
		return message.Float(key, v)
	case float64:
		return message.Double(key, v)
	case wire.Char:
		return message.Char(key, rune(v))
	case wire.Timestamp:
		return message.Int64(key, message.KindTimestamp, int64(v))
	case wire.UUID:
		return message.Property{Key: key, Value: message.FormatUUID(v), Kind: message.KindUUID}
	case []byte:
		return message.Binary(key, v)
	case wire.Symbol:
		return message.Property{Key: key, Value: string(v), Kind: message.KindSymbol}
	case wire.List:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = propertyOf("", e).Text()
		}
		return message.Str(key, "["+strings.Join(parts, ", ")+"]")
	case wire.Map:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = keyText(e.Key) + "=" + propertyOf("", e.Value).Text()
		}
		return message.Str(key, "{"+strings.Join(parts, ", ")+"}")
	}
	return message.Str(key, fmt.Sprint(v))
}

// amqpValue converts a typed property into the AMQP value of its kind.
func amqpValue(p message.Property) any {
	switch p.Kind {
	case message.KindNull:
		return nil
	case message.KindBool:
		b, _ := p.AsBool()
		return b
	case message.KindByte:
		n, _ := p.AsInt64()
		return int8(n)
	case message.KindShort:
		n, _ := p.AsInt64()
		return int16(n)
	case message.KindInt:
		n, _ := p.AsInt64()
		return int32(n)
	case message.KindLong:
		n, _ := p.AsInt64()
		return n
	case message.KindFloat:
		f, _ := p.AsFloat64()
		return float32(f)
	case message.KindDouble:
		f, _ := p.AsFloat64()
		return f
	case message.KindBinary:
		return []byte(p.Value)
	case message.KindChar:
		r, _ := utf8.DecodeRuneInString(p.Value)
		return wire.Char(r)
	case message.KindUByte:
		n, _ := p.AsUint64()
		return uint8(n)
	case message.KindUShort:
		n, _ := p.AsUint64()
		return uint16(n)
	case message.KindUInt:
		n, _ := p.AsUint64()
		return uint32(n)
	case message.KindULong:
		n, _ := p.AsUint64()
		return n
	case message.KindTimestamp:
		n, _ := p.AsInt64()
		return wire.Timestamp(n)
	case message.KindUUID:
		if u, ok := message.ParseUUID(p.Value); ok {
			return wire.UUID(u)
		}
		return p.Value
	case message.KindSymbol:
		return wire.Symbol(p.Value)
	}
	return p.Value
}

// Message and correlation ids that are not strings are kept as text the
// way Artemis spells them, so that other protocols and selectors see one
// string and an AMQP consumer of a converted message gets the type back.
const (
	idPrefixULong  = "AMQP_ULONG:"
	idPrefixUUID   = "AMQP_UUID:"
	idPrefixBinary = "AMQP_BINARY:"
)

// idText renders a message-id or correlation-id as text.
func idText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case uint64:
		return idPrefixULong + strconv.FormatUint(v, 10)
	case wire.UUID:
		return idPrefixUUID + v.String()
	case []byte:
		return idPrefixBinary + strings.ToUpper(hex.EncodeToString(v))
	}
	return fmt.Sprint(v)
}

// idValue turns idText's text back into the id's AMQP type.
func idValue(s string) any {
	switch {
	case strings.HasPrefix(s, idPrefixULong):
		if n, err := strconv.ParseUint(s[len(idPrefixULong):], 10, 64); err == nil {
			return n
		}
	case strings.HasPrefix(s, idPrefixUUID):
		if u, ok := message.ParseUUID(s[len(idPrefixUUID):]); ok {
			return wire.UUID(u)
		}
	case strings.HasPrefix(s, idPrefixBinary):
		if b, err := hex.DecodeString(s[len(idPrefixBinary):]); err == nil {
			return b
		}
	}
	return s
}

// replyToIn turns an AMQP reply-to into the canonical destination every
// protocol reads: the x-opt-jms-reply-to annotation says what kind of
// node it names; without it a queue:// or topic:// spelling does, and
// anything else is kept as sent.
func replyToIn(s string, ann wire.Annotations) string {
	if k, ok := ann.JMSReplyTo(); ok && k <= wire.JMSDestTempTopic {
		if d, ok := message.ParseDestination(s); ok {
			s = d.Name
		}
		return message.Destination{Kind: message.DestKind(k), Name: s}.String()
	}
	if d, ok := message.ParseDestination(s); ok {
		return d.String()
	}
	return s
}
