package amqp

import (
	"errors"
	"sync/atomic"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/amqp"
)

// senderLink is a client's receiver: tandem sends it the messages of a
// broker consumer (or, browsing, of a queue snapshot).
//
// Credit. The broker counts the deliveries it hands over (handed, in the
// consumer callback) and the credit left; the client counts the link's
// delivery-count and credit. A flow from the client sets the limit
// "deliveries handed" may reach: delivery-count + link-credit, less the
// initial count and what drains consumed. granted is that limit as last
// given to the broker; AddCredit moves the broker's credit by the
// difference, so a delivery racing with the flow is never counted twice.
type senderLink struct {
	s        *session
	handle   uint32
	linkName string
	consumer *broker.Consumer
	// presettled: snd-settle-mode settled, the deliveries are settled as
	// they are sent (at most once).
	presettled bool
	// initialCount is the delivery-count the link started at.
	initialCount uint32
	// Read goroutine: the credit limit and the credit drained so far.
	granted uint32
	drained uint32
	// handed counts deliveries the broker handed over (broker goroutines).
	handed atomic.Uint32
	// closed is set when the link is detached: the writer drops what is
	// still queued for it.
	closed atomic.Bool
	// Writer goroutine: deliveries written and the next delivery tag.
	written uint32
	tagSeq  uint64

	// subscription is the queue of a durable or shared subscription
	// (removed when the client closes the link); durable says it outlives
	// the link.
	subscription string
	durable      bool
	// browser links send a snapshot of a queue without consuming it.
	browser *browser
}

func (l *senderLink) name() string { return l.linkName }

// attachSender attaches the client's receiver.
func (s *session) attachSender(a *wire.Attach) {
	c := s.c
	l := &senderLink{s: s, handle: a.Handle, linkName: a.Name,
		presettled: a.SndSettleMode.Or(wire.SenderSettleMixed) == wire.SenderSettleSettled}
	reply := &wire.Attach{Name: a.Name, Handle: a.Handle, Role: wire.RoleSender, SndSettleMode: a.SndSettleMode,
		RcvSettleMode: a.RcvSettleMode, Target: a.Target, InitialDeliveryCount: wire.Some(uint32(0))}
	opts, src, err := s.consumerOptions(a, l)
	if err != nil {
		s.refuse(a, err)
		return
	}
	reply.Source = src
	if l.browser != nil {
		if err := l.browser.load(c); err != nil {
			s.refuse(a, err)
			return
		}
	} else {
		opts.Deliver = l.deliver
		cons, err := c.session.Subscribe(opts)
		if err != nil {
			s.refuse(a, err)
			return
		}
		l.consumer = cons
	}
	s.links[a.Handle] = l
	c.links++
	c.push(outItem{kind: outFrame, ch: s.ch, p: reply})
}

// consumerOptions works out what the client's receiver consumes from,
// and the source to answer with.
func (s *session) consumerOptions(a *wire.Attach, l *senderLink) (broker.SubscribeOptions, *wire.Source, error) {
	c := s.c
	opts := broker.SubscribeOptions{Credit: true, AckMode: broker.AckIndividual}
	if l.presettled {
		opts.AckMode = broker.AckAuto
	}
	src := a.Source
	if src == nil {
		return s.recoverSubscription(a, l, opts)
	}
	reply := *src
	var d dest
	if src.Dynamic {
		name, rt, err := c.createDynamic(src.Capabilities)
		if err != nil {
			return opts, nil, err
		}
		d = dest{address: name, rt: rt}
		reply.Address = name
	} else {
		var err error
		if d, err = c.resolve(src.Address, src.Capabilities); err != nil {
			return opts, nil, err
		}
		if err := c.checkExists(d); err != nil {
			return opts, nil, err
		}
	}
	opts.Address, opts.Queue, opts.RoutingType = d.address, d.queue, d.rt
	if sel, ok := src.Selector(); ok {
		opts.Selector = sel
	}
	opts.NoLocal = src.NoLocal()
	if src.DistributionMode == wire.DistributionCopy && d.rt == message.Anycast {
		l.browser = &browser{address: d.address, queue: d.queue, selector: opts.Selector}
		return opts, &reply, nil
	}
	if d.rt == message.Multicast && d.queue == "" {
		durable := src.Durable != wire.DurableNone
		shared := wire.HasCapability(src.Capabilities, wire.CapabilityShared)
		global := wire.HasCapability(src.Capabilities, wire.CapabilityGlobal)
		if durable || shared {
			q := subscriptionQueue(c.containerID, a.Name, shared, global, !durable)
			opts.Subscription = &broker.Subscription{Queue: q, Durable: durable, Shared: shared}
			l.subscription, l.durable = q, durable
		}
	}
	return opts, &reply, nil
}

