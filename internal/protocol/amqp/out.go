package amqp

import (
	"encoding/binary"
	"io"
	"math"
	"time"

	"tandem/internal/broker"
	wire "tandem/internal/wire/amqp"
)

// The outbound queue and the writer goroutine.
//
// Every frame for the client is an outItem on the connection's queue; the
// writer takes the whole queue at once, writes it and flushes. Items of a
// session are written in order, except those marked urgent (dispositions,
// the peer's window updates), which never wait: a session's transfers wait
// when the client's incoming-window is spent, and whatever follows them on
// that session (flows answering drain, detaches, the end) waits in the
// session's backlog behind them until a flow from the client widens the
// window again.

// outKind says what an outItem is.
type outKind uint8

const (
	// outOpen is our open frame; maxFrame is the client's max-frame-size,
	// which bounds every frame written after it.
	outOpen outKind = iota
	// outClose is the last frame of the connection.
	outClose
	// outFrame is a performative written in order with the session's
	// transfers.
	outFrame
	// outUrgent is a performative written at once (a disposition, a
	// session flow answering echo).
	outUrgent
	// outBegin is our begin; window is the client's incoming-window.
	outBegin
	// outEnd is our end: the session's pending transfers are dropped.
	outEnd
	// outWindow is the client's session flow: nextIncoming and window
	// set the remote incoming-window.
	outWindow
	// outDelivery is a message on a sending link.
	outDelivery
	// outLinkFlow is a flow of a sending link, whose delivery-count and
	// credit the writer fills in from what it has written.
	outLinkFlow
)

// outItem is one thing waiting for the writer.
type outItem struct {
	kind outKind
	ch   uint16
	p    wire.Performative
	// maxFrame: outOpen.
	maxFrame uint32
	// sess: outBegin. nextIncoming, window: outBegin, outWindow.
	sess         *session
	nextIncoming wire.Optional[uint32]
	window       uint32
	// link: outDelivery, outLinkFlow.
	link *senderLink
	// d is the delivery; body a large message's body opened when it was
	// handed over (outDelivery).
	d    broker.Delivery
	body io.ReadCloser
	// granted and drained are the link's credit limit and drained credit
	// when the flow was queued; drain answers a drain; echo asks the
	// client to answer (outLinkFlow).
	granted uint32
	drained uint32
	drain   bool
}

// maxQueuedItems bounds the outbound queue of a client that stops
// reading: beyond it the connection is closed. Deliveries are bounded by
// the credit the client grants; this stops a client whose dispositions
// pile up because it never reads.
const maxQueuedItems = 1 << 20

// flushAt is the buffered size at which the writer flushes within a burst,
// so that a burst of large messages does not gather in memory first.
const flushAt = 256 << 10

// push appends an item to the outbound queue and wakes the writer. It
// never blocks, so broker callbacks may call it with a queue lock held.
func (c *conn) push(it outItem) {
	c.outMu.Lock()
	if c.closeAfter {
		c.outMu.Unlock()
		if it.body != nil {
			it.body.Close()
		}
		return
	}
	c.out = append(c.out, it)
	n := len(c.out)
	c.outMu.Unlock()
	if n > maxQueuedItems {
		c.log.Warn("closing a connection that does not read what it is sent", "event", "slow_consumer_disconnected",
			"queued_frames", n)
		c.shutdown()
		return
	}
	c.signal()
}

// pushFinal queues the connection's last frame; the writer closes the
// connection after writing it, and nothing queued later is written.
func (c *conn) pushFinal(p wire.Performative) {
	c.outMu.Lock()
	if c.closeAfter {
		c.outMu.Unlock()
		return
	}
	c.out = append(c.out, outItem{kind: outClose, p: p})
	c.closeAfter = true
	c.outMu.Unlock()
	c.signal()
}

// signal wakes the writer.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeBodies closes the large-message bodies of items never written.
func closeBodies(items []outItem) {
	for _, it := range items {
		if it.body != nil {
			it.body.Close()
		}
	}
}

// wsession is the writer's side of a session: the counters of what it
// sends and the client's window.
type wsession struct {
	s              *session
	nextOutgoingID uint32 // transfer-id of the next transfer frame
	nextDeliveryID uint32
	remoteWindow   uint32 // transfer frames the client accepts now
	backlog        []outItem
	// cur is a delivery whose first frames are written and whose other
	// frames wait for window.
	cur     wire.TransferSplitter
	curBody []byte
	curLink *senderLink
}

func (ws *wsession) blocked() bool { return len(ws.backlog) > 0 || !ws.cur.Done() }

