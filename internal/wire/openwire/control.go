package openwire

// This file holds the commands that flow during a connection's life: the
// dispatch, acknowledgement and flow-control of messages, and the broker's
// answers and notices.

// Acknowledgement types, the values of MessageAck.AckType.
const (
	AckDelivered   byte = 0 // the client has the messages; extends prefetch credit
	AckPoison      byte = 1 // the client gives up on the message: dead-letter it
	AckStandard    byte = 2 // the messages are consumed
	AckRedelivered byte = 3 // the client is redelivering locally (informational)
	AckIndividual  byte = 4 // exactly one message is consumed
	AckUnmatched   byte = 5 // the message did not match a durable subscriber's selector
	AckExpired     byte = 6 // the message expired in the client
)

// MessageAck acknowledges the range of messages from FirstMessageID to
// LastMessageID (MessageCount of them) delivered to ConsumerID, inside
// TransactionID when set. PoisonCause says why a poison ack gave up.
type MessageAck struct {
	BaseCommand
	Destination    *Destination
	TransactionID  TransactionID
	ConsumerID     *ConsumerID
	AckType        byte
	FirstMessageID *MessageID
	LastMessageID  *MessageID
	MessageCount   int32
	PoisonCause    *Throwable
}

// MessageDispatch delivers Message to ConsumerID. A dispatch with a nil
// Message ends a queue browser's snapshot, or answers a MessagePull for
// which no message arrived in time.
type MessageDispatch struct {
	BaseCommand
	ConsumerID        *ConsumerID
	Destination       *Destination
	Message           *Message
	RedeliveryCounter int32
}

// MessagePull asks for one message for a consumer with prefetch 0. Timeout
// is -1 for receiveNoWait, 0 to wait for ever, else milliseconds.
type MessagePull struct {
	BaseCommand
	ConsumerID    *ConsumerID
	Destination   *Destination
	Timeout       int64
	CorrelationID string
	MessageID     *MessageID
	empty         nullMask
}

// ProducerAck tells a producer with a send window that Size bytes of its
// messages have been taken in by the broker.
type ProducerAck struct {
	BaseCommand
	ProducerID *ProducerID
	Size       int32
}

// ConsumerControl changes a consumer's prefetch, or closes, starts, stops
// or flushes it, from the broker's side.
type ConsumerControl struct {
	BaseCommand
	Destination *Destination
	Close       bool
	ConsumerID  *ConsumerID
	Prefetch    int32
	Flush       bool
	Start       bool
	Stop        bool
}

// ConnectionControl carries connection-wide notices: the broker's view of
// the cluster (ConnectedBrokers, a comma-separated list of URIs the
// failover transport adds to its own), a request to reconnect elsewhere
// (ReconnectTo with RebalanceConnection), suspend/resume, close and exit.
// The client sends one first when it (re)connects through failover.
type ConnectionControl struct {
	BaseCommand
	Close               bool
	Exit                bool
	FaultTolerant       bool
	Resume              bool
	Suspend             bool
	ConnectedBrokers    string
	ReconnectTo         string
	RebalanceConnection bool
	Token               []byte
	empty               nullMask
}

// ConnectionError tells the client its connection has failed, with the
// exception to surface to its exception listener.
type ConnectionError struct {
	BaseCommand
	Exception    *Throwable
	ConnectionID *ConnectionID
}

// Response answers the command whose CommandID is CorrelationID.
type Response struct {
	BaseCommand
	CorrelationID int32
}

// ExceptionResponse answers the command whose CommandID is CorrelationID
// with a failure; the client throws Exception from the call that sent it.
type ExceptionResponse struct {
	BaseCommand
	CorrelationID int32
	Exception     *Throwable
}

// DataResponse answers a command with an object.
type DataResponse struct {
	BaseCommand
	CorrelationID int32
	Data          DataStructure
}

// DataArrayResponse answers a command with several objects: the XA
// transaction IDs a recover asked for.
type DataArrayResponse struct {
	BaseCommand
	CorrelationID int32
	Data          []DataStructure
}

// IntegerResponse answers a command with a number: the vote of an XA
// prepare (XAResource.XA_OK or XA_RDONLY).
type IntegerResponse struct {
	BaseCommand
	CorrelationID int32
	Result        int32
}

