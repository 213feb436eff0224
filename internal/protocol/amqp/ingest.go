package amqp

import "tandem/internal/message"

// Fair share (protocol.IngestGate). A client that pipelines messages
// (pre-settled sends, or unsettled ones within its link credit) keeps the
// connection's read goroutine busy for as long as it writes; a few such
// connections would take every processor from the consumers whose
// settlements their next deliveries wait for. A message whose last
// transfer arrives with more input already buffered behind it is therefore
// handled on the connection's turn at the gate, which is kept while whole
// frames are buffered (Reader.HasFrame), and for the transfers and
// dispositions among them, and given up before anything that may wait:
// reading input not all buffered yet, an unsettled send with nothing
// behind it (the client waits for its outcome, and the store may write it
// on this goroutine), a send to a full BLOCK address (the adapter takes no
// producer credit), a message to the transaction coordinator (a discharge
// commits), every other frame (attach, flow, detach, begin, end, close),
// and the end of the connection. Dispositions never take a turn.

// gated reports whether a frame body is one the connection handles on its
// turn: a transfer (a coordinator's gives the turn up in onTransfer) or a
// disposition, neither of which waits. Every other performative may (an
// attach creates queues, a flow on a browsing link reads the store), and
// gives the turn up first.
func gated(body []byte) bool {
	code, ok := descriptorOf(body)
	return ok && (code == 0x14 || code == 0x15) // transfer, disposition
}

// descriptorOf returns the small descriptor code a frame body starts with
// (as a smallulong or a ulong), without decoding the performative.
func descriptorOf(b []byte) (byte, bool) {
	if len(b) >= 3 && b[0] == 0 && b[1] == 0x53 {
		return b[2], true
	}
	if len(b) >= 10 && b[0] == 0 && b[1] == 0x80 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 &&
		b[7] == 0 && b[8] == 0 {
		return b[9], true
	}
	return 0, false
}

// pace takes the connection's turn before the send of a message with more
// input buffered behind it, or gives it up when nothing is (the client may
// wait for this message's outcome, and the next read may wait for the
// client) or the send may wait for room. A send in a transaction waits for
// nothing until its discharge.
func (c *conn) pace(m *message.Message, inTx bool) {
	if c.r.Buffered() == 0 || (!inTx && c.session.SendMayWait(m.Address)) {
		c.turn.Release()
		return
	}
	c.turn.Take()
}
