package openwire

import (
	"tandem/internal/broker"
	wire "tandem/internal/wire/openwire"
)

// Fair share (protocol.IngestGate). A client that pipelines messages
// (non-persistent sends, asynchronous sends, a producer window) keeps the
// connection's read goroutine busy for as long as it writes; a few such
// connections would take every processor from the consumers whose
// acknowledgements their next deliveries wait for. A message that arrives
// with more input already buffered behind it is therefore handled on the
// connection's turn at the gate, which is kept while whole frames are
// buffered and given up before anything that may wait: reading input not
// all buffered yet, a send the client waits for (written by this goroutine
// when the store is idle), a send to a full BLOCK address, a large body
// written to disk, a commit, closing, and every other command.

// gated reports whether a command is one the connection handles on its
// turn at the ingest gate, as the STOMP adapter does SEND, ACK and NACK:
// messages and acknowledgements (and keep-alives), none of which waits.
// Everything else may wait, and gives the turn up first.
func gated(cmd wire.Command) bool {
	switch cmd.(type) {
	case *wire.Message, *wire.MessageAck, *wire.KeepAliveInfo:
		return true
	}
	return false
}

// pace takes the connection's turn before the sends of a message with more
// input buffered behind it, or gives it up when nothing is (the client may
// wait for this message's answer, and the next read may wait for the
// client) or a send may wait. size is the message's body size.
func (c *conn) pace(tx *broker.Tx, targets []target, size int) {
	if c.r.Buffered() == 0 || c.sendMayWait(tx, targets, size) {
		c.turn.Release()
		return
	}
	c.turn.Take()
}

// sendMayWait reports whether sending to targets may hold the read
// goroutine: a body written apart as a large message (only for a single
// target, as onMessage does), or an address that holds senders while it is
// full. A send in a transaction waits for nothing until its commit.
func (c *conn) sendMayWait(tx *broker.Tx, targets []target, size int) bool {
	if len(targets) == 1 && size > 0 && c.session.MayBeLarge(int64(size)) {
		return true
	}
	if tx != nil {
		return false
	}
	for _, t := range targets {
		if !t.advisory && c.session.SendMayWait(t.addr) {
			return true
		}
	}
	return false
}
