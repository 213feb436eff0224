package openwire

import "strconv"

// Protocol versions this codec speaks. The loose layouts of every command it
// implements are the same in versions 10, 11 and 12; older versions lack
// fields (the JMSXGroupFirstForConsumer flag, a consumer's client ID) and are
// refused at negotiation.
const (
	MinVersion = 10
	MaxVersion = 12
)

// DataType is the type byte that precedes every OpenWire data structure, at
// the start of a frame and in front of each nested object.
type DataType byte

// The data structure types this codec implements, with the values the Java
// client uses.
const (
	TypeNull                   DataType = 0
	TypeWireFormatInfo         DataType = 1
	TypeBrokerInfo             DataType = 2
	TypeConnectionInfo         DataType = 3
	TypeSessionInfo            DataType = 4
	TypeConsumerInfo           DataType = 5
	TypeProducerInfo           DataType = 6
	TypeTransactionInfo        DataType = 7
	TypeDestinationInfo        DataType = 8
	TypeRemoveSubscriptionInfo DataType = 9
	TypeKeepAliveInfo          DataType = 10
	TypeShutdownInfo           DataType = 11
	TypeRemoveInfo             DataType = 12
	TypeConnectionError        DataType = 16
	TypeConsumerControl        DataType = 17
	TypeConnectionControl      DataType = 18
	TypeProducerAck            DataType = 19
	TypeMessagePull            DataType = 20
	TypeMessageDispatch        DataType = 21
	TypeMessageAck             DataType = 22
	TypeMessage                DataType = 23 // ActiveMQMessage: headers and properties only
	TypeBytesMessage           DataType = 24
	TypeMapMessage             DataType = 25
	TypeObjectMessage          DataType = 26
	TypeStreamMessage          DataType = 27
	TypeTextMessage            DataType = 28
	TypeResponse               DataType = 30
	TypeExceptionResponse      DataType = 31
	TypeDataResponse           DataType = 32
	TypeDataArrayResponse      DataType = 33
	TypeIntegerResponse        DataType = 34
	TypeQueue                  DataType = 100
	TypeTopic                  DataType = 101
	TypeTempQueue              DataType = 102
	TypeTempTopic              DataType = 103
	TypeMessageID              DataType = 110
	TypeLocalTransactionID     DataType = 111
	TypeXATransactionID        DataType = 112
	TypeConnectionID           DataType = 120
	TypeSessionID              DataType = 121
	TypeConsumerID             DataType = 122
	TypeProducerID             DataType = 123
	TypeBrokerID               DataType = 124
)

var typeNames = map[DataType]string{
	TypeNull:                   "Null",
	TypeWireFormatInfo:         "WireFormatInfo",
	TypeBrokerInfo:             "BrokerInfo",
	TypeConnectionInfo:         "ConnectionInfo",
	TypeSessionInfo:            "SessionInfo",
	TypeConsumerInfo:           "ConsumerInfo",
	TypeProducerInfo:           "ProducerInfo",
	TypeTransactionInfo:        "TransactionInfo",
	TypeDestinationInfo:        "DestinationInfo",
	TypeRemoveSubscriptionInfo: "RemoveSubscriptionInfo",
	TypeKeepAliveInfo:          "KeepAliveInfo",
	TypeShutdownInfo:           "ShutdownInfo",
	TypeRemoveInfo:             "RemoveInfo",
	TypeConnectionError:        "ConnectionError",
	TypeConsumerControl:        "ConsumerControl",
	TypeConnectionControl:      "ConnectionControl",
	TypeProducerAck:            "ProducerAck",
	TypeMessagePull:            "MessagePull",
	TypeMessageDispatch:        "MessageDispatch",
	TypeMessageAck:             "MessageAck",
	TypeMessage:                "Message",
	TypeBytesMessage:           "BytesMessage",
	TypeMapMessage:             "MapMessage",
	TypeObjectMessage:          "ObjectMessage",
	TypeStreamMessage:          "StreamMessage",
	TypeTextMessage:            "TextMessage",
	TypeResponse:               "Response",
	TypeExceptionResponse:      "ExceptionResponse",
	TypeDataResponse:           "DataResponse",
	TypeDataArrayResponse:      "DataArrayResponse",
	TypeIntegerResponse:        "IntegerResponse",
	TypeQueue:                  "Queue",
	TypeTopic:                  "Topic",
	TypeTempQueue:              "TempQueue",
	TypeTempTopic:              "TempTopic",
	TypeMessageID:              "MessageId",
	TypeLocalTransactionID:     "LocalTransactionId",
	TypeXATransactionID:        "XATransactionId",
	TypeConnectionID:           "ConnectionId",
	TypeSessionID:              "SessionId",
	TypeConsumerID:             "ConsumerId",
	TypeProducerID:             "ProducerId",
	TypeBrokerID:               "BrokerId",
}

