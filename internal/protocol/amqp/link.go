package amqp

import (
	wire "tandem/internal/wire/amqp"
)

// onAttach attaches a link: the client's sender becomes our receiving
// link, its receiver our sending link.
func (s *session) onAttach(a *wire.Attach) error {
	if a.Handle > s.handleMax {
		return wire.NewError(wire.ErrorResourceLimitExceeded, "attach on handle %d, above handle-max %d", a.Handle, s.handleMax)
	}
	if _, used := s.links[a.Handle]; used {
		return wire.NewError(wire.ErrorHandleInUse, "attach on handle %d, which is already attached", a.Handle)
	}
	if s.c.links >= s.c.srv.opts.MaxLinks {
		return wire.NewError(wire.ErrorResourceLimitExceeded,
			"this connection already has %d links (max-subscriptions-per-connection in broker.yaml)", s.c.links)
	}
	if a.Role == wire.RoleSender {
		s.attachReceiver(a)
	} else {
		s.attachSender(a)
	}
	return nil
}

// onDetach ends a link at the client's request and answers with our
// detach, or finishes a link tandem detached first.
func (s *session) onDetach(d *wire.Detach) error {
	l, ok := s.links[d.Handle]
	if !ok {
		return s.errantHandle(d.Handle, "detach")
	}
	delete(s.links, d.Handle)
	s.c.links--
	if _, refused := l.(*refusedLink); refused {
		return nil // the client's answer to our detach
	}
	if d.Error != nil {
		s.c.log.Info("client detached a link with an error", "event", "client_error", "link", l.name(),
			"condition", string(d.Error.Condition), "description", d.Error.Description)
	}
	l.detach(d.Closed)
	s.c.push(outItem{kind: outFrame, ch: s.ch, p: &wire.Detach{Handle: d.Handle, Closed: d.Closed}})
	return nil
}

// refusedLink stands for a link tandem refused or detached on its own,
// until the client's detach arrives; transfers on it are ignored.
type refusedLink struct{ linkName string }

func (r *refusedLink) detach(bool)  {}
func (r *refusedLink) name() string { return r.linkName }

// refuse answers an attach tandem will not serve as the specification
// asks: an attach with a null source (the client's receiver) or target
// (its sender), then a detach carrying the error.
func (s *session) refuse(a *wire.Attach, err error) {
	e := brokerError(err)
	s.c.log.Info("link refused", "event", "link_refused", "link", a.Name, "condition", string(e.Condition), "err", e.Description)
	reply := &wire.Attach{Name: a.Name, Handle: a.Handle, Role: !a.Role, SndSettleMode: a.SndSettleMode,
		RcvSettleMode: a.RcvSettleMode}
	if a.Role == wire.RoleSender {
		reply.Source = a.Source // the client's sender: the target is nulled
	} else {
		reply.Target = a.Target
		reply.InitialDeliveryCount = wire.Some(uint32(0))
	}
	s.links[a.Handle] = &refusedLink{linkName: a.Name}
	s.c.links++
	s.c.push(outItem{kind: outFrame, ch: s.ch, p: reply})
	s.c.push(outItem{kind: outFrame, ch: s.ch, p: &wire.Detach{Handle: a.Handle, Closed: true, Error: e}})
}

// detachWithError detaches a link tandem can no longer serve; the link
// stays known until the client's detach answers.
func (s *session) detachWithError(handle uint32, l link, e *wire.Error) {
	l.detach(false)
	s.links[handle] = &refusedLink{linkName: l.name()}
	s.c.push(outItem{kind: outFrame, ch: s.ch, p: &wire.Detach{Handle: handle, Closed: true, Error: e}})
}
