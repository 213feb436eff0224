package openwire

// This file holds the commands that set up and tear down a connection's
// state: connections, sessions, producers, consumers, transactions,
// destinations and subscriptions.

// ConnectionInfo opens a connection (or, with FailoverReconnect, takes over
// the state of one the client had before a failover). The client always asks
// for a response.
type ConnectionInfo struct {
	BaseCommand
	ConnectionID          *ConnectionID
	ClientID              string
	Password              string
	UserName              string
	BrokerPath            []*BrokerID
	BrokerMasterConnector bool
	Manageable            bool
	ClientMaster          bool
	FaultTolerant         bool
	FailoverReconnect     bool
	ClientIP              string
	empty                 nullMask
}

// SessionInfo opens a session.
type SessionInfo struct {
	BaseCommand
	SessionID *SessionID
}

// ConsumerInfo opens a consumer, a queue browser (Browser) or a durable
// topic subscriber (SubscriptionName set, with the connection's ClientID).
type ConsumerInfo struct {
	BaseCommand
	ConsumerID                 *ConsumerID
	Browser                    bool
	Destination                *Destination
	PrefetchSize               int32
	MaximumPendingMessageLimit int32
	DispatchAsync              bool
	Selector                   string
	ClientID                   string
	SubscriptionName           string
	NoLocal                    bool
	Exclusive                  bool
	Retroactive                bool
	Priority                   int8
	BrokerPath                 []*BrokerID
	// AdditionalPredicate is a filter object used between brokers; JMS
	// clients leave it nil.
	AdditionalPredicate  DataStructure
	NetworkSubscription  bool
	OptimizedAcknowledge bool
	NoRangeAcks          bool
	NetworkConsumerPath  []*ConsumerID
	empty                nullMask
}

// ProducerInfo opens a producer; Destination is nil for an anonymous one.
// A non-zero WindowSize asks the broker for a ProducerAck after each async
// send.
type ProducerInfo struct {
	BaseCommand
	ProducerID    *ProducerID
	Destination   *Destination
	BrokerPath    []*BrokerID
	DispatchAsync bool
	WindowSize    int32
}

// Transaction operations, the values of TransactionInfo.Type.
const (
	TransactionBegin          byte = 0
	TransactionPrepare        byte = 1
	TransactionCommitOnePhase byte = 2
	TransactionCommitTwoPhase byte = 3
	TransactionRollback       byte = 4
	TransactionRecover        byte = 5
	TransactionForget         byte = 6
	TransactionEnd            byte = 7
)

// TransactionInfo begins, commits, rolls back (or, for XA, prepares, ends,
// recovers, forgets) a transaction.
type TransactionInfo struct {
	BaseCommand
	ConnectionID  *ConnectionID
	TransactionID TransactionID
	Type          byte
}

// Destination operations, the values of DestinationInfo.OperationType.
const (
	DestinationAdd    byte = 0
	DestinationRemove byte = 1
)

// DestinationInfo creates or deletes a destination; the client sends it for
// temporary destinations.
type DestinationInfo struct {
	BaseCommand
	ConnectionID  *ConnectionID
	Destination   *Destination
	OperationType byte
	Timeout       int64
	BrokerPath    []*BrokerID
}

// RemoveSubscriptionInfo deletes a durable subscription (JMS unsubscribe).
type RemoveSubscriptionInfo struct {
	BaseCommand
	ConnectionID *ConnectionID
	// SubscriptionName is Java's misspelt "subcriptionName".
	SubscriptionName string
	ClientID         string
	empty            nullMask
}

// KeepAliveInfo keeps an idle connection from being declared dead by the
// peer's inactivity monitor. A KeepAliveInfo with ResponseRequired is
// answered with a KeepAliveInfo without.
type KeepAliveInfo struct {
	BaseCommand
}

// ShutdownInfo announces a clean close of the connection.
type ShutdownInfo struct {
	BaseCommand
}

