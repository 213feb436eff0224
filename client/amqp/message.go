package amqp

import (
	"fmt"
	"time"

	wire "tandem/internal/wire/amqp"
)

// Message is an AMQP message as the tandem commands use it.
type Message struct {
	// Body is the body: a data section, or with Text an amqp-value
	// string (a JMS TextMessage).
	Body []byte
	Text bool
	// Durable asks the broker to keep the message on disk.
	Durable bool
	// Priority is 0 to 9; nil leaves the default (4).
	Priority *uint8
	// TTL, when positive, is the message's time to live.
	TTL time.Duration
	// MessageID, CorrelationID, Subject, GroupID and To are the
	// properties section's fields of those names ("" leaves them out).
	MessageID     string
	CorrelationID string
	Subject       string
	GroupID       string
	To            string
	// Properties are the application-properties, in order.
	Properties []Property
	// Annotations are message-annotations (x-opt-delivery-delay...).
	Annotations []Property
	// DeliveryCount is what the broker says about earlier delivery
	// attempts (received messages only).
	DeliveryCount uint32
	// Raw is the message's encoding (received messages only).
	Raw []byte
}

// Property is a named value: a string, a number, a bool, []byte, or nil.
type Property struct {
	Key   string
	Value any
}

// encode returns the message's AMQP encoding.
func (m *Message) encode() ([]byte, error) {
	s := wire.Sections{}
	if m.Durable || m.Priority != nil || m.TTL > 0 {
		h := &wire.Header{Durable: m.Durable}
		if m.Priority != nil {
			h.Priority = wire.Some(*m.Priority)
		}
		if m.TTL > 0 {
			h.TTL = wire.Some(uint32(m.TTL / time.Millisecond))
		}
		s.Header = h
	}
	if len(m.Annotations) > 0 {
		for _, a := range m.Annotations {
			s.MessageAnnotations = append(s.MessageAnnotations, wire.MapEntry{Key: wire.Symbol(a.Key), Value: a.Value})
		}
	}
	if m.MessageID != "" || m.CorrelationID != "" || m.Subject != "" || m.GroupID != "" || m.To != "" {
		p := &wire.Properties{Subject: m.Subject, GroupID: m.GroupID, To: m.To}
		if m.MessageID != "" {
			p.MessageID = m.MessageID
		}
		if m.CorrelationID != "" {
			p.CorrelationID = m.CorrelationID
		}
		s.Properties = p
	}
	for _, p := range m.Properties {
		s.ApplicationProperties = append(s.ApplicationProperties, wire.MapEntry{Key: p.Key, Value: p.Value})
	}
	if m.Text {
		s.Body = wire.ValueBody(string(m.Body))
	} else {
		s.Body = wire.DataBody(m.Body)
	}
	return s.Encode()
}

// decodeMessage reads a received message.
func decodeMessage(raw []byte) (*Message, error) {
	pm, err := wire.ParseMessage(raw)
	if err != nil {
		return nil, err
	}
	h := pm.Header()
	m := &Message{Raw: raw, Durable: h.Durable, DeliveryCount: h.DeliveryCount}
	if p, ok := h.Priority.Get(); ok {
		m.Priority = &p
	}
	if ttl, ok := h.TTL.Get(); ok {
		m.TTL = time.Duration(ttl) * time.Millisecond
	}
	if p := pm.Properties(); p != nil {
		m.MessageID = idString(p.MessageID)
		m.CorrelationID = idString(p.CorrelationID)
		m.Subject, m.GroupID, m.To = p.Subject, p.GroupID, p.To
	}
	app, err := pm.ApplicationPropertiesMap()
	if err != nil {
		return nil, err
	}
	for _, e := range app {
		k, _ := e.Key.(string)
		m.Properties = append(m.Properties, Property{Key: k, Value: e.Value})
	}
	switch pm.BodyKind() {
	case wire.BodyData:
		for _, d := range pm.Data() {
			m.Body = append(m.Body, d...)
		}
	case wire.BodyValue:
		v, _, err := pm.Value()
		if err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case string:
			m.Body, m.Text = []byte(v), true
		case []byte:
			m.Body = v
		case nil:
		default:
			m.Body, m.Text = []byte(fmt.Sprint(v)), true
		}
	case wire.BodySequence:
		seqs, err := pm.Sequence()
		if err != nil {
			return nil, err
		}
		m.Body, m.Text = []byte(fmt.Sprint(seqs)), true
	}
	return m, nil
}

// idString renders a message or correlation id.
func idString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return fmt.Sprintf("%x", v)
	}
	return fmt.Sprint(v)
}

// Property returns the application property key, and whether it is set.
func (m *Message) Property(key string) (any, bool) {
	for _, p := range m.Properties {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}
