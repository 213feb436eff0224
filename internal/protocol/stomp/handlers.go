package stomp

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/stomp"
)

// handle processes one frame. It returns false when the connection must
// end.
func (c *conn) handle(f *wire.Frame) bool {
	receipt, _ := f.Headers.Get("receipt")
	if c.session == nil {
		if f.Command != wire.CmdConnect && f.Command != wire.CmdStomp {
			c.sendError("not connected", "the first frame must be CONNECT or STOMP, not "+f.Command, receipt)
			return false
		}
		return c.connect(f)
	}
	var err error
	switch f.Command {
	case wire.CmdSend:
		return c.send(f, receipt)
	case wire.CmdSubscribe:
		err = c.subscribe(f)
	case wire.CmdUnsubscribe:
		err = c.unsubscribe(f)
	case wire.CmdAck, wire.CmdNack:
		return c.ack(f, receipt)
	case wire.CmdBegin:
		err = c.begin(f)
	case wire.CmdCommit:
		return c.commit(f, receipt)
	case wire.CmdAbort:
		err = c.abort(f)
	case wire.CmdDisconnect:
		if receipt != "" {
			c.enqueueFinal(receiptFrame(receipt))
		}
		return false
	case wire.CmdConnect, wire.CmdStomp:
		err = errors.New("already connected: CONNECT may be sent only once per connection")
	default:
		err = fmt.Errorf("unknown command %q", f.Command)
	}
	if err != nil {
		c.sendError(shortReason(err), err.Error(), receipt)
		return false
	}
	if receipt != "" {
		c.enqueueReceipt(receipt)
	}
	return true
}

func receiptFrame(id string) *wire.Frame {
	return &wire.Frame{Command: wire.CmdReceipt, Headers: wire.Headers{{Key: "receipt-id", Value: id}}}
}

// sendError queues an ERROR frame as the connection's last frame.
func (c *conn) sendError(msg, detail, receipt string) {
	h := wire.Headers{{Key: "message", Value: msg}, {Key: "content-type", Value: "text/plain"}}
	if receipt != "" {
		h = append(h, wire.Header{Key: "receipt-id", Value: receipt})
	}
	c.enqueueFinal(&wire.Frame{Command: wire.CmdError, Headers: h, Body: []byte(detail + "\n")})
}

// shortReason gives the ERROR frame's one-line message header.
func shortReason(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, ':'); i > 0 && i < 60 {
		return s[:i]
	}
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

