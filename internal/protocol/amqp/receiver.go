package amqp

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/amqp"
)

// receiverLink is a client's sender: tandem receives its messages and
// sends them into the broker. Only the read goroutine touches it.
type receiverLink struct {
	s        *session
	handle   uint32
	linkName string
	// anonymous links route each message by its to field.
	anonymous   bool
	coordinator bool
	dest        dest
	asm         wire.Assembler
	// Credit. received counts the deliveries the client sent (the link's
	// delivery-count, from its initial one), confirmed those the broker
	// has finished with, and limit is the delivery-count up to which our
	// last flow lets the client send: confirmed plus Options.Credit, so a
	// client has at most that many messages unconfirmed. The read
	// goroutine counts received; broker goroutines count confirmed and
	// send the flows that move the limit.
	mu        sync.Mutex
	closed    bool // detached: no more flows
	received  uint32
	confirmed uint32
	limit     uint32
	// settleSecond: rcv-settle-mode second, our outcomes go unsettled and
	// the client settles.
	settleSecond bool
}

func (l *receiverLink) name() string { return l.linkName }

func (l *receiverLink) detach(bool) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// attachReceiver attaches the client's sender.
func (s *session) attachReceiver(a *wire.Attach) {
	c := s.c
	initial := a.InitialDeliveryCount.Or(0)
	l := &receiverLink{s: s, handle: a.Handle, linkName: a.Name, received: initial, confirmed: initial,
		limit: initial + uint32(c.srv.opts.Credit), settleSecond: a.RcvSettleMode.Or(wire.ReceiverSettleFirst) == wire.ReceiverSettleSecond}
	l.asm.MaxMessageSize = c.srv.opts.MaxMessageSize
	if a.MaxMessageSize != 0 && a.MaxMessageSize < l.asm.MaxMessageSize {
		l.asm.MaxMessageSize = a.MaxMessageSize
	}
	reply := &wire.Attach{Name: a.Name, Handle: a.Handle, Role: wire.RoleReceiver, SndSettleMode: a.SndSettleMode,
		RcvSettleMode: a.RcvSettleMode, Source: a.Source, MaxMessageSize: c.srv.opts.MaxMessageSize}
	switch t := a.Target; {
	case a.Coordinator != nil:
		l.coordinator = true
		reply.Coordinator = &wire.Coordinator{Capabilities: []wire.Symbol{wire.TxnCapabilityLocal}}
	case t == nil || (t.Address == "" && !t.Dynamic):
		l.anonymous = true
		reply.Target = t
	case t.Dynamic:
		name, rt, err := c.createDynamic(t.Capabilities)
		if err != nil {
			s.refuse(a, err)
			return
		}
		l.dest = dest{address: name, rt: rt}
		tt := *t
		tt.Address = name
		reply.Target = &tt
	default:
		d, err := c.resolve(t.Address, t.Capabilities)
		if err == nil {
			err = c.checkExists(d)
		}
		if err != nil {
			s.refuse(a, err)
			return
		}
		l.dest = d
		reply.Target = t
	}
	s.links[a.Handle] = l
	c.links++
	c.push(outItem{kind: outFrame, ch: s.ch, p: reply})
	l.mu.Lock()
	l.pushFlowLocked()
	l.mu.Unlock()
}

// sendFlow tells the client its credit.
func (l *receiverLink) sendFlow() {
	l.mu.Lock()
	l.pushFlowLocked()
	l.mu.Unlock()
}

// pushFlowLocked queues a flow with the link's credit; l.mu keeps flows in
// the order their limits grow.
func (l *receiverLink) pushFlowLocked() {
	if l.closed {
		return
	}
	l.s.c.push(outItem{kind: outFrame, ch: l.s.ch, p: &wire.Flow{Handle: wire.Some(l.handle),
		DeliveryCount: wire.Some(l.received), LinkCredit: wire.Some(l.limit - l.received)}})
}

// confirm counts deliveries the broker has finished with (or that needed
// nothing of it) and gives the client credit back once half of it is
// used. It may run on a broker goroutine.
func (l *receiverLink) confirm(n uint32) {
	credit := uint32(l.s.c.srv.opts.Credit)
	l.mu.Lock()
	l.confirmed += n
	if next := l.confirmed + credit; int32(next-l.limit) >= int32(max(credit/2, 1)) {
		l.limit = next
		l.pushFlowLocked()
	}
	l.mu.Unlock()
}