func (c *conn) writeLoop() {
	var batch []outItem
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	c.lastWrite = time.Now()
	for {
		var timeout <-chan time.Time
		beat := time.Duration(c.peerIdle.Load()) / 2
		if beat > 0 {
			t.Reset(max(beat-time.Since(c.lastWrite), time.Millisecond))
			timeout = t.C
		}
		select {
		case <-c.wake:
		case <-timeout:
		case <-c.closing:
			return
		}
		if timeout != nil {
			t.Stop()
		}
		c.outMu.Lock()
		batch, c.out = c.out, batch[:0]
		final := c.closeAfter
		c.outMu.Unlock()
		for i := range batch {
			if err := c.writeItem(&batch[i]); err != nil {
				select {
				case <-c.closing: // a write failed: the connection is gone
					closeBodies(batch[i+1:])
					return
				default:
				}
				c.log.Warn("closing a connection after a frame could not be encoded", "event", "connection_error", "err", err)
				closeBodies(batch[i+1:])
				c.shutdown()
				return
			}
			if c.w.Buffered() >= flushAt {
				if c.flush() != nil {
					closeBodies(batch[i+1:])
					return
				}
			}
		}
		clear(batch)
		if beat > 0 && c.w.Buffered() == 0 && time.Since(c.lastWrite) >= beat {
			c.w.WriteHeartbeat()
		}
		if c.flush() != nil {
			return
		}
		if final {
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			return
		}
	}
}

// flush writes what is buffered; a failed write ends the connection.
func (c *conn) flush() error {
	if c.w.Buffered() == 0 {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		c.shutdown()
		return err
	}
	c.lastWrite = time.Now()
	return nil
}

// writeItem writes one item, or parks it behind its session's backlog.
func (c *conn) writeItem(it *outItem) error {
	switch it.kind {
	case outOpen:
		if err := c.w.WriteFrame(0, it.p, nil); err != nil {
			return err
		}
		c.peerMaxFrame = it.maxFrame
		c.w.SetMaxFrameSize(it.maxFrame)
		return nil
	case outClose:
		err := c.w.WriteFrame(0, it.p, nil)
		if cl, ok := it.p.(*wire.Close); ok && err != nil && cl.Error != nil && len(cl.Error.Description) > 200 {
			// A client with small frames still learns the condition and
			// the start of the reason.
			e := *cl.Error
			e.Description = e.Description[:200] + "…"
			err = c.w.WriteFrame(0, &wire.Close{Error: &e}, nil)
		}
		return err
	case outBegin:
		ws := &wsession{s: it.sess, remoteWindow: it.window}
		c.wsessions[it.ch] = ws
		return c.w.WriteFrame(it.ch, it.p, nil)
	case outWindow:
		ws := c.wsessions[it.ch]
		if ws == nil {
			return nil
		}
		// remote-incoming-window = next-incoming-id + incoming-window -
		// next-outgoing-id; without next-incoming-id the client has seen
		// nothing yet, and our first transfer-id is 0.
		ws.remoteWindow = it.nextIncoming.Or(0) + it.window - ws.nextOutgoingID
		return c.drainBacklog(ws)
	case outUrgent:
		return c.writePerformative(it.ch, c.wsessions[it.ch], it.p)
	}
	ws := c.wsessions[it.ch]
	if ws == nil {
		// The session ended; what was meant for it has no reader.
		if it.body != nil {
			it.body.Close()
		}
		return nil
	}
	if it.kind == outEnd {
		closeBodies(ws.backlog)
		ws.backlog, ws.cur, ws.curBody = nil, wire.TransferSplitter{}, nil
		delete(c.wsessions, it.ch)
		return c.w.WriteFrame(it.ch, it.p, nil)
	}
	if ws.blocked() {
		ws.backlog = append(ws.backlog, *it)
		return nil
	}
	done, err := c.writeOrdered(ws, it)
	if err == nil && !done {
		ws.backlog = append(ws.backlog, *it)
	}
	return err
}

// drainBacklog writes what waited on a session for as long as the
// client's window allows.
func (c *conn) drainBacklog(ws *wsession) error {
	if err := c.continueDelivery(ws); err != nil || !ws.cur.Done() {
		return err
	}
	for len(ws.backlog) > 0 {
		done, err := c.writeOrdered(ws, &ws.backlog[0])
		if err != nil || !done {
			return err
		}
		ws.backlog[0] = outItem{}
		ws.backlog = ws.backlog[1:]
		if !ws.cur.Done() {
			break
		}
	}
	if len(ws.backlog) == 0 {
		ws.backlog = nil
	}
	return nil
}

// writeOrdered writes an item that may go now; done is false when it is a
// delivery the client's window has no room for yet.
func (c *conn) writeOrdered(ws *wsession, it *outItem) (done bool, err error) {
	switch it.kind {
	case outDelivery:
		if ws.remoteWindow == 0 {
			return false, nil
		}
		return true, c.startDelivery(ws, it)
	case outLinkFlow:
		return true, c.writeLinkFlow(ws, it)
	}
	return true, c.writePerformative(it.ch, ws, it.p)
}

