package broker

import (
	"sync"
	"time"
)

// Producer credit, as Artemis' producer-window-size: an adapter takes
// credit, in bytes, for the messages a producer is about to send to an
// address, a window at a time, and asks for more when it has used it up.
// The broker grants credit at once unless the address's
// address-full-policy is BLOCK and the address (max-size-bytes) or the
// broker (global-max-size) is full; then it grants it when consumers have
// made room. An adapter whose producer is out of credit stops taking its
// messages (the STOMP adapter stops reading the connection), so a producer
// faster than its consumers holds memory at the limit instead of growing
// it. Adapters that take no credit (AMQP, MQTT and OpenWire today) get the
// same bound from Send, which waits while a BLOCK address is full; their
// protocols' own flow control (AMQP link credit, OpenWire's ProducerAck)
// could carry the grant to the client instead, which is not done yet.
//
// Credit is an allowance, not a reservation: producers that took their
// windows just before an address filled may still send them, so an
// address can pass its limit by a window per producer, as in Artemis. A
// session that takes credit has its sends admitted without the wait that
// Send otherwise does for a full BLOCK address: the credit already waited.

// RequestCredit asks for credit to send to address: need bytes at least
// (what the next message takes beyond the credit the adapter still holds),
// want bytes if there is room for them (its window). granted runs with
// the credit given, from need to want: at once, on the calling goroutine,
// unless the address is blocked (above); then on a goroutine of the
// broker's as soon as there is room, or with 0 when the session or the
// broker closes first. A BLOCK address that has room grants no more than
// the room left (but always need), so a producer passes its limit by at
// most one message. A granted that runs later must only hand the grant on
// (close a channel, signal a loop); it must not call back into the broker.
func (s *Session) RequestCredit(address string, need, want int, granted func(n int)) {
	s.credited.Store(true)
	b := s.b
	need = max(need, 1)
	want = max(want, need)
	if b.isClosing() {
		granted(0)
		return
	}
	if n, ok := b.creditFor(address, need, want); ok {
		granted(n)
		return
	}
	b.creditMu.Lock()
	b.creditWaiters = append(b.creditWaiters, creditWait{s: s, address: address, need: need, want: want, granted: granted})
	start := !b.crediting
	b.crediting = true
	b.creditMu.Unlock()
	if start {
		b.blocked.Add(1) // uncharge signals room while someone waits for it
		b.wg.Add(1)
		go b.grantCredit()
	}
}

// SendMayWait reports whether Send or SendDirect may hold the calling
// goroutine until address has room: the session takes no credit, and the
// address's address-full-policy is BLOCK with a limit on it or on the
// broker. An adapter gives up what other connections wait for (its turn at
// the ingest gate) before such a send. A send in a transaction never waits
// here; its commit does.
func (s *Session) SendMayWait(address string) bool {
	if s.credited.Load() {
		return false
	}
	set := s.b.settingsFor(address)
	return set.FullPolicy == FullBlock && s.b.limited(set.MaxSizeBytes)
}

// creditWait is a credit request waiting for room.
type creditWait struct {
	s          *Session
	address    string
	need, want int
	granted    func(int)
}

// creditFor returns the credit address can be given now, and false when
// the request must wait for room.
func (b *Broker) creditFor(address string, need, want int) (int, bool) {
	set := b.settingsFor(address)
	if set.FullPolicy != FullBlock || !b.limited(set.MaxSizeBytes) {
		return want, true
	}
	b.mu.RLock()
	a := b.addresses[address]
	b.mu.RUnlock()
	var room int64
	if a != nil {
		room = b.room(a, set.MaxSizeBytes)
	} else {
		// An address that does not exist yet holds nothing.
		room = int64(want)
		if set.MaxSizeBytes >= 0 {
			room = set.MaxSizeBytes
		}
		if g := b.opts.GlobalMaxSize; g > 0 {
			room = min(room, g-b.globalSize.Load())
		}
	}
	if room <= 0 {
		return 0, false
	}
	return int(max(int64(need), min(int64(want), room))), true
}

// grantCredit grants waiting credit requests as room frees up, and ends
// when none is left.
func (b *Broker) grantCredit() {
	defer b.wg.Done()
	defer b.blocked.Add(-1)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		b.spaceMu.Lock()
		ch := b.spaceCh
		b.spaceMu.Unlock()

		b.creditMu.Lock()
		waiting := b.creditWaiters
		b.creditWaiters = nil
		b.creditMu.Unlock()
		var grant []creditWait
		var keep []creditWait
		closing := b.isClosing()
		for _, w := range waiting {
			if closing || w.s.isClosed() {
				w.want = 0
				grant = append(grant, w)
			} else if n, ok := b.creditFor(w.address, w.need, w.want); ok {
				w.want = n
				grant = append(grant, w)
			} else {
				keep = append(keep, w)
			}
		}
		b.creditMu.Lock()
		b.creditWaiters = append(keep, b.creditWaiters...)
		done := len(b.creditWaiters) == 0
		if done {
			b.crediting = false
		}
		b.creditMu.Unlock()
		for _, w := range grant {
			w.granted(w.want)
		}
		if done {
			return
		}
		// Room is signalled by every release while someone waits; the
		// timer covers what changes without one (settings, a closed
		// session).
		t.Reset(100 * time.Millisecond)
		select {
		case <-ch:
		case <-t.C:
		case <-b.closing:
		}
	}
}

// isClosing reports whether Close has begun.
func (b *Broker) isClosing() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

// isClosed reports whether the session has been closed.
func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// creditState is the broker's part of producer credit.
type creditState struct {
	creditMu      sync.Mutex
	creditWaiters []creditWait
	crediting     bool // a grantCredit goroutine runs
}
