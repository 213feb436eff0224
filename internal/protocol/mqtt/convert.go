package mqtt

import (
	"strings"
	"unicode/utf8"

	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// An MQTT message keeps what its PUBLISH said that the neutral message
// fields cannot: the QoS it was published with (the ceiling of its QoS on
// delivery) and its RETAIN flag (for Retain As Published). They are the
// one byte of its Native data (message.NativeMQTT), as flags:
const (
	nativeQoS = 0x03 // the QoS published with
	// nativeRetain: published with RETAIN set.
	nativeRetain = 0x04
	// nativeRetainedCopy: a retained message copied into a new
	// subscription's queue, delivered with RETAIN set.
	nativeRetainedCopy = 0x08
)

// natives holds one shared Native per flag combination, since messages
// never modify theirs.
var natives = func() (n [16]*message.Native) {
	for i := range n {
		n[i] = &message.Native{Format: message.NativeMQTT, Data: []byte{byte(i)}}
	}
	return n
}()

// mqttFlags returns what a message's Native says: its QoS (2 for a message
// from another protocol, which counts as exactly once, as in Artemis), its
// RETAIN flag as published, and whether it is a retained copy.
func mqttFlags(m *message.Message) (qos wire.QoS, retain, retainedCopy bool) {
	n := m.Native()
	if n == nil || n.Format != message.NativeMQTT || len(n.Data) != 1 {
		return wire.QoS2, false, false
	}
	f := n.Data[0]
	return wire.QoS(f & nativeQoS), f&nativeRetain != 0, f&nativeRetainedCopy != 0
}

// setFlags sets a message's MQTT flags.
func setFlags(x *message.Extra, qos wire.QoS, retain, retainedCopy bool) {
	f := byte(qos) & nativeQoS
	if retain {
		f |= nativeRetain
	}
	if retainedCopy {
		f |= nativeRetainedCopy
	}
	x.Native = natives[f]
}

// toMessage converts a PUBLISH (its topic alias resolved) into a message
// for address, per docs/protocols.md. It reports a payload that claims to
// be UTF-8 and is not (0x99 in MQTT 5).
func toMessage(p *wire.Publish, address string, rt message.RoutingType, nowMs int64) (m *message.Message, badPayload bool) {
	m = &message.Message{Address: address, RoutingType: rt, Durable: p.QoS > 0, Priority: message.DefaultPriority,
		Body: p.Payload, Timestamp: nowMs}
	var x message.Extra
	for _, pr := range p.Properties {
		switch pr.ID {
		case wire.PropPayloadFormat:
			if pr.Int == 1 {
				m.BodyKind = message.BodyText
				badPayload = !utf8.Valid(p.Payload)
			}
		case wire.PropMessageExpiry:
			m.Expiration = nowMs + int64(pr.Int)*1000
		case wire.PropContentType:
			x.ContentType = pr.Str
		case wire.PropResponseTopic:
			x.ReplyTo = message.Destination{Kind: message.DestTopic, Name: wire.TopicToAddress(pr.Str)}.String()
		case wire.PropCorrelationData:
			x.CorrelationID = string(pr.Bin)
		case wire.PropUser:
			if m.Properties == nil {
				m.Properties = make([]message.Property, 0, 4)
			}
			m.Properties = append(m.Properties, message.Property{Key: pr.Name, Value: pr.Str})
		}
	}
	setFlags(&x, p.QoS, p.Retain, false)
	m.Extra = &x
	return m, badPayload
}

// delivery is what buildPublish needs besides the message.
type delivery struct {
	topic  string
	qos    wire.QoS
	dup    bool
	retain bool
	pid    uint16
	subIDs []uint32
	body   []byte // the body to send when it is not the message's (a large message's)
}

// buildPublish renders a message as a PUBLISH of version v, per
// docs/protocols.md. ok is false when the message expired (it is not
// sent).
func buildPublish(m *message.Message, d delivery, v wire.Version, nowMs int64) (p *wire.Publish, ok bool) {
	body := m.Body
	if d.body != nil {
		body = d.body
	}
	contentType := m.ContentType()
	text := m.BodyKind == message.BodyText
	if js, isJSON := message.JSON(m.BodyKind, m.Body); isJSON {
		body, text = js, true
		if contentType == "" {
			contentType = "application/json"
		}
	}
	p = &wire.Publish{Topic: d.topic, QoS: d.qos, Dup: d.dup && d.qos > 0, Retain: d.retain, Payload: body}
	if d.qos > 0 {
		p.PacketID = d.pid
	}
	if m.Expiration > 0 && nowMs >= m.Expiration {
		return nil, false
	}
	if v != wire.V5 {
		return p, true
	}
	ps := make(wire.Properties, 0, 4+len(m.Properties)+len(d.subIDs))
	if text && utf8.Valid(body) {
		ps = append(ps, wire.IntProp(wire.PropPayloadFormat, 1))
	}
	if m.Expiration > 0 {
		// The interval left, rounded up, so that a message with a few
		// milliseconds left does not arrive as never expiring (0 is not
		// "no expiry" but an interval).
		left := (m.Expiration - nowMs + 999) / 1000
		ps = append(ps, wire.IntProp(wire.PropMessageExpiry, uint32(min(left, 1<<32-1))))
	}
	if contentType != "" && validString(contentType) {
		ps = append(ps, wire.StringProp(wire.PropContentType, contentType))
	}
	if rt := responseTopic(m.ReplyTo()); rt != "" {
		ps = append(ps, wire.StringProp(wire.PropResponseTopic, rt))
	}
	if c := m.CorrelationID(); c != "" && len(c) <= 65535 {
		ps = append(ps, wire.BinaryProp(wire.PropCorrelationData, []byte(c)))
	}
	for _, pr := range m.Properties {
		v := pr.Text()
		if validString(pr.Key) && validString(v) {
			ps = append(ps, wire.UserProp(pr.Key, v))
		}
	}
	for _, id := range d.subIDs {
		ps = append(ps, wire.IntProp(wire.PropSubscriptionID, id))
	}
	if len(ps) > 0 {
		p.Properties = ps
	}
	return p, true
}

// responseTopic renders a reply-to as an MQTT 5 Response Topic: a
// destination's address as a topic, or text kept as a sender gave it when
// it is a valid topic name; "" when it cannot be one.
func responseTopic(replyTo string) string {
	if replyTo == "" {
		return ""
	}
	t := replyTo
	if d, ok := message.ParseDestination(replyTo); ok {
		t = wire.AddressToTopic(d.Name)
	}
	if wire.CheckTopicName(t) != nil {
		return ""
	}
	return t
}

// validString reports whether s can be an MQTT UTF-8 string: valid UTF-8,
// no U+0000, at most 65,535 bytes. Properties from other protocols that
// are not are left out of a PUBLISH rather than make it unsendable.
func validString(s string) bool {
	return len(s) <= 65535 && utf8.ValidString(s) && !strings.Contains(s, "\x00")
}