// writePerformative writes a frame, filling in a flow's session fields.
func (c *conn) writePerformative(ch uint16, ws *wsession, p wire.Performative) error {
	if f, ok := p.(*wire.Flow); ok && ws != nil {
		c.fillSessionFlow(ws, f)
	}
	return c.w.WriteFrame(ch, p, nil)
}

// sessionWindow is the incoming-window and outgoing-window tandem
// announces: it limits clients by link credit, not by session windows.
const sessionWindow = math.MaxInt32

// fillSessionFlow sets the session fields of a flow we send.
func (c *conn) fillSessionFlow(ws *wsession, f *wire.Flow) {
	f.NextIncomingID = wire.Some(ws.s.nextIncomingID.Load())
	f.IncomingWindow = sessionWindow
	f.NextOutgoingID = ws.nextOutgoingID
	f.OutgoingWindow = sessionWindow
}

// writeLinkFlow writes a sending link's flow: its delivery-count counts
// what was written before it, as the client counts what it received.
func (c *conn) writeLinkFlow(ws *wsession, it *outItem) error {
	l := it.link
	sent := l.written
	credit := uint32(0)
	if !it.drain && int32(it.granted-sent) > 0 {
		credit = it.granted - sent
	}
	f := &wire.Flow{
		Handle:        wire.Some(l.handle),
		DeliveryCount: wire.Some(l.initialCount + sent + it.drained),
		LinkCredit:    wire.Some(credit),
		Drain:         it.drain,
	}
	return c.writePerformative(it.ch, ws, f)
}

// startDelivery writes the first frames of a delivery, as many as the
// client's window allows; the rest wait in ws.cur.
func (c *conn) startDelivery(ws *wsession, it *outItem) error {
	l := it.link
	l.written++
	if l.closed.Load() {
		// The client detached the link: its deliveries have gone back to
		// the queue (or, pre-settled, are dropped as at-most-once allows).
		if it.body != nil {
			it.body.Close()
		}
		return nil
	}
	payload, err := c.encodeDelivery(it)
	if err != nil {
		c.log.Error("a message could not be encoded for an AMQP consumer; it is returned to its queue",
			"event", "delivery_error", "message", it.d.Message.ID, "err", err)
		if it.d.Consumer != nil && !l.presettled {
			it.d.Consumer.Settle(it.d.ID, it.d.ID, broker.Settlement{Outcome: broker.Modified, DeliveryFailed: true,
				UndeliverableHere: true}, nil, nil)
		}
		return nil
	}
	id := ws.nextDeliveryID
	ws.nextDeliveryID++
	var tag [8]byte
	binary.BigEndian.PutUint64(tag[:], l.tagSeq)
	l.tagSeq++
	tr := wire.Transfer{Handle: l.handle, DeliveryID: wire.Some(id), DeliveryTag: trimTag(tag[:]),
		MessageFormat: wire.Some(uint32(0)), Settled: l.presettled}
	if !l.presettled {
		ws.s.trackOut(id, outRef{link: l, delivery: it.d.ID})
	}
	if len(payload)+256 > int(c.peerMaxFrame) && len(payload) > 0 && &payload[0] == firstByte(c.scratch) {
		// A message of several frames may have to wait for window: it must
		// not share the scratch buffer the next delivery is encoded into.
		payload = append([]byte(nil), payload...)
	}
	if err := ws.cur.Reset(it.ch, &tr, payload, c.peerMaxFrame); err != nil {
		return err
	}
	ws.curBody, ws.curLink = payload, l
	return c.continueDelivery(ws)
}

// firstByte returns the address of b's first byte, nil when b has no
// room.
func firstByte(b []byte) *byte {
	if cap(b) == 0 {
		return nil
	}
	return &b[:1][0]
}

// trimTag drops a delivery tag's leading zero bytes (keeping one), so
// that the first deliveries of a link carry one-byte tags.
func trimTag(t []byte) []byte {
	for len(t) > 1 && t[0] == 0 {
		t = t[1:]
	}
	return t
}

// continueDelivery writes the waiting frames of ws.cur while the client's
// window has room.
func (c *conn) continueDelivery(ws *wsession) error {
	for !ws.cur.Done() && ws.remoteWindow > 0 {
		if err := c.w.WriteNextTransfer(&ws.cur); err != nil {
			return err
		}
		ws.nextOutgoingID++
		ws.remoteWindow--
		if c.w.Buffered() >= flushAt {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	if ws.cur.Done() {
		ws.curBody, ws.curLink = nil, nil
	}
	return nil
}
