package amqp

import (
	"fmt"
)

// SectionKind names a section of an AMQP message.
type SectionKind uint8

// The message sections, in the order a message must have them.
const (
	SectionHeader SectionKind = iota
	SectionDeliveryAnnotations
	SectionMessageAnnotations
	SectionProperties
	SectionApplicationProperties
	SectionData
	SectionAMQPSequence
	SectionAMQPValue
	SectionFooter
	numSections
)

var sectionNames = [numSections]string{"header", "delivery-annotations", "message-annotations", "properties",
	"application-properties", "data", "amqp-sequence", "amqp-value", "footer"}

func (k SectionKind) String() string {
	if k < numSections {
		return sectionNames[k]
	}
	return fmt.Sprintf("section(%d)", uint8(k))
}

// rank orders the kinds: the body kinds share a rank.
func (k SectionKind) rank() int {
	switch k {
	case SectionData, SectionAMQPSequence, SectionAMQPValue:
		return int(SectionData)
	case SectionFooter:
		return int(SectionData) + 1
	}
	return int(k)
}

func (k SectionKind) isBody() bool { return k.rank() == int(SectionData) }

func sectionKindOf(desc uint64) (SectionKind, bool) {
	if desc < descHeader || desc > descFooter {
		return 0, false
	}
	return SectionKind(desc - descHeader), true
}

// BodyKind says what a message's body is made of.
type BodyKind uint8

// The body kinds. A message should have a body; BodyNone is what the
// parser reports for one that has none (some clients send those).
const (
	BodyNone BodyKind = iota
	BodyData
	BodySequence
	BodyValue
)

func (k BodyKind) String() string {
	switch k {
	case BodyData:
		return "data"
	case BodySequence:
		return "amqp-sequence"
	case BodyValue:
		return "amqp-value"
	}
	return "none"
}

// Span is the byte range of one section within a message's encoding,
// descriptor included.
type Span struct {
	Start, End int
}

// Len returns the length of the span.
func (s Span) Len() int { return s.End - s.Start }

// Header is the header section: what intermediaries may change.
type Header struct {
	Durable       bool
	Priority      Optional[uint8]  // absent: 4
	TTL           Optional[uint32] // milliseconds; absent: no expiry
	FirstAcquirer bool
	DeliveryCount uint32
}

// DefaultPriority is the priority of a message whose header says none.
const DefaultPriority = 4

// EffectivePriority returns the priority with the default applied.
func (h *Header) EffectivePriority() uint8 { return h.Priority.Or(DefaultPriority) }

// Properties is the properties section: the immutable facts about a
// message. MessageID and CorrelationID hold a uint64, UUID, []byte or
// string (or nil). Empty strings and zero timestamps are absent fields.
type Properties struct {
	MessageID          any
	UserID             []byte
	To                 string
	Subject            string
	ReplyTo            string
	CorrelationID      any
	ContentType        Symbol
	ContentEncoding    Symbol
	AbsoluteExpiryTime Timestamp
	CreationTime       Timestamp
	GroupID            string
	GroupSequence      Optional[uint32]
	ReplyToGroupID     string
}

// Message is an encoded AMQP message with the position of each of its
// sections. The broker stores Raw as the sender sent it; the header and
// properties are decoded at parse time (every broker needs them), the
// other sections when asked for. Values decoded from a Message may alias
// Raw, which must therefore not change. A Message is read-only after
// ParseMessage, so it may be shared between goroutines.
type Message struct {
	raw      []byte
	spans    [numSections]Span // the one span of each non-body kind; zero when absent
	body     []Span
	bodyKind BodyKind
	header   Header
	props    *Properties
}

// ParseMessage finds the sections of an encoded message and decodes its
// header and properties. It fails with ErrBadMessage when the bytes are
// not a sequence of known sections in the order the specification sets,
// and with ErrDecode when a section is not a valid encoding; the other
// sections' contents are checked only when decoded (see Validate).
// The Message keeps raw.
func ParseMessage(raw []byte) (*Message, error) {
	m := &Message{raw: raw}
	d := decoder{b: raw, alias: true}
	lastRank := -1
	var lastKind SectionKind
	for d.i < len(raw) {
		start := d.i
		code, _ := d.readByte()
		if code != codeDescribed {
			return nil, fmt.Errorf("%w: byte 0x%02x at offset %d where a section starts", ErrBadMessage, code, start)
		}
		desc, sym, err := d.descriptor()
		if err != nil {
			return nil, err
		}
		kind, ok := sectionKindOf(desc)
		if !ok || sym != "" {
			return nil, fmt.Errorf("%w: unknown section %s at offset %d", ErrBadMessage, descString(desc, sym), start)
		}
		switch r := kind.rank(); {
		case r < lastRank, r == lastRank && !kind.isBody():
			return nil, fmt.Errorf("%w: %s section at offset %d after a %s section", ErrBadMessage, kind, start, lastKind)
		case r == lastRank && kind != lastKind:
			return nil, fmt.Errorf("%w: body mixes %s and %s sections", ErrBadMessage, lastKind, kind)
		case r == lastRank && kind != SectionData && kind != SectionAMQPSequence:
			return nil, fmt.Errorf("%w: a second %s section at offset %d", ErrBadMessage, kind, start)
		default:
			lastRank, lastKind = r, kind
		}
		switch kind {
		case SectionHeader:
			err = d.decodeHeader(&m.header)
		case SectionProperties:
			m.props = &Properties{}
			err = d.decodeProperties(m.props)
		case SectionData:
			_, _, err = d.readVariable("a binary", codeVbin8, codeVbin32, codeVbin8, codeVbin32)
		case SectionAMQPSequence:
			err = d.skipKind("a list", codeList0, codeList8, codeList32)
		case SectionAMQPValue:
			err = d.skipFast()
		default: // annotations, application-properties, footer: maps
			err = d.skipKind("a map", codeMap8, codeMap32, codeMap32)
		}
		if err != nil {
			return nil, fmt.Errorf("%s section at offset %d: %w", kind, start, err)
		}
		span := Span{Start: start, End: d.i}
		if kind.isBody() {
			m.body = append(m.body, span)
			m.bodyKind = BodyData + BodyKind(kind-SectionData)
		} else {
			m.spans[kind] = span
		}
	}
	return m, nil
}