// recoverSubscription serves an attach without a source: Qpid JMS's way
// of finding a durable subscription again by its link name, to consume
// from it or to unsubscribe by closing the link. The subscription's queue
// is named from the container id and the link name as when it was made;
// the answer's source describes it.
func (s *session) recoverSubscription(a *wire.Attach, l *senderLink, opts broker.SubscribeOptions) (broker.SubscribeOptions, *wire.Source, error) {
	c := s.c
	shared := wire.HasCapability(a.DesiredCapabilities, wire.CapabilityShared)
	global := wire.HasCapability(a.DesiredCapabilities, wire.CapabilityGlobal)
	q := subscriptionQueue(c.containerID, a.Name, shared, global, false)
	info, err := c.session.QueueInfo(q)
	if err != nil || info.RoutingType != message.Multicast {
		return opts, nil, wire.NewError(wire.ErrorNotFound, "no subscription %q to recover for link %q", q, a.Name)
	}
	opts.Address, opts.RoutingType = info.Address, message.Multicast
	opts.Selector = info.Filter
	opts.Subscription = &broker.Subscription{Queue: q, Durable: info.Durable, Shared: shared}
	l.subscription, l.durable = q, info.Durable
	src := &wire.Source{Address: info.Address, Durable: wire.DurableUnsettled, ExpiryPolicy: wire.ExpiryNever,
		Capabilities: []wire.Symbol{wire.CapabilityTopic}}
	if !info.Durable {
		src.Durable = wire.DurableNone
	}
	if shared {
		src.Capabilities = append(src.Capabilities, wire.CapabilityShared)
	}
	if global {
		src.Capabilities = append(src.Capabilities, wire.CapabilityGlobal)
	}
	if info.Filter != "" {
		src.Filter = wire.Map{{Key: wire.Symbol("jms-selector"), Value: wire.SelectorFilter(info.Filter)}}
	}
	return opts, src, nil
}

// deliver is the consumer's callback: it runs on a broker goroutine with
// the queue's lock held and only queues the delivery for the writer.
func (l *senderLink) deliver(d broker.Delivery) {
	l.handed.Add(1)
	it := outItem{kind: outDelivery, ch: l.s.ch, link: l, d: d}
	if lg := d.Message.Large(); lg != nil {
		// Opened now, while the broker still holds the message; a native
		// AMQP message never has a large body.
		rc, err := l.s.c.session.OpenLargeBody(lg)
		if err != nil {
			l.s.c.log.Error("cannot read a large message body; the message is delivered without it",
				"event", "large_message_error", "message", d.Message.ID, "err", err)
		} else {
			it.body = rc
		}
	}
	l.s.c.push(it)
}