// onTransfer takes one transfer frame of the link.
func (l *receiverLink) onTransfer(t *wire.Transfer, payload []byte) error {
	c := l.s.c
	if !l.asm.InProgress() && !t.Aborted {
		l.mu.Lock()
		full := l.received == l.limit
		l.mu.Unlock()
		if full {
			return wire.NewError(wire.ErrorTransferLimitExceeded,
				"transfer on link %q beyond its credit (delivery-count %d): wait for a flow granting more", l.linkName, l.received)
		}
	}
	d, err := l.asm.Add(t, payload)
	if err != nil {
		if errors.Is(err, wire.ErrMessageTooLarge) {
			l.count()
			l.confirm(1)
			l.s.detachWithError(l.handle, l, wire.NewError(wire.ErrorMessageSizeExceeded, "%v", err))
			return nil
		}
		return wire.NewError(wire.ErrorIllegalState, "link %q: %v", l.linkName, err)
	}
	if d == nil {
		return nil
	}
	l.count()
	switch {
	case d.Aborted:
		l.confirm(1)
	case l.coordinator:
		c.turn.Release() // a discharge commits, which may wait
		c.onControl(l, d)
		l.confirm(1)
	default:
		l.deliver(d)
	}
	return nil
}

// count counts a delivery received.
func (l *receiverLink) count() {
	l.mu.Lock()
	l.received++
	l.mu.Unlock()
}

// deliver sends one message into the broker and tells the client the
// outcome once the broker has it (durably, for a durable message).
func (l *receiverLink) deliver(d *wire.Delivery) {
	c := l.s.c
	id := d.DeliveryID.Value
	settled := d.Settled
	var (
		tx      *broker.Tx
		txState *txState
	)
	if ts, ok := d.State.(*wire.TransactionalState); ok {
		var err error
		if txState, err = c.txStateOf(ts.TxnID); err != nil {
			l.outcome(id, settled, nil, &wire.Rejected{Error: brokerError(err)})
			l.confirm(1)
			return
		}
		tx = txState.tx
	}
	m, err := l.toMessage(d.Payload)
	if err != nil {
		if txState != nil {
			txState.failed = true
		}
		l.outcome(id, settled, txState, &wire.Rejected{Error: err})
		l.confirm(1)
		return
	}
	done := func(err error) {
		defer l.confirm(1)
		if err != nil {
			if txState != nil {
				txState.failed = true
			}
			e := brokerError(err)
			if settled {
				c.log.Info("a pre-settled message was not accepted", "event", "send_failed", "address", m.Address,
					"condition", string(e.Condition), "err", e.Description)
				return
			}
			l.outcome(id, settled, txState, &wire.Rejected{Error: e})
			return
		}
		l.outcome(id, settled, txState, &wire.Accepted{})
	}
	c.pace(m, tx != nil)
	if tx == nil && !settled && c.r.Buffered() == 0 {
		// The client most likely waits for this outcome before sending
		// again: let the store write the message on this goroutine if it
		// is idle (pace gave the turn up).
		c.session.SendDirect(m, nil, done)
		return
	}
	c.session.Send(m, tx, done)
}

// outcome tells the client what became of a message it sent unsettled.
// It may run on a broker goroutine.
func (l *receiverLink) outcome(id uint32, settled bool, ts *txState, state wire.DeliveryState) {
	if settled || l.s.ended.Load() {
		return
	}
	if ts != nil {
		state = &wire.TransactionalState{TxnID: ts.id, Outcome: state}
	}
	l.s.c.push(outItem{kind: outUrgent, ch: l.s.ch, p: &wire.Disposition{Role: wire.RoleReceiver, First: id,
		Settled: !l.settleSecond, State: state}})
}

// toMessage parses a message the client sent and converts it for the
// broker: to the link's address, or to the address its to field names on
// an anonymous link. Errors are AMQP errors for a rejected outcome.
func (l *receiverLink) toMessage(payload []byte) (*message.Message, *wire.Error) {
	pm, err := wire.ParseMessage(payload)
	if err != nil {
		return nil, wire.NewError(wire.ErrorDecode, "malformed message: %v", err)
	}
	d := l.dest
	if l.anonymous {
		if d, err = l.relayDest(pm); err != nil {
			return nil, brokerError(err)
		}
	}
	m, err := toMessage(pm, d, time.Now())
	if err != nil {
		return nil, wire.NewError(wire.ErrorDecode, "malformed message: %v", err)
	}
	return m, nil
}