// Values of RemoveInfo.LastDeliveredSequenceID that carry no sequence.
const (
	LastDeliveredUnset   int64 = -1
	LastDeliveredUnknown int64 = -2
)

// RemoveInfo closes the connection, session, consumer or producer that
// ObjectID names (a *ConnectionID, *SessionID, *ConsumerID or *ProducerID).
// For a consumer, LastDeliveredSequenceID is the broker sequence of the last
// message the application saw; later ones are to be redelivered without
// counting as delivered.
type RemoveInfo struct {
	BaseCommand
	ObjectID                DataStructure
	LastDeliveredSequenceID int64
}

func (*ConnectionInfo) DataType() DataType         { return TypeConnectionInfo }
func (*SessionInfo) DataType() DataType            { return TypeSessionInfo }
func (*ConsumerInfo) DataType() DataType           { return TypeConsumerInfo }
func (*ProducerInfo) DataType() DataType           { return TypeProducerInfo }
func (*TransactionInfo) DataType() DataType        { return TypeTransactionInfo }
func (*DestinationInfo) DataType() DataType        { return TypeDestinationInfo }
func (*RemoveSubscriptionInfo) DataType() DataType { return TypeRemoveSubscriptionInfo }
func (*KeepAliveInfo) DataType() DataType          { return TypeKeepAliveInfo }
func (*ShutdownInfo) DataType() DataType           { return TypeShutdownInfo }
func (*RemoveInfo) DataType() DataType             { return TypeRemoveInfo }

func (x *ConnectionInfo) isNil() bool         { return x == nil }
func (x *SessionInfo) isNil() bool            { return x == nil }
func (x *ConsumerInfo) isNil() bool           { return x == nil }
func (x *ProducerInfo) isNil() bool           { return x == nil }
func (x *TransactionInfo) isNil() bool        { return x == nil }
func (x *DestinationInfo) isNil() bool        { return x == nil }
func (x *RemoveSubscriptionInfo) isNil() bool { return x == nil }
func (x *KeepAliveInfo) isNil() bool          { return x == nil }
func (x *ShutdownInfo) isNil() bool           { return x == nil }
func (x *RemoveInfo) isNil() bool             { return x == nil }

func (x *ConnectionInfo) marshal(e *encoder) {
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.nested(x.ConnectionID)
	s.put(x.ClientID)
	s.put(x.Password)
	s.put(x.UserName)
	putArray(e, x.BrokerPath)
	e.bool(x.BrokerMasterConnector)
	e.bool(x.Manageable)
	e.bool(x.ClientMaster)
	e.bool(x.FaultTolerant)
	e.bool(x.FailoverReconnect)
	s.put(x.ClientIP)
}

func (x *ConnectionInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.ConnectionID = nestedAs[*ConnectionID](d, "ConnectionInfo.connectionId")
	x.ClientID = s.next()
	x.Password = s.next()
	x.UserName = s.next()
	x.BrokerPath = arrayOf[*BrokerID](d, "ConnectionInfo.brokerPath")
	x.BrokerMasterConnector = d.bool()
	x.Manageable = d.bool()
	x.ClientMaster = d.bool()
	x.FaultTolerant = d.bool()
	x.FailoverReconnect = d.bool()
	x.ClientIP = s.next()
}

func (x *SessionInfo) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.SessionID)
}

func (x *SessionInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.SessionID = nestedAs[*SessionID](d, "SessionInfo.sessionId")
}

func (x *ConsumerInfo) marshal(e *encoder) {
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.nested(x.ConsumerID)
	e.bool(x.Browser)
	e.nested(x.Destination)
	e.i32(x.PrefetchSize)
	e.i32(x.MaximumPendingMessageLimit)
	e.bool(x.DispatchAsync)
	s.put(x.Selector)
	s.put(x.ClientID)
	s.put(x.SubscriptionName)
	e.bool(x.NoLocal)
	e.bool(x.Exclusive)
	e.bool(x.Retroactive)
	e.u8(byte(x.Priority))
	putArray(e, x.BrokerPath)
	e.nested(x.AdditionalPredicate)
	e.bool(x.NetworkSubscription)
	e.bool(x.OptimizedAcknowledge)
	e.bool(x.NoRangeAcks)
	putArray(e, x.NetworkConsumerPath)
}

