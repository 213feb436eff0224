package amqp

import (
	"sync"
	"sync/atomic"

	"tandem/internal/broker"
	wire "tandem/internal/wire/amqp"
)

// session is one AMQP session: a channel with its links. tandem uses the
// client's channel and handle numbers as its own, so no mapping is kept.
type session struct {
	c  *conn
	ch uint16
	// nextIncomingID is the transfer-id of the next transfer frame from
	// the client; the writer reads it into the flows it sends.
	nextIncomingID atomic.Uint32
	// ended is set once the session is over: late outcomes of its links
	// must not reach a new session begun on the same channel.
	ended     atomic.Bool
	links     map[uint32]link
	handleMax uint32

	// unsettled maps the delivery-ids of our unsettled transfers to the
	// deliveries they carry: the writer adds, the read goroutine settles.
	mu        sync.Mutex
	unsettled map[uint32]outRef
}

// outRef is what an unsettled transfer carries: a delivery of a link's
// consumer (or, for a browser, nothing to settle).
type outRef struct {
	link     *senderLink
	delivery uint64
}

// link is a sending or receiving link of a session.
type link interface {
	// detach ends the link; closed says the client closed it (rather than
	// only detaching), which ends a durable subscription.
	detach(closed bool)
	name() string
}

// trackOut records an unsettled transfer (writer goroutine).
func (s *session) trackOut(id uint32, r outRef) {
	s.mu.Lock()
	s.unsettled[id] = r
	s.mu.Unlock()
}

func (c *conn) onBegin(ch uint16, b *wire.Begin) error {
	if b.RemoteChannel.Set {
		return wire.NewError(wire.ErrorNotAllowed, "begin with remote-channel %d: tandem does not begin sessions itself", b.RemoteChannel.Value)
	}
	if int(ch) >= c.srv.opts.MaxSessions {
		return wire.NewError(wire.ErrorResourceLimitExceeded, "channel %d is above channel-max %d (this broker allows %d sessions per connection)",
			ch, c.srv.opts.MaxSessions-1, c.srv.opts.MaxSessions)
	}
	if c.sessions[ch] != nil {
		return wire.NewError(wire.ErrorIllegalState, "begin on channel %d, which already has a session", ch)
	}
	s := &session{c: c, ch: ch, links: map[uint32]link{}, unsettled: map[uint32]outRef{},
		handleMax: uint32(c.srv.opts.MaxLinks - 1)}
	s.nextIncomingID.Store(b.NextOutgoingID)
	c.sessions[ch] = s
	c.push(outItem{kind: outBegin, ch: ch, sess: s, window: b.IncomingWindow, p: &wire.Begin{
		RemoteChannel:  wire.Some(ch),
		NextOutgoingID: 0,
		IncomingWindow: sessionWindow,
		OutgoingWindow: sessionWindow,
		HandleMax:      wire.Some(s.handleMax),
	}})
	return nil
}

// onEnd answers the client's end: its links go (durable subscriptions
// stay) and our end follows.
func (s *session) onEnd(e *wire.End) {
	if e.Error != nil {
		s.c.log.Info("client ended a session with an error", "event", "client_error", "condition", string(e.Error.Condition),
			"description", e.Error.Description)
	}
	s.ended.Store(true)
	s.detachAll(false)
	delete(s.c.sessions, s.ch)
	s.c.push(outItem{kind: outEnd, ch: s.ch, p: &wire.End{}})
}

// detachAll ends every link of the session.
func (s *session) detachAll(closed bool) {
	for h, l := range s.links {
		l.detach(closed)
		delete(s.links, h)
		s.c.links--
	}
}

// onFlow handles a flow: the session part updates the client's window,
// the link part the link's credit.
func (s *session) onFlow(f *wire.Flow) error {
	s.c.push(outItem{kind: outWindow, ch: s.ch, nextIncoming: f.NextIncomingID, window: f.IncomingWindow})
	if !f.Handle.Set {
		if f.Echo {
			s.c.push(outItem{kind: outUrgent, ch: s.ch, p: &wire.Flow{}})
		}
		return nil
	}
	l, ok := s.links[f.Handle.Value]
	if !ok {
		return s.errantHandle(f.Handle.Value, "flow")
	}
	switch l := l.(type) {
	case *senderLink:
		l.onFlow(f)
	case *receiverLink:
		if f.Echo {
			l.sendFlow()
		}
	}
	return nil
}

