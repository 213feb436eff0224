package amqp

import (
	"context"
	"fmt"

	wire "tandem/internal/wire/amqp"
)

// Tx is a local transaction declared through the broker's coordinator:
// its sends and acceptances take effect together at Commit.
type Tx struct {
	c  *Conn
	id []byte
}

// coordinatorSender attaches the link to the transaction coordinator once.
func (c *Conn) coordinatorSender(ctx context.Context) (*Sender, error) {
	c.coordinatorMu.Lock()
	defer c.coordinatorMu.Unlock()
	if c.coordinator != nil {
		return c.coordinator, nil
	}
	l := newLink(c, linkName("txn-coordinator"), wire.RoleSender)
	a := &wire.Attach{Name: l.name, Role: wire.RoleSender, Source: &wire.Source{}, InitialDeliveryCount: wire.Some(uint32(0)),
		Coordinator: &wire.Coordinator{Capabilities: []wire.Symbol{wire.TxnCapabilityLocal}}}
	if err := c.attach(ctx, a, l); err != nil {
		return nil, fmt.Errorf("transaction coordinator: %w", err)
	}
	c.coordinator = &Sender{l: l}
	return c.coordinator, nil
}

// control sends a declare or discharge and waits for its outcome.
func (c *Conn) control(ctx context.Context, body any) (wire.DeliveryState, error) {
	s, err := c.coordinatorSender(ctx)
	if err != nil {
		return nil, err
	}
	payload, err := (&wire.Sections{Body: wire.ValueBody(body)}).Encode()
	if err != nil {
		return nil, err
	}
	type result struct {
		st  wire.DeliveryState
		err error
	}
	ch := make(chan result, 1)
	if err := s.sendRaw(ctx, payload, nil, func(st wire.DeliveryState, err error) { ch <- result{st, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		if rej, ok := r.st.(*wire.Rejected); ok {
			if rej.Error != nil {
				return nil, rej.Error
			}
			return nil, fmt.Errorf("the coordinator rejected the request")
		}
		return r.st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Declare starts a transaction.
func (c *Conn) Declare(ctx context.Context) (*Tx, error) {
	st, err := c.control(ctx, &wire.Declare{})
	if err != nil {
		return nil, fmt.Errorf("declare a transaction: %w", err)
	}
	d, ok := st.(*wire.Declared)
	if !ok {
		return nil, fmt.Errorf("declare a transaction: the coordinator answered %T", st)
	}
	return &Tx{c: c, id: d.TxnID}, nil
}

// Send sends m within the transaction; it waits until the broker has it
// (it becomes visible at Commit).
func (t *Tx) Send(ctx context.Context, s *Sender, m *Message) error {
	ch := make(chan error, 1)
	if err := s.send(ctx, m, &wire.TransactionalState{TxnID: t.id}, func(st wire.DeliveryState, err error) {
		ch <- outcomeError(st, err)
	}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Accept accepts d within the transaction: it is consumed at Commit, and
// given back to its queue if the transaction rolls back.
func (t *Tx) Accept(d *Delivery) error {
	if d.settled {
		return nil
	}
	d.settled = true
	return d.l.c.write(0, &wire.Disposition{Role: wire.RoleReceiver, First: d.id, Settled: true,
		State: &wire.TransactionalState{TxnID: t.id, Outcome: &wire.Accepted{}}})
}

// Commit makes the transaction's work durable and visible.
func (t *Tx) Commit(ctx context.Context) error {
	if _, err := t.c.control(ctx, &wire.Discharge{TxnID: t.id}); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback discards the transaction's sends and gives back what it
// accepted.
func (t *Tx) Rollback(ctx context.Context) error {
	if _, err := t.c.control(ctx, &wire.Discharge{TxnID: t.id, Fail: true}); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
