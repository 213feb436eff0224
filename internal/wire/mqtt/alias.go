package mqtt

import "strconv"

// Topic aliases (MQTT 5, section 3.3.2.3.4) are per connection and per
// direction: each side tells the other, in CONNECT and CONNACK, the
// highest alias it accepts, and the sender of a PUBLISH decides whether to
// use one. The two tables here are the receiving and the sending side.

// InboundAliases resolves the topic aliases a peer uses in the PUBLISH
// packets it sends. Its maximum is the Topic Alias Maximum this side
// advertised (0: the peer may use none).
type InboundAliases struct {
	max    uint16
	topics map[uint16]string
}

// NewInboundAliases returns a table accepting aliases 1 to max.
func NewInboundAliases(max uint16) *InboundAliases {
	return &InboundAliases{max: max}
}

// Max returns the highest alias accepted.
func (a *InboundAliases) Max() uint16 { return a.max }

// Resolve applies p's Topic Alias property, if any: with a topic name it
// maps the alias to that topic; with an empty topic it fills in the topic
// the alias maps to. It then removes the property, which means nothing
// beyond this connection. Errors (*Error, protocol errors): an alias of 0
// or above the maximum (reason 0x94 Topic Alias invalid), or an empty
// topic with an alias not yet mapped (reason 0x82).
func (a *InboundAliases) Resolve(p *Publish) error {
	v, ok := p.Properties.Int(PropTopicAlias)
	if !ok {
		return nil
	}
	if v == 0 || v > uint32(a.max) {
		return &Error{Kind: ErrProtocol, Reason: TopicAliasInvalid, Packet: TypePublish, Version: V5,
			Detail: topicAliasRange(v, a.max)}
	}
	alias := uint16(v)
	if p.Topic != "" {
		if a.topics == nil {
			a.topics = make(map[uint16]string)
		}
		a.topics[alias] = p.Topic
	} else {
		t, ok := a.topics[alias]
		if !ok {
			return &Error{Kind: ErrProtocol, Reason: ProtocolError, Packet: TypePublish, Version: V5,
				Detail: "an empty topic name with topic alias " + strconv.Itoa(int(alias)) + ", which no PUBLISH has set yet"}
		}
		p.Topic = t
	}
	p.Properties.Delete(PropTopicAlias)
	return nil
}

func topicAliasRange(v uint32, max uint16) string {
	if max == 0 {
		return "topic alias " + strconv.Itoa(int(v)) + " but this side accepts none (Topic Alias Maximum 0)"
	}
	return "topic alias " + strconv.Itoa(int(v)) + " is outside 1.." + strconv.Itoa(int(max))
}

// OutboundAliases chooses topic aliases for the PUBLISH packets this side
// sends, up to the peer's Topic Alias Maximum.
//
// Policy: every topic gets an alias when first sent (the packet carries
// the topic and the alias, which sets the mapping at the peer); later
// packets to that topic carry the alias and an empty topic. When all
// aliases are in use, the least recently used one is reassigned to the
// new topic (again by a packet carrying both). A steady set of topics no
// larger than the maximum is thus sent by name once each; a churning set
// costs nothing over sending names, apart from the two-byte property.
type OutboundAliases struct {
	max     uint16
	byTopic map[string]uint16
	// Per alias (index 0 unused): its topic, and its neighbours in the
	// recency list, most recent at head.
	topic      []string
	prev, next []uint16
	head, tail uint16
}

// NewOutboundAliases returns a table for a peer that accepts aliases 1 to
// max; with 0 no alias is ever used.
func NewOutboundAliases(max uint16) *OutboundAliases {
	return &OutboundAliases{max: max, byTopic: make(map[string]uint16)}
}

// Max returns the highest alias used.
func (a *OutboundAliases) Max() uint16 { return a.max }

// aliasPlan is the alias decided for one PUBLISH: known means the peer
// already maps it to the topic, so the topic can be left out.
type aliasPlan struct {
	alias uint16
	known bool
}

// plan decides the alias for topic without changing the table; max must
// be above 0.
func (a *OutboundAliases) plan(topic string) aliasPlan {
	if alias, ok := a.byTopic[topic]; ok {
		return aliasPlan{alias: alias, known: true}
	}
	// Aliases are handed out in order; len(a.topic) is one more than the
	// number in use (index 0 is a placeholder) once the table exists.
	if next := max(len(a.topic), 1); next <= int(a.max) {
		return aliasPlan{alias: uint16(next)}
	}
	return aliasPlan{alias: a.tail}
}

// commit records a plan once its packet is buffered.
func (a *OutboundAliases) commit(topic string, p aliasPlan) {
	if p.known {
		a.touch(p.alias)
		return
	}
	if len(a.topic) == 0 {
		a.topic = make([]string, 1, min(int(a.max)+1, 64))
		a.prev = make([]uint16, 1, cap(a.topic))
		a.next = make([]uint16, 1, cap(a.topic))
	}
	if int(p.alias) == len(a.topic) {
		a.topic = append(a.topic, topic)
		a.prev = append(a.prev, 0)
		a.next = append(a.next, 0)
		a.pushFront(p.alias)
	} else {
		delete(a.byTopic, a.topic[p.alias])
		a.topic[p.alias] = topic
		a.touch(p.alias)
	}
	a.byTopic[topic] = p.alias
}

// Assign returns the alias to send topic with and whether the peer
// already knows it (then the topic may be left out), recording the
// choice. It is for senders that do not go through Writer; alias 0 means
// none (the peer accepts no aliases).
func (a *OutboundAliases) Assign(topic string) (alias uint16, known bool) {
	if a.max == 0 || topic == "" {
		return 0, false
	}
	p := a.plan(topic)
	a.commit(topic, p)
	return p.alias, p.known
}

func (a *OutboundAliases) unlink(x uint16) {
	p, n := a.prev[x], a.next[x]
	if p != 0 {
		a.next[p] = n
	} else {
		a.head = n
	}
	if n != 0 {
		a.prev[n] = p
	} else {
		a.tail = p
	}
	a.prev[x], a.next[x] = 0, 0
}

func (a *OutboundAliases) pushFront(x uint16) {
	a.prev[x], a.next[x] = 0, a.head
	if a.head != 0 {
		a.prev[a.head] = x
	}
	a.head = x
	if a.tail == 0 {
		a.tail = x
	}
}

func (a *OutboundAliases) touch(x uint16) {
	if a.head == x {
		return
	}
	a.unlink(x)
	a.pushFront(x)
}
