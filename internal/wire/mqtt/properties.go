package mqtt

import (
	"fmt"
	"iter"
)

// PropID identifies an MQTT 5 property.
type PropID byte

// The MQTT 5 properties (specification table 2-4).
const (
	PropPayloadFormat           PropID = 0x01 // Byte: 0 unspecified bytes, 1 UTF-8; PUBLISH, will
	PropMessageExpiry           PropID = 0x02 // Four Byte Integer, seconds; PUBLISH, will
	PropContentType             PropID = 0x03 // UTF-8 string; PUBLISH, will
	PropResponseTopic           PropID = 0x08 // UTF-8 string, a topic name; PUBLISH, will
	PropCorrelationData         PropID = 0x09 // Binary Data; PUBLISH, will
	PropSubscriptionID          PropID = 0x0B // Variable Byte Integer 1..268,435,455; PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry           PropID = 0x11 // Four Byte Integer, seconds; CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID        PropID = 0x12 // UTF-8 string; CONNACK
	PropServerKeepAlive         PropID = 0x13 // Two Byte Integer, seconds; CONNACK
	PropAuthMethod              PropID = 0x15 // UTF-8 string; CONNECT, CONNACK, AUTH
	PropAuthData                PropID = 0x16 // Binary Data; CONNECT, CONNACK, AUTH
	PropRequestProblemInfo      PropID = 0x17 // Byte 0/1; CONNECT
	PropWillDelay               PropID = 0x18 // Four Byte Integer, seconds; will
	PropRequestResponseInfo     PropID = 0x19 // Byte 0/1; CONNECT
	PropResponseInfo            PropID = 0x1A // UTF-8 string; CONNACK
	PropServerReference         PropID = 0x1C // UTF-8 string; CONNACK, DISCONNECT
	PropReasonString            PropID = 0x1F // UTF-8 string; every acknowledgement, DISCONNECT, AUTH
	PropReceiveMaximum          PropID = 0x21 // Two Byte Integer, not 0; CONNECT, CONNACK
	PropTopicAliasMaximum       PropID = 0x22 // Two Byte Integer; CONNECT, CONNACK
	PropTopicAlias              PropID = 0x23 // Two Byte Integer, not 0; PUBLISH
	PropMaximumQoS              PropID = 0x24 // Byte 0/1; CONNACK
	PropRetainAvailable         PropID = 0x25 // Byte 0/1; CONNACK
	PropUser                    PropID = 0x26 // UTF-8 string pair, repeatable; every packet with properties
	PropMaximumPacketSize       PropID = 0x27 // Four Byte Integer, not 0; CONNECT, CONNACK
	PropWildcardSubAvailable    PropID = 0x28 // Byte 0/1; CONNACK
	PropSubscriptionIDAvailable PropID = 0x29 // Byte 0/1; CONNACK
	PropSharedSubAvailable      PropID = 0x2A // Byte 0/1; CONNACK
)

// propKind is the data type of a property's value.
type propKind uint8

const (
	kindNone propKind = iota // not a property
	kindByte
	kindUint16
	kindUint32
	kindVarint
	kindString
	kindBinary
	kindPair
)

// whereWill marks the will properties of CONNECT in propSpec.where; the
// other bits are 1<<Type.
const whereWill = 1

// propSpec says what a property holds and where it may appear.
type propSpec struct {
	name    string
	kind    propKind
	where   uint32 // 1<<Type for each packet, whereWill for will properties
	boolean bool   // the value must be 0 or 1
	nonZero bool   // 0 is a protocol error
}

func in(types ...Type) uint32 {
	var m uint32
	for _, t := range types {
		m |= 1 << t
	}
	return m
}

var acks = in(TypePuback, TypePubrec, TypePubrel, TypePubcomp)

