package openwire

import (
	"sync"
	"sync/atomic"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/openwire"
)

// producer is a client's message producer.
type producer struct {
	id   *wire.ProducerID
	dest *wire.Destination
	// window, when positive, asks for a ProducerAck after each message sent
	// without a response (the client's producerWindowSize).
	window int32
}

func (c *conn) addProducer(x *wire.ProducerInfo) {
	if x.ProducerID == nil {
		c.respond(x, errorf(classJMSException, "ProducerInfo without a producer ID"))
		return
	}
	if x.Destination != nil {
		if _, err := c.targets(x.Destination, nil); err != nil {
			c.respond(x, err)
			return
		}
	}
	c.producers[*x.ProducerID] = &producer{id: x.ProducerID, dest: x.Destination, window: x.WindowSize}
	c.respond(x, nil)
}

// onMessage sends a message the client produced. A message that asks for
// a response (a persistent send outside a transaction, unless the client
// sends asynchronously) is answered once it is accepted: for a persistent
// message, once it is on stable storage. x is the reader's reused message:
// nothing here keeps it, or anything in it, past the call.
func (c *conn) onMessage(x *wire.Message) {
	targets, err := c.targets(x.Destination, c.tbuf[:0])
	if err == nil {
		err = c.checkTempTargets(targets)
	}
	var tx *broker.Tx
	if err == nil && x.TransactionID != nil {
		var st *txState
		st, err = c.txFor(x.TransactionID)
		if st != nil {
			tx, st.work = st.tx, true
		}
	}
	var m *message.Message
	if err == nil {
		m, err = c.toMessage(x)
	}
	if err != nil {
		c.respond(x, err)
		return
	}
	c.pace(tx, targets, len(m.Body))
	ps := c.newPendingSend(x, len(targets))
	done := ps.done
	sent := 0
	for i, t := range targets {
		if t.advisory {
			done(nil) // advisory topics are the broker's to publish on
			continue
		}
		mm := m
		if sent > 0 || i < len(targets)-1 {
			mm = m.Clone()
		}
		mm.Address, mm.RoutingType = t.addr, t.rt
		sent++
		if len(targets) == 1 {
			c.maybeLarge(mm)
			if tx == nil && x.ResponseRequired && c.r.Buffered() == 0 {
				// Nothing else has arrived: the client most likely waits for
				// this answer before it sends again, so the store may write
				// the message on this goroutine. With more commands waiting
				// the send joins the next group commit instead, and the
				// reader goes on to them.
				c.session.SendDirect(mm, nil, done)
				continue
			}
		}
		c.session.Send(mm, tx, done)
	}
}

// pendingSend follows one message's sends (one per destination of a
// composite) until all are done, then answers the message, or
// acknowledges it to a producer with a window. It holds copies of what it
// needs from the message, which the reader reuses for the next one, and
// goes back to a pool when done: a send costs no allocation for its
// callback.
type pendingSend struct {
	c    *conn
	done func(error) // ps.finish, bound once
	left atomic.Int32
	mu   sync.Mutex // guards first
	// first is the first error of the sends.
	first error
	// The message's command ID and response-required flag, destination
	// (for the log), producer (when it has a window) and size.
	cmdID int32
	rr    bool
	dest  wire.Destination
	p     *producer
	size  int32
}

var pendingSends sync.Pool

func (c *conn) newPendingSend(x *wire.Message, n int) *pendingSend {
	ps, _ := pendingSends.Get().(*pendingSend)
	if ps == nil {
		ps = new(pendingSend)
		ps.done = ps.finish
	}
	ps.c, ps.first = c, nil
	ps.left.Store(int32(n))
	ps.cmdID, ps.rr = x.CommandID, x.ResponseRequired
	ps.dest = wire.Destination{Kind: x.Destination.Kind, Name: x.Destination.Name}
	ps.p = nil
	if x.ProducerID != nil && !x.ResponseRequired {
		if p := c.producers[*x.ProducerID]; p != nil && p.window > 0 {
			ps.p = p
		}
	}
	ps.size = int32(1024 + len(x.Content) + len(x.MarshalledProperties))
	return ps
}

// finish is called once per send; the last call answers.
func (ps *pendingSend) finish(err error) {
	if err != nil {
		ps.mu.Lock()
		if ps.first == nil {
			ps.first = err
		}
		ps.mu.Unlock()
	}
	if ps.left.Add(-1) != 0 {
		return
	}
	// The other calls wrote first before their decrement, so it is settled.
	c, first := ps.c, ps.first
	if first != nil {
		c.log.Debug("send refused", "event", "send_refused", "destination", ps.dest.String(), "err", first)
	}
	c.answer(ps.cmdID, ps.rr, first)
	if first == nil && ps.p != nil {
		c.send(&wire.ProducerAck{ProducerID: ps.p.id, Size: ps.size})
	}
	ps.c, ps.p, ps.first = nil, nil, nil
	pendingSends.Put(ps)
}

// checkTempTargets refuses a temporary destination that does not exist
// (any more): ActiveMQ Classic refuses to send to a deleted one, and
// sending would otherwise create an ordinary queue of that name.
func (c *conn) checkTempTargets(ts []target) error {
	for _, t := range ts {
		if t.dest.IsTemporary() && !c.srv.temp.exists(t.dest) {
			return errorf(classInvalidDestination, "Cannot publish to a deleted Destination: %s", t.dest)
		}
	}
	return nil
}

// maybeLarge moves the body of a message at or over its address's
// min-large-message-size to the large-messages directory, so that the
// broker does not hold it in memory while it is queued.
func (c *conn) maybeLarge(m *message.Message) {
	n := int64(len(m.Body))
	if n == 0 || !c.session.MayBeLarge(n) {
		return
	}
	if t := c.session.LargeMessageThreshold(m.Address); t < 0 || n < t {
		return
	}
	w, err := c.session.CreateLargeBody()
	if err != nil {
		c.log.Debug("cannot store a large body apart; keeping it in memory", "err", err)
		return
	}
	if _, err := w.Write(m.Body); err != nil {
		w.Abort()
		return
	}
	if err := w.Commit(); err != nil {
		return
	}
	m.SetLarge(&message.Large{ID: w.ID(), Size: n})
	m.Body = nil
}
