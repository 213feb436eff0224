package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// subscribe handles SUBSCRIBE: each filter is subscribed or refused on
// its own (SUBACK carries one code per filter), the session record is
// updated before SUBACK goes, and retained messages follow it.
func (c *conn) subscribe(p *wire.Subscribe) bool {
	subID, _ := p.Properties.Int(wire.PropSubscriptionID)
	codes := make([]wire.ReasonCode, len(p.Subscriptions))
	var retained []*subscription
	changed := false
	for i, s := range p.Subscriptions {
		code, sub, isNew := c.subscribeOne(s, subID)
		codes[i] = code
		if sub == nil {
			continue
		}
		changed = true
		// Retained messages go to a new non-shared subscription (Retain
		// Handling 0 or 1), or to a repeated one with Retain Handling 0
		// [MQTT-3.3.1-9, -10, -11]; never to a shared one [MQTT-4.8.2].
		if sub.share == "" && sub.queue != "" && (s.RetainHandling == 0 || s.RetainHandling == 1 && isNew) {
			retained = append(retained, sub)
		}
	}
	if changed {
		c.saveSession()
	}
	c.enqueue(&wire.Suback{PacketID: p.PacketID, Reasons: codes})
	for _, sub := range retained {
		c.srv.copyRetained(c.st, sub)
	}
	return true
}

// subscribeOne subscribes one filter. It returns the SUBACK code, and the
// subscription (nil when refused) with whether it is new.
func (c *conn) subscribeOne(s wire.Subscription, subID uint32) (wire.ReasonCode, *subscription, bool) {
	fail := func(code wire.ReasonCode, why string, err error) (wire.ReasonCode, *subscription, bool) {
		c.log.Info("MQTT subscription refused", "event", "subscribe_refused", "filter", truncate(s.Filter, 200),
			"reason", code.String(), "detail", why, "err", err)
		if c.version != wire.V5 {
			return wire.SubackFailure, nil, false
		}
		return code, nil, false
	}
	if err := wire.CheckTopicFilter(s.Filter); err != nil {
		return fail(wire.TopicFilterInvalid, "not a valid topic filter", err)
	}
	if len(s.Filter) > c.srv.opts.MaxTopicLength {
		return fail(wire.TopicFilterInvalid, fmt.Sprintf("the filter is %d bytes long; the limit is %d", len(s.Filter),
			c.srv.opts.MaxTopicLength), nil)
	}
	rec := subRecord{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished,
		RetainHandling: s.RetainHandling, ID: subID}
	if c.version != wire.V5 {
		rec = subRecord{Filter: s.Filter, QoS: s.QoS}
	}
	sess := c.sess
	sess.mu.Lock()
	existing := sess.subs[s.Filter]
	count := len(sess.subs)
	sess.mu.Unlock()
	if existing != nil {
		// A repeated filter replaces the subscription's options
		// [MQTT-3.8.4-3]; its queue, and what waits in it, stay.
		old := existing.opts()
		existing.o.Store(&rec)
		sess.mu.Lock()
		sess.gen++
		sess.mu.Unlock()
		if (old.QoS == 0) != (rec.QoS == 0) || old.NoLocal != rec.NoLocal {
			if existing.consumer != nil {
				c.session.Unsubscribe(existing.consumer)
				existing.consumer = nil
			}
			if err := c.attachConsumer(existing); err != nil {
				code, why := subscribeReason(err)
				return fail(code, why, err)
			}
		}
		return granted(s.QoS), existing, false
	}
	if count >= c.srv.opts.MaxSubscriptions {
		return fail(wire.QuotaExceeded, fmt.Sprintf("the session already has %d subscriptions (max-subscriptions-per-connection)", count), nil)
	}
	sub, err := newSubscription(rec, c.clientID, c.srv.competes(c.session))
	if err != nil {
		return fail(wire.TopicFilterInvalid, "not a valid topic filter", err)
	}
	if err := c.attachConsumer(sub); err != nil {
		code, why := subscribeReason(err)
		return fail(code, why, err)
	}
	sess.mu.Lock()
	sess.subs[s.Filter] = sub
	sess.gen++
	sess.mu.Unlock()
	return granted(s.QoS), sub, true
}

