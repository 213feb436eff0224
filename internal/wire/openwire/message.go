package openwire

import "fmt"

// Message is a JMS message of any of the six kinds: Kind is TypeMessage,
// TypeBytesMessage, TypeMapMessage, TypeObjectMessage, TypeStreamMessage or
// TypeTextMessage. Every field of the v12 layout is here, in wire order, so a
// message passes through the broker intact.
//
// Content is the body as the client encoded it (see the Text, MapBody,
// StreamBody and UncompressedContent helpers), possibly compressed when
// Compressed is set. MarshalledProperties is the encoded property map (see
// Properties and SetProperties); keeping it encoded lets a broker forward a
// message without decoding its properties.
type Message struct {
	BaseCommand
	Kind                DataType
	ProducerID          *ProducerID
	Destination         *Destination
	TransactionID       TransactionID
	OriginalDestination *Destination
	MessageID           *MessageID
	// OriginalTransactionID is set on a message the broker moves to a
	// dead-letter queue.
	OriginalTransactionID TransactionID
	// GroupID and GroupSequence are JMSXGroupID and JMSXGroupSeq.
	GroupID       string
	GroupSequence int32
	// CorrelationID is JMSCorrelationID.
	CorrelationID string
	// Persistent is JMSDeliveryMode == PERSISTENT.
	Persistent bool
	// Expiration is JMSExpiration, in milliseconds since the epoch; 0 means
	// never.
	Expiration int64
	// Priority is JMSPriority, 0 to 9.
	Priority byte
	// ReplyTo is JMSReplyTo.
	ReplyTo *Destination
	// Timestamp is JMSTimestamp, in milliseconds since the epoch.
	Timestamp int64
	// Type is JMSType.
	Type                 string
	Content              []byte
	MarshalledProperties []byte
	// DataStructure carries an object with the message: advisory messages
	// carry the DestinationInfo or ConsumerInfo they announce.
	DataStructure    DataStructure
	TargetConsumerID *ConsumerID
	Compressed       bool
	// RedeliveryCounter counts deliveries before this one; JMSXDeliveryCount
	// is one more.
	RedeliveryCounter int32
	BrokerPath        []*BrokerID
	Arrival           int64
	// UserID is JMSXUserID, set by a broker that populates it.
	UserID string
	// ReceivedByDFBridge is Java's misspelt "recievedByDFBridge".
	ReceivedByDFBridge        bool
	Droppable                 bool
	Cluster                   []*BrokerID
	BrokerInTime              int64
	BrokerOutTime             int64
	JMSXGroupFirstForConsumer bool
	empty                     nullMask
}

// DataType returns the message's kind.
func (x *Message) DataType() DataType { return x.Kind }
func (x *Message) isNil() bool        { return x == nil }

func (x *Message) marshal(e *encoder) {
	if !x.Kind.IsMessage() {
		e.fail("a message of kind %v", x.Kind)
		return
	}
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.nested(x.ProducerID)
	e.nested(x.Destination)
	e.nested(x.TransactionID)
	e.nested(x.OriginalDestination)
	e.nested(x.MessageID)
	e.nested(x.OriginalTransactionID)
	s.put(x.GroupID)
	e.i32(x.GroupSequence)
	s.put(x.CorrelationID)
	e.bool(x.Persistent)
	e.i64(x.Expiration)
	e.u8(x.Priority)
	e.nested(x.ReplyTo)
	e.i64(x.Timestamp)
	s.put(x.Type)
	e.bytes(x.Content)
	e.bytes(x.MarshalledProperties)
	e.nested(x.DataStructure)
	e.nested(x.TargetConsumerID)
	e.bool(x.Compressed)
	e.i32(x.RedeliveryCounter)
	putArray(e, x.BrokerPath)
	e.i64(x.Arrival)
	s.put(x.UserID)
	e.bool(x.ReceivedByDFBridge)
	e.bool(x.Droppable)
	putArray(e, x.Cluster)
	e.i64(x.BrokerInTime)
	e.i64(x.BrokerOutTime)
	e.bool(x.JMSXGroupFirstForConsumer)
}

func (x *Message) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.ProducerID = nestedAs[*ProducerID](d, "Message.producerId")
	x.Destination = nestedAs[*Destination](d, "Message.destination")
	x.TransactionID = nestedAs[TransactionID](d, "Message.transactionId")
	x.OriginalDestination = nestedAs[*Destination](d, "Message.originalDestination")
	x.MessageID = nestedAs[*MessageID](d, "Message.messageId")
	x.OriginalTransactionID = nestedAs[TransactionID](d, "Message.originalTransactionId")
	x.GroupID = s.next()
	x.GroupSequence = d.i32()
	x.CorrelationID = s.next()
	x.Persistent = d.bool()
	x.Expiration = d.i64()
	x.Priority = d.u8()
	x.ReplyTo = nestedAs[*Destination](d, "Message.replyTo")
	x.Timestamp = d.i64()
	x.Type = s.next()
	x.Content = d.bytes()
	x.MarshalledProperties = d.bytes()
	x.DataStructure = d.nested()
	x.TargetConsumerID = nestedAs[*ConsumerID](d, "Message.targetConsumerId")
	x.Compressed = d.bool()
	x.RedeliveryCounter = d.i32()
	x.BrokerPath = arrayOf[*BrokerID](d, "Message.brokerPath")
	x.Arrival = d.i64()
	x.UserID = s.next()
	x.ReceivedByDFBridge = d.bool()
	x.Droppable = d.bool()
	x.Cluster = arrayOf[*BrokerID](d, "Message.cluster")
	x.BrokerInTime = d.i64()
	x.BrokerOutTime = d.i64()
	x.JMSXGroupFirstForConsumer = d.bool()
}

// Properties decodes the message's properties. A message without
// properties yields an empty map.
func (x *Message) Properties() (*Map, error) {
	if x.MarshalledProperties == nil {
		return new(Map), nil
	}
	m, err := DecodeMap(x.MarshalledProperties)
	if err != nil {
		return nil, fmt.Errorf("message properties: %w", err)
	}
	if m == nil {
		m = new(Map)
	}
	return m, nil
}

// SetProperties encodes m as the message's properties; an empty or nil map
// removes them.
func (x *Message) SetProperties(m *Map) error {
	if m.Len() == 0 {
		x.MarshalledProperties = nil
		return nil
	}
	b, err := AppendMap(nil, m)
	if err != nil {
		return fmt.Errorf("message properties: %w", err)
	}
	x.MarshalledProperties = b
	return nil
}
