package stomp

import (
	"fmt"
	"strconv"
	"strings"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/stomp"
)

// isSendHeader reports whether key is a SEND header that maps to a message
// field or steers the frame itself; every other header is kept as a user
// property. A switch rather than a map: it is asked for every header of
// every SEND.
func isSendHeader(key string) bool {
	switch key {
	case "destination", "content-length", "content-type", "receipt", "transaction",
		"persistent", "priority", "expires", "correlation-id", "reply-to", "type",
		"message-id", "destination-type", "timestamp", "redelivered", "subscription", "ack",
		message.PropGroupID:
		return true
	}
	return false
}

// toMessage builds a broker message from a SEND frame.
func (c *conn) toMessage(f *wire.Frame, d destination) (*message.Message, error) {
	// The address is a slice of the frame's header text; a connection
	// usually sends to one address, so it keeps one copy for its messages.
	if d.address != c.sendAddr {
		c.sendAddr = strings.Clone(d.address)
	}
	m := &message.Message{Address: c.sendAddr, RoutingType: d.rt, Priority: message.DefaultPriority, Body: f.Body}
	h := f.Headers
	// As Artemis does: a body sent with content-length is bytes, one
	// without is text (docs/protocols.md).
	if _, sized := h.Get(wire.HdrContentLength); !sized {
		m.BodyKind = message.BodyText
	}
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
	var x message.Extra
	x.ContentType, _ = h.Get("content-type")
	x.CorrelationID, _ = h.Get("correlation-id")
	x.Type, _ = h.Get("type")
	if v, ok := h.Get("reply-to"); ok {
		x.ReplyTo = c.exportReplyTo(v)
	}
	x.GroupID, _ = h.Get(message.PropGroupID)
	x.Large = c.large
	// Only the first occurrence of a repeated header counts. A typical
	// frame has a handful of headers, so a linear look-back over the
	// properties kept so far beats building a set per frame; a frame with
	// many headers still gets one.
	var seen map[string]bool
	if len(h) > 16 {
		seen = make(map[string]bool, len(h))
	}
	for _, kv := range h {
		if isSendHeader(kv.Key) {
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
		if kv.Key == message.PropGroupSeq && x.GroupID != "" {
			if seq, err := strconv.ParseInt(kv.Value, 10, 32); err == nil {
				x.GroupSeq = int32(seq)
				continue
			}
		}
		if m.Properties == nil {
			m.Properties = make([]message.Property, 0, len(h)-countSendHeaders(h))
		}
		m.Properties = append(m.Properties, message.Property{Key: kv.Key, Value: kv.Value})
	}
	c.detachText(m, &x)
	if x != (message.Extra{}) {
		// Allocated only when there is something to keep: most SENDs
		// carry none of these headers.
		kept := x
		m.Extra = &kept
	}
	return m, nil
}

// countSendHeaders counts the headers of h that SEND defines (not properties).
func countSendHeaders(h wire.Headers) int {
	n := 0
	for _, kv := range h {
		if isSendHeader(kv.Key) {
			n++
		}
	}
	return n
}

// detachText copies the header text m and its extra part x keep into one
// string of their own. The reader gives all of a frame's header text one
// backing string, so without this a queued message would hold on to every
// header of its SEND frame (destination, receipt, content-length...) for the
// sake of one property. Property names the connection has seen before are
// shared instead of copied (see conn.internKey): a producer sends the same
// few names on every message.
func (c *conn) detachText(m *message.Message, x *message.Extra) {
	n := len(x.ContentType) + len(x.CorrelationID) + len(x.Type) + len(x.ReplyTo) + len(x.GroupID)
	var interned uint64 // bit i: property i's name is the connection's copy
	for i := range m.Properties {
		p := &m.Properties[i]
		if k, ok := c.internKey(p.Key); ok && i < 64 {
			p.Key = k
			interned |= 1 << i
		} else {
			n += len(p.Key)
		}
		n += len(p.Value)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(x.ContentType)
	b.WriteString(x.CorrelationID)
	b.WriteString(x.Type)
	b.WriteString(x.ReplyTo)
	b.WriteString(x.GroupID)
	for i, p := range m.Properties {
		if i >= 64 || interned&(1<<i) == 0 {
			b.WriteString(p.Key)
		}
		b.WriteString(p.Value)
	}
	text, off := b.String(), 0
	next := func(s string) string {
		s = text[off : off+len(s)]
		off += len(s)
		return s
	}
	x.ContentType = next(x.ContentType)
	x.CorrelationID = next(x.CorrelationID)
	x.Type = next(x.Type)
	x.ReplyTo = next(x.ReplyTo)
	x.GroupID = next(x.GroupID)
	for i := range m.Properties {
		if i >= 64 || interned&(1<<i) == 0 {
			m.Properties[i].Key = next(m.Properties[i].Key)
		}
		m.Properties[i].Value = next(m.Properties[i].Value)
	}
}

// Property names a connection keeps one copy of: at most internMax names of
// at most internMaxLen bytes each, so a client that invents names cannot
// grow the table without bound.
const (
	internMax    = 64
	internMaxLen = 64
)

// internKey returns the connection's own copy of the property name k,
// making one if there is room; ok is false when k is not interned.
func (c *conn) internKey(k string) (string, bool) {
	if s, ok := c.keys[k]; ok {
		return s, true
	}
	if len(k) > internMaxLen || len(c.keys) >= internMax {
		return "", false
	}
	if c.keys == nil {
		c.keys = make(map[string]string)
	}
	s := strings.Clone(k)
	c.keys[s] = s
	return s, true
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

// exportReplyTo turns a SEND's reply-to into the message's: a
// destination in the canonical spelling (queue://X, topic://X) every
// protocol reads, with this connection's temporary queue or topic
// rewritten to the name every other client can send to. Text that names
// no destination is kept as it is.
func (c *conn) exportReplyTo(v string) string {
	d, err := parseDestination(v, "")
	if err == nil && d.temp {
		name := c.tempName(d.address)
		if d.rt == message.Multicast {
			return message.Destination{Kind: message.DestTopic, Name: name}.String()
		}
		return message.Destination{Kind: message.DestQueue, Name: name}.String()
	}
	if md, ok := message.ParseDestination(v); ok {
		return md.String()
	}
	return v
}

// stompReplyTo renders a message's reply-to for a STOMP client: canonical
// destinations in STOMP's /queue/X form, anything else as it was sent.
func stompReplyTo(v string) string {
	d, ok := message.ParseDestination(v)
	if !ok {
		return v
	}
	switch d.Kind {
	case message.DestTopic:
		return "/topic/" + d.Name
	case message.DestTempQueue:
		return "/temp-queue/" + d.Name
	case message.DestTempTopic:
		return "/temp-topic/" + d.Name
	}
	return "/queue/" + d.Name
}

// writeMessage encodes a delivery as a MESSAGE frame for its subscription
// straight into w's buffer (wire.Writer.BeginFrame): the connection's
// writer does it when it writes the batch the delivery is in, so that
// delivering costs the broker's dispatch no frame, no header list and no
// formatted numbers. A large message's body is streamed from of.body.
func writeMessage(w *wire.Writer, of *outFrame) error {
	d := &of.d
	m := d.Message
	sub := of.sub
	x := m.Extra
	if x == nil {
		x = &noExtra
	}
	body := m.Body
	contentType := x.ContentType
	if js, ok := message.JSON(m.BodyKind, m.Body); ok {
		// A map or list from a typed protocol: STOMP has no typed body,
		// so it gets JSON (docs/protocols.md).
		body = js
		if contentType == "" {
			contentType = "application/json"
		}
	}
	bodyLen := int64(len(body))
	if of.body != nil {
		bodyLen = of.bodyLen
	}
	w.BeginFrame(wire.CmdMessage, bodyLen)
	w.AddHeader("subscription", sub.id)
	w.AddHeaderPrefixedUint("message-id", message.IDPrefix, m.ID)
	w.AddHeader("destination", sub.destination)
	if sub.ackMode != broker.AckAuto {
		w.AddHeaderUintPair("ack", d.Consumer.ID(), '.', d.ID)
	}
	if contentType != "" {
		w.AddHeader("content-type", contentType)
	}
	w.AddHeaderInt("expires", m.Expiration)
	w.AddHeaderInt("priority", int64(m.Priority))
	w.AddHeaderInt("timestamp", m.Timestamp)
	if m.Durable {
		w.AddHeader("persistent", "true")
	}
	if d.Redelivered {
		w.AddHeader("redelivered", "true")
	}
	w.AddHeaderInt("delivery-count", int64(d.DeliveryCount))
	if x.CorrelationID != "" {
		w.AddHeader("correlation-id", x.CorrelationID)
	}
	if x.ReplyTo != "" {
		w.AddHeader("reply-to", stompReplyTo(x.ReplyTo))
	}
	if x.Type != "" {
		w.AddHeader("type", x.Type)
	}
	if x.GroupID != "" {
		w.AddHeader(message.PropGroupID, x.GroupID)
	}
	if x.GroupSeq != 0 {
		w.AddHeaderInt(message.PropGroupSeq, int64(x.GroupSeq))
	}
	for _, p := range of.props {
		w.AddHeader(p.Key, p.Text())
	}
	if of.bodyMissing {
		w.AddHeader("tandem-error", "large message body missing")
	}
	if of.body != nil {
		defer of.body.Close()
		return w.EndFrameStream(of.body)
	}
	return w.EndFrame(body)
}

// noExtra stands for a message without the fields of message.Extra.
var noExtra message.Extra

// parseAckID reads the value of a MESSAGE's ack header, which writeMessage
// makes of the consumer's id and the delivery's, joined by a dot, so that
// an ACK needs no lookup table.
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