// errantHandle is the error for a frame naming a handle no attach
// opened: the session is ended, as the specification asks, by closing
// the connection.
func (s *session) errantHandle(h uint32, what string) error {
	return wire.NewError(wire.ErrorUnattachedHandle, "%s on handle %d, which is not attached on channel %d", what, h, s.ch)
}

// onTransfer hands a transfer frame to its receiving link.
func (s *session) onTransfer(t *wire.Transfer, payload []byte) error {
	s.nextIncomingID.Add(1)
	l, ok := s.links[t.Handle]
	if !ok {
		return s.errantHandle(t.Handle, "transfer")
	}
	if _, refused := l.(*refusedLink); refused {
		return nil // a link tandem detached: what is still in flight is dropped
	}
	r, ok := l.(*receiverLink)
	if !ok {
		return wire.NewError(wire.ErrorIllegalState, "transfer on handle %d, on which the client receives", t.Handle)
	}
	return r.onTransfer(t, payload)
}

// onDisposition settles deliveries: the client as receiver settles ours;
// as sender it finishes deliveries it sent in rcv-settle-mode second.
func (s *session) onDisposition(d *wire.Disposition) error {
	if d.Role == wire.RoleSender {
		return nil // our receiver links settle first; nothing waits for this
	}
	last := d.LastID()
	state := d.State
	var txState *wire.TransactionalState
	if ts, ok := state.(*wire.TransactionalState); ok {
		txState, state = ts, ts.Outcome
	}
	if _, ok := state.(*wire.Received); ok || (state == nil && !d.Settled) {
		return nil // not an outcome: nothing to do until one comes
	}
	var tx *broker.Tx
	if txState != nil {
		var err error
		if tx, err = s.c.txOf(txState.TxnID); err != nil {
			return err
		}
	}
	settlement := settlementOf(state)
	// Collect the range's deliveries per link: a link's deliveries have
	// growing ids in both numberings, so each link's share of the range is
	// one range of broker delivery ids.
	type span struct{ first, last uint64 }
	var spans map[*senderLink]span
	add := func(r outRef) {
		if r.link.consumer == nil {
			return
		}
		if spans == nil {
			spans = map[*senderLink]span{}
		}
		sp, seen := spans[r.link]
		if !seen || r.delivery < sp.first {
			sp.first = r.delivery
		}
		if r.delivery > sp.last {
			sp.last = r.delivery
		}
		spans[r.link] = sp
	}
	width := last - d.First // serial arithmetic: the range may wrap
	s.mu.Lock()
	if uint64(width) < uint64(len(s.unsettled)) {
		for id := d.First; ; id++ {
			if r, ok := s.unsettled[id]; ok {
				delete(s.unsettled, id)
				add(r)
			}
			if id == last {
				break
			}
		}
	} else {
		// A range wider than what is unsettled: walk the map instead, so
		// that a disposition of 0..4294967295 costs no more than the
		// deliveries there are.
		for id, r := range s.unsettled {
			if id-d.First <= width {
				delete(s.unsettled, id)
				add(r)
			}
		}
	}
	s.mu.Unlock()
	for l, sp := range spans {
		l.consumer.Settle(sp.first, sp.last, settlement, tx, nil)
	}
	if !d.Settled {
		// rcv-settle-mode second: the client waits for us to settle.
		s.c.push(outItem{kind: outUrgent, ch: s.ch, p: &wire.Disposition{Role: wire.RoleSender, First: d.First,
			Last: d.Last, Settled: true, State: d.State}})
	}
	return nil
}

// settlementOf maps an AMQP outcome onto the broker's (docs/protocols.md):
// a settlement without an outcome counts as accepted, as in Artemis.
func settlementOf(state wire.DeliveryState) broker.Settlement {
	switch st := state.(type) {
	case *wire.Released:
		return broker.Settlement{Outcome: broker.Released}
	case *wire.Modified:
		return broker.Settlement{Outcome: broker.Modified, DeliveryFailed: st.DeliveryFailed,
			UndeliverableHere: st.UndeliverableHere}
	case *wire.Rejected:
		reason := ""
		if st.Error != nil {
			reason = string(st.Error.Condition)
			if st.Error.Description != "" {
				reason += ": " + st.Error.Description
			}
		}
		return broker.Settlement{Outcome: broker.Rejected, Reason: reason}
	}
	return broker.Settlement{Outcome: broker.Accepted}
}

// forgetLink drops a detached link's unsettled transfers: the broker has
// taken its deliveries back.
func (s *session) forgetLink(l *senderLink) {
	s.mu.Lock()
	for id, r := range s.unsettled {
		if r.link == l {
			delete(s.unsettled, id)
		}
	}
	s.mu.Unlock()
}
