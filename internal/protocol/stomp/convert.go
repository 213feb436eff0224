package stomp

import (
	"fmt"
	"strconv"
	"strings"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/stomp"
)

// sendHeaders are SEND headers that map to message fields or steer the
// frame itself; every other header is kept as a user property.
var sendHeaders = map[string]bool{
	"destination": true, "content-length": true, "content-type": true, "receipt": true, "transaction": true,
	"persistent": true, "priority": true, "expires": true, "correlation-id": true, "reply-to": true, "type": true,
	"message-id": true, "destination-type": true, "timestamp": true, "redelivered": true, "subscription": true, "ack": true,
}

// toMessage builds a broker message from a SEND frame.
func (c *conn) toMessage(f *wire.Frame, d destination) (*message.Message, error) {
	// The address is a slice of the frame's header text; a connection
	// usually sends to one address, so it keeps one copy for its messages.
	if d.address != c.sendAddr {
		c.sendAddr = strings.Clone(d.address)
	}
	m := &message.Message{Address: c.sendAddr, RoutingType: d.rt, Priority: message.DefaultPriority, Body: f.Body, Large: c.large}
	h := f.Headers
	if v, ok := h.Get("persistent"); ok {
		m.Durable = v == "true"
	}
	if v, ok := h.Get("priority"); ok && v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > message.MaxPriority {
			return nil, fmt.Errorf("priority %q is not a number from 0 to 9", v)
		}
		m.Priority = uint8(p)
	}
	if v, ok := h.Get("expires"); ok && v != "" {
		e, err := strconv.ParseInt(v, 10, 64)
		if err != nil || e < 0 {
			return nil, fmt.Errorf("expires %q is not a time in milliseconds since the epoch (0 = never)", v)
		}
		m.Expiration = e
	}
	m.ContentType, _ = h.Get("content-type")
	m.CorrelationID, _ = h.Get("correlation-id")
	m.Type, _ = h.Get("type")
	if v, ok := h.Get("reply-to"); ok {
		m.ReplyTo = c.exportReplyTo(v)
	}
	// Only the first occurrence of a repeated header counts. A typical
	// frame has a handful of headers, so a linear look-back over the
	// properties kept so far beats building a set per frame; a frame with
	// many headers still gets one.
	var seen map[string]bool
	if len(h) > 16 {
		seen = make(map[string]bool, len(h))
	}
	for _, kv := range h {
		if sendHeaders[kv.Key] {
			continue
		}
		if seen != nil {
			if seen[kv.Key] {
				continue
			}
			seen[kv.Key] = true
		} else if hasProperty(m.Properties, kv.Key) {
			continue
		}
		if m.Properties == nil {
			m.Properties = make([]message.Property, 0, len(h)-countSendHeaders(h))
		}
		m.Properties = append(m.Properties, message.Property{Key: kv.Key, Value: kv.Value})
	}
	detachText(m)
	return m, nil
}

// countSendHeaders counts the headers of h that SEND defines (not properties).
func countSendHeaders(h wire.Headers) int {
	n := 0
	for _, kv := range h {
		if sendHeaders[kv.Key] {
			n++
		}
	}
	return n
}

// detachText copies the header text m keeps into one string of its own. The
// reader gives all of a frame's header text one backing string, so without
// this a queued message would hold on to every header of its SEND frame
// (destination, receipt, content-length...) for the sake of one property.
func detachText(m *message.Message) {
	n := len(m.ContentType) + len(m.CorrelationID) + len(m.Type) + len(m.ReplyTo)
	for _, p := range m.Properties {
		n += len(p.Key) + len(p.Value)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(m.ContentType)
	b.WriteString(m.CorrelationID)
	b.WriteString(m.Type)
	b.WriteString(m.ReplyTo)
	for _, p := range m.Properties {
		b.WriteString(p.Key)
		b.WriteString(p.Value)
	}
	text, off := b.String(), 0
	next := func(s string) string {
		s = text[off : off+len(s)]
		off += len(s)
		return s
	}
	m.ContentType = next(m.ContentType)
	m.CorrelationID = next(m.CorrelationID)
	m.Type = next(m.Type)
	m.ReplyTo = next(m.ReplyTo)
	for i := range m.Properties {
		m.Properties[i].Key = next(m.Properties[i].Key)
		m.Properties[i].Value = next(m.Properties[i].Value)
	}
}

// hasProperty reports whether ps holds a property named key.
func hasProperty(ps []message.Property, key string) bool {
	for _, p := range ps {
		if p.Key == key {
			return true
		}
	}
	return false
}

// exportReplyTo rewrites a reply-to naming this connection's temporary
// queue into a destination every other client can send to.
func (c *conn) exportReplyTo(v string) string {
	d, err := parseDestination(v, "")
	if err != nil || !d.temp {
		return v
	}
	name := c.tempName(d.address)
	if d.rt == message.Multicast {
		return "/topic/" + name
	}
	return "/queue/" + name
}

// messageFrame renders a delivery as a MESSAGE frame for subscription sub.
func messageFrame(sub *subscription, d broker.Delivery) *wire.Frame {
	m := d.Message
	h := make(wire.Headers, 0, 12+len(m.Properties))
	h = append(h,
		wire.Header{Key: "subscription", Value: sub.id},
		wire.Header{Key: "message-id", Value: message.FormatID(m.ID)},
		wire.Header{Key: "destination", Value: sub.destination},
	)
	if sub.ackMode != broker.AckAuto {
		h = append(h, wire.Header{Key: "ack", Value: ackID(d.Consumer.ID(), d.ID)})
	}
	if m.ContentType != "" {
		h = append(h, wire.Header{Key: "content-type", Value: m.ContentType})
	}
	h = append(h,
		wire.Header{Key: "expires", Value: strconv.FormatInt(m.Expiration, 10)},
		wire.Header{Key: "priority", Value: strconv.Itoa(int(m.Priority))},
		wire.Header{Key: "timestamp", Value: strconv.FormatInt(m.Timestamp, 10)},
	)
	if m.Durable {
		h = append(h, wire.Header{Key: "persistent", Value: "true"})
	}
	if d.Redelivered {
		h = append(h, wire.Header{Key: "redelivered", Value: "true"})
	}
	h = append(h, wire.Header{Key: "delivery-count", Value: strconv.FormatUint(uint64(d.DeliveryCount), 10)})
	if m.CorrelationID != "" {
		h = append(h, wire.Header{Key: "correlation-id", Value: m.CorrelationID})
	}
	if m.ReplyTo != "" {
		h = append(h, wire.Header{Key: "reply-to", Value: m.ReplyTo})
	}
	if m.Type != "" {
		h = append(h, wire.Header{Key: "type", Value: m.Type})
	}
	for _, p := range m.Properties {
		h = append(h, wire.Header{Key: p.Key, Value: p.Value})
	}
	return &wire.Frame{Command: wire.CmdMessage, Headers: h, Body: m.Body}
}

// ackID is the value of a MESSAGE's ack header: it names the consumer and
// the delivery, so an ACK needs no lookup table.
func ackID(consumer, delivery uint64) string {
	return strconv.FormatUint(consumer, 10) + "." + strconv.FormatUint(delivery, 10)
}

func parseAckID(s string) (consumer, delivery uint64, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			c, err1 := strconv.ParseUint(s[:i], 10, 64)
			d, err2 := strconv.ParseUint(s[i+1:], 10, 64)
			return c, d, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}
