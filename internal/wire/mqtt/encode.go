package mqtt

import "strings"

// Encoding of every packet type, and the protocol rules that the writer
// and the reader share. In check, full means "writer": also check what
// the decoder has already checked while parsing (UTF-8, lengths, property
// rules, fields the wire cannot express in the version).

// badIf returns a writer error when cond holds.
func badIf(cond bool, format string, args ...any) *Error {
	if cond {
		return malformed(format, args...)
	}
	return nil
}

func checkString(what, s string) *Error {
	if len(s) > maxString {
		return malformed("the %s is %d bytes long; the limit is 65,535", what, len(s))
	}
	if !validUTF8(s) {
		return malformed("the %s %.100q is not valid MQTT UTF-8", what, s)
	}
	return nil
}

func checkBinary(what string, b []byte) *Error {
	return badIf(len(b) > maxString, "the %s is %d bytes long; the limit is 65,535", what, len(b))
}

// checkV5Props checks a property list in the writer: allowed at all in v,
// and by the property rules.
func checkV5Props(ps Properties, v Version, where uint32) *Error {
	if len(ps) == 0 {
		return nil
	}
	if v != V5 {
		return malformed("properties need MQTT 5; this connection speaks %v", v)
	}
	return checkProperties(ps, where)
}

func firstErr(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ---- CONNECT ----

func (c *Connect) flags() byte { return 0 }

func (c *Connect) connectFlags() byte {
	var f byte
	if c.CleanStart {
		f |= 0x02
	}
	if c.Will != nil {
		f |= 0x04 | byte(c.Will.QoS)<<3
		if c.Will.Retain {
			f |= 0x20
		}
	}
	if c.HasPassword {
		f |= 0x40
	}
	if c.HasUsername {
		f |= 0x80
	}
	return f
}

func (c *Connect) name() string {
	if c.ProtocolName != "" {
		return c.ProtocolName
	}
	return c.Version.protocolName()
}

func (c *Connect) check(_ Version, full bool) *Error {
	v := c.Version
	if full {
		if !v.Supported() {
			return malformed("cannot write a CONNECT for %v", v)
		}
		if c.name() != v.protocolName() {
			return malformed("the protocol name of %v is %.100q, not %.100q", v, v.protocolName(), c.ProtocolName)
		}
		if e := firstErr(checkString("client identifier", c.ClientID), checkV5Props(c.Properties, v, 1<<TypeConnect)); e != nil {
			return e
		}
		if c.HasUsername {
			if e := checkString("user name", c.Username); e != nil {
				return e
			}
		} else if c.Username != "" {
			return malformed("a user name without HasUsername")
		}
		if c.HasPassword {
			if e := checkBinary("password", c.Password); e != nil {
				return e
			}
		} else if len(c.Password) > 0 {
			return malformed("a password without HasPassword")
		}
		if w := c.Will; w != nil {
			if e := firstErr(
				badIf(w.QoS > QoS2, "will QoS %d", w.QoS),
				checkString("will topic", w.Topic),
				checkBinary("will payload", w.Payload),
				checkV5Props(w.Properties, v, whereWill),
			); e != nil {
				return e
			}
		}
	}
	if v != V5 && c.HasPassword && !c.HasUsername {
		// Allowed in MQTT 5 only ([MQTT-3.1.2-22] in 3.1.1).
		return protocolError("a password without a user name needs MQTT 5")
	}
	if c.Properties.Has(PropAuthData) && !c.Properties.Has(PropAuthMethod) {
		return protocolError("Authentication Data without an Authentication Method")
	}
	if c.Will != nil {
		if e := checkTopicName(c.Will.Topic); e != nil {
			return protocolErrorCode(TopicNameInvalid, "the will topic is not a valid topic name: %s", e.Detail)
		}
	}
	return nil
}

func (c *Connect) size(Version) int {
	v := c.Version
	n := 2 + len(c.name()) + 1 + 1 + 2 // name, level, flags, keep alive
	if v == V5 {
		pl := propertiesLen(c.Properties)
		n += varintLen(pl) + pl
	}
	n += 2 + len(c.ClientID)
	if w := c.Will; w != nil {
		if v == V5 {
			pl := propertiesLen(w.Properties)
			n += varintLen(pl) + pl
		}
		n += 2 + len(w.Topic) + 2 + len(w.Payload)
	}
	if c.HasUsername {
		n += 2 + len(c.Username)
	}
	if c.HasPassword {
		n += 2 + len(c.Password)
	}
	return n
}

func (c *Connect) appendBody(dst []byte, _ Version) []byte {
	v := c.Version
	dst = appendString(dst, c.name())
	dst = append(dst, byte(v), c.connectFlags())
	dst = appendUint16(dst, c.KeepAlive)
	if v == V5 {
		dst = appendProperties(dst, c.Properties, propertiesLen(c.Properties))
	}
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		if v == V5 {
			dst = appendProperties(dst, w.Properties, propertiesLen(w.Properties))
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if c.HasUsername {
		dst = appendString(dst, c.Username)
	}
	if c.HasPassword {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}

// ---- CONNACK ----

func (c *Connack) flags() byte { return 0 }

func (c *Connack) check(v Version, full bool) *Error {
	if full {
		if e := checkV5Props(c.Properties, v, 1<<TypeConnack); e != nil {
			return e
		}
	}
	if !validReason(TypeConnack, v, c.Reason) {
		return protocolError("%v is not a CONNACK code in %v", c.Reason, v)
	}
	if c.SessionPresent && v == V31 {
		// The flags byte is reserved in 3.1 (section 3.2 of 3.1).
		return malformed("Session Present does not exist in MQTT 3.1")
	}
	if c.SessionPresent && c.Reason != 0 {
		return protocolError("Session Present with the refusal %v", c.Reason)
	}
	return nil
}

func (c *Connack) size(v Version) int {
	if v != V5 {
		return 2
	}
	pl := propertiesLen(c.Properties)
	return 2 + varintLen(pl) + pl
}

func (c *Connack) appendBody(dst []byte, v Version) []byte {
	var f byte
	if c.SessionPresent {
		f = 1
	}
	dst = append(dst, f, byte(c.Reason))
	if v == V5 {
		dst = appendProperties(dst, c.Properties, propertiesLen(c.Properties))
	}
	return dst
}

// ---- PUBLISH ----

func (p *Publish) flags() byte {
	f := byte(p.QoS) << 1
	if p.Dup {
		f |= 0x08
	}
	if p.Retain {
		f |= 0x01
	}
	return f
}

func (p *Publish) check(v Version, full bool) *Error {
	if full {
		if e := firstErr(
			badIf(p.QoS > QoS2, "QoS %d", p.QoS),
			badIf(p.QoS == QoS0 && p.Dup, "DUP set on a QoS 0 PUBLISH"),
			badIf(p.QoS == QoS0 && p.PacketID != 0, "a packet identifier on a QoS 0 PUBLISH"),
			checkString("topic name", p.Topic),
			checkV5Props(p.Properties, v, 1<<TypePublish),
		); e != nil {
			return e
		}
	}
	if p.QoS > QoS0 && p.PacketID == 0 {
		return protocolError("a QoS %d PUBLISH needs a non-zero packet identifier", p.QoS)
	}
	if p.Topic == "" {
		if v != V5 {
			return protocolErrorCode(TopicNameInvalid, "empty topic name")
		}
		if !p.Properties.Has(PropTopicAlias) {
			return protocolError("empty topic name without a Topic Alias")
		}
		return nil
	}
	if strings.ContainsAny(p.Topic, "+#") {
		return protocolErrorCode(TopicNameInvalid, "the topic name %.100q contains a wildcard", p.Topic)
	}
	return nil
}

func (p *Publish) size(v Version) int {
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > QoS0 {
		n += 2
	}
	if v == V5 {
		pl := propertiesLen(p.Properties)
		n += varintLen(pl) + pl
	}
	return n
}

func (p *Publish) appendBody(dst []byte, v Version) []byte {
	dst = appendString(dst, p.Topic)
	if p.QoS > QoS0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = appendProperties(dst, p.Properties, propertiesLen(p.Properties))
	}
	return append(dst, p.Payload...)
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ----

// shape decides which optional parts of a reason code and properties to
// write: 0 none, 1 the reason code, 2 both.
func shape(reason ReasonCode, props Properties, form ackForm) int {
	switch {
	case len(props) > 0 || form == formFull:
		return 2
	case form == formReason || reason != 0:
		return 1
	}
	return 0
}

func ackCheck(t Type, v Version, id uint16, reason ReasonCode, props Properties, full bool) *Error {
	if full {
		if e := checkV5Props(props, v, 1<<t); e != nil {
			return e
		}
	}
	if id == 0 {
		return protocolError("packet identifier 0")
	}
	if !validReason(t, v, reason) {
		if v != V5 {
			return malformed("reason codes need MQTT 5")
		}
		return protocolError("%v is not a %v reason code", reason, t)
	}
	return nil
}

func ackSize(v Version, reason ReasonCode, props Properties, form ackForm) int {
	if v != V5 {
		return 2
	}
	switch shape(reason, props, form) {
	case 0:
		return 2
	case 1:
		return 3
	}
	pl := propertiesLen(props)
	return 3 + varintLen(pl) + pl
}

func appendAck(dst []byte, v Version, id uint16, reason ReasonCode, props Properties, form ackForm) []byte {
	dst = appendUint16(dst, id)
	if v != V5 {
		return dst
	}
	return appendReasonProps(dst, reason, props, form)
}

func appendReasonProps(dst []byte, reason ReasonCode, props Properties, form ackForm) []byte {
	switch shape(reason, props, form) {
	case 1:
		dst = append(dst, byte(reason))
	case 2:
		dst = append(dst, byte(reason))
		dst = appendProperties(dst, props, propertiesLen(props))
	}
	return dst
}

func (p *Puback) flags() byte { return 0 }
func (p *Puback) check(v Version, s bool) *Error {
	return ackCheck(TypePuback, v, p.PacketID, p.Reason, p.Properties, s)
}
func (p *Puback) size(v Version) int { return ackSize(v, p.Reason, p.Properties, p.form) }
func (p *Puback) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, v, p.PacketID, p.Reason, p.Properties, p.form)
}

func (p *Pubrec) flags() byte { return 0 }
func (p *Pubrec) check(v Version, s bool) *Error {
	return ackCheck(TypePubrec, v, p.PacketID, p.Reason, p.Properties, s)
}
func (p *Pubrec) size(v Version) int { return ackSize(v, p.Reason, p.Properties, p.form) }
func (p *Pubrec) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, v, p.PacketID, p.Reason, p.Properties, p.form)
}