// String returns the Java class name of the type without its package, or
// the number for a type this codec does not implement.
func (t DataType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type " + strconv.Itoa(int(t))
}

// IsMessage reports whether t is one of the six message types.
func (t DataType) IsMessage() bool { return t >= TypeMessage && t <= TypeTextMessage }

// IsDestination reports whether t is one of the four destination types.
func (t DataType) IsDestination() bool { return t >= TypeQueue && t <= TypeTempTopic }

// DataStructure is any OpenWire object: a command, an identifier, a
// destination. The set is closed: only this package's types implement it.
type DataStructure interface {
	// DataType returns the type byte written in front of the object.
	DataType() DataType
	// isNil reports whether the value is a nil pointer, so that a typed nil
	// stored in an interface field is written as an absent object.
	isNil() bool
	marshal(e *encoder)
	unmarshal(d *decoder)
}

// Command is a data structure that can travel as a frame of its own and
// carries the BaseCommand header. WireFormatInfo is the one frame that is not
// a Command.
type Command interface {
	DataStructure
	// Base returns the command's header, for reading or setting its
	// command ID and response-required flag.
	Base() *BaseCommand
}

// BaseCommand is the header every command starts with.
type BaseCommand struct {
	// CommandID numbers the commands a peer sends; a Response names the
	// command it answers by this number.
	CommandID int32
	// ResponseRequired asks the receiver to answer with a Response or an
	// ExceptionResponse carrying CommandID as its correlation ID.
	ResponseRequired bool
}

// Base returns b itself; it makes every type embedding BaseCommand a
// Command.
func (b *BaseCommand) Base() *BaseCommand { return b }

func (b *BaseCommand) marshalBase(e *encoder) {
	e.i32(b.CommandID)
	e.bool(b.ResponseRequired)
}

func (b *BaseCommand) unmarshalBase(d *decoder) {
	b.CommandID = d.i32()
	b.ResponseRequired = d.bool()
}

// newDataStructure returns a zero value of the type t, or nil when the codec
// does not implement t.
func newDataStructure(t DataType) DataStructure {
	switch t {
	case TypeWireFormatInfo:
		return new(WireFormatInfo)
	case TypeBrokerInfo:
		return new(BrokerInfo)
	case TypeConnectionInfo:
		return new(ConnectionInfo)
	case TypeSessionInfo:
		return new(SessionInfo)
	case TypeConsumerInfo:
		return new(ConsumerInfo)
	case TypeProducerInfo:
		return new(ProducerInfo)
	case TypeTransactionInfo:
		return new(TransactionInfo)
	case TypeDestinationInfo:
		return new(DestinationInfo)
	case TypeRemoveSubscriptionInfo:
		return new(RemoveSubscriptionInfo)
	case TypeKeepAliveInfo:
		return new(KeepAliveInfo)
	case TypeShutdownInfo:
		return new(ShutdownInfo)
	case TypeRemoveInfo:
		return new(RemoveInfo)
	case TypeConnectionError:
		return new(ConnectionError)
	case TypeConsumerControl:
		return new(ConsumerControl)
	case TypeConnectionControl:
		return new(ConnectionControl)
	case TypeProducerAck:
		return new(ProducerAck)
	case TypeMessagePull:
		return new(MessagePull)
	case TypeMessageDispatch:
		return new(MessageDispatch)
	case TypeMessageAck:
		return new(MessageAck)
	case TypeMessage, TypeBytesMessage, TypeMapMessage, TypeObjectMessage, TypeStreamMessage, TypeTextMessage:
		return &Message{Kind: t}
	case TypeResponse:
		return new(Response)
	case TypeExceptionResponse:
		return new(ExceptionResponse)
	case TypeDataResponse:
		return new(DataResponse)
	case TypeDataArrayResponse:
		return new(DataArrayResponse)
	case TypeIntegerResponse:
		return new(IntegerResponse)
	case TypeQueue, TypeTopic, TypeTempQueue, TypeTempTopic:
		return &Destination{Kind: t}
	case TypeMessageID:
		return new(MessageID)
	case TypeLocalTransactionID:
		return new(LocalTransactionID)
	case TypeXATransactionID:
		return new(XATransactionID)
	case TypeConnectionID:
		return new(ConnectionID)
	case TypeSessionID:
		return new(SessionID)
	case TypeConsumerID:
		return new(ConsumerID)
	case TypeProducerID:
		return new(ProducerID)
	case TypeBrokerID:
		return new(BrokerID)
	}
	return nil
}
