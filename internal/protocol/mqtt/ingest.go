package mqtt

import (
	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// Fair share (protocol.IngestGate). A client that pipelines PUBLISHes (QoS
// 0, or QoS 1 within the Receive Maximum) keeps the connection's read
// goroutine busy for as long as it writes; a few such connections would
// take every processor from the consumers whose acknowledgements their
// next deliveries wait for. A PUBLISH that arrives with more input already
// buffered behind it is therefore handled on the connection's turn at the
// gate, which is kept while whole packets are buffered (Reader.HasPacket),
// and for the acknowledgements and PINGREQs among them, and given up
// before anything that may wait: reading input not all buffered yet, a
// PUBLISH stored in a transaction (retained, or QoS 2: its commit may wait
// for room), a send to a full BLOCK address (the adapter takes no producer
// credit), a 3.1.1 client's PUBLISH waiting for an inbound slot, every
// other packet (CONNECT, SUBSCRIBE, PUBREC's transaction, DISCONNECT), and
// the end of the connection. Acknowledgements never take a turn.

// gated reports whether a packet is one the connection handles on its turn:
// PUBLISH (publish decides whether it takes the turn), the acknowledgements
// that settle without a transaction, and PINGREQ, none of which waits.
// Everything else may, and gives the turn up first.
func gated(p wire.Packet) bool {
	switch p.(type) {
	case *wire.Publish, *wire.Puback, *wire.Pubrel, *wire.Pubcomp, *wire.Pingreq:
		return true
	}
	return false
}

// pace takes the connection's turn before the send of a PUBLISH with more
// input buffered behind it, or gives it up when nothing is (the next read
// may wait for the client), when the send is a transaction's (inTx: its
// commit may wait for room), or when the send may wait for room.
func (c *conn) pace(m *message.Message, inTx bool) {
	if c.r.Buffered() == 0 || inTx || c.session.SendMayWait(m.Address) {
		c.turn.Release()
		return
	}
	c.turn.Take()
}