func (p *Pubrel) flags() byte { return TypePubrel.fixedFlags() }
func (p *Pubrel) check(v Version, s bool) *Error {
	return ackCheck(TypePubrel, v, p.PacketID, p.Reason, p.Properties, s)
}
func (p *Pubrel) size(v Version) int { return ackSize(v, p.Reason, p.Properties, p.form) }
func (p *Pubrel) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, v, p.PacketID, p.Reason, p.Properties, p.form)
}

func (p *Pubcomp) flags() byte { return 0 }
func (p *Pubcomp) check(v Version, s bool) *Error {
	return ackCheck(TypePubcomp, v, p.PacketID, p.Reason, p.Properties, s)
}
func (p *Pubcomp) size(v Version) int { return ackSize(v, p.Reason, p.Properties, p.form) }
func (p *Pubcomp) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, v, p.PacketID, p.Reason, p.Properties, p.form)
}

// ---- SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK ----

// options returns the subscription options byte.
func (s *Subscription) options() byte {
	o := byte(s.QoS) | s.RetainHandling<<4
	if s.NoLocal {
		o |= 0x04
	}
	if s.RetainAsPublished {
		o |= 0x08
	}
	return o
}

func (p *Subscribe) flags() byte { return TypeSubscribe.fixedFlags() }

