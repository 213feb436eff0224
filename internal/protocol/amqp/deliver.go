package amqp

import (
	"fmt"
	"io"
	"strconv"

	"tandem/internal/message"
	wire "tandem/internal/wire/amqp"
)

// encodeDelivery returns the AMQP encoding of a delivery (writer
// goroutine). A message an AMQP client sent goes as it was sent, only its
// header rewritten when the delivery count or the broker's annotations
// require it; any other is converted. The result may live in c.scratch,
// valid until the next call.
func (c *conn) encodeDelivery(it *outItem) ([]byte, error) {
	m := it.d.Message
	count := uint32(0) // the header's delivery-count: earlier failed attempts
	if it.d.DeliveryCount > 1 {
		count = it.d.DeliveryCount - 1
	}
	if n := m.Native(); n != nil && n.Format == message.NativeAMQP {
		if it.body != nil {
			it.body.Close()
		}
		ann := brokerAnnotations(m)
		if count == 0 && ann == nil {
			return n.Data, nil
		}
		pm, err := wire.ParseMessage(n.Data)
		if err != nil {
			return nil, err
		}
		first := pm.Header().FirstAcquirer && count == 0
		out, err := pm.AppendRewritten(c.scratch[:0], wire.Rewrite{DeliveryCount: count, FirstAcquirer: first, Annotations: ann})
		if err != nil {
			return nil, err
		}
		c.scratch = out[:0]
		return out, nil
	}
	body := m.Body
	if it.body != nil {
		b, err := io.ReadAll(it.body)
		it.body.Close()
		if err != nil {
			return nil, fmt.Errorf("read large message body: %w", err)
		}
		body = b
	}
	s, err := sectionsOf(m, body, count)
	if err != nil {
		return nil, err
	}
	out, err := s.Append(c.scratch[:0])
	if err != nil {
		return nil, err
	}
	c.scratch = out[:0]
	return out, nil
}

// brokerAnnotations are the message-annotations Artemis gives a dead
// letter or an expired message, from the properties the broker added to
// the copy; nil for any other message.
func brokerAnnotations(m *message.Message) wire.Map {
	var ann wire.Map
	if v, ok := m.Property(message.PropOriginalAddress); ok {
		ann = append(ann, wire.MapEntry{Key: wire.AnnotationOrigAddress, Value: v})
	}
	if v, ok := m.Property(message.PropOriginalQueue); ok {
		ann = append(ann, wire.MapEntry{Key: wire.AnnotationOrigQueue, Value: v})
	}
	if v, ok := m.Property(message.PropActualExpiry); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			ann = append(ann, wire.MapEntry{Key: wire.AnnotationActualExpiry, Value: n})
		}
	}
	return ann
}

// jmsMsgType is the x-opt-jms-msg-type of each body kind, so that a JMS
// client builds the message class the producer sent.
var jmsMsgType = [...]byte{
	message.BodyBytes:  wire.JMSMsgTypeBytes,
	message.BodyText:   wire.JMSMsgTypeText,
	message.BodyMap:    wire.JMSMsgTypeMap,
	message.BodyList:   wire.JMSMsgTypeStream,
	message.BodyObject: wire.JMSMsgTypeObject,
	message.BodyNone:   wire.JMSMsgTypeMessage,
}

// sectionsOf converts a message from another protocol into AMQP
// sections (docs/protocols.md, "Bodies").
func sectionsOf(m *message.Message, body []byte, deliveryCount uint32) (*wire.Sections, error) {
	s := &wire.Sections{}
	if m.Durable || m.Priority != message.DefaultPriority || deliveryCount > 0 {
		h := &wire.Header{Durable: m.Durable, DeliveryCount: deliveryCount}
		if m.Priority != message.DefaultPriority {
			h.Priority = wire.Some(m.Priority)
		}
		s.Header = h
	}
	dest := wire.JMSDestQueue
	if m.RoutingType == message.Multicast {
		dest = wire.JMSDestTopic
	}
	ann := wire.Map{{Key: wire.AnnotationJMSDest, Value: dest}}
	if k := m.BodyKind; int(k) < len(jmsMsgType) {
		ann = append(ann, wire.MapEntry{Key: wire.AnnotationJMSMsgType, Value: jmsMsgType[k]})
	}
	if m.ScheduledTime > 0 {
		ann = append(ann, wire.MapEntry{Key: wire.AnnotationDeliveryTime, Value: wire.Timestamp(m.ScheduledTime)})
	}
	p := &wire.Properties{To: m.Address, CreationTime: wire.Timestamp(m.Timestamp),
		AbsoluteExpiryTime: wire.Timestamp(m.Expiration)}
	if x := m.Extra; x != nil {
		if x.MessageID != "" {
			p.MessageID = idValue(x.MessageID)
		}
		if x.CorrelationID != "" {
			p.CorrelationID = idValue(x.CorrelationID)
		}
		p.ContentType = wire.Symbol(x.ContentType)
		p.Subject = x.Type
		if x.UserID != "" {
			p.UserID = []byte(x.UserID)
		}
		p.GroupID = x.GroupID
		if x.GroupSeq != 0 {
			p.GroupSequence = wire.Some(uint32(x.GroupSeq))
		}
		if x.ReplyTo != "" {
			if d, ok := message.ParseDestination(x.ReplyTo); ok {
				p.ReplyTo = d.Name
				ann = append(ann, wire.MapEntry{Key: wire.AnnotationJMSReplyTo, Value: byte(d.Kind)})
			} else {
				p.ReplyTo = x.ReplyTo
			}
		}
	}
	if p.MessageID == nil {
		p.MessageID = message.FormatID(m.ID)
	}
	s.MessageAnnotations = ann
	s.Properties = p
	if len(m.Properties) > 0 {
		app := make(wire.Map, 0, len(m.Properties))
		for _, prop := range m.Properties {
			if _, dup := app.Get(prop.Key); dup {
				continue // the first occurrence counts, as for STOMP's repeated headers
			}
			app = append(app, wire.MapEntry{Key: prop.Key, Value: amqpValue(prop)})
		}
		s.ApplicationProperties = app
	}
	switch m.BodyKind {
	case message.BodyText:
		s.Body = wire.ValueBody(string(body))
	case message.BodyMap:
		entries, err := message.DecodeMap(body)
		if err != nil {
			return nil, err
		}
		mv := make(wire.Map, 0, len(entries))
		for _, e := range entries {
			mv = append(mv, wire.MapEntry{Key: e.Key, Value: amqpValue(e)})
		}
		s.Body = wire.ValueBody(mv)
	case message.BodyList:
		values, err := message.DecodeList(body)
		if err != nil {
			return nil, err
		}
		l := make(wire.List, 0, len(values))
		for _, v := range values {
			l = append(l, amqpValue(v))
		}
		s.Body = wire.Body{Kind: wire.BodySequence, Sequence: []wire.List{l}}
	case message.BodyObject:
		if p.ContentType == "" {
			p.ContentType = contentTypeJavaObject
		}
		s.Body = wire.DataBody(body)
	case message.BodyNone:
		s.Body = wire.ValueBody(nil)
	default:
		s.Body = wire.DataBody(body)
	}
	return s, nil
}