var propSpecs = [...]propSpec{
	PropPayloadFormat:           {"Payload Format Indicator", kindByte, in(TypePublish) | whereWill, true, false},
	PropMessageExpiry:           {"Message Expiry Interval", kindUint32, in(TypePublish) | whereWill, false, false},
	PropContentType:             {"Content Type", kindString, in(TypePublish) | whereWill, false, false},
	PropResponseTopic:           {"Response Topic", kindString, in(TypePublish) | whereWill, false, false},
	PropCorrelationData:         {"Correlation Data", kindBinary, in(TypePublish) | whereWill, false, false},
	PropSubscriptionID:          {"Subscription Identifier", kindVarint, in(TypePublish, TypeSubscribe), false, true},
	PropSessionExpiry:           {"Session Expiry Interval", kindUint32, in(TypeConnect, TypeConnack, TypeDisconnect), false, false},
	PropAssignedClientID:        {"Assigned Client Identifier", kindString, in(TypeConnack), false, false},
	PropServerKeepAlive:         {"Server Keep Alive", kindUint16, in(TypeConnack), false, false},
	PropAuthMethod:              {"Authentication Method", kindString, in(TypeConnect, TypeConnack, TypeAuth), false, false},
	PropAuthData:                {"Authentication Data", kindBinary, in(TypeConnect, TypeConnack, TypeAuth), false, false},
	PropRequestProblemInfo:      {"Request Problem Information", kindByte, in(TypeConnect), true, false},
	PropWillDelay:               {"Will Delay Interval", kindUint32, whereWill, false, false},
	PropRequestResponseInfo:     {"Request Response Information", kindByte, in(TypeConnect), true, false},
	PropResponseInfo:            {"Response Information", kindString, in(TypeConnack), false, false},
	PropServerReference:         {"Server Reference", kindString, in(TypeConnack, TypeDisconnect), false, false},
	PropReasonString:            {"Reason String", kindString, in(TypeConnack, TypeSuback, TypeUnsuback, TypeDisconnect, TypeAuth) | acks, false, false},
	PropReceiveMaximum:          {"Receive Maximum", kindUint16, in(TypeConnect, TypeConnack), false, true},
	PropTopicAliasMaximum:       {"Topic Alias Maximum", kindUint16, in(TypeConnect, TypeConnack), false, false},
	PropTopicAlias:              {"Topic Alias", kindUint16, in(TypePublish), false, true},
	PropMaximumQoS:              {"Maximum QoS", kindByte, in(TypeConnack), true, false},
	PropRetainAvailable:         {"Retain Available", kindByte, in(TypeConnack), true, false},
	PropUser:                    {"User Property", kindPair, in(TypeConnect, TypeConnack, TypePublish, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypeDisconnect, TypeAuth) | acks | whereWill, false, false},
	PropMaximumPacketSize:       {"Maximum Packet Size", kindUint32, in(TypeConnect, TypeConnack), false, true},
	PropWildcardSubAvailable:    {"Wildcard Subscription Available", kindByte, in(TypeConnack), true, false},
	PropSubscriptionIDAvailable: {"Subscription Identifier Available", kindByte, in(TypeConnack), true, false},
	PropSharedSubAvailable:      {"Shared Subscription Available", kindByte, in(TypeConnack), true, false},
}

func (id PropID) spec() propSpec {
	if int(id) < len(propSpecs) {
		return propSpecs[id]
	}
	return propSpec{}
}

// String returns the property's name as the specification writes it.
func (id PropID) String() string {
	if s := id.spec(); s.kind != kindNone {
		return s.name
	}
	return fmt.Sprintf("property 0x%02X", byte(id))
}

// Property is one MQTT 5 property. Which field holds the value depends on
// the property's data type: Int for Byte, Two Byte, Four Byte and Variable
// Byte Integers, Str for UTF-8 strings, Bin for Binary Data, and Name and
// Str for a User Property's name and value.
type Property struct {
	ID   PropID
	Int  uint32
	Str  string
	Name string
	Bin  []byte
}

// IntProp returns an integer property (any of the Byte, Two Byte, Four
// Byte or Variable Byte Integer properties).
func IntProp(id PropID, v uint32) Property { return Property{ID: id, Int: v} }

// StringProp returns a UTF-8 string property.
func StringProp(id PropID, s string) Property { return Property{ID: id, Str: s} }

// BinaryProp returns a Binary Data property.
func BinaryProp(id PropID, b []byte) Property { return Property{ID: id, Bin: b} }

// UserProp returns a User Property.
func UserProp(name, value string) Property { return Property{ID: PropUser, Name: name, Str: value} }

// String formats the property for logs.
func (p Property) String() string {
	switch p.ID.spec().kind {
	case kindString:
		return fmt.Sprintf("%v=%.100q", p.ID, p.Str)
	case kindBinary:
		return fmt.Sprintf("%v=%x", p.ID, p.Bin)
	case kindPair:
		return fmt.Sprintf("%v %.100q=%.100q", p.ID, p.Name, p.Str)
	}
	return fmt.Sprintf("%v=%d", p.ID, p.Int)
}