func (c *conn) connect(f *wire.Frame) bool {
	h := f.Headers
	accept, _ := h.Get("accept-version")
	v, err := wire.NegotiateVersion(accept)
	if err != nil {
		c.sendError("unsupported STOMP version", err.Error()+"; this server speaks "+wire.SupportedVersions, "")
		return false
	}
	c.version = v
	c.r.SetVersion(v)
	c.w.SetVersion(v)
	login, _ := h.Get("login")
	pass, _ := h.Get("passcode")
	id, err := c.authenticate(login, pass)
	if err != nil {
		c.logLoginFailure(login, err)
		c.sendError("login failed", fmt.Sprintf("login failed for user %q: %v", login, err), "")
		return false
	}
	user, roles := id.User, id.Roles
	if _, ok := h.Get("tandem-announce"); ok {
		// Before the cluster protocol (internal/protocol/cluster), waiting
		// nodes announced themselves over STOMP.
		c.sendError("announcement refused", "HA announcements use tandem's cluster protocol now; run the same tandem version on both nodes", "")
		return false
	}
	if !c.acquireUserSlot(user) {
		return false
	}
	clientID, _ := h.Get("client-id")
	sess, err := c.srv.opts.Broker.NewSession(broker.SessionInfo{User: user, Roles: roles, ClientID: clientID,
		RemoteAddr: c.nc.RemoteAddr().String(), Protocol: "STOMP"})
	if err != nil {
		c.sendError("server unavailable", err.Error(), "")
		return false
	}
	c.session = sess
	resp := wire.Headers{
		{Key: "version", Value: v.String()},
		{Key: "session", Value: "tandem-" + strconv.FormatUint(c.id, 10)},
		{Key: "server", Value: c.srv.opts.ServerName},
	}
	if v >= wire.V11 {
		beat := "0,0"
		if hb, ok := h.Get("heart-beat"); ok {
			cx, cy, err := wire.ParseHeartBeat(hb)
			if err != nil {
				c.sendError("bad heart-beat header", err.Error(), "")
				return false
			}
			want := c.srv.opts.HeartBeat
			send, recv := wire.NegotiateHeartBeat(want, want, time.Duration(cx)*time.Millisecond, time.Duration(cy)*time.Millisecond)
			c.sendBeat.Store(int64(send))
			if recv > 0 {
				// Allow for transmission delays, as the specification advises.
				c.readLimit = recv*3/2 + time.Second
			}
			beat = wire.FormatHeartBeat(send, recv)
		}
		resp = append(resp, wire.Header{Key: "heart-beat", Value: beat})
	}
	resp = append(resp, c.topologyHeaders()...)
	if c.readLimit > 0 {
		c.readSetAt = time.Time{}
		_ = c.nc.SetReadDeadline(time.Now().Add(c.readLimit))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.log.Debug("client connected", "event", "client_connected", "user", user, "version", v.String())
	c.enqueue(&wire.Frame{Command: wire.CmdConnected, Headers: resp}, nil)
	return true
}

func (c *conn) tx(f *wire.Frame) (*broker.Tx, error) {
	name, ok := f.Headers.Get("transaction")
	if !ok {
		return nil, nil
	}
	return c.session.Tx(name)
}

func (c *conn) send(f *wire.Frame, receipt string) bool {
	dest, _ := f.Headers.Get("destination")
	dtype, _ := f.Headers.Get("destination-type")
	d, err := parseDestination(dest, dtype)
	if err == nil {
		err = c.checkDestination(d)
	}
	if err == nil && d.temp {
		d.address = c.tempName(d.address)
		if d.rt == message.Anycast {
			c.turn.Release() // creating a queue may wait for the store
			err = c.session.CreateTempQueue(d.address)
		}
	}
	var m *message.Message
	if err == nil {
		m, err = c.toMessage(f, d)
	}
	var tx *broker.Tx
	if err == nil {
		tx, err = c.tx(f)
	}
	if err != nil {
		c.sendError(shortReason(err), err.Error(), receipt)
		return false
	}
	confirm := func(err error) {
		if err != nil {
			c.sendError(sendRefusal(err), fmt.Sprintf("message to %q was not accepted: %v", dest, err), receipt)
			return
		}
		if receipt != "" {
			c.enqueueReceipt(receipt)
		}
	}
	if tx == nil && !c.takeCredit(m) {
		return false // closing; sendLarge deletes a large body
	}
	if receipt != "" && tx == nil && c.r.Buffered() == 0 {
		// The client is most likely waiting for this receipt before it
		// sends again: let the store write the message on this goroutine
		// if it is idle, and write the receipt from here too, rather than
		// hand both off and back.
		c.turn.Release()
		c.directSend(m, receipt, confirm)
		return true
	}
	if c.r.Buffered() > 0 && c.srv.opts.ProducerWindowSize >= 0 {
		// More is waiting behind this SEND: the client pipelines, and
		// takes its turn at the ingest gate (flow.go). Without producer
		// credit a send to a full BLOCK address waits inside Send, which
		// must not happen on a turn.
		c.turn.Take()
	}
	c.session.Send(m, tx, confirm)
	return true
}

// directSend sends m with Session.SendDirect. When the confirmation comes
// before SendDirect returns (the store wrote the message on this
// goroutine, or was quick), the read goroutine writes the receipt itself;
// otherwise confirm queues it for the writer goroutine as usual. direct
// holds the send's sequence number shifted left by two, with the state in
// the low bits: 1 while SendDirect runs, 3 while a confirmation is being
// recorded, 2 once it is.
func (c *conn) directSend(m *message.Message, receipt string, confirm func(error)) {
	c.directSeq++
	running, recording, recorded := c.directSeq<<2|1, c.directSeq<<2|3, c.directSeq<<2|2
	c.direct.Store(running)
	c.session.SendDirect(m, nil, func(err error) {
		if c.direct.CompareAndSwap(running, recording) {
			c.directErr = err
			c.direct.Store(recorded)
			return
		}
		confirm(err)
	})
	if c.direct.CompareAndSwap(running, 0) {
		return // the confirmation will come later, to confirm
	}
	for c.direct.Load() != recorded {
		runtime.Gosched() // another goroutine is between its two stores
	}
	err := c.directErr
	c.directErr = nil
	c.direct.Store(0)
	if err != nil {
		confirm(err)
		return
	}
	c.writeReceiptNow(receipt)
}

// writeReceiptNow writes a RECEIPT from the read goroutine when the writer
// goroutine is idle and nothing is queued ahead of it, saving its wake-up;
// otherwise it queues the receipt.
func (c *conn) writeReceiptNow(id string) {
	if !c.wmu.TryLock() {
		c.enqueueReceipt(id)
		return
	}
	c.outMu.Lock()
	queued := len(c.out) > 0 || c.closeAfter
	c.outMu.Unlock()
	if queued {
		c.wmu.Unlock()
		c.enqueueReceipt(id)
		return
	}
	if c.receipt.Command == "" {
		c.receipt = wire.Frame{Command: wire.CmdReceipt, Headers: wire.Headers{{Key: "receipt-id"}}}
	}
	c.receipt.Headers[0].Value = id
	err := c.w.WriteFrame(&c.receipt)
	if err == nil {
		err = c.w.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		c.shutdown()
	}
}

// tempName is the broker-wide name of this connection's temporary
// destination name.
func (c *conn) tempName(name string) string {
	return "temp." + strconv.FormatUint(c.id, 10) + "." + name
}

func (c *conn) subscribe(f *wire.Frame) error {
	h := f.Headers
	dest, _ := h.Get("destination")
	id, ok := h.Get("id")
	if !ok {
		if c.version >= wire.V11 {
			return errors.New("SUBSCRIBE needs an id header (STOMP 1.1 and later)")
		}
		id = dest
	}
	if _, dup := c.subs[id]; dup {
		return fmt.Errorf("subscription id %q is already in use on this connection", id)
	}
	if len(c.subs) >= c.srv.opts.MaxSubscriptions {
		return fmt.Errorf("too many subscriptions: this connection already has %d", len(c.subs))
	}
	stype, _ := h.Get("subscription-type")
	d, err := parseDestination(dest, stype)
	if err == nil {
		err = c.checkDestination(d)
	}
	if err != nil {
		return err
	}
	if d.temp {
		d.address = c.tempName(d.address)
		if d.rt == message.Anycast {
			if err := c.session.CreateTempQueue(d.address); err != nil {
				return err
			}
		}
	}
	selector, _ := h.Get("selector")
	if b, _ := h.Get("browser"); b == "true" {
		return c.browse(id, dest, d, selector)
	}
	ackMode := broker.AckAuto
	switch v, _ := h.Get("ack"); v {
	case "", "auto":
	case "client":
		ackMode = broker.AckClient
	case "client-individual":
		ackMode = broker.AckIndividual
	default:
		return fmt.Errorf("ack mode %q is not one of auto, client, client-individual", v)
	}
	// ActiveMQ's prefetch counts messages; Artemis' consumer-window-size
	// counts bytes (-1 unlimited, 0 one message at a time). With neither,
	// the broker applies the default window in messages and the address's
	// default-consumer-window-size in bytes.
	window, windowBytes := 0, int64(0)
	if v, ok := h.Get("activemq.prefetchSize"); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("activemq.prefetchSize %q is not a whole number", v)
		}
		window = max(n, 1)
	}
	if v, ok := h.Get("consumer-window-size"); ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			return fmt.Errorf("consumer-window-size %q is not a number of bytes (-1 for unlimited, 0 for one message at a time)", v)
		}
		switch {
		case n < 0:
			windowBytes = -1
		case n == 0:
			window, windowBytes = 1, -1
		default:
			windowBytes = n
		}
	}
	priority := 0
	if v, ok := h.Get("activemq.priority"); ok && v != "" {
		if priority, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("activemq.priority %q is not a whole number", v)
		}
	}
	durable, _ := h.Get("durable-subscription-name")
	if durable == "" {
		durable, _ = h.Get("activemq.subscriptionName")
	}
	if durable != "" && d.rt == message.Anycast {
		durable = ""
	}
	exclusive, _ := h.Get("activemq.exclusive")
	sub := &subscription{id: id, destination: dest, ackMode: ackMode, durableName: durable}
	cons, err := c.session.Subscribe(broker.SubscribeOptions{
		Address: d.address, Queue: d.queue, RoutingType: d.rt, Selector: selector, AckMode: ackMode,
		Window: window, WindowBytes: windowBytes, Priority: priority, Exclusive: exclusive == "true", DurableName: durable,
		Deliver: func(dl broker.Delivery) {
			var credit *broker.Consumer
			if ackMode == broker.AckAuto {
				credit = dl.Consumer
			}
			c.enqueueDelivery(sub, dl, credit)
		},
	})
	if err != nil {
		return err
	}
	sub.consumer = cons
	c.subs[id] = sub
	c.mu.Lock()
	c.byCons[cons.ID()] = sub
	c.mu.Unlock()
	return nil
}

