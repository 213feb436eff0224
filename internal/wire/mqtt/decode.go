package mqtt

import "fmt"

// Decoding of packet bodies. Structural faults (a field cut short, bad
// UTF-8, reserved bits set, an unknown property) are malformed packets;
// rule violations found by check are protocol errors. Every decoder ends by
// insisting that nothing is left over, so a body decodes one way only and
// the writer reproduces it.

// decodeBody decodes the body of a packet of type t whose first byte had
// the low nibble fl, in version v (ignored for CONNECT, which carries its
// own). For CONNECT the returned packet may be partly filled even on error,
// so that the caller can learn the protocol level.
func decodeBody(t Type, fl byte, body []byte, v Version, topics *topicCache) (Packet, *Error) {
	d := &decoder{b: body}
	var p Packet
	switch t {
	case TypeConnect:
		c := decodeConnect(d)
		if d.err != nil {
			return c, d.err
		}
		v, p = c.Version, c
	case TypeConnack:
		p = decodeConnack(d, v)
	case TypePublish:
		p = decodePublish(d, fl, v, topics)
	case TypePuback:
		a := &Puback{}
		a.PacketID, a.Reason, a.Properties, a.form = decodeAck(d, t, v)
		p = a
	case TypePubrec:
		a := &Pubrec{}
		a.PacketID, a.Reason, a.Properties, a.form = decodeAck(d, t, v)
		p = a
	case TypePubrel:
		a := &Pubrel{}
		a.PacketID, a.Reason, a.Properties, a.form = decodeAck(d, t, v)
		p = a
	case TypePubcomp:
		a := &Pubcomp{}
		a.PacketID, a.Reason, a.Properties, a.form = decodeAck(d, t, v)
		p = a
	case TypeSubscribe:
		p = decodeSubscribe(d, v)
	case TypeSuback:
		p = decodeSuback(d, v)
	case TypeUnsubscribe:
		p = decodeUnsubscribe(d, v)
	case TypeUnsuback:
		p = decodeUnsuback(d, v)
	case TypePingreq:
		p = &Pingreq{}
	case TypePingresp:
		p = &Pingresp{}
	case TypeDisconnect:
		x := &Disconnect{}
		if v == V5 {
			x.Reason, x.Properties, x.form = decodeReasonProps(d, t)
		}
		p = x
	case TypeAuth:
		x := &Auth{}
		x.Reason, x.Properties, x.form = decodeReasonProps(d, t)
		p = x
	default:
		return nil, malformed("reserved packet type %d", t)
	}
	if d.err != nil {
		return nil, d.err
	}
	if n := d.remaining(); n > 0 {
		return nil, malformed("%d unexpected bytes at the end of the packet", n)
	}
	if e := p.check(v, false); e != nil {
		return p, e
	}
	return p, nil
}

func decodeConnect(d *decoder) *Connect {
	c := &Connect{}
	name := d.string("protocol name")
	level := Version(d.byte("protocol level"))
	if d.err != nil {
		return c
	}
	if !level.Supported() || name != level.protocolName() {
		d.fail(&Error{Kind: ErrUnsupportedVersion, Reason: UnsupportedProtocolVersion,
			Detail: fmt.Sprintf("protocol name %.100q with level %d; this server speaks MQTT 3.1 (\"MQIsdp\", 3), 3.1.1 (\"MQTT\", 4) and 5.0 (\"MQTT\", 5)", name, level)})
		return c
	}
	c.Version = level
	if name != ProtocolName {
		c.ProtocolName = name
	}
	f := d.byte("connect flags")
	c.KeepAlive = d.uint16("keep alive")
	if d.err != nil {
		return c
	}
	if f&0x01 != 0 {
		d.fail(malformed("the reserved bit of the connect flags is set"))
		return c
	}
	c.CleanStart = f&0x02 != 0
	hasWill := f&0x04 != 0
	willQoS := QoS(f >> 3 & 0x03)
	willRetain := f&0x20 != 0
	c.HasPassword = f&0x40 != 0
	c.HasUsername = f&0x80 != 0
	switch {
	case willQoS == 3:
		d.fail(malformed("will QoS 3"))
		return c
	case !hasWill && (willQoS != 0 || willRetain):
		d.fail(malformed("will QoS or will retain set without the will flag"))
		return c
	}
	if c.Version == V5 {
		c.Properties = decodeProperties(d, 1<<TypeConnect)
	}
	c.ClientID = d.string("client identifier")
	if hasWill {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if c.Version == V5 {
			w.Properties = decodeProperties(d, whereWill)
		}
		w.Topic = d.string("will topic")
		w.Payload = d.binary("will payload")
		c.Will = w
	}
	if c.HasUsername {
		c.Username = d.string("user name")
	}
	if c.HasPassword {
		c.Password = d.binary("password")
	}
	return c
}

