package openwire

import (
	"encoding/hex"
	"strconv"
)

// ConnectionID names a connection. The Java client makes it from its host
// name and a counter ("ID:host-40123-1700000000000-1:1"); the broker takes
// it as given.
type ConnectionID struct {
	Value string
	empty nullMask
}

// SessionID names a session within a connection. The client's implicit
// session for advisory consumers has Value -1 and is never announced with a
// SessionInfo.
type SessionID struct {
	ConnectionID string
	Value        int64
	empty        nullMask
}

// ConsumerID names a consumer within a session.
type ConsumerID struct {
	ConnectionID string
	SessionID    int64
	Value        int64
	empty        nullMask
}

// ProducerID names a producer within a session. On the wire its fields come
// in the order connection, value, session, unlike ConsumerID's.
type ProducerID struct {
	ConnectionID string
	Value        int64
	SessionID    int64
	empty        nullMask
}

// BrokerID names a broker; it appears in BrokerInfo and in broker paths.
type BrokerID struct {
	Value string
	empty nullMask
}

// MessageID names a message by its producer and that producer's sequence
// number. TextView, when set, is the message ID as a JMS application set or
// saw it.
type MessageID struct {
	TextView           string
	ProducerID         *ProducerID
	ProducerSequenceID int64
	BrokerSequenceID   int64
	empty              nullMask
}

// TransactionID is a LocalTransactionID or an XATransactionID.
type TransactionID interface {
	DataStructure
	// String returns the transaction's key as Java's toString does.
	String() string
	isTransactionID()
}

// LocalTransactionID names a JMS local transaction of a connection.
type LocalTransactionID struct {
	Value        int64
	ConnectionID *ConnectionID
}

// XATransactionID is an XA transaction branch identifier.
type XATransactionID struct {
	FormatID            int32
	GlobalTransactionID []byte
	BranchQualifier     []byte
}

func (*ConnectionID) DataType() DataType       { return TypeConnectionID }
func (*SessionID) DataType() DataType          { return TypeSessionID }
func (*ConsumerID) DataType() DataType         { return TypeConsumerID }
func (*ProducerID) DataType() DataType         { return TypeProducerID }
func (*BrokerID) DataType() DataType           { return TypeBrokerID }
func (*MessageID) DataType() DataType          { return TypeMessageID }
func (*LocalTransactionID) DataType() DataType { return TypeLocalTransactionID }
func (*XATransactionID) DataType() DataType    { return TypeXATransactionID }

func (x *ConnectionID) isNil() bool       { return x == nil }
func (x *SessionID) isNil() bool          { return x == nil }
func (x *ConsumerID) isNil() bool         { return x == nil }
func (x *ProducerID) isNil() bool         { return x == nil }
func (x *BrokerID) isNil() bool           { return x == nil }
func (x *MessageID) isNil() bool          { return x == nil }
func (x *LocalTransactionID) isNil() bool { return x == nil }
func (x *XATransactionID) isNil() bool    { return x == nil }

func (*LocalTransactionID) isTransactionID() {}
func (*XATransactionID) isTransactionID()    {}

// String returns the connection ID's value.
func (x *ConnectionID) String() string { return x.Value }

// String returns "connection:session", as Java does.
func (x *SessionID) String() string {
	return x.ConnectionID + ":" + strconv.FormatInt(x.Value, 10)
}

// String returns "connection:session:consumer", as Java does.
func (x *ConsumerID) String() string {
	return x.ConnectionID + ":" + strconv.FormatInt(x.SessionID, 10) + ":" + strconv.FormatInt(x.Value, 10)
}

// ParentID returns the ID of the consumer's session.
func (x *ConsumerID) ParentID() *SessionID {
	return &SessionID{ConnectionID: x.ConnectionID, Value: x.SessionID}
}

// String returns "connection:session:producer", as Java does.
func (x *ProducerID) String() string {
	return x.ConnectionID + ":" + strconv.FormatInt(x.SessionID, 10) + ":" + strconv.FormatInt(x.Value, 10)
}