// browse sends the queue's waiting messages and then a MESSAGE with the
// header browser:end, as ActiveMQ does for STOMP browsers.
func (c *conn) browse(id, dest string, d destination, selector string) error {
	addr := d.address
	if d.queue != "" {
		addr = d.queue
	}
	items, err := c.session.Browse(addr, d.rt, selector, 0)
	if err != nil {
		return err
	}
	sub := &subscription{id: id, destination: dest, ackMode: broker.AckAuto}
	for _, it := range items {
		c.enqueueDelivery(sub, broker.Delivery{Message: it.Message, DeliveryCount: it.DeliveryCount,
			Redelivered: it.DeliveryCount > 0}, nil)
	}
	c.enqueue(&wire.Frame{Command: wire.CmdMessage, Headers: wire.Headers{
		{Key: "subscription", Value: id}, {Key: "destination", Value: dest},
		{Key: "message-id", Value: "browser-end"}, {Key: "browser", Value: "end"},
	}}, nil)
	return nil
}

func (c *conn) unsubscribe(f *wire.Frame) error {
	id, ok := f.Headers.Get("id")
	if !ok {
		id, ok = f.Headers.Get("destination")
	}
	if !ok {
		return errors.New("UNSUBSCRIBE needs the id header of the subscription")
	}
	durable, _ := f.Headers.Get("durable-subscription-name")
	if durable == "" {
		durable, _ = f.Headers.Get("activemq.subscriptionName")
	}
	sub := c.subs[id]
	if sub == nil && durable == "" {
		// Unsubscribing a browser, whose subscription ended by itself, is
		// harmless.
		return nil
	}
	if sub != nil {
		delete(c.subs, id)
		c.mu.Lock()
		delete(c.byCons, sub.consumer.ID())
		c.mu.Unlock()
		c.session.Unsubscribe(sub.consumer)
	}
	if durable != "" {
		return c.session.DeleteSubscription(durable)
	}
	return nil
}

