package stomp

import (
	"tandem/internal/message"
	wire "tandem/internal/wire/stomp"
)

// Producer flow control. STOMP has no credit of its own, so the adapter
// applies the broker's (broker/credit.go) by reading: before it takes a
// SEND it holds credit for the message's size, asking the broker for a
// window of ProducerWindowSize bytes at a time, and while the broker
// withholds credit (a full BLOCK address) the read goroutine waits and TCP
// holds the client back.
//
// Fair share (protocol.IngestGate): a SEND that arrives with more input
// already buffered behind it comes from a client that pipelines faster than
// the broker reads, and is handled on the connection's turn at the gate.
// The turn is kept while whole frames are buffered and given up before
// anything that may wait.

// DefaultProducerWindowSize is the credit, in bytes, the adapter takes
// for a producer at a time: Artemis' default producer-window-size.
const DefaultProducerWindowSize = 64 << 10

// maxCreditAddresses bounds the addresses a connection keeps credit for;
// beyond it the credit is forgotten, which only means asking again.
const maxCreditAddresses = 64

// takeCredit holds credit for a message of size bytes to address, waiting
// while the broker withholds it. It returns false when the connection
// closes first.
func (c *conn) takeCredit(m *message.Message) bool {
	window := c.srv.opts.ProducerWindowSize
	if window < 0 {
		return true
	}
	size := m.Size()
	have := c.credit[m.Address]
	if have >= size {
		c.credit[m.Address] = have - size
		return true
	}
	if c.credit == nil || len(c.credit) >= maxCreditAddresses {
		c.credit = make(map[string]int)
	}
	if c.creditCh == nil {
		c.creditCh = make(chan int, 1)
	}
	c.turn.Release() // the broker may make us wait
	ch := c.creditCh
	c.session.RequestCredit(m.Address, size-have, window, func(n int) { ch <- n })
	select {
	case n := <-ch:
		if n == 0 {
			return false // the session is closing
		}
		c.credit[m.Address] = have + n - size
		return true
	case <-c.closing:
		return false
	}
}

// gated reports whether a frame is one the connection handles on its turn
// at the ingest gate: messages and what a consumer sends, none of which
// waits. Everything else (COMMIT, SUBSCRIBE, DISCONNECT...) may wait, and
// gives the turn up first.
func gated(cmd string) bool {
	return cmd == wire.CmdSend || cmd == wire.CmdAck || cmd == wire.CmdNack
}