// onFlow applies a flow from the client to the link's credit.
func (l *senderLink) onFlow(f *wire.Flow) {
	if !f.DeliveryCount.Set || !f.LinkCredit.Set {
		// A flow without them only asks for ours.
		if f.Echo {
			l.pushFlow(false)
		}
		return
	}
	// The limit, in deliveries handed over, that the client's credit
	// allows (serial arithmetic: counts wrap).
	limit := f.DeliveryCount.Value + f.LinkCredit.Value - l.initialCount - l.drained
	if l.browser != nil {
		l.browser.flow(l, limit, f.Drain, f.Echo)
		return
	}
	delta := int32(limit - l.granted)
	if delta != 0 {
		l.consumer.AddCredit(int(delta))
		if delta > 0 {
			l.granted = limit
		} else if h := l.handed.Load(); int32(h-limit) > 0 {
			// More was handed over than the lower limit allows; the broker
			// clamped its credit at zero, where it stays until the client
			// grants more.
			l.granted = h
		} else {
			l.granted = limit
		}
	}
	if f.Drain {
		l.consumer.Drain(func(unused int) {
			// Runs with the queue lock held, after the deliveries the
			// drain made: queue the answer behind them.
			l.drained += uint32(unused)
			l.granted -= uint32(unused)
			l.s.c.push(outItem{kind: outLinkFlow, ch: l.s.ch, link: l, granted: l.granted, drained: l.drained, drain: true})
		})
		return
	}
	if f.Echo {
		l.pushFlow(false)
	}
}

// pushFlow queues a flow with the link's state.
func (l *senderLink) pushFlow(drain bool) {
	l.s.c.push(outItem{kind: outLinkFlow, ch: l.s.ch, link: l, granted: l.granted, drained: l.drained, drain: drain})
}

// detach ends the link: its consumer goes (unsettled deliveries return to
// the queue), and a closed link ends its subscription unless it is shared
// with other consumers or the client only detached a durable one.
func (l *senderLink) detach(closed bool) {
	l.closed.Store(true)
	if l.consumer != nil {
		l.s.c.session.Unsubscribe(l.consumer)
	}
	l.s.forgetLink(l)
	if closed && l.subscription != "" {
		err := l.s.c.session.DeleteSubscriptionQueue(l.subscription)
		switch {
		case err == nil, errors.Is(err, broker.ErrSubscriptionBusy), errors.Is(err, broker.ErrNoSuchQueue):
			// Gone, still used by another consumer of a shared
			// subscription, or already gone with its last consumer.
		default:
			l.s.c.log.Warn("could not remove a closed subscription", "event", "unsubscribe_failed",
				"queue", l.subscription, "err", err)
		}
	}
}

// browser sends a queue's messages to a link with distribution-mode copy
// without consuming them: a snapshot, refreshed when it runs out, with
// the messages already sent skipped.
type browser struct {
	address, queue, selector string
	items                    []broker.BrowseItem
	next                     int
	seen                     map[uint64]bool
	sent                     uint32
}

// load takes a fresh snapshot of the queue.
func (b *browser) load(c *conn) error {
	name := b.address
	if b.queue != "" {
		name = b.queue
	}
	items, err := c.session.Browse(name, message.Anycast, b.selector, 0)
	if err != nil {
		return err
	}
	b.items, b.next = items[:0], 0
	for _, it := range items {
		if !b.seen[it.Message.ID] {
			b.items = append(b.items, it)
		}
	}
	return nil
}

// flow sends browsed messages up to the client's credit limit; with drain
// it then spends the rest of the credit and says so.
func (b *browser) flow(l *senderLink, limit uint32, drain, echo bool) {
	c := l.s.c
	l.granted = limit
	send := func() {
		for int32(limit-b.sent) > 0 && b.next < len(b.items) {
			it := b.items[b.next]
			b.next++
			if b.seen == nil {
				b.seen = map[uint64]bool{}
			}
			b.seen[it.Message.ID] = true
			b.sent++
			c.push(outItem{kind: outDelivery, ch: l.s.ch, link: l, d: broker.Delivery{Message: it.Message,
				DeliveryCount: it.DeliveryCount + 1, Redelivered: it.DeliveryCount > 0}})
		}
	}
	send()
	if int32(limit-b.sent) > 0 && b.next >= len(b.items) {
		if err := b.load(c); err == nil {
			send()
		}
	}
	switch {
	case drain:
		if unused := limit - b.sent; int32(unused) > 0 {
			l.drained += unused
			l.granted -= unused
		}
		l.pushFlow(true)
	case echo:
		l.pushFlow(false)
	}
}