// BrokerInfo introduces the broker to the client after the connection is
// set up. PeerBrokerInfos lists the other brokers of a network; a failover
// client adds their BrokerURLs to its list when updateClusterClients is on.
type BrokerInfo struct {
	BaseCommand
	BrokerID                   *BrokerID
	BrokerURL                  string
	PeerBrokerInfos            []*BrokerInfo
	BrokerName                 string
	SlaveBroker                bool
	MasterBroker               bool
	FaultTolerantConfiguration bool
	DuplexConnection           bool
	NetworkConnection          bool
	ConnectionID               int64
	BrokerUploadURL            string
	NetworkProperties          string
	empty                      nullMask
}

// Throwable is a Java exception as OpenWire carries it: the class name the
// receiver instantiates (such as "javax.jms.InvalidClientIDException") and
// the message. StackTrace and Cause are on the wire only when the
// connection negotiated stack traces; tandem turns them off.
type Throwable struct {
	Class      string
	Message    string
	StackTrace []StackTraceElement
	Cause      *Throwable
	empty      nullMask
}

// StackTraceElement is one frame of a Throwable's stack trace.
type StackTraceElement struct {
	ClassName  string
	MethodName string
	FileName   string
	LineNumber int32
	empty      nullMask
}

// NewThrowable returns a throwable of the Java class class with message
// msg.
func NewThrowable(class, msg string) *Throwable { return &Throwable{Class: class, Message: msg} }

// Error returns "class: message", so a received throwable can be returned
// as an error.
func (t *Throwable) Error() string {
	if t.Message == "" {
		return t.Class
	}
	return t.Class + ": " + t.Message
}

func (*MessageAck) DataType() DataType        { return TypeMessageAck }
func (*MessageDispatch) DataType() DataType   { return TypeMessageDispatch }
func (*MessagePull) DataType() DataType       { return TypeMessagePull }
func (*ProducerAck) DataType() DataType       { return TypeProducerAck }
func (*ConsumerControl) DataType() DataType   { return TypeConsumerControl }
func (*ConnectionControl) DataType() DataType { return TypeConnectionControl }
func (*ConnectionError) DataType() DataType   { return TypeConnectionError }
func (*Response) DataType() DataType          { return TypeResponse }
func (*ExceptionResponse) DataType() DataType { return TypeExceptionResponse }
func (*DataResponse) DataType() DataType      { return TypeDataResponse }
func (*BrokerInfo) DataType() DataType        { return TypeBrokerInfo }
func (*DataArrayResponse) DataType() DataType { return TypeDataArrayResponse }
func (*IntegerResponse) DataType() DataType   { return TypeIntegerResponse }

func (x *MessageAck) isNil() bool        { return x == nil }
func (x *MessageDispatch) isNil() bool   { return x == nil }
func (x *MessagePull) isNil() bool       { return x == nil }
func (x *ProducerAck) isNil() bool       { return x == nil }
func (x *ConsumerControl) isNil() bool   { return x == nil }
func (x *ConnectionControl) isNil() bool { return x == nil }
func (x *ConnectionError) isNil() bool   { return x == nil }
func (x *Response) isNil() bool          { return x == nil }
func (x *ExceptionResponse) isNil() bool { return x == nil }
func (x *DataResponse) isNil() bool      { return x == nil }
func (x *BrokerInfo) isNil() bool        { return x == nil }
func (x *DataArrayResponse) isNil() bool { return x == nil }
func (x *IntegerResponse) isNil() bool   { return x == nil }

func (x *MessageAck) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.Destination)
	e.nested(x.TransactionID)
	e.nested(x.ConsumerID)
	e.u8(x.AckType)
	e.nested(x.FirstMessageID)
	e.nested(x.LastMessageID)
	e.i32(x.MessageCount)
	e.throwable(x.PoisonCause)
}