func (c *conn) ack(f *wire.Frame, receipt string) bool {
	sub, delivery, err := c.findDelivery(f)
	var tx *broker.Tx
	if err == nil {
		tx, err = c.tx(f)
	}
	if err != nil {
		c.sendError(shortReason(err), err.Error(), receipt)
		return false
	}
	done := func(err error) {
		if err != nil {
			c.sendError(shortReason(err), fmt.Sprintf("%s failed: %v", f.Command, err), receipt)
			return
		}
		if receipt != "" {
			c.enqueueReceipt(receipt)
		}
	}
	if f.Command == wire.CmdAck {
		sub.consumer.Ack(delivery, tx, done)
	} else {
		sub.consumer.Nack(delivery, tx, done)
	}
	return true
}

// findDelivery resolves an ACK or NACK to its subscription and delivery:
// by the ack header (STOMP 1.2), or by message-id and subscription (1.0,
// 1.1).
func (c *conn) findDelivery(f *wire.Frame) (*subscription, uint64, error) {
	if id, ok := f.Headers.Get("id"); ok && c.version >= wire.V12 {
		cons, delivery, ok := parseAckID(id)
		c.mu.Lock()
		sub := c.byCons[cons]
		c.mu.Unlock()
		if !ok || sub == nil {
			return nil, 0, fmt.Errorf("%s id %q matches no unacknowledged message of this connection", f.Command, id)
		}
		return sub, delivery, nil
	}
	mid, ok := f.Headers.Get("message-id")
	if !ok {
		return nil, 0, fmt.Errorf("%s needs an id header (STOMP 1.2) or a message-id header", f.Command)
	}
	if cons, delivery, ok := parseAckID(mid); ok {
		c.mu.Lock()
		sub := c.byCons[cons]
		c.mu.Unlock()
		if sub != nil {
			return sub, delivery, nil
		}
	}
	msgID, err := strconv.ParseUint(strings.TrimPrefix(mid, "ID:"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("%s message-id %q matches no message of this connection", f.Command, mid)
	}
	var candidates []*subscription
	if sid, ok := f.Headers.Get("subscription"); ok {
		if s := c.subs[sid]; s != nil {
			candidates = append(candidates, s)
		}
	} else {
		for _, s := range c.subs {
			candidates = append(candidates, s)
		}
	}
	for _, s := range candidates {
		if s.ackMode == broker.AckAuto {
			continue
		}
		if d, ok := s.consumer.DeliveryOf(msgID); ok {
			return s, d, nil
		}
	}
	return nil, 0, fmt.Errorf("%s message-id %q matches no unacknowledged message of this connection", f.Command, mid)
}

func (c *conn) begin(f *wire.Frame) error {
	name, ok := f.Headers.Get("transaction")
	if !ok || name == "" {
		return errors.New("BEGIN needs a transaction header")
	}
	_, err := c.session.Begin(name)
	return err
}

func (c *conn) commit(f *wire.Frame, receipt string) bool {
	tx, err := c.tx(f)
	if err == nil && tx == nil {
		err = errors.New("COMMIT needs a transaction header")
	}
	if err != nil {
		c.sendError(shortReason(err), err.Error(), receipt)
		return false
	}
	tx.Commit(func(err error) {
		if err != nil {
			c.sendError("commit failed", err.Error(), receipt)
			return
		}
		if receipt != "" {
			c.enqueueReceipt(receipt)
		}
	})
	return true
}

func (c *conn) abort(f *wire.Frame) error {
	tx, err := c.tx(f)
	if err == nil && tx == nil {
		err = errors.New("ABORT needs a transaction header")
	}
	if err != nil {
		return err
	}
	tx.Rollback()
	return nil
}

// topologyHeaders are the HA headers of a CONNECTED frame: the pair's
// node id and epoch, the live's STOMP URL, and the backups' (docs/ha.md,
// 4), which failover clients add to their URL lists.
func (c *conn) topologyHeaders() wire.Headers {
	if c.srv.opts.Topology == nil {
		return nil
	}
	t := c.srv.opts.Topology()
	if t.NodeID == "" {
		return nil
	}
	h := wire.Headers{
		{Key: "tandem-node-id", Value: t.NodeID},
		{Key: "tandem-epoch", Value: strconv.FormatUint(t.Epoch, 10)},
	}
	if u := t.Live.URLFor(protocolName); u != "" {
		h = append(h, wire.Header{Key: "tandem-live", Value: u})
	}
	if urls := t.BackupURLs(protocolName); len(urls) > 0 {
		h = append(h, wire.Header{Key: "tandem-backups", Value: strings.Join(urls, ",")})
	}
	return h
}