// Properties is the property list of a packet, in wire order. Repeatable
// properties (User Property, and Subscription Identifier in PUBLISH) keep
// every occurrence, in order; the order of the others has no meaning, but
// it is kept so that a packet is written back exactly as it was read.
type Properties []Property

// Get returns the first property with the given identifier.
func (ps Properties) Get(id PropID) (Property, bool) {
	for _, p := range ps {
		if p.ID == id {
			return p, true
		}
	}
	return Property{}, false
}

// Has reports whether a property with the given identifier is present.
func (ps Properties) Has(id PropID) bool {
	_, ok := ps.Get(id)
	return ok
}

// Int returns the value of the first integer property id.
func (ps Properties) Int(id PropID) (uint32, bool) {
	p, ok := ps.Get(id)
	return p.Int, ok
}

// String returns the value of the first string property id.
func (ps Properties) String(id PropID) (string, bool) {
	p, ok := ps.Get(id)
	return p.Str, ok
}

// Binary returns the value of the first Binary Data property id.
func (ps Properties) Binary(id PropID) ([]byte, bool) {
	p, ok := ps.Get(id)
	return p.Bin, ok
}

// All yields every property with the given identifier, in order: the User
// Properties, or the Subscription Identifiers of a PUBLISH.
func (ps Properties) All(id PropID) iter.Seq[Property] {
	return func(yield func(Property) bool) {
		for _, p := range ps {
			if p.ID == id && !yield(p) {
				return
			}
		}
	}
}

// Add appends p, keeping any property with the same identifier.
func (ps *Properties) Add(p Property) { *ps = append(*ps, p) }

// Set replaces the first property with p's identifier by p and removes any
// others with that identifier, or appends p if there is none.
func (ps *Properties) Set(p Property) {
	for i, q := range *ps {
		if q.ID == p.ID {
			(*ps)[i] = p
			rest := (*ps)[i+1:]
			*ps = (*ps)[:i+1]
			for _, r := range rest {
				if r.ID != p.ID {
					*ps = append(*ps, r)
				}
			}
			return
		}
	}
	*ps = append(*ps, p)
}

// Delete removes every property with the given identifier.
func (ps *Properties) Delete(id PropID) {
	out := (*ps)[:0]
	for _, p := range *ps {
		if p.ID != id {
			out = append(out, p)
		}
	}
	clear((*ps)[len(out):])
	*ps = out
}

// whereName names a propSpec.where bit for error messages.
func whereName(where uint32) string {
	if where == whereWill {
		return "the will properties"
	}
	for t := TypeConnect; t <= TypeAuth; t++ {
		if where == 1<<t {
			return t.String()
		}
	}
	return "this packet"
}

// checkProp applies the rules of the specification to one property of a
// packet (where is its propSpec.where bit): allowed there, not repeated
// unless repeatable (seen tracks the identifiers met so far), a value of
// the right range. With full set it also checks the UTF-8 of string
// values and the length of strings and binary data, which the decoder has
// already done for what it reads.
func checkProp(p Property, where uint32, seen *uint64, full bool) *Error {
	spec := p.ID.spec()
	if spec.kind == kindNone {
		return malformed("unknown property identifier 0x%02X", byte(p.ID))
	}
	if spec.where&where == 0 {
		// Section 2.2.2.2: an identifier not valid for the packet type
		// makes the packet malformed.
		return malformed("%v is not allowed in %s", p.ID, whereName(where))
	}
	repeatable := p.ID == PropUser || (p.ID == PropSubscriptionID && where == 1<<TypePublish)
	bit := uint64(1) << p.ID
	if *seen&bit != 0 && !repeatable {
		return protocolError("%v appears more than once", p.ID)
	}
	*seen |= bit
	switch spec.kind {
	case kindByte:
		if p.Int > 0xFF {
			return malformed("%v %d does not fit in a byte", p.ID, p.Int)
		}
	case kindUint16:
		if p.Int > 0xFFFF {
			return malformed("%v %d does not fit in two bytes", p.ID, p.Int)
		}
	case kindVarint:
		if p.Int > MaxVarint {
			return malformed("%v %d is larger than a variable byte integer holds", p.ID, p.Int)
		}
	case kindString, kindPair:
		if full {
			if len(p.Str) > maxString || len(p.Name) > maxString {
				return malformed("%v is longer than 65,535 bytes", p.ID)
			}
			if !validUTF8(p.Str) || !validUTF8(p.Name) {
				return malformed("%v is not valid MQTT UTF-8", p.ID)
			}
		}
	case kindBinary:
		if full && len(p.Bin) > maxString {
			return malformed("%v is longer than 65,535 bytes", p.ID)
		}
	}
	if spec.boolean && p.Int > 1 {
		return protocolError("%v must be 0 or 1, not %d", p.ID, p.Int)
	}
	if spec.nonZero && p.Int == 0 {
		if p.ID == PropTopicAlias {
			return protocolErrorCode(TopicAliasInvalid, "a Topic Alias of 0 is not permitted")
		}
		return protocolError("%v must not be 0", p.ID)
	}
	if p.ID == PropResponseTopic {
		if e := checkTopicName(p.Str); e != nil {
			return protocolError("the Response Topic is not a valid topic name: %s", e.Detail)
		}
	}
	return nil
}