func (p *Subscribe) check(v Version, full bool) *Error {
	if full {
		if e := checkV5Props(p.Properties, v, 1<<TypeSubscribe); e != nil {
			return e
		}
	}
	if p.PacketID == 0 {
		return protocolError("packet identifier 0")
	}
	if len(p.Subscriptions) == 0 {
		return protocolError("no topic filter")
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if full {
			if e := firstErr(
				checkString("topic filter", s.Filter),
				badIf(s.QoS > QoS2, "QoS %d for %.100q", s.QoS, s.Filter),
				badIf(s.RetainHandling > 2, "retain handling %d for %.100q", s.RetainHandling, s.Filter),
				badIf(v != V5 && (s.NoLocal || s.RetainAsPublished || s.RetainHandling != 0),
					"the subscription options of %.100q need MQTT 5", s.Filter),
			); e != nil {
				return e
			}
		}
		if s.NoLocal && isShared(s.Filter) {
			return protocolError("No Local on the shared subscription %.100q", s.Filter)
		}
	}
	return nil
}

func (p *Subscribe) size(v Version) int {
	n := 2
	if v == V5 {
		pl := propertiesLen(p.Properties)
		n += varintLen(pl) + pl
	}
	for _, s := range p.Subscriptions {
		n += 2 + len(s.Filter) + 1
	}
	return n
}