// granted is the SUBACK code of a subscription granted at qos: tandem
// grants what the client asks for.
func granted(qos wire.QoS) wire.ReasonCode { return wire.ReasonCode(qos) }

// subscribeReason maps a refused subscription to an MQTT 5 code.
func subscribeReason(err error) (wire.ReasonCode, string) {
	switch {
	case errors.Is(err, broker.ErrForbidden):
		return wire.NotAuthorized, err.Error()
	case errors.Is(err, broker.ErrMaxConsumers):
		return wire.QuotaExceeded, err.Error()
	}
	return wire.ImplementationSpecificError, err.Error()
}

// competes returns whether a subscription to an address reads that
// address's anycast queue, competing with its other consumers, as a
// subscriber to an anycast address does in Artemis: the address exists,
// is anycast only, and is not a pattern.
func (s *Server) competes(bs *broker.Session) func(addr string) bool {
	return func(addr string) bool {
		if strings.ContainsAny(addr, "*#") && hasWildcardWord(addr) {
			return false
		}
		info, err := bs.AddressInfo(addr)
		return err == nil && info.Anycast && !info.Multicast
	}
}

// hasWildcardWord reports whether an address has a '*' or '#' word.
func hasWildcardWord(addr string) bool {
	for _, w := range strings.Split(addr, ".") {
		if w == "*" || w == "#" {
			return true
		}
	}
	return false
}

// attachConsumer subscribes the connection to a subscription's queue. A
// QoS 0 subscription's deliveries are settled as they are handed over and
// its window returned as they are written; a QoS 1 or 2 one's stay
// unsettled until the client acknowledges them, at most the client's
// Receive Maximum at a time.
func (c *conn) attachConsumer(sub *subscription) error {
	o := sub.opts()
	so := broker.SubscribeOptions{Address: sub.address, NoLocal: o.NoLocal,
		Deliver: func(d broker.Delivery) { c.deliver(sub, d) }}
	if o.QoS > 0 {
		so.AckMode, so.Window = broker.AckIndividual, c.outMax
	}
	if sub.queue == "" {
		so.RoutingType = message.Anycast
	} else {
		so.RoutingType = message.Multicast
		so.Subscription = &broker.Subscription{Queue: sub.queue, Durable: c.sess.expiryOf() > 0, Shared: sub.share != ""}
	}
	cons, err := c.session.Subscribe(so)
	if err != nil {
		return err
	}
	sub.consumer = cons
	return nil
}

// unsubscribe handles UNSUBSCRIBE: each subscription's consumer closes and
// its queue, with what waits in it, goes.
func (c *conn) unsubscribe(p *wire.Unsubscribe) bool {
	codes := make([]wire.ReasonCode, len(p.Filters))
	changed := false
	for i, f := range p.Filters {
		sess := c.sess
		sess.mu.Lock()
		sub := sess.subs[f]
		delete(sess.subs, f)
		if sub != nil {
			sess.gen++
		}
		sess.mu.Unlock()
		if sub == nil {
			codes[i] = wire.NoSubscriptionExisted
			continue
		}
		changed = true
		if sub.consumer != nil {
			c.session.Unsubscribe(sub.consumer)
			sub.consumer = nil
		}
		c.srv.reg.dropQueue(sess, sub)
	}
	if changed {
		c.saveSession()
	}
	ack := &wire.Unsuback{PacketID: p.PacketID}
	if c.version == wire.V5 {
		ack.Reasons = codes
	}
	c.enqueue(ack)
	return true
}

// saveSession records the session's subscriptions, if it outlives its
// connection, before the SUBACK or UNSUBACK goes.
func (c *conn) saveSession() {
	if c.sess.expiryOf() == 0 {
		return
	}
	if err := c.st.writeRecord(c.sess.record(0)); err != nil {
		c.log.Warn("MQTT session record not written", "err", err)
	}
}
