package openwire

import (
	"errors"

	"tandem/internal/broker"
	wire "tandem/internal/wire/openwire"
)

// Local transactions. Sends in a transaction go to the broker transaction
// at once (held until commit); acks are kept here and settled into it at
// commit, because a rollback must leave the messages with the consumer:
// the JMS client redelivers them itself after a rollback and acks them
// again in a later transaction, as ActiveMQ Classic expects.

// txState is an open local transaction.
type txState struct {
	key  string
	tx   *broker.Tx
	acks []txAck
	// unmatched is set when an ack in the transaction named a delivery
	// this connection does not hold; the commit then fails.
	unmatched bool
	// work is set by the first send or consuming ack in the transaction.
	work bool
}

// txAck is deliveries of one consumer that a transaction consumed.
type txAck struct {
	k       *consumer
	entries []*entry
}

// txFor returns the open transaction id names, beginning it when the
// client has not (a failover client replays its open transactions'
// commands, and a begin may be lost with the old connection).
func (c *conn) txFor(id wire.TransactionID) (*txState, error) {
	local, ok := id.(*wire.LocalTransactionID)
	if !ok {
		return nil, errorf(classXA, "XA transactions are not supported by tandem; use local (JMS session) transactions")
	}
	key := local.String()
	if st := c.txs[key]; st != nil {
		return st, nil
	}
	tx, err := c.session.Begin(key)
	if err != nil {
		return nil, err
	}
	st := &txState{key: key, tx: tx}
	c.txs[key] = st
	return st, nil
}

// onTransaction begins, commits or rolls back a local transaction.
func (c *conn) onTransaction(x *wire.TransactionInfo) {
	if x.TransactionID == nil {
		c.respond(x, errorf(classJMSException, "TransactionInfo without a transaction ID"))
		return
	}
	if _, ok := x.TransactionID.(*wire.LocalTransactionID); !ok {
		if x.Type == wire.TransactionRecover {
			// An XA resource recovering finds nothing in doubt.
			c.send(&wire.DataArrayResponse{CorrelationID: x.CommandID})
			return
		}
		c.respond(x, errorf(classXA, "XA transactions are not supported by tandem; use local (JMS session) transactions"))
		return
	}
	key := x.TransactionID.String()
	switch x.Type {
	case wire.TransactionBegin:
		_, err := c.txFor(x.TransactionID)
		c.respond(x, err)
	case wire.TransactionCommitOnePhase:
		st := c.txs[key]
		if st == nil {
			c.respond(x, errorf(classTxRolledBack, "transaction %s is unknown to the broker (lost in a failover?); it was rolled back", key))
			return
		}
		delete(c.txs, key)
		c.commit(x, st)
	case wire.TransactionRollback:
		st := c.txs[key]
		if st != nil {
			delete(c.txs, key)
			c.rollback(st)
		}
		c.respond(x, nil)
	case wire.TransactionEnd:
		c.respond(x, nil)
	default:
		c.respond(x, errorf(classXA, "transaction operation %d needs XA, which tandem does not support", x.Type))
	}
}

// commit settles the transaction's acks into it and commits.
func (c *conn) commit(x *wire.TransactionInfo, st *txState) {
	if st.unmatched {
		c.rollback(st)
		c.respond(x, errorf(classTxRolledBack, "transaction %s acknowledged messages this connection does not hold (redelivered after a failover); it was rolled back", st.key))
		return
	}
	if c.resumed && !st.work {
		// The JMS client begins a transaction with its first send or
		// receive and acks what it received just before the commit, so a
		// commit with neither on a connection made by failover is of a
		// transaction that received messages on the lost connection and
		// whose ack was lost with it: the failover transport replays a
		// transaction's begin and sends, never its acks, and drops an ack
		// made while it reconnects. Committing would tell the client its
		// messages were consumed while they wait here to be delivered
		// again.
		c.rollback(st)
		c.respond(x, errorf(classTxRolledBack, "transaction %s reached the broker after a failover without the acknowledgement of the messages it received, which the failover lost; it was rolled back, and the messages will be delivered again", st.key))
		return
	}
	for _, a := range st.acks {
		for _, r := range groupRanges(a.entries, nil) {
			r.m.bc.Settle(r.first, r.last, broker.Settlement{Outcome: broker.Accepted}, st.tx, nil)
		}
	}
	st.tx.Commit(func(err error) {
		for _, a := range st.acks {
			a.k.forget(a.entries, st)
		}
		if err != nil && !errors.Is(err, broker.ErrTxRolledBack) {
			err = errorf(classTxRolledBack, "transaction %s was rolled back: %v", st.key, err)
		}
		c.respond(x, err)
	})
}

// rollback discards the transaction's sends; the deliveries it consumed
// stay with their consumers, unsettled.
func (c *conn) rollback(st *txState) {
	st.tx.Rollback()
	for _, a := range st.acks {
		a.k.mu.Lock()
		for _, e := range a.entries {
			if e.tx == st {
				e.tx = nil
			}
		}
		a.k.mu.Unlock()
	}
}

// forget drops the entries a committed (or failed) transaction settled.
func (k *consumer) forget(es []*entry, st *txState) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range es {
		if e.tx == st && k.entries[e.id] == e {
			k.unlinkLocked(e)
		}
	}
}

// rollbackAll rolls back the connection's open transactions.
func (c *conn) rollbackAll() {
	for key, st := range c.txs {
		delete(c.txs, key)
		c.rollback(st)
	}
}