func (x *ConsumerInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.ConsumerID = nestedAs[*ConsumerID](d, "ConsumerInfo.consumerId")
	x.Browser = d.bool()
	x.Destination = nestedAs[*Destination](d, "ConsumerInfo.destination")
	x.PrefetchSize = d.i32()
	x.MaximumPendingMessageLimit = d.i32()
	x.DispatchAsync = d.bool()
	x.Selector = s.next()
	x.ClientID = s.next()
	x.SubscriptionName = s.next()
	x.NoLocal = d.bool()
	x.Exclusive = d.bool()
	x.Retroactive = d.bool()
	x.Priority = int8(d.u8())
	x.BrokerPath = arrayOf[*BrokerID](d, "ConsumerInfo.brokerPath")
	x.AdditionalPredicate = d.nested()
	x.NetworkSubscription = d.bool()
	x.OptimizedAcknowledge = d.bool()
	x.NoRangeAcks = d.bool()
	x.NetworkConsumerPath = arrayOf[*ConsumerID](d, "ConsumerInfo.networkConsumerPath")
}

func (x *ProducerInfo) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.ProducerID)
	e.nested(x.Destination)
	putArray(e, x.BrokerPath)
	e.bool(x.DispatchAsync)
	e.i32(x.WindowSize)
}

func (x *ProducerInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.ProducerID = nestedAs[*ProducerID](d, "ProducerInfo.producerId")
	x.Destination = nestedAs[*Destination](d, "ProducerInfo.destination")
	x.BrokerPath = arrayOf[*BrokerID](d, "ProducerInfo.brokerPath")
	x.DispatchAsync = d.bool()
	x.WindowSize = d.i32()
}

func (x *TransactionInfo) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.ConnectionID)
	e.nested(x.TransactionID)
	e.u8(x.Type)
}

func (x *TransactionInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.ConnectionID = nestedAs[*ConnectionID](d, "TransactionInfo.connectionId")
	x.TransactionID = nestedAs[TransactionID](d, "TransactionInfo.transactionId")
	x.Type = d.u8()
}

func (x *DestinationInfo) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.ConnectionID)
	e.nested(x.Destination)
	e.u8(x.OperationType)
	e.i64(x.Timeout)
	putArray(e, x.BrokerPath)
}

func (x *DestinationInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.ConnectionID = nestedAs[*ConnectionID](d, "DestinationInfo.connectionId")
	x.Destination = nestedAs[*Destination](d, "DestinationInfo.destination")
	x.OperationType = d.u8()
	x.Timeout = d.i64()
	x.BrokerPath = arrayOf[*BrokerID](d, "DestinationInfo.brokerPath")
}

func (x *RemoveSubscriptionInfo) marshal(e *encoder) {
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.nested(x.ConnectionID)
	s.put(x.SubscriptionName)
	s.put(x.ClientID)
}

func (x *RemoveSubscriptionInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.ConnectionID = nestedAs[*ConnectionID](d, "RemoveSubscriptionInfo.connectionId")
	x.SubscriptionName = s.next()
	x.ClientID = s.next()
}

func (x *KeepAliveInfo) marshal(e *encoder)   { x.marshalBase(e) }
func (x *KeepAliveInfo) unmarshal(d *decoder) { x.unmarshalBase(d) }
func (x *ShutdownInfo) marshal(e *encoder)    { x.marshalBase(e) }
func (x *ShutdownInfo) unmarshal(d *decoder)  { x.unmarshalBase(d) }

func (x *RemoveInfo) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.ObjectID)
	e.i64(x.LastDeliveredSequenceID)
}

func (x *RemoveInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.ObjectID = d.nested()
	x.LastDeliveredSequenceID = d.i64()
}
