package openwire

import (
	"sync"

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
		if _, err := c.targets(x.Destination); err != nil {
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
// message, once it is on stable storage.
func (c *conn) onMessage(x *wire.Message) {
	targets, err := c.targets(x.Destination)
	if err == nil {
		err = c.checkTempTargets(targets)
	}
	var tx *broker.Tx
	if err == nil && x.TransactionID != nil {
		var st *txState
		st, err = c.txFor(x.TransactionID)
		if st != nil {
			tx = st.tx
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
	var p *producer
	if x.ProducerID != nil {
		p = c.producers[*x.ProducerID]
	}
	done := c.sendDone(x, p, len(targets))
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

// sendDone returns the callback of a message's n sends: once all are done
// it answers the message, or acknowledges it to a producer with a window.
func (c *conn) sendDone(x *wire.Message, p *producer, n int) func(error) {
	var mu sync.Mutex
	var first error
	left := n
	size := int32(1024 + len(x.Content) + len(x.MarshalledProperties))
	return func(err error) {
		mu.Lock()
		if err != nil && first == nil {
			first = err
		}
		left--
		last := left == 0
		mu.Unlock()
		if !last {
			return
		}
		if first != nil {
			c.log.Debug("send refused", "event", "send_refused", "destination", x.Destination, "err", first)
		}
		c.respond(x, first)
		if first == nil && !x.ResponseRequired && p != nil && p.window > 0 {
			c.send(&wire.ProducerAck{ProducerID: p.id, Size: size})
		}
	}
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