func (x *MessageAck) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.Destination = nestedAs[*Destination](d, "MessageAck.destination")
	x.TransactionID = nestedAs[TransactionID](d, "MessageAck.transactionId")
	x.ConsumerID = nestedAs[*ConsumerID](d, "MessageAck.consumerId")
	x.AckType = d.u8()
	x.FirstMessageID = nestedAs[*MessageID](d, "MessageAck.firstMessageId")
	x.LastMessageID = nestedAs[*MessageID](d, "MessageAck.lastMessageId")
	x.MessageCount = d.i32()
	x.PoisonCause = d.throwable()
}

func (x *MessageDispatch) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.ConsumerID)
	e.nested(x.Destination)
	e.nested(x.Message)
	e.i32(x.RedeliveryCounter)
}

func (x *MessageDispatch) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.ConsumerID = nestedAs[*ConsumerID](d, "MessageDispatch.consumerId")
	x.Destination = nestedAs[*Destination](d, "MessageDispatch.destination")
	x.Message = nestedAs[*Message](d, "MessageDispatch.message")
	x.RedeliveryCounter = d.i32()
}

func (x *MessagePull) marshal(e *encoder) {
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.nested(x.ConsumerID)
	e.nested(x.Destination)
	e.i64(x.Timeout)
	s.put(x.CorrelationID)
	e.nested(x.MessageID)
}

func (x *MessagePull) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.ConsumerID = nestedAs[*ConsumerID](d, "MessagePull.consumerId")
	x.Destination = nestedAs[*Destination](d, "MessagePull.destination")
	x.Timeout = d.i64()
	x.CorrelationID = s.next()
	x.MessageID = nestedAs[*MessageID](d, "MessagePull.messageId")
}

func (x *ProducerAck) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.ProducerID)
	e.i32(x.Size)
}

func (x *ProducerAck) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.ProducerID = nestedAs[*ProducerID](d, "ProducerAck.producerId")
	x.Size = d.i32()
}

func (x *ConsumerControl) marshal(e *encoder) {
	x.marshalBase(e)
	e.nested(x.Destination)
	e.bool(x.Close)
	e.nested(x.ConsumerID)
	e.i32(x.Prefetch)
	e.bool(x.Flush)
	e.bool(x.Start)
	e.bool(x.Stop)
}

func (x *ConsumerControl) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.Destination = nestedAs[*Destination](d, "ConsumerControl.destination")
	x.Close = d.bool()
	x.ConsumerID = nestedAs[*ConsumerID](d, "ConsumerControl.consumerId")
	x.Prefetch = d.i32()
	x.Flush = d.bool()
	x.Start = d.bool()
	x.Stop = d.bool()
}

func (x *ConnectionControl) marshal(e *encoder) {
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.bool(x.Close)
	e.bool(x.Exit)
	e.bool(x.FaultTolerant)
	e.bool(x.Resume)
	e.bool(x.Suspend)
	s.put(x.ConnectedBrokers)
	s.put(x.ReconnectTo)
	e.bool(x.RebalanceConnection)
	e.bytes(x.Token)
}

func (x *ConnectionControl) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.Close = d.bool()
	x.Exit = d.bool()
	x.FaultTolerant = d.bool()
	x.Resume = d.bool()
	x.Suspend = d.bool()
	x.ConnectedBrokers = s.next()
	x.ReconnectTo = s.next()
	x.RebalanceConnection = d.bool()
	x.Token = d.bytes()
}

func (x *ConnectionError) marshal(e *encoder) {
	x.marshalBase(e)
	e.throwable(x.Exception)
	e.nested(x.ConnectionID)
}

func (x *ConnectionError) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.Exception = d.throwable()
	x.ConnectionID = nestedAs[*ConnectionID](d, "ConnectionError.connectionId")
}

func (x *Response) marshal(e *encoder) {
	x.marshalBase(e)
	e.i32(x.CorrelationID)
}

func (x *Response) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.CorrelationID = d.i32()
}

func (x *ExceptionResponse) marshal(e *encoder) {
	x.marshalBase(e)
	e.i32(x.CorrelationID)
	e.throwable(x.Exception)
}

func (x *ExceptionResponse) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.CorrelationID = d.i32()
	x.Exception = d.throwable()
}

func (x *DataResponse) marshal(e *encoder) {
	x.marshalBase(e)
	e.i32(x.CorrelationID)
	e.nested(x.Data)
}