func (p *Subscribe) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = appendProperties(dst, p.Properties, propertiesLen(p.Properties))
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		dst = appendString(dst, s.Filter)
		dst = append(dst, s.options())
	}
	return dst
}

func (p *Suback) flags() byte { return 0 }

func (p *Suback) check(v Version, full bool) *Error {
	if full {
		if e := checkV5Props(p.Properties, v, 1<<TypeSuback); e != nil {
			return e
		}
	}
	if p.PacketID == 0 {
		return protocolError("packet identifier 0")
	}
	if len(p.Reasons) == 0 {
		return protocolError("no reason code")
	}
	for _, r := range p.Reasons {
		if !validReason(TypeSuback, v, r) {
			return protocolError("%v is not a SUBACK code in %v", r, v)
		}
	}
	return nil
}

func (p *Suback) size(v Version) int {
	n := 2 + len(p.Reasons)
	if v == V5 {
		pl := propertiesLen(p.Properties)
		n += varintLen(pl) + pl
	}
	return n
}

func (p *Suback) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = appendProperties(dst, p.Properties, propertiesLen(p.Properties))
	}
	for _, r := range p.Reasons {
		dst = append(dst, byte(r))
	}
	return dst
}

func (p *Unsubscribe) flags() byte { return TypeUnsubscribe.fixedFlags() }

func (p *Unsubscribe) check(v Version, full bool) *Error {
	if full {
		if e := checkV5Props(p.Properties, v, 1<<TypeUnsubscribe); e != nil {
			return e
		}
		for _, f := range p.Filters {
			if e := checkString("topic filter", f); e != nil {
				return e
			}
		}
	}
	if p.PacketID == 0 {
		return protocolError("packet identifier 0")
	}
	if len(p.Filters) == 0 {
		return protocolError("no topic filter")
	}
	return nil
}

func (p *Unsubscribe) size(v Version) int {
	n := 2
	if v == V5 {
		pl := propertiesLen(p.Properties)
		n += varintLen(pl) + pl
	}
	for _, f := range p.Filters {
		n += 2 + len(f)
	}
	return n
}

