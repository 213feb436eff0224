package amqp

import "fmt"

// Message annotation keys that JMS clients (Qpid JMS) and Artemis use.
const (
	// AnnotationJMSDest and AnnotationJMSReplyTo say what kind of node
	// properties.to and properties.reply-to name, as a byte: see the
	// JMSDest constants.
	AnnotationJMSDest    Symbol = "x-opt-jms-dest"
	AnnotationJMSReplyTo Symbol = "x-opt-jms-reply-to"
	// AnnotationJMSMsgType is the JMS message class, as a byte: see the
	// JMSMsgType constants.
	AnnotationJMSMsgType Symbol = "x-opt-jms-msg-type"
	// AnnotationDeliveryTime is the absolute time (timestamp, or long
	// milliseconds) before which the message must not be delivered.
	AnnotationDeliveryTime Symbol = "x-opt-delivery-time"
	// AnnotationDeliveryDelay is the delay in milliseconds (long) from
	// arrival before the message may be delivered.
	AnnotationDeliveryDelay Symbol = "x-opt-delivery-delay"
	// AnnotationOrigAddress and friends are what Artemis adds to the copy
	// of a message it dead-letters or expires.
	AnnotationOrigAddress   Symbol = "x-opt-ORIG-ADDRESS"
	AnnotationOrigQueue     Symbol = "x-opt-ORIG-QUEUE"
	AnnotationOrigMessageID Symbol = "x-opt-ORIG-MESSAGE-ID"
	AnnotationActualExpiry  Symbol = "x-opt-ACTUAL-EXPIRY"
)

// The values of x-opt-jms-dest and x-opt-jms-reply-to.
const (
	JMSDestQueue     byte = 0
	JMSDestTopic     byte = 1
	JMSDestTempQueue byte = 2
	JMSDestTempTopic byte = 3
)

// The values of x-opt-jms-msg-type.
const (
	JMSMsgTypeMessage byte = 0
	JMSMsgTypeObject  byte = 1
	JMSMsgTypeMap     byte = 2
	JMSMsgTypeBytes   byte = 3
	JMSMsgTypeStream  byte = 4
	JMSMsgTypeText    byte = 5
)

// Annotations are the decoded message-annotations of a message, with
// accessors for the keys a broker acts on.
type Annotations struct {
	Map Map
}

// Annotations decodes the message-annotations (empty when absent).
func (m *Message) Annotations() (Annotations, error) {
	ma, err := m.MessageAnnotations()
	return Annotations{Map: ma}, err
}

// Get returns the annotation under the symbol key k.
func (a Annotations) Get(k Symbol) (any, bool) { return a.Map.Get(k) }

// byteValue reads an annotation holding a small integer: Qpid JMS sends a
// byte, other clients any integer type.
func (a Annotations) byteValue(k Symbol) (byte, bool) {
	v, ok := a.Map.Get(k)
	if !ok {
		return 0, false
	}
	n, ok := asInt64(v)
	if !ok || n < 0 || n > 255 {
		return 0, false
	}
	return byte(n), true
}

// JMSDest returns x-opt-jms-dest.
func (a Annotations) JMSDest() (byte, bool) { return a.byteValue(AnnotationJMSDest) }

// JMSReplyTo returns x-opt-jms-reply-to.
func (a Annotations) JMSReplyTo() (byte, bool) { return a.byteValue(AnnotationJMSReplyTo) }

// JMSMsgType returns x-opt-jms-msg-type.
func (a Annotations) JMSMsgType() (byte, bool) { return a.byteValue(AnnotationJMSMsgType) }

// DeliveryTime returns x-opt-delivery-time, sent as a timestamp or as a
// long holding milliseconds since the epoch.
func (a Annotations) DeliveryTime() (Timestamp, bool) {
	v, ok := a.Map.Get(AnnotationDeliveryTime)
	if !ok {
		return 0, false
	}
	if t, ok := v.(Timestamp); ok {
		return t, true
	}
	n, ok := asInt64(v)
	return Timestamp(n), ok
}

// DeliveryDelay returns x-opt-delivery-delay in milliseconds.
func (a Annotations) DeliveryDelay() (int64, bool) {
	v, ok := a.Map.Get(AnnotationDeliveryDelay)
	if !ok {
		return 0, false
	}
	return asInt64(v)
}

// asInt64 converts any AMQP integer that fits to an int64.
func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n > 1<<63-1 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// Declare is the body of a message sent to the transaction coordinator to
// start a transaction. GlobalID must be nil: tandem, like Artemis, has no
// distributed transactions.
type Declare struct {
	GlobalID any
}

// Discharge is the body of a message sent to the transaction coordinator
// to end a transaction: commit, or roll back when Fail is set.
type Discharge struct {
	TxnID []byte
	Fail  bool
}

func (p *Declare) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descDeclare)
	b, err := w.value(b, p.GlobalID)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (p *Discharge) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descDischarge)
	b = w.binary(b, p.TxnID, true)
	b = w.bool(b, p.Fail)
	return w.finish(b)
}

// CoordinatorRequest decodes the amqp-value body of a message sent to the
// transaction coordinator: a *Declare or a *Discharge.
func (m *Message) CoordinatorRequest() (any, error) {
	if m.bodyKind != BodyValue {
		return nil, fmt.Errorf("%w: a coordinator message has a %s body, not amqp-value", ErrBadMessage, m.bodyKind)
	}
	d := m.sectionValue(m.body[0])
	d.alias = false // the request outlives the frame it came in
	desc, sym, ok, err := d.describedHeader()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, decodeErr("null where a declare or discharge belongs")
	}
	switch desc {
	case descDeclare:
		return d.decodeDeclare()
	case descDischarge:
		return d.decodeDischarge()
	}
	return nil, decodeErr("descriptor %s where a declare or discharge belongs", descString(desc, sym))
}

func (d *decoder) decodeDeclare() (*Declare, error) {
	f, err := d.compositeFields("declare")
	if err != nil {
		return nil, err
	}
	p := &Declare{}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.GlobalID, err = d.value()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("declare", fieldName(i, "global-id"), err)
		}
	}
	return p, f.done("declare")
}

func (d *decoder) decodeDischarge() (*Discharge, error) {
	f, err := d.compositeFields("discharge")
	if err != nil {
		return nil, err
	}
	p := &Discharge{}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.TxnID, has, err = d.readBinary()
		case 1:
			p.Fail, _, err = d.readBool()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("discharge", fieldName(i, "txn-id", "fail"), err)
		}
	}
	if !has {
		return nil, decodeErr("discharge: mandatory txn-id missing")
	}
	return p, f.done("discharge")
}
