package amqp

import (
	"fmt"
	"strconv"
)

// DeliveryState is the state of a delivery carried by transfer and
// disposition frames: one of the outcomes (*Accepted, *Rejected,
// *Released, *Modified), *Received, or the transaction states (*Declared,
// *TransactionalState).
type DeliveryState interface {
	composite
	deliveryState()
}

// Received is the non-terminal state saying how much of a delivery has
// arrived, used to resume a link.
type Received struct {
	SectionNumber uint32
	SectionOffset uint64
}

// Accepted is the outcome of a delivery processed successfully.
type Accepted struct{}

// Rejected is the outcome of a delivery that is invalid and will not be
// processed; Artemis, and tandem, dead-letter it.
type Rejected struct {
	Error *Error
}

// Released is the outcome of a delivery given back unprocessed: it may be
// redelivered, with its delivery-count unchanged.
type Released struct{}

// Modified is the outcome of a delivery given back with changes:
// DeliveryFailed counts the attempt (the delivery-count grows),
// UndeliverableHere asks not to deliver it to this link again, and
// MessageAnnotations are merged into the message's annotations.
type Modified struct {
	DeliveryFailed     bool
	UndeliverableHere  bool
	MessageAnnotations Map
}

// Declared is the outcome of a declare sent to a transaction coordinator;
// it carries the new transaction's id.
type Declared struct {
	TxnID []byte
}

// TransactionalState is the state of a delivery sent or settled within a
// transaction: the transaction id and, for settlements, the outcome that
// takes effect when the transaction commits.
type TransactionalState struct {
	TxnID   []byte
	Outcome DeliveryState
}

func (*Received) deliveryState()           {}
func (*Accepted) deliveryState()           {}
func (*Rejected) deliveryState()           {}
func (*Released) deliveryState()           {}
func (*Modified) deliveryState()           {}
func (*Declared) deliveryState()           {}
func (*TransactionalState) deliveryState() {}

func (s *Received) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descReceived)
	b = w.uint(b, s.SectionNumber, true)
	b = w.ulong(b, s.SectionOffset, true)
	return w.finish(b)
}

// Accepted and Released have no fields; their encoding never changes.
var (
	encodedAccepted = []byte{codeDescribed, codeSmallUlong, byte(descAccepted), codeList0}
	encodedReleased = []byte{codeDescribed, codeSmallUlong, byte(descReleased), codeList0}
)

func (*Accepted) appendTo(b []byte) ([]byte, error) { return append(b, encodedAccepted...), nil }
func (*Released) appendTo(b []byte) ([]byte, error) { return append(b, encodedReleased...), nil }

func (s *Rejected) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descRejected)
	b, err := w.composite(b, s.Error)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (s *Modified) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descModified)
	b = w.bool(b, s.DeliveryFailed)
	b = w.bool(b, s.UndeliverableHere)
	b, err := w.mapField(b, s.MessageAnnotations)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (s *Declared) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descDeclared)
	b = w.binary(b, s.TxnID, true)
	return w.finish(b)
}

func (s *TransactionalState) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descTransactionalState)
	b = w.binary(b, s.TxnID, true)
	b, err := w.composite(b, s.Outcome)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

// readDeliveryState reads a delivery state or null.
func (d *decoder) readDeliveryState() (DeliveryState, error) {
	desc, sym, ok, err := d.describedHeader()
	if err != nil || !ok {
		return nil, err
	}
	switch desc {
	case descReceived:
		s := &Received{}
		return s, d.decodeReceived(s)
	case descAccepted:
		return &Accepted{}, d.emptyComposite("accepted")
	case descReleased:
		return &Released{}, d.emptyComposite("released")
	case descRejected:
		s := &Rejected{}
		return s, d.decodeRejected(s)
	case descModified:
		s := &Modified{}
		return s, d.decodeModified(s)
	case descDeclared:
		s := &Declared{}
		return s, d.decodeDeclared(s)
	case descTransactionalState:
		s := &TransactionalState{}
		return s, d.decodeTransactionalState(s)
	}
	return nil, decodeErr("descriptor %s where a delivery state belongs", descString(desc, sym))
}

// descString names a descriptor for an error message.
func descString(desc uint64, sym Symbol) string {
	if sym != "" {
		return string(sym)
	}
	return fmt.Sprintf("0x%x (%s)", desc, descriptorName(desc))
}

// emptyComposite reads the field list of a composite with no fields,
// skipping any fields a later version might add.
func (d *decoder) emptyComposite(name string) error {
	f, err := d.compositeFields(name)
	if err != nil {
		return err
	}
	for {
		if _, ok := f.next(); !ok {
			break
		}
		if err := f.skip(); err != nil {
			return err
		}
	}
	return f.done(name)
}