func decodeConnack(d *decoder, v Version) *Connack {
	c := &Connack{}
	f := d.byte("acknowledge flags")
	c.Reason = ReasonCode(d.byte("reason code"))
	if d.err != nil {
		return c
	}
	if f&^1 != 0 {
		d.fail(malformed("reserved acknowledge flags 0x%02X are set", f))
		return c
	}
	c.SessionPresent = f&1 != 0
	if v == V5 {
		c.Properties = decodeProperties(d, 1<<TypeConnack)
	}
	return c
}

func decodePublish(d *decoder, fl byte, v Version, topics *topicCache) *Publish {
	p := &Publish{Dup: fl&0x08 != 0, QoS: QoS(fl >> 1 & 0x03), Retain: fl&0x01 != 0}
	p.Topic = topics.get(d, "topic name")
	if p.QoS > QoS0 {
		p.PacketID = d.uint16("packet identifier")
	}
	if v == V5 {
		p.Properties = decodeProperties(d, 1<<TypePublish)
	}
	p.Payload = d.rest()
	return p
}

// decodeAck decodes PUBACK, PUBREC, PUBREL and PUBCOMP: a packet
// identifier, then in MQTT 5 an optional reason code and optional
// properties.
func decodeAck(d *decoder, t Type, v Version) (id uint16, reason ReasonCode, props Properties, form ackForm) {
	id = d.uint16("packet identifier")
	if v != V5 || d.remaining() == 0 {
		return id, 0, nil, formShortest
	}
	reason, props, form = decodeReasonProps(d, t)
	return id, reason, props, form
}

// decodeReasonProps decodes the optional reason code and optional
// properties that end PUBACK and its kin, DISCONNECT and AUTH.
func decodeReasonProps(d *decoder, t Type) (ReasonCode, Properties, ackForm) {
	if d.remaining() == 0 {
		return 0, nil, formShortest
	}
	reason := ReasonCode(d.byte("reason code"))
	if d.remaining() == 0 {
		return reason, nil, formReason
	}
	return reason, decodeProperties(d, 1<<t), formFull
}

func decodeSubscribe(d *decoder, v Version) *Subscribe {
	p := &Subscribe{PacketID: d.uint16("packet identifier")}
	if v == V5 {
		p.Properties = decodeProperties(d, 1<<TypeSubscribe)
	}
	for d.err == nil && d.remaining() > 0 {
		s := Subscription{Filter: d.string("topic filter")}
		o := d.byte("subscription options")
		if d.err != nil {
			break
		}
		s.QoS = QoS(o & 0x03)
		if v == V5 {
			if o&0xC0 != 0 {
				d.fail(malformed("reserved subscription option bits set for %.100q", s.Filter))
				break
			}
			s.NoLocal = o&0x04 != 0
			s.RetainAsPublished = o&0x08 != 0
			s.RetainHandling = o >> 4 & 0x03
			if s.QoS == 3 {
				d.fail(protocolError("maximum QoS 3 for %.100q", s.Filter))
				break
			}
			if s.RetainHandling == 3 {
				d.fail(protocolError("retain handling 3 for %.100q", s.Filter))
				break
			}
		} else if o&0xFC != 0 || s.QoS == 3 {
			d.fail(malformed("requested QoS byte 0x%02X for %.100q", o, s.Filter))
			break
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return p
}

func decodeSuback(d *decoder, v Version) *Suback {
	p := &Suback{PacketID: d.uint16("packet identifier")}
	if v == V5 {
		p.Properties = decodeProperties(d, 1<<TypeSuback)
	}
	if rest := d.rest(); len(rest) > 0 {
		p.Reasons = make([]ReasonCode, len(rest))
		for i, c := range rest {
			p.Reasons[i] = ReasonCode(c)
		}
	}
	return p
}

func decodeUnsubscribe(d *decoder, v Version) *Unsubscribe {
	p := &Unsubscribe{PacketID: d.uint16("packet identifier")}
	if v == V5 {
		p.Properties = decodeProperties(d, 1<<TypeUnsubscribe)
	}
	for d.err == nil && d.remaining() > 0 {
		p.Filters = append(p.Filters, d.string("topic filter"))
	}
	return p
}

func decodeUnsuback(d *decoder, v Version) *Unsuback {
	p := &Unsuback{PacketID: d.uint16("packet identifier")}
	if v != V5 {
		return p
	}
	p.Properties = decodeProperties(d, 1<<TypeUnsuback)
	if rest := d.rest(); len(rest) > 0 {
		p.Reasons = make([]ReasonCode, len(rest))
		for i, c := range rest {
			p.Reasons[i] = ReasonCode(c)
		}
	}
	return p
}
