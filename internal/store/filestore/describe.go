package filestore

import (
	"encoding/binary"
	"fmt"
	"strings"

	"tandem/internal/journal"
	"tandem/internal/message"
	"tandem/internal/store"
)

// Journal file prefixes, for tools that read the journals offline.
const (
	MessagesPrefix = "tandem-data"
	BindingsPrefix = "tandem-bindings"
)

// Describe renders one journal operation of a tandem store as a line of
// text for `tandem data print`, and reports whether its payload decodes.
func Describe(op journal.Op) (string, error) {
	switch op.Kind {
	case journal.OpDelete:
		return fmt.Sprintf("delete id=%d", op.ID), nil
	case journal.OpUpdate:
		d := &decoder{b: op.Data}
		qid := d.uvarint()
		var s string
		switch op.Type {
		case recAddRef:
			s = fmt.Sprintf("add-ref message=%d queue=%d", op.ID, qid)
		case recAck:
			s = fmt.Sprintf("ack message=%d queue=%d", op.ID, qid)
		case recDeliveryCount:
			s = fmt.Sprintf("delivery-count message=%d queue=%d count=%d", op.ID, qid, d.uvarint())
		default:
			return fmt.Sprintf("update id=%d type=%d", op.ID, op.Type), fmt.Errorf("unknown update type %d", op.Type)
		}
		return s, d.err
	}
	switch op.Type {
	case recMessage:
		m, err := decodeMessage(op.Data, nil)
		if err != nil {
			return fmt.Sprintf("message id=%d", op.ID), err
		}
		return describeMessage(m), nil
	case recDuplicateID:
		d := &decoder{b: op.Data}
		addr, id := d.str(), d.str()
		return fmt.Sprintf("duplicate-id record=%d address=%s id=%s", op.ID, addr, id), d.err
	case recPageCursor:
		d := &decoder{b: op.Data}
		addr, page, off := d.str(), d.uvarint(), d.uvarint()
		return fmt.Sprintf("page-cursor record=%d address=%s page=%d offset=%d", op.ID, addr, page, off), d.err
	case recIDCounter:
		end, n := binary.Uvarint(op.Data)
		if n <= 0 {
			return "id-counter", errShort
		}
		return fmt.Sprintf("id-counter reserved-below=%d", end), nil
	case recAddress:
		a, err := decodeAddress(op.ID, op.Data)
		return fmt.Sprintf("address id=%d name=%s anycast=%v multicast=%v", a.ID, a.Name, a.Anycast, a.Multicast), err
	case recQueue:
		q, err := decodeQueue(op.ID, op.Data)
		return fmt.Sprintf("queue id=%d name=%s address=%s routing=%s filter=%q", q.ID, q.Name, q.Address, q.RoutingType, q.Filter), err
	}
	return fmt.Sprintf("add id=%d type=%d", op.ID, op.Type), fmt.Errorf("unknown record type %d", op.Type)
}

// OfflineOp is what an offline tool (tandem data verify and repair) needs
// to know of one message journal operation.
type OfflineOp struct {
	// ID is the record the operation belongs to.
	ID uint64
	// Message is set for the add of a message record; its body is not
	// needed, only its address and large body, if any.
	Message *message.Message
	// RefDelta is +1 for a queue reference added, -1 for one acknowledged.
	RefDelta int
	// Cursor is set for the add of a page cursor record.
	Cursor *store.PageCursor
	// Delete is set for a deletion of the record.
	Delete bool
}

// ReadOp decodes a message journal operation for an offline tool.
func ReadOp(op journal.Op) (OfflineOp, error) {
	o := OfflineOp{ID: op.ID}
	switch op.Kind {
	case journal.OpDelete:
		o.Delete = true
		return o, nil
	case journal.OpUpdate:
		switch op.Type {
		case recAddRef:
			o.RefDelta = 1
		case recAck:
			o.RefDelta = -1
		}
		return o, nil
	}
	switch op.Type {
	case recMessage:
		m, err := decodeMessage(op.Data, nil)
		if err != nil {
			return o, fmt.Errorf("message %d: %w", op.ID, err)
		}
		o.Message = m
	case recPageCursor:
		d := &decoder{b: op.Data}
		c := store.PageCursor{RecordID: op.ID, Address: d.str(), Page: d.uvarint(), Offset: d.uvarint()}
		if d.err != nil {
			return o, fmt.Errorf("page cursor %d: %w", op.ID, d.err)
		}
		o.Cursor = &c
	}
	return o, nil
}

// describeMessage renders a message record for `tandem data print`: the
// fixed fields, the optional headers it has, and its properties, typed
// ones with their kind.
func describeMessage(m *message.Message) string {
	props := make([]string, len(m.Properties))
	for i, p := range m.Properties {
		if p.Kind == message.KindString {
			props[i] = p.Key + "=" + p.Value
		} else {
			props[i] = p.Key + "=(" + p.Kind.String() + ")" + p.Text()
		}
	}
	body := fmt.Sprintf("%s:%dB", m.BodyKind, len(m.Body))
	if m.Large() != nil {
		body = fmt.Sprintf("large:%d(%dB)", m.Large().ID, m.Large().Size)
	}
	var hdrs strings.Builder
	if x := m.Extra; x != nil {
		for _, f := range []struct{ k, v string }{
			{"message-id", x.MessageID}, {"correlation-id", x.CorrelationID}, {"reply-to", x.ReplyTo},
			{"type", x.Type}, {"content-type", x.ContentType}, {"user-id", x.UserID}, {"group-id", x.GroupID},
		} {
			if f.v != "" {
				fmt.Fprintf(&hdrs, " %s=%q", f.k, f.v)
			}
		}
		if x.GroupSeq != 0 {
			fmt.Fprintf(&hdrs, " group-seq=%d", x.GroupSeq)
		}
		if x.Native != nil {
			fmt.Fprintf(&hdrs, " native=%d:%dB", x.Native.Format, len(x.Native.Data))
		}
	}
	return fmt.Sprintf("message id=%d address=%s routing=%s durable=%v priority=%d timestamp=%d expires=%d body=%s%s props=[%s]",
		m.ID, m.Address, m.RoutingType, m.Durable, m.Priority, m.Timestamp, m.Expiration, body, hdrs.String(), strings.Join(props, ","))
}