// skipKind moves past a value that must have one of the given codes.
func (d *decoder) skipKind(what string, codes ...byte) error {
	code, err := d.peek()
	if err != nil {
		return err
	}
	for _, c := range codes {
		if c == code {
			return d.skipFast()
		}
	}
	return decodeErr("format code 0x%02x where %s belongs", code, what)
}

// skipFast moves past the next value, trusting the sizes of compounds
// instead of walking their elements. ParseMessage uses it so that finding
// the sections of a stored message costs little whatever its body.
func (d *decoder) skipFast() error {
	code, err := d.readByte()
	if err != nil {
		return err
	}
	switch code {
	case codeList8, codeList32, codeMap8, codeMap32, codeArray8, codeArray32:
		_, end, err := d.compoundHeader(code)
		if err != nil {
			return err
		}
		d.i = end
		return nil
	case codeDescribed:
		if err := d.enter(); err != nil {
			return err
		}
		defer d.leave()
		if err := d.skipFast(); err != nil {
			return err
		}
		return d.skipFast()
	}
	return d.skipOf(code)
}

// Raw returns the message's encoding as parsed.
func (m *Message) Raw() []byte { return m.raw }

// Span returns the span of a non-body section and whether it is present.
func (m *Message) Span(kind SectionKind) (Span, bool) {
	if kind >= numSections || kind.isBody() {
		return Span{}, false
	}
	s := m.spans[kind]
	return s, s.Len() > 0
}

// BodySpans returns the spans of the body sections, in order.
func (m *Message) BodySpans() []Span { return m.body }

// BodyKind returns what the body is made of.
func (m *Message) BodyKind() BodyKind { return m.bodyKind }

// HasHeader reports whether the message has a header section.
func (m *Message) HasHeader() bool { return m.spans[SectionHeader].Len() > 0 }

// Header returns the header, all defaults when the message has none.
func (m *Message) Header() Header { return m.header }

// Properties returns the properties section, nil when absent.
func (m *Message) Properties() *Properties { return m.props }

// sectionValue returns a decoder positioned on the value of a section
// (after its descriptor).
func (m *Message) sectionValue(s Span) *decoder {
	d := &decoder{b: m.raw[:s.End], i: s.Start, alias: true}
	_, _ = d.readByte()
	_, _, _ = d.descriptor()
	return d
}

func (m *Message) mapSection(kind SectionKind) (Map, error) {
	s, ok := m.Span(kind)
	if !ok {
		return nil, nil
	}
	v, err := m.sectionValue(s).readMap()
	if err != nil {
		return nil, fmt.Errorf("%s section: %w", kind, err)
	}
	return v, nil
}

// DeliveryAnnotations decodes the delivery-annotations (nil when absent).
func (m *Message) DeliveryAnnotations() (Map, error) { return m.mapSection(SectionDeliveryAnnotations) }

// MessageAnnotations decodes the message-annotations (nil when absent).
func (m *Message) MessageAnnotations() (Map, error) { return m.mapSection(SectionMessageAnnotations) }

// ApplicationPropertiesMap decodes the application-properties in their
// order (nil when absent).
func (m *Message) ApplicationPropertiesMap() (Map, error) {
	return m.mapSection(SectionApplicationProperties)
}

// Footer decodes the footer (nil when absent).
func (m *Message) Footer() (Map, error) { return m.mapSection(SectionFooter) }

// ApplicationProperties decodes the application-properties into a Go map
// (nil when absent). The specification requires string keys and values of
// simple types; a key of another type, or a repeated key, is an error
// wrapping ErrDecode. Values keep the Go types of DecodeValue.
func (m *Message) ApplicationProperties() (map[string]any, error) {
	am, err := m.ApplicationPropertiesMap()
	if err != nil || am == nil {
		return nil, err
	}
	out := make(map[string]any, len(am))
	for _, e := range am {
		k, ok := e.Key.(string)
		if !ok {
			return nil, decodeErr("application-properties key of type %T; keys are strings", e.Key)
		}
		if _, dup := out[k]; dup {
			return nil, decodeErr("application-properties key %q appears twice", k)
		}
		out[k] = e.Value
	}
	return out, nil
}