// relayDest is where a message on an anonymous link goes: the address in
// its to field, of the kind x-opt-jms-dest says (as Qpid JMS sends it),
// else resolved as a capability-less link's address.
func (l *receiverLink) relayDest(pm *wire.Message) (dest, error) {
	p := pm.Properties()
	if p == nil || p.To == "" {
		return dest{}, wire.NewError(wire.ErrorInvalidField, "a message on an anonymous link needs a to field naming its address")
	}
	ann, err := pm.Annotations()
	if err != nil {
		return dest{}, wire.NewError(wire.ErrorDecode, "malformed message-annotations: %v", err)
	}
	var caps []wire.Symbol
	if k, ok := ann.JMSDest(); ok {
		switch k {
		case wire.JMSDestQueue, wire.JMSDestTempQueue:
			caps = []wire.Symbol{wire.CapabilityQueue}
		case wire.JMSDestTopic, wire.JMSDestTempTopic:
			caps = []wire.Symbol{wire.CapabilityTopic}
		}
	}
	d, err := l.s.c.resolve(p.To, caps)
	if err != nil {
		return dest{}, err
	}
	if d.queue != "" {
		return dest{}, wire.NewError(wire.ErrorNotImplemented, "to %q: sending to a fully qualified queue name is not supported", p.To)
	}
	return d, nil
}

// txState is a transaction declared through the coordinator.
type txState struct {
	id []byte
	tx *broker.Tx
	// failed marks a transaction one of whose sends was refused: it can
	// only roll back.
	failed bool
}

// txStateOf finds a declared transaction by its id.
func (c *conn) txStateOf(id []byte) (*txState, error) {
	ts := c.txs[string(id)]
	if ts == nil {
		return nil, wire.NewError(wire.ErrorTransactionUnknownID, "transaction %q is not declared on this connection", id)
	}
	return ts, nil
}

// txOf returns the broker transaction of a transaction id.
func (c *conn) txOf(id []byte) (*broker.Tx, error) {
	ts, err := c.txStateOf(id)
	if err != nil {
		return nil, err
	}
	return ts.tx, nil
}

// onControl handles a message to the transaction coordinator: declare or
// discharge.
func (c *conn) onControl(l *receiverLink, d *wire.Delivery) {
	id := d.DeliveryID.Value
	pm, err := wire.ParseMessage(d.Payload)
	var req any
	if err == nil {
		req, err = pm.CoordinatorRequest()
	}
	if err != nil {
		l.outcome(id, d.Settled, nil, &wire.Rejected{Error: wire.NewError(wire.ErrorDecode, "coordinator: %v", err)})
		return
	}
	switch r := req.(type) {
	case *wire.Declare:
		if r.GlobalID != nil {
			l.outcome(id, d.Settled, nil, &wire.Rejected{Error: wire.NewError(wire.ErrorNotImplemented,
				"distributed transactions (global-id) are not supported")})
			return
		}
		c.txSeq++
		name := fmt.Sprintf("amqp-%d", c.txSeq)
		tx, err := c.session.Begin(name)
		if err != nil {
			l.outcome(id, d.Settled, nil, &wire.Rejected{Error: brokerError(err)})
			return
		}
		if c.txs == nil {
			c.txs = map[string]*txState{}
		}
		c.txs[name] = &txState{id: []byte(name), tx: tx}
		l.outcome(id, d.Settled, nil, &wire.Declared{TxnID: []byte(name)})
	case *wire.Discharge:
		ts, err := c.txStateOf(r.TxnID)
		if err != nil {
			l.outcome(id, d.Settled, nil, &wire.Rejected{Error: brokerError(err)})
			return
		}
		delete(c.txs, string(r.TxnID))
		switch {
		case r.Fail:
			ts.tx.Rollback()
			l.outcome(id, d.Settled, nil, &wire.Accepted{})
		case ts.failed:
			ts.tx.Rollback()
			l.outcome(id, d.Settled, nil, &wire.Rejected{Error: wire.NewError(wire.ErrorTransactionRollback,
				"transaction %q was rolled back: one of its sends was refused", r.TxnID)})
		default:
			ts.tx.Commit(func(err error) {
				if err != nil {
					l.outcome(id, d.Settled, nil, &wire.Rejected{Error: wire.NewError(wire.ErrorTransactionRollback,
						"commit failed: %v", err)})
					return
				}
				l.outcome(id, d.Settled, nil, &wire.Accepted{})
			})
		}
	}
}