func (p *Unsubscribe) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, p.PacketID)
	if v == V5 {
		dst = appendProperties(dst, p.Properties, propertiesLen(p.Properties))
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func (p *Unsuback) flags() byte { return 0 }

func (p *Unsuback) check(v Version, full bool) *Error {
	if full {
		if e := firstErr(
			checkV5Props(p.Properties, v, 1<<TypeUnsuback),
			badIf(v != V5 && len(p.Reasons) > 0, "UNSUBACK reason codes need MQTT 5"),
		); e != nil {
			return e
		}
	}
	if p.PacketID == 0 {
		return protocolError("packet identifier 0")
	}
	if v == V5 {
		if len(p.Reasons) == 0 {
			return protocolError("no reason code")
		}
		for _, r := range p.Reasons {
			if !validReason(TypeUnsuback, v, r) {
				return protocolError("%v is not an UNSUBACK reason code", r)
			}
		}
	}
	return nil
}

func (p *Unsuback) size(v Version) int {
	if v != V5 {
		return 2
	}
	pl := propertiesLen(p.Properties)
	return 2 + varintLen(pl) + pl + len(p.Reasons)
}

func (p *Unsuback) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, p.PacketID)
	if v != V5 {
		return dst
	}
	dst = appendProperties(dst, p.Properties, propertiesLen(p.Properties))
	for _, r := range p.Reasons {
		dst = append(dst, byte(r))
	}
	return dst
}

// ---- PINGREQ, PINGRESP, DISCONNECT, AUTH ----

func (*Pingreq) flags() byte                             { return 0 }
func (*Pingreq) check(Version, bool) *Error              { return nil }
func (*Pingreq) size(Version) int                        { return 0 }
func (*Pingreq) appendBody(dst []byte, _ Version) []byte { return dst }

func (*Pingresp) flags() byte                             { return 0 }
func (*Pingresp) check(Version, bool) *Error              { return nil }
func (*Pingresp) size(Version) int                        { return 0 }
func (*Pingresp) appendBody(dst []byte, _ Version) []byte { return dst }

func reasonPropsSize(reason ReasonCode, props Properties, form ackForm) int {
	switch shape(reason, props, form) {
	case 0:
		return 0
	case 1:
		return 1
	}
	pl := propertiesLen(props)
	return 1 + varintLen(pl) + pl
}

func (p *Disconnect) flags() byte { return 0 }

func (p *Disconnect) check(v Version, full bool) *Error {
	if full {
		if e := checkV5Props(p.Properties, v, 1<<TypeDisconnect); e != nil {
			return e
		}
	}
	if !validReason(TypeDisconnect, v, p.Reason) {
		if v != V5 {
			return malformed("a DISCONNECT reason code needs MQTT 5")
		}
		return protocolError("%v is not a DISCONNECT reason code", p.Reason)
	}
	return nil
}

func (p *Disconnect) size(v Version) int {
	if v != V5 {
		return 0
	}
	return reasonPropsSize(p.Reason, p.Properties, p.form)
}

func (p *Disconnect) appendBody(dst []byte, v Version) []byte {
	if v != V5 {
		return dst
	}
	return appendReasonProps(dst, p.Reason, p.Properties, p.form)
}

func (p *Auth) flags() byte { return 0 }

func (p *Auth) check(v Version, full bool) *Error {
	if v != V5 {
		return malformed("AUTH needs MQTT 5")
	}
	if full {
		if e := checkV5Props(p.Properties, v, 1<<TypeAuth); e != nil {
			return e
		}
	}
	if !validReason(TypeAuth, v, p.Reason) {
		return protocolError("%v is not an AUTH reason code", p.Reason)
	}
	return nil
}

func (p *Auth) size(Version) int { return reasonPropsSize(p.Reason, p.Properties, p.form) }

func (p *Auth) appendBody(dst []byte, _ Version) []byte {
	return appendReasonProps(dst, p.Reason, p.Properties, p.form)
}

// isShared reports whether filter names a shared subscription.
func isShared(filter string) bool { return strings.HasPrefix(filter, sharePrefix) }
