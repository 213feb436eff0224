package openwire

// A broker reads a message and an ack for every message it carries, each a
// command with a handful of nested identifiers (producer, message,
// consumer, destination): decoded into objects of their own, that is about
// a dozen allocations per message, most of the codec's cost. A client
// reads a MessageDispatch (a message wrapped with its consumer) for every
// message it receives, and a Response for every message it sends
// persistently. A Reader with ReaderOptions.Reuse decodes those commands
// into an arena of structs it owns instead, and lets their byte arrays
// point into its read buffer, so that a caller which is done with a command
// before it reads the next one allocates nothing for it.

// arena holds the structs a reusing Reader decodes messages and acks into.
// Each frame starts with every slot free; a frame that needs more of a kind
// than the arena has gets the rest from the heap.
type arena struct {
	msg   Message
	ack   MessageAck
	md    MessageDispatch
	resp  Response
	pids  [3]ProducerID
	mids  [2]MessageID
	dests [3]Destination
	cids  [2]ConsumerID
	conns [1]ConnectionID
	ltxs  [1]LocalTransactionID
	// nmsg is 1 once msg is taken, by a message frame or by the message a
	// dispatch carries.
	npid, nmid, ndest, ncid, nconn, nltx, nmsg int
}

// reusable reports whether frames of type t decode into the arena.
func reusable(t DataType) bool {
	return t.IsMessage() || t == TypeMessageAck || t == TypeMessageDispatch || t == TypeResponse
}

// top resets the arena for a new frame of type t and returns the command
// to decode it into.
func (a *arena) top(t DataType) DataStructure {
	a.npid, a.nmid, a.ndest, a.ncid, a.nconn, a.nltx, a.nmsg = 0, 0, 0, 0, 0, 0, 0
	switch t {
	case TypeMessageAck:
		a.ack = MessageAck{}
		return &a.ack
	case TypeMessageDispatch:
		a.md = MessageDispatch{}
		return &a.md
	case TypeResponse:
		a.resp = Response{}
		return &a.resp
	}
	a.nmsg = 1
	a.msg = Message{Kind: t}
	return &a.msg
}

// nested returns a zeroed struct of type t from the arena, or nil when t
// is not kept there or its slots are used up.
func (a *arena) nested(t DataType) DataStructure {
	switch t {
	case TypeMessage, TypeBytesMessage, TypeMapMessage, TypeObjectMessage, TypeStreamMessage, TypeTextMessage:
		if a.nmsg == 0 {
			a.nmsg = 1
			a.msg = Message{Kind: t}
			return &a.msg
		}
	case TypeProducerID:
		if a.npid < len(a.pids) {
			p := &a.pids[a.npid]
			a.npid++
			*p = ProducerID{}
			return p
		}
	case TypeMessageID:
		if a.nmid < len(a.mids) {
			p := &a.mids[a.nmid]
			a.nmid++
			*p = MessageID{}
			return p
		}
	case TypeQueue, TypeTopic, TypeTempQueue, TypeTempTopic:
		if a.ndest < len(a.dests) {
			p := &a.dests[a.ndest]
			a.ndest++
			*p = Destination{Kind: t}
			return p
		}
	case TypeConsumerID:
		if a.ncid < len(a.cids) {
			p := &a.cids[a.ncid]
			a.ncid++
			*p = ConsumerID{}
			return p
		}
	case TypeConnectionID:
		if a.nconn < len(a.conns) {
			p := &a.conns[a.nconn]
			a.nconn++
			*p = ConnectionID{}
			return p
		}
	case TypeLocalTransactionID:
		if a.nltx < len(a.ltxs) {
			p := &a.ltxs[a.nltx]
			a.nltx++
			*p = LocalTransactionID{}
			return p
		}
	}
	return nil
}