// ParentID returns the ID of the producer's session.
func (x *ProducerID) ParentID() *SessionID {
	return &SessionID{ConnectionID: x.ConnectionID, Value: x.SessionID}
}

// String returns the broker ID's value.
func (x *BrokerID) String() string { return x.Value }

// String returns the message ID as JMS shows it: the text view when set
// (with the "ID:" prefix JMS requires), else "producer:sequence".
func (x *MessageID) String() string {
	if x.TextView != "" {
		if len(x.TextView) >= 3 && x.TextView[:3] == "ID:" {
			return x.TextView
		}
		return "ID:" + x.TextView
	}
	p := ""
	if x.ProducerID != nil {
		p = x.ProducerID.String()
	}
	return p + ":" + strconv.FormatInt(x.ProducerSequenceID, 10)
}

// String returns "TX:connection:value", as Java does.
func (x *LocalTransactionID) String() string {
	c := ""
	if x.ConnectionID != nil {
		c = x.ConnectionID.Value
	}
	return "TX:" + c + ":" + strconv.FormatInt(x.Value, 10)
}

// String returns a key naming the branch: format, global ID and branch
// qualifier in hex.
func (x *XATransactionID) String() string {
	return "XID:[" + strconv.FormatInt(int64(x.FormatID), 10) + "," + hex.EncodeToString(x.GlobalTransactionID) + "," + hex.EncodeToString(x.BranchQualifier) + "]"
}

func (x *ConnectionID) marshal(e *encoder) {
	s := e.strings(x.empty)
	s.put(x.Value)
}

func (x *ConnectionID) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.Value = s.next()
}

func (x *SessionID) marshal(e *encoder) {
	s := e.strings(x.empty)
	s.put(x.ConnectionID)
	e.i64(x.Value)
}

func (x *SessionID) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.ConnectionID = s.next()
	x.Value = d.i64()
}

func (x *ConsumerID) marshal(e *encoder) {
	s := e.strings(x.empty)
	s.put(x.ConnectionID)
	e.i64(x.SessionID)
	e.i64(x.Value)
}

func (x *ConsumerID) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.ConnectionID = s.next()
	x.SessionID = d.i64()
	x.Value = d.i64()
}

func (x *ProducerID) marshal(e *encoder) {
	s := e.strings(x.empty)
	s.put(x.ConnectionID)
	e.i64(x.Value)
	e.i64(x.SessionID)
}

func (x *ProducerID) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.ConnectionID = s.next()
	x.Value = d.i64()
	x.SessionID = d.i64()
}

func (x *BrokerID) marshal(e *encoder) {
	s := e.strings(x.empty)
	s.put(x.Value)
}

func (x *BrokerID) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.Value = s.next()
}

func (x *MessageID) marshal(e *encoder) {
	s := e.strings(x.empty)
	s.put(x.TextView)
	e.nested(x.ProducerID)
	e.i64(x.ProducerSequenceID)
	e.i64(x.BrokerSequenceID)
}

func (x *MessageID) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.TextView = s.next()
	x.ProducerID = nestedAs[*ProducerID](d, "MessageId.producerId")
	x.ProducerSequenceID = d.i64()
	x.BrokerSequenceID = d.i64()
}

func (x *LocalTransactionID) marshal(e *encoder) {
	e.i64(x.Value)
	e.nested(x.ConnectionID)
}

func (x *LocalTransactionID) unmarshal(d *decoder) {
	x.Value = d.i64()
	x.ConnectionID = nestedAs[*ConnectionID](d, "LocalTransactionId.connectionId")
}

func (x *XATransactionID) marshal(e *encoder) {
	e.i32(x.FormatID)
	e.bytes(x.GlobalTransactionID)
	e.bytes(x.BranchQualifier)
}

func (x *XATransactionID) unmarshal(d *decoder) {
	x.FormatID = d.i32()
	x.GlobalTransactionID = d.bytes()
	x.BranchQualifier = d.bytes()
}