// decodeProperties reads a property length and the properties it covers.
func decodeProperties(d *decoder, where uint32) Properties {
	n := d.varint("property length")
	if d.err != nil {
		return nil
	}
	if n > d.remaining() {
		d.fail(malformed("the property length %d is longer than the %d bytes left in the packet", n, d.remaining()))
		return nil
	}
	if n == 0 {
		return nil
	}
	pd := decoder{b: d.b[d.off : d.off+n]}
	d.off += n
	// Every property takes at least two bytes; most take more.
	ps := make(Properties, 0, min(n/4+1, 8))
	var seen uint64
	for pd.remaining() > 0 {
		id := pd.varint("property identifier")
		if pd.err != nil {
			break
		}
		if id >= len(propSpecs) || propSpecs[id].kind == kindNone {
			pd.fail(malformed("unknown property identifier 0x%02X", id))
			break
		}
		p := Property{ID: PropID(id)}
		name := p.ID.String()
		switch propSpecs[id].kind {
		case kindByte:
			p.Int = uint32(pd.byte(name))
		case kindUint16:
			p.Int = uint32(pd.uint16(name))
		case kindUint32:
			p.Int = pd.uint32(name)
		case kindVarint:
			p.Int = uint32(pd.varint(name))
		case kindString:
			p.Str = pd.string(name)
		case kindBinary:
			p.Bin = pd.binary(name)
		case kindPair:
			p.Name = pd.string("User Property name")
			p.Str = pd.string("User Property value")
		}
		if pd.err != nil {
			break
		}
		if e := checkProp(p, where, &seen, false); e != nil {
			pd.fail(e)
			break
		}
		ps = append(ps, p)
	}
	if pd.err != nil {
		d.fail(pd.err)
		return nil
	}
	return ps
}

// checkProperties checks a whole list for the writer.
func checkProperties(ps Properties, where uint32) *Error {
	var seen uint64
	for _, p := range ps {
		if e := checkProp(p, where, &seen, true); e != nil {
			return e
		}
	}
	return nil
}

// propertiesLen is the encoded length of ps, without the property length
// in front.
func propertiesLen(ps Properties) int {
	n := 0
	for _, p := range ps {
		n++ // every identifier in MQTT 5 fits in one byte
		switch p.ID.spec().kind {
		case kindByte:
			n++
		case kindUint16:
			n += 2
		case kindUint32:
			n += 4
		case kindVarint:
			n += varintLen(int(p.Int))
		case kindString:
			n += 2 + len(p.Str)
		case kindBinary:
			n += 2 + len(p.Bin)
		case kindPair:
			n += 4 + len(p.Name) + len(p.Str)
		}
	}
	return n
}

// appendProperties appends the property length and the properties; n is
// propertiesLen(ps).
func appendProperties(dst []byte, ps Properties, n int) []byte {
	dst = appendVarint(dst, n)
	for _, p := range ps {
		dst = append(dst, byte(p.ID))
		switch p.ID.spec().kind {
		case kindByte:
			dst = append(dst, byte(p.Int))
		case kindUint16:
			dst = appendUint16(dst, uint16(p.Int))
		case kindUint32:
			dst = appendUint32(dst, p.Int)
		case kindVarint:
			dst = appendVarint(dst, int(p.Int))
		case kindString:
			dst = appendString(dst, p.Str)
		case kindBinary:
			dst = appendBinary(dst, p.Bin)
		case kindPair:
			dst = appendString(dst, p.Name)
			dst = appendString(dst, p.Str)
		}
	}
	return dst
}