// Data returns the binary of each data section (aliasing Raw).
func (m *Message) Data() [][]byte {
	if m.bodyKind != BodyData {
		return nil
	}
	out := make([][]byte, len(m.body))
	for i, s := range m.body {
		out[i], _, _ = m.sectionValue(s).readVariable("a binary", codeVbin8, codeVbin32, codeVbin8, codeVbin32)
	}
	return out
}

// Value decodes the amqp-value body; ok is false when the body is of
// another kind.
func (m *Message) Value() (v any, ok bool, err error) {
	if m.bodyKind != BodyValue {
		return nil, false, nil
	}
	v, err = m.sectionValue(m.body[0]).value()
	if err != nil {
		return nil, true, fmt.Errorf("amqp-value section: %w", err)
	}
	return v, true, nil
}

// Sequence decodes the amqp-sequence body sections (nil when the body is
// of another kind).
func (m *Message) Sequence() ([]List, error) {
	if m.bodyKind != BodySequence {
		return nil, nil
	}
	out := make([]List, len(m.body))
	for i, s := range m.body {
		v, err := m.sectionValue(s).value()
		if err != nil {
			return nil, fmt.Errorf("amqp-sequence section %d: %w", i, err)
		}
		out[i] = v.(List) // ParseMessage checked the code
	}
	return out, nil
}

// Sections decodes every section.
func (m *Message) Sections() (*Sections, error) {
	s := &Sections{Properties: m.props}
	if m.HasHeader() {
		h := m.header
		s.Header = &h
	}
	var err error
	if s.DeliveryAnnotations, err = m.DeliveryAnnotations(); err != nil {
		return nil, err
	}
	if s.MessageAnnotations, err = m.MessageAnnotations(); err != nil {
		return nil, err
	}
	if s.ApplicationProperties, err = m.ApplicationPropertiesMap(); err != nil {
		return nil, err
	}
	s.Body.Kind = m.bodyKind
	switch m.bodyKind {
	case BodyData:
		s.Body.Data = m.Data()
	case BodySequence:
		if s.Body.Sequence, err = m.Sequence(); err != nil {
			return nil, err
		}
	case BodyValue:
		if s.Body.Value, _, err = m.Value(); err != nil {
			return nil, err
		}
	}
	if s.Footer, err = m.Footer(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate decodes every section, so that a message whose annotations or
// body are not valid encodings is caught when it arrives rather than when
// a consumer or a protocol conversion reads it.
func (m *Message) Validate() error {
	_, err := m.Sections()
	return err
}

func (d *decoder) decodeHeader(h *Header) error {
	desc := "header"
	f, err := d.compositeFields(desc)
	if err != nil {
		return err
	}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			h.Durable, _, err = d.readBool()
		case 1:
			h.Priority.Value, h.Priority.Set, err = d.readUint8()
		case 2:
			h.TTL.Value, h.TTL.Set, err = d.readUint32()
		case 3:
			h.FirstAcquirer, _, err = d.readBool()
		case 4:
			h.DeliveryCount, _, err = d.readUint32()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr(desc, fieldName(i, "durable", "priority", "ttl", "first-acquirer", "delivery-count"), err)
		}
	}
	return f.done(desc)
}

// readMessageID reads a message-id or correlation-id: ulong, uuid, binary
// or string, or null.
func (d *decoder) readMessageID() (any, error) {
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case nil, uint64, UUID, []byte, string:
		return v, nil
	}
	return nil, decodeErr("a message id of type %T; it must be a ulong, uuid, binary or string", v)
}

func (d *decoder) decodeProperties(p *Properties) error {
	desc := "properties"
	f, err := d.compositeFields(desc)
	if err != nil {
		return err
	}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.MessageID, err = d.readMessageID()
		case 1:
			p.UserID, _, err = d.readBinary()
		case 2:
			p.To, _, err = d.readString()
		case 3:
			p.Subject, _, err = d.readString()
		case 4:
			p.ReplyTo, _, err = d.readString()
		case 5:
			p.CorrelationID, err = d.readMessageID()
		case 6:
			p.ContentType, _, err = d.readSymbol()
		case 7:
			p.ContentEncoding, _, err = d.readSymbol()
		case 8:
			p.AbsoluteExpiryTime, _, err = d.readTimestamp()
		case 9:
			p.CreationTime, _, err = d.readTimestamp()
		case 10:
			p.GroupID, _, err = d.readString()
		case 11:
			p.GroupSequence.Value, p.GroupSequence.Set, err = d.readUint32()
		case 12:
			p.ReplyToGroupID, _, err = d.readString()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr(desc, fieldName(i, "message-id", "user-id", "to", "subject", "reply-to", "correlation-id",
				"content-type", "content-encoding", "absolute-expiry-time", "creation-time", "group-id", "group-sequence",
				"reply-to-group-id"), err)
		}
	}
	return f.done(desc)
}
