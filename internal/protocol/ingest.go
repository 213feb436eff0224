package protocol

// IngestGate shares the processors between the connections that flood the
// broker with pipelined messages and everything else it does.
//
// A producer that sends without waiting for confirmations (non-persistent
// sends, or a wide window) keeps its connection's reading goroutine
// runnable for as long as its client writes: its socket always has data,
// so the goroutine never parks. A few such producers occupy every
// processor, and the Go scheduler, which has no priorities, then runs the
// goroutines woken by the network (a consumer's acknowledgements, which
// its next deliveries wait for) only when one of them is preempted, every
// 10 ms: consumers that acknowledge starve while the producers fill the
// queues (docs/benchmarks.md measured 103,000 sends/s accepted against
// 5,200 deliveries/s). The gate lets at most a few connections handle
// pipelined messages at once, and a connection holds its turn only while
// whole frames are waiting in its buffer; the others park, which frees
// processors for deliveries, acknowledgements, the journal and the
// collector.
//
// An adapter calls Turn.Take before handling a message its client sent
// with more input already buffered behind it, and Turn.Release before
// anything that may wait: reading input that is not all buffered yet,
// waiting for credit or for the journal, streaming a large message.
// Confirmations, acknowledgements and everything a consumer sends are
// never gated.
type IngestGate struct {
	slots chan struct{}
}

// NewIngestGate returns a gate that lets n connections in at once (at
// least one).
func NewIngestGate(n int) *IngestGate {
	return &IngestGate{slots: make(chan struct{}, max(n, 1))}
}

// TurnFrames is how many messages a connection handles on one turn before
// it lets waiting connections go first.
const TurnFrames = 64

// Turn is one connection's place at the gate, used by its reading
// goroutine only. A nil gate admits everyone at once.
type Turn struct {
	gate *IngestGate
	held bool
	n    int
}

// NewTurn returns a connection's turn at g (nil: no gate).
func NewTurn(g *IngestGate) Turn { return Turn{gate: g} }

// Take waits for the connection's turn, unless it has it already; after
// TurnFrames messages on one turn it lets the connections waiting go first.
func (t *Turn) Take() {
	if t.gate == nil {
		return
	}
	if t.held {
		if t.n < TurnFrames {
			t.n++
			return
		}
		t.Release()
	}
	t.gate.slots <- struct{}{}
	t.held, t.n = true, 1
}

// Release gives up the turn, if held.
func (t *Turn) Release() {
	if t.held {
		<-t.gate.slots
		t.held = false
	}
}

// Held reports whether the connection has its turn.
func (t *Turn) Held() bool { return t.held }