func (d *decoder) decodeReceived(s *Received) error {
	f, err := d.compositeFields("received")
	if err != nil {
		return err
	}
	var hasNumber, hasOffset bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			s.SectionNumber, hasNumber, err = d.readUint32()
		case 1:
			s.SectionOffset, hasOffset, err = d.readUint64()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr("received", fieldName(i, "section-number", "section-offset"), err)
		}
	}
	if !hasNumber || !hasOffset {
		return decodeErr("received: mandatory section-number or section-offset missing")
	}
	return f.done("received")
}

func (d *decoder) decodeRejected(s *Rejected) error {
	f, err := d.compositeFields("rejected")
	if err != nil {
		return err
	}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			s.Error, err = d.readError()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr("rejected", fieldName(i, "error"), err)
		}
	}
	return f.done("rejected")
}

func (d *decoder) decodeModified(s *Modified) error {
	f, err := d.compositeFields("modified")
	if err != nil {
		return err
	}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			s.DeliveryFailed, _, err = d.readBool()
		case 1:
			s.UndeliverableHere, _, err = d.readBool()
		case 2:
			s.MessageAnnotations, err = d.readMap()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr("modified", fieldName(i, "delivery-failed", "undeliverable-here", "message-annotations"), err)
		}
	}
	return f.done("modified")
}

func (d *decoder) decodeDeclared(s *Declared) error {
	f, err := d.compositeFields("declared")
	if err != nil {
		return err
	}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			s.TxnID, has, err = d.readBinary()
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr("declared", fieldName(i, "txn-id"), err)
		}
	}
	if !has {
		return decodeErr("declared: mandatory txn-id missing")
	}
	return f.done("declared")
}

func (d *decoder) decodeTransactionalState(s *TransactionalState) error {
	f, err := d.compositeFields("transactional-state")
	if err != nil {
		return err
	}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			s.TxnID, has, err = d.readBinary()
		case 1:
			s.Outcome, err = d.readDeliveryState()
			if err == nil {
				switch s.Outcome.(type) {
				case *TransactionalState, *Received:
					err = decodeErr("%T is not an outcome", s.Outcome)
				}
			}
		default:
			err = f.skip()
		}
		if err != nil {
			return fieldErr("transactional-state", fieldName(i, "txn-id", "outcome"), err)
		}
	}
	if !has {
		return decodeErr("transactional-state: mandatory txn-id missing")
	}
	return f.done("transactional-state")
}

// fieldName returns names[i], or "field N" past the known fields.
func fieldName(i int, names ...string) string {
	if i < len(names) {
		return names[i]
	}
	return "field " + strconv.Itoa(i)
}

// appendTo encodes the error composite.
func (e *Error) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descError)
	b = w.set(appendSymbol(b, e.Condition))
	b = w.str(b, e.Description, e.Description != "")
	b, err := w.mapField(b, e.Info)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

// readError reads an error composite or null.
func (d *decoder) readError() (*Error, error) {
	desc, sym, ok, err := d.describedHeader()
	if err != nil || !ok {
		return nil, err
	}
	if desc != descError || sym != "" {
		return nil, decodeErr("descriptor %s where an error belongs", descString(desc, sym))
	}
	f, err := d.compositeFields("error")
	if err != nil {
		return nil, err
	}
	e := &Error{}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			e.Condition, has, err = d.readSymbol()
		case 1:
			e.Description, _, err = d.readString()
		case 2:
			e.Info, err = d.readMap()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("error", fieldName(i, "condition", "description", "info"), err)
		}
	}
	if !has {
		return nil, decodeErr("error: mandatory condition missing")
	}
	return e, f.done("error")
}

// AsDeliveryState converts a delivery state met inside a generic value
// (the unsettled map of an attach, say, where the decoder cannot know the
// values' types and returns Described) into its typed form. A
// DeliveryState is returned as is; nil stays nil.
func AsDeliveryState(v any) (DeliveryState, error) {
	switch s := v.(type) {
	case nil:
		return nil, nil
	case DeliveryState:
		return s, nil
	}
	enc, err := AppendValue(nil, v)
	if err != nil {
		return nil, err
	}
	d := decoder{b: enc}
	s, err := d.readDeliveryState()
	if err == nil && d.i != len(enc) {
		err = decodeErr("%d bytes after a delivery state", len(enc)-d.i)
	}
	return s, err
}
