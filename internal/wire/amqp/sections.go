package amqp

// Sections is a message decoded into its parts, or a message to be built:
// for converting a message that came from another protocol, and for the
// test client. Nil fields are absent sections.
type Sections struct {
	Header                *Header
	DeliveryAnnotations   Map
	MessageAnnotations    Map
	Properties            *Properties
	ApplicationProperties Map
	Body                  Body
	Footer                Map
}

// Body is a message body: one or more data sections, one or more
// amqp-sequence sections, or one amqp-value section.
type Body struct {
	// Kind selects the fields below. With BodyNone and a non-nil Data or
	// Sequence, the encoder uses them; otherwise BodyNone writes no body.
	Kind     BodyKind
	Data     [][]byte
	Sequence []List
	Value    any // with Kind BodyValue, nil is an amqp-value holding null
}

// DataBody returns a body of one data section.
func DataBody(b []byte) Body { return Body{Kind: BodyData, Data: [][]byte{b}} }

// ValueBody returns an amqp-value body.
func ValueBody(v any) Body { return Body{Kind: BodyValue, Value: v} }

// Append appends the encoded message to b.
func (s *Sections) Append(b []byte) ([]byte, error) {
	var err error
	if s.Header != nil {
		b = s.Header.appendSection(b)
	}
	if s.DeliveryAnnotations != nil {
		if b, err = appendMapSection(b, descDeliveryAnnotations, s.DeliveryAnnotations); err != nil {
			return b, err
		}
	}
	if s.MessageAnnotations != nil {
		if b, err = appendMapSection(b, descMessageAnnotations, s.MessageAnnotations); err != nil {
			return b, err
		}
	}
	if s.Properties != nil {
		if b, err = s.Properties.appendSection(b); err != nil {
			return b, err
		}
	}
	if s.ApplicationProperties != nil {
		if b, err = appendMapSection(b, descApplicationProperties, s.ApplicationProperties); err != nil {
			return b, err
		}
	}
	if b, err = s.Body.append(b); err != nil {
		return b, err
	}
	if s.Footer != nil {
		if b, err = appendMapSection(b, descFooter, s.Footer); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Encode returns the encoded message.
func (s *Sections) Encode() ([]byte, error) { return s.Append(nil) }

func (body *Body) append(b []byte) ([]byte, error) {
	kind := body.Kind
	if kind == BodyNone {
		switch {
		case body.Data != nil:
			kind = BodyData
		case body.Sequence != nil:
			kind = BodySequence
		}
	}
	var err error
	switch kind {
	case BodyData:
		for _, d := range body.Data {
			b = appendBinary(appendSectionDescriptor(b, descData), d)
		}
	case BodySequence:
		for _, l := range body.Sequence {
			if b, err = appendList(appendSectionDescriptor(b, descAMQPSequence), l); err != nil {
				return b, err
			}
		}
	case BodyValue:
		if b, err = AppendValue(appendSectionDescriptor(b, descAMQPValue), body.Value); err != nil {
			return b, err
		}
	}
	return b, nil
}

func appendSectionDescriptor(b []byte, desc uint64) []byte {
	return append(b, codeDescribed, codeSmallUlong, byte(desc))
}

func appendMapSection(b []byte, desc uint64, m Map) ([]byte, error) {
	return appendMap(appendSectionDescriptor(b, desc), m)
}

// appendSection encodes the header section.
func (h *Header) appendSection(b []byte) []byte {
	b, w := beginComposite(b, descHeader)
	b = w.bool(b, h.Durable)
	b = w.ubyte(b, h.Priority.Value, h.Priority.Set)
	b = w.uint(b, h.TTL.Value, h.TTL.Set)
	b = w.bool(b, h.FirstAcquirer)
	b = w.uint(b, h.DeliveryCount, h.DeliveryCount != 0)
	b, _ = w.finish(b) // a header is a few bytes: it cannot exceed any limit
	return b
}

// appendSection encodes the properties section.
func (p *Properties) appendSection(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descProperties)
	var err error
	if b, err = appendMessageID(b, w, p.MessageID); err != nil {
		return b, err
	}
	b = w.binary(b, p.UserID, p.UserID != nil)
	b = w.str(b, p.To, p.To != "")
	b = w.str(b, p.Subject, p.Subject != "")
	b = w.str(b, p.ReplyTo, p.ReplyTo != "")
	if b, err = appendMessageID(b, w, p.CorrelationID); err != nil {
		return b, err
	}
	b = w.sym(b, p.ContentType)
	b = w.sym(b, p.ContentEncoding)
	b = w.timestamp(b, p.AbsoluteExpiryTime)
	b = w.timestamp(b, p.CreationTime)
	b = w.str(b, p.GroupID, p.GroupID != "")
	b = w.uintOpt(b, p.GroupSequence)
	b = w.str(b, p.ReplyToGroupID, p.ReplyToGroupID != "")
	return w.finish(b)
}

func appendMessageID(b []byte, w *listWriter, id any) ([]byte, error) {
	switch id.(type) {
	case nil, uint64, UUID, []byte, string:
		return w.value(b, id)
	}
	return b, encodeErr("message id of type %T; use uint64, UUID, []byte or string", id)
}

// AppendForDelivery appends the message as it goes to a consumer: the
// header rewritten with deliveryCount and firstAcquirer, the
// delivery-annotations (meant for the broker alone) left out, and every
// other byte as the sender sent it. A message without a header gets one
// only when the new values differ from the defaults, and a header whose
// values already match is copied unchanged, so a first delivery of a
// message without delivery-annotations is byte-identical to what was sent.
func (m *Message) AppendForDelivery(b []byte, deliveryCount uint32, firstAcquirer bool) []byte {
	b, _ = m.AppendRewritten(b, Rewrite{DeliveryCount: deliveryCount, FirstAcquirer: firstAcquirer})
	return b
}

// Rewrite says how AppendRewritten changes a message.
type Rewrite struct {
	DeliveryCount uint32
	FirstAcquirer bool
	// Annotations, when not nil, are merged into the message-annotations:
	// an entry replaces the one with the same key or is appended. The
	// modified outcome asks for this, and so do the copies the broker
	// sends to a dead-letter or expiry address (x-opt-ORIG-ADDRESS...).
	Annotations Map
	// KeepDeliveryAnnotations keeps the delivery-annotations section
	// (when the message goes to another broker rather than a consumer).
	KeepDeliveryAnnotations bool
}

// AppendRewritten appends the message with the changes r describes; all
// sections it does not change are copied byte for byte.
func (m *Message) AppendRewritten(b []byte, r Rewrite) ([]byte, error) {
	h := m.header
	hs, hasHeader := m.Span(SectionHeader)
	switch {
	case hasHeader && h.DeliveryCount == r.DeliveryCount && h.FirstAcquirer == r.FirstAcquirer:
		b = append(b, m.raw[hs.Start:hs.End]...)
	case hasHeader || r.DeliveryCount != 0 || r.FirstAcquirer:
		h.DeliveryCount, h.FirstAcquirer = r.DeliveryCount, r.FirstAcquirer
		b = h.appendSection(b)
	}
	rest := hs.End
	if da, ok := m.Span(SectionDeliveryAnnotations); ok {
		if r.KeepDeliveryAnnotations {
			b = append(b, m.raw[da.Start:da.End]...)
		}
		rest = da.End
	}
	if r.Annotations == nil {
		return append(b, m.raw[rest:]...), nil
	}
	ma, hasMA := m.Span(SectionMessageAnnotations)
	merged, err := m.MessageAnnotations()
	if err != nil {
		return b, err
	}
	merged = append(Map(nil), merged...)
	for _, e := range r.Annotations {
		merged.Set(e.Key, e.Value)
	}
	if b, err = appendMapSection(b, descMessageAnnotations, merged); err != nil {
		return b, err
	}
	if hasMA {
		rest = ma.End
	}
	return append(b, m.raw[rest:]...), nil
}

// RewriteForDelivery parses raw and appends it to b as AppendForDelivery
// does, for a broker that stores only the bytes.
func RewriteForDelivery(b, raw []byte, deliveryCount uint32, firstAcquirer bool) ([]byte, error) {
	m, err := ParseMessage(raw)
	if err != nil {
		return b, err
	}
	return m.AppendForDelivery(b, deliveryCount, firstAcquirer), nil
}
