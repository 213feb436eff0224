package broker

import "time"

// Flow control. A consumer runs in one of two modes, chosen at Subscribe:
//
//   - Window mode (the default): the consumer may hold Window unsettled
//     deliveries (and WindowBytes of them); settling one makes room for the
//     next. STOMP's prefetch and MQTT's receive maximum work this way.
//   - Credit mode (SubscribeOptions.Credit): the consumer gets exactly as
//     many deliveries as its adapter grants with AddCredit or SetCredit,
//     whatever it settles. AMQP link credit and OpenWire prefetch (which
//     the client tops up with delivered acks) work this way, and so do
//     drain and pull, which only make sense with credit.

// SetCredit sets a credit-mode consumer's credit to n deliveries (AMQP's
// flow carries the credit as an absolute value) and dispatches.
func (c *Consumer) SetCredit(n int) {
	q := c.q
	q.lock()
	if c.creditMode {
		c.credit = max(n, 0)
		q.dispatchLocked()
	}
	q.unlock()
}

// Credit returns a credit-mode consumer's remaining credit.
func (c *Consumer) Credit() int {
	q := c.q
	q.lock()
	defer q.unlock()
	return c.credit
}

// Drain hands the consumer every message it has credit for and that is
// ready now, then sets its credit to zero and calls done with the credit
// that was left unused (AMQP's drain: the sender advances its delivery
// count by that much and echoes the flow). done runs with the queue lock
// held, after the deliveries it follows, so it must only hand the answer
// on, as Deliver does.
func (c *Consumer) Drain(done func(unused int)) {
	q := c.q
	q.lock()
	if c.creditMode && !c.closed {
		q.dispatchLocked()
	}
	unused := c.credit
	c.credit = 0
	done(unused)
	q.unlock()
}

// pullReq is a credit-mode consumer's outstanding pull.
type pullReq struct {
	done  func(delivered bool)
	timer *time.Timer
}

// Pull asks for at most one message (OpenWire's MessagePull with prefetch
// 0, a JMS receive). It grants one unit of credit; done(true) runs right
// after the delivery that used it, done(false) when none came: at once
// when wait is negative (receiveNoWait), after wait when it is positive,
// never for a zero wait (receive without a timeout) unless the consumer
// closes. A new Pull answers an outstanding one with false. done runs with
// the queue lock held, after the delivery it follows, so it must only hand
// the answer on.
func (c *Consumer) Pull(wait time.Duration, done func(delivered bool)) {
	q := c.q
	q.lock()
	defer q.unlock()
	if !c.creditMode || c.closed {
		done(false)
		return
	}
	c.finishPullLocked(false)
	p := &pullReq{done: done}
	c.pull = p
	c.credit++
	q.dispatchLocked()
	if c.pull != p {
		return // answered by a delivery
	}
	switch {
	case wait < 0:
		c.credit = max(c.credit-1, 0)
		c.finishPullLocked(false)
	case wait > 0:
		p.timer = time.AfterFunc(wait, func() {
			q.lock()
			defer q.unlock()
			if c.pull == p {
				c.credit = max(c.credit-1, 0)
				c.finishPullLocked(false)
			}
		})
	}
}

// finishPullLocked answers the outstanding pull, if any.
func (c *Consumer) finishPullLocked(delivered bool) {
	p := c.pull
	if p == nil {
		return
	}
	c.pull = nil
	if p.timer != nil {
		p.timer.Stop()
	}
	p.done(delivered)
}