func (x *DataResponse) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.CorrelationID = d.i32()
	x.Data = d.nested()
}

func (x *DataArrayResponse) marshal(e *encoder) {
	x.marshalBase(e)
	e.i32(x.CorrelationID)
	putArray(e, x.Data)
}

func (x *DataArrayResponse) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.CorrelationID = d.i32()
	x.Data = arrayOf[DataStructure](d, "DataArrayResponse.data")
}

func (x *IntegerResponse) marshal(e *encoder) {
	x.marshalBase(e)
	e.i32(x.CorrelationID)
	e.i32(x.Result)
}

func (x *IntegerResponse) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	x.CorrelationID = d.i32()
	x.Result = d.i32()
}

func (x *BrokerInfo) marshal(e *encoder) {
	x.marshalBase(e)
	s := e.strings(x.empty)
	e.nested(x.BrokerID)
	s.put(x.BrokerURL)
	putArray(e, x.PeerBrokerInfos)
	s.put(x.BrokerName)
	e.bool(x.SlaveBroker)
	e.bool(x.MasterBroker)
	e.bool(x.FaultTolerantConfiguration)
	e.bool(x.DuplexConnection)
	e.bool(x.NetworkConnection)
	e.i64(x.ConnectionID)
	s.put(x.BrokerUploadURL)
	s.put(x.NetworkProperties)
}

func (x *BrokerInfo) unmarshal(d *decoder) {
	x.unmarshalBase(d)
	s := d.strings(&x.empty)
	x.BrokerID = nestedAs[*BrokerID](d, "BrokerInfo.brokerId")
	x.BrokerURL = s.next()
	x.PeerBrokerInfos = arrayOf[*BrokerInfo](d, "BrokerInfo.peerBrokerInfos")
	x.BrokerName = s.next()
	x.SlaveBroker = d.bool()
	x.MasterBroker = d.bool()
	x.FaultTolerantConfiguration = d.bool()
	x.DuplexConnection = d.bool()
	x.NetworkConnection = d.bool()
	x.ConnectionID = d.i64()
	x.BrokerUploadURL = s.next()
	x.NetworkProperties = s.next()
}

// throwable writes a present flag, the class and message and, when stack
// traces are on, the stack trace and the cause.
func (e *encoder) throwable(t *Throwable) {
	e.bool(t != nil)
	if t == nil {
		return
	}
	s := e.strings(t.empty)
	s.put(t.Class)
	s.put(t.Message)
	if !e.stackTrace {
		return
	}
	if len(t.StackTrace) > 32767 {
		e.fail("a stack trace of %d elements", len(t.StackTrace))
		return
	}
	e.i16(int16(len(t.StackTrace)))
	for _, el := range t.StackTrace {
		es := e.strings(el.empty)
		es.put(el.ClassName)
		es.put(el.MethodName)
		es.put(el.FileName)
		e.i32(el.LineNumber)
	}
	if e.depth >= maxDepth {
		e.fail("causes nested more than %d deep", maxDepth)
		return
	}
	e.depth++
	e.throwable(t.Cause)
	e.depth--
}

func (d *decoder) throwable() *Throwable {
	if !d.bool() {
		return nil
	}
	t := new(Throwable)
	s := d.strings(&t.empty)
	t.Class = s.next()
	t.Message = s.next()
	if !d.stackTrace || d.err != nil {
		return t
	}
	n := int(d.i16())
	// Each element takes at least 3 string flags and a 4-byte line number.
	if n < 0 || n*7 > d.remaining() {
		d.fail("a stack trace of %d elements with %d bytes left in the frame", n, d.remaining())
		return nil
	}
	t.StackTrace = make([]StackTraceElement, n)
	for i := range t.StackTrace {
		el := &t.StackTrace[i]
		es := d.strings(&el.empty)
		el.ClassName = es.next()
		el.MethodName = es.next()
		el.FileName = es.next()
		el.LineNumber = d.i32()
	}
	if d.depth >= maxDepth {
		d.fail("causes nested more than %d deep", maxDepth)
		return nil
	}
	d.depth++
	t.Cause = d.throwable()
	d.depth--
	return t
}
