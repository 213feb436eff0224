package broker

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"tandem/internal/message"
	"tandem/internal/store"
)

// SessionInfo describes the client behind a session.
type SessionInfo struct {
	User       string
	Roles      []string
	ClientID   string
	RemoteAddr string
	Protocol   string
	// Internal marks a session a protocol adapter opens for itself rather
	// than for a client (MQTT's store of sessions and retained messages):
	// security-settings do not apply to it. Only adapters set it, never
	// from anything a client sends.
	Internal bool
}

// Session is one client connection's view of the broker. Its methods are
// safe for concurrent use, though a protocol adapter usually calls them from
// one goroutine.
type Session struct {
	b    *Broker
	id   uint64
	info SessionInfo

	deliverySeq atomic.Uint64
	// credited is set once the session takes producer credit: its sends
	// are then admitted without waiting for room (credit.go).
	credited atomic.Bool
	// sendAllowed remembers the last address this session was permitted to
	// send to, and the authorizer's generation then (authorizeSend).
	sendAllowed atomic.Pointer[sendPermit]

	mu        sync.Mutex
	consumers map[uint64]*Consumer
	txs       map[string]*Tx
	temps     []*queue
	tempAddrs []string
	closed    bool
}

// NewSession opens a session for an authenticated client.
func (b *Broker) NewSession(info SessionInfo) (*Session, error) {
	s := &Session{b: b, id: b.nextSession.Add(1), info: info, consumers: map[uint64]*Consumer{}, txs: map[string]*Tx{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	b.sessions[s.id] = s
	return s, nil
}

// origin is the session's mark on the messages it sends (Message.Origin).
func (s *Session) origin() uint32 { return uint32(s.id) }

// Info returns what the session was opened with.
func (s *Session) Info() SessionInfo { return s.info }

func (s *Session) authorize(perm Permission, addr string) error {
	return s.b.authorize(s.info.Internal, s.info.User, s.info.Roles, perm, addr)
}

// Authorize reports, as an error wrapping ErrForbidden, that user with roles
// may not perm on addr under the broker's security settings; nil means it
// may. Management uses it to hold its callers to the permissions messaging
// clients have.
func (b *Broker) Authorize(user string, roles []string, perm Permission, addr string) error {
	return b.authorize(false, user, roles, perm, addr)
}

func (b *Broker) authorize(internal bool, user string, roles []string, perm Permission, addr string) error {
	az := b.opts.Authorizer
	if internal || az == nil || az.Authorize(user, roles, perm, addr) {
		return nil
	}
	return fmt.Errorf("%w: user %q may not %s on %q", ErrForbidden, user, perm, addr)
}

// authorizeAutoCreate asks, as Artemis does, for createAddress before a
// send or a subscription creates its address, and for createDurableQueue
// before it creates an anycast address's queue. A queue that exists needs
// neither.
func (s *Session) authorizeAutoCreate(addr string, rt message.RoutingType) error {
	if s.b.opts.Authorizer == nil || s.info.Internal {
		return nil
	}
	b := s.b
	b.mu.RLock()
	a := b.addresses[addr]
	hasRT := a != nil && hasRoutingType(a, rt)
	needQueue := rt == message.Anycast && (a == nil || !hasQueue(a, message.Anycast))
	b.mu.RUnlock()
	if !hasRT {
		if err := s.authorize(PermCreateAddress, addr); err != nil {
			return err
		}
	}
	if needQueue {
		return s.authorize(PermCreateDurableQueue, addr)
	}
	return nil
}

// Send routes m. done runs once the message is accepted: for a durable
// message, once it is on stable storage. Within tx the message is held until
// the transaction commits and done runs at once.
func (s *Session) Send(m *message.Message, tx *Tx, done func(error)) {
	s.send(m, tx, done, false)
}

// SendDirect is Send for a caller that has nothing to do until done runs,
// such as a connection whose client waits for this send's confirmation
// before its next one. When the store is idle the message is written on
// the calling goroutine and done runs before SendDirect returns, which
// saves two goroutine hand-offs on a lone producer's round trip; when it is
// busy the message joins the next group commit as with Send. The caller
// must hold no lock that done takes.
func (s *Session) SendDirect(m *message.Message, tx *Tx, done func(error)) {
	s.send(m, tx, done, true)
}

// sendPermit is a permitted send remembered by a session: to addr, while
// the authorizer's generation is gen, which is looked at again from
// recheck (unix milliseconds) on.
type sendPermit struct {
	addr    string
	gen     uint64
	recheck int64
}

// permitRecheck is how long a session trusts a permitted send before it
// asks whether the users changed: a removed user's open connection is
// refused within the users file's reload period and this.
const permitRecheck = 100 // milliseconds

// authorizeSend is authorize(PermSend, addr) for the path every message
// takes, at time now: with a GenerationAuthorizer, a producer that keeps
// sending to one address is asked about once, and again when the users
// change, as Artemis keeps its authorization decisions (there for a fixed
// security-invalidation-interval, 10 s by default).
func (s *Session) authorizeSend(addr string, now int64) error {
	ga, ok := s.b.opts.Authorizer.(GenerationAuthorizer)
	if !ok || s.info.Internal {
		return s.authorize(PermSend, addr)
	}
	p := s.sendAllowed.Load()
	if p != nil && p.addr == addr && now < p.recheck {
		return nil
	}
	gen := ga.Generation()
	if p == nil || p.addr != addr || p.gen != gen {
		if err := s.authorize(PermSend, addr); err != nil {
			return err
		}
	}
	s.sendAllowed.Store(&sendPermit{addr: addr, gen: gen, recheck: now + permitRecheck})
	return nil
}

func (s *Session) send(m *message.Message, tx *Tx, done func(error), direct bool) {
	done = s.b.guardLarge(m, done)
	now := s.b.nowMs()
	if err := s.authorizeSend(m.Address, now); err != nil {
		callDone(done, err)
		return
	}
	if err := s.authorizeAutoCreate(m.Address, m.RoutingType); err != nil {
		callDone(done, err)
		return
	}
	if m.Priority > message.MaxPriority {
		m.Priority = message.MaxPriority
	}
	m.Origin = s.origin()
	if tx == nil {
		s.b.send(m, done, direct, s.credited.Load(), now)
		return
	}
	rt, err := s.b.prepareAt(m, func(error) {}, now)
	if err != nil {
		callDone(done, err)
		return
	}
	if rt != nil {
		tx.addSend(rt)
	} else {
		s.b.discardBody(m) // a duplicate
	}
	callDone(done, nil)
}

// SubscribeOptions describe a new consumer.
type SubscribeOptions struct {
	// Address is the destination; Queue, when set, names the queue to read
	// directly (Artemis' fully qualified queue name address::queue).
	Address     string
	Queue       string
	RoutingType message.RoutingType
	Selector    string
	AckMode     AckMode
	// Window is the prefetch: the number of unacknowledged (or, with
	// AckAuto, unwritten) deliveries the consumer may hold. 0 means
	// DefaultWindow; negative means unlimited.
	Window int
	// WindowBytes bounds the same deliveries by size (headers and body, as
	// Message.DeliverySize counts them): once they add up to it, the
	// consumer gets no more until some are acknowledged (or written). A
	// consumer always gets one delivery however big. 0 means the address's
	// DefaultConsumerWindowSize; negative means no bound in bytes.
	WindowBytes int64
	Priority    int
	Exclusive   bool
	// Credit puts the consumer in credit mode (flow.go): it gets exactly
	// the deliveries its adapter grants, starting with InitialCredit;
	// Window and WindowBytes are then ignored.
	Credit        bool
	InitialCredit int
	// NoLocal skips messages this session sent (JMS noLocal, AMQP's
	// no-local filter, MQTT 5's No Local option).
	NoLocal bool
	// DurableName makes a multicast subscription durable, named by the
	// session's client id and this name (STOMP's and JMS's durable
	// subscriptions); it is shorthand for a Subscription.
	DurableName string
	// Subscription, for a multicast address, names the subscription queue
	// as the adapter's protocol names it (AMQP's containerId.linkName, MQTT's
	// clientId.filter, a shared subscription's name) instead of a private
	// queue per consumer.
	Subscription *Subscription
	// Deliver receives the consumer's messages. It is called with a queue
	// lock held, so it must only hand the delivery on (for example to a
	// buffered writer) and never call back into the broker.
	Deliver func(Delivery)
}

// Subscribe attaches a consumer.
func (s *Session) Subscribe(opts SubscribeOptions) (*Consumer, error) {
	if opts.Deliver == nil {
		return nil, fmt.Errorf("broker: SubscribeOptions.Deliver is required")
	}
	perm := PermConsume
	if err := s.authorize(perm, opts.Address); err != nil {
		return nil, err
	}
	var f Filter
	if opts.Selector != "" {
		var err error
		if f, err = s.b.compileFilter(opts.Selector); err != nil {
			return nil, fmt.Errorf("bad selector %q: %w", opts.Selector, err)
		}
	}
	q, owns, err := s.queueFor(opts)
	if err != nil {
		return nil, err
	}
	window := opts.Window
	if window == 0 {
		window = DefaultWindow
	}
	windowBytes := opts.WindowBytes
	if windowBytes == 0 {
		switch windowBytes = s.b.settingsFor(q.address).DefaultConsumerWindowSize; {
		case windowBytes == 0:
			window = 1 // no buffering: one delivery at a time
		case windowBytes < 0:
			windowBytes = 0
		}
	} else if windowBytes < 0 {
		windowBytes = 0
	}
	c := &Consumer{id: s.b.nextConsumer.Add(1), s: s, q: q, filter: f, ackMode: opts.AckMode, priority: opts.Priority,
		exclusive: opts.Exclusive, window: window, windowBytes: windowBytes, deliver: opts.Deliver,
		creditMode: opts.Credit, credit: max(opts.InitialCredit, 0), noLocal: opts.NoLocal}
	if c.creditMode {
		c.windowBytes = 0
	}
	c.ownsQueue.Store(owns)
	q.lock()
	if q.deleted || q.closed {
		q.unlock()
		return nil, fmt.Errorf("%w: %q was deleted", ErrNoSuchQueue, q.name)
	}
	if q.maxConsumers >= 0 && len(q.consumers) >= q.maxConsumers {
		q.unlock()
		return nil, fmt.Errorf("%w (%d) on %q", ErrMaxConsumers, q.maxConsumers, q.name)
	}
	if q.subscription && !q.shared && len(q.consumers) > 0 {
		q.unlock()
		return nil, fmt.Errorf("%w: %q", ErrSubscriptionBusy, q.name)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		q.unlock()
		return nil, ErrSessionClosed
	}
	s.consumers[c.id] = c
	s.mu.Unlock()
	q.consumers = append(q.consumers, c)
	q.hadConsumer = true
	q.dispatchLocked()
	q.unlock()
	return c, nil
}

// queueFor finds or creates the queue a subscription reads. owns reports a
// non-durable subscription queue that the consumer must delete on close.
func (s *Session) queueFor(opts SubscribeOptions) (q *queue, owns bool, err error) {
	b := s.b
	set := b.settingsFor(opts.Address)
	if opts.Queue != "" {
		if q = b.lookupQueue(opts.Queue); q == nil {
			return nil, false, fmt.Errorf("%w: %q", ErrNoSuchQueue, opts.Queue)
		}
		return q, false, nil
	}
	if err := s.authorizeAutoCreate(opts.Address, opts.RoutingType); err != nil {
		return nil, false, err
	}
	if opts.RoutingType == message.Anycast {
		if q = b.lookupQueue(opts.Address); q != nil {
			return q, false, nil
		}
		if _, err := b.addressForSend(opts.Address, message.Anycast, set); err != nil {
			return nil, false, err
		}
		if q = b.lookupQueue(opts.Address); q == nil {
			return nil, false, fmt.Errorf("%w: %q", ErrNoSuchQueue, opts.Address)
		}
		return q, false, nil
	}
	if _, err := b.addressForSend(opts.Address, message.Multicast, set); err != nil {
		return nil, false, err
	}
	sub := opts.Subscription
	if opts.DurableName != "" {
		if s.info.ClientID == "" {
			return nil, false, ErrDurableNeedsID
		}
		sub = &Subscription{Queue: SubscriptionQueueName(s.info.ClientID, opts.DurableName), Durable: true}
	}
	if sub != nil {
		q, err = s.subscriptionQueue(opts, *sub)
		return q, false, err
	}
	if err := s.authorize(PermCreateNonDurableQueue, opts.Address); err != nil {
		return nil, false, err
	}
	name := opts.Address + ".sub." + strconv.FormatUint(s.id, 10) + "." + strconv.FormatUint(b.nextConsumer.Add(1), 10)
	q, _, err = b.ensureQueue(QueueConfig{Name: name, Address: opts.Address, RoutingType: message.Multicast}, true, false, nil)
	return q, true, err
}

// Subscription is a multicast subscription queue with a name of its own.
type Subscription struct {
	// Queue is the queue's full name.
	Queue string
	// Durable subscriptions keep their queue, and its messages, when their
	// consumers leave and across restarts; the others go with their last
	// consumer.
	Durable bool
	// Shared subscriptions admit any number of consumers, which compete for
	// its messages; an unshared one admits one at a time.
	Shared bool
}

// subscriptionQueue finds or creates a named subscription queue. An
// unshared subscription whose address or selector changed is replaced, as
// JMS replaces a durable subscription subscribed to anew with another
// selector, when nobody consumes from it; a shared one must be joined with
// the same address and selector.
func (s *Session) subscriptionQueue(opts SubscribeOptions, sub Subscription) (*queue, error) {
	b := s.b
	perm := PermCreateNonDurableQueue
	if sub.Durable {
		perm = PermCreateDurableQueue
	}
	if q := b.lookupQueue(sub.Queue); q != nil {
		q.lock()
		same := q.address == opts.Address && q.filterText == opts.Selector && q.rt == message.Multicast
		busy := len(q.consumers) > 0
		if same && !busy {
			// The flags live in memory: a durable subscription recovered
			// from the store gets them from its first consumer.
			q.subscription, q.shared, q.volatile = true, sub.Shared, !q.durable
		}
		q.unlock()
		switch {
		case same:
			return q, nil
		case sub.Shared || busy || q.configured || q.rt != message.Multicast:
			return nil, fmt.Errorf("%w: %q exists on address %q with selector %q; it cannot be joined on %q with %q",
				ErrSubscriptionBusy, sub.Queue, q.address, q.filterText, opts.Address, opts.Selector)
		}
		if err := s.authorize(PermDeleteDurableQueue, q.address); err != nil {
			return nil, err
		}
		b.deleteQueue(q, true)
	}
	if err := s.authorize(perm, opts.Address); err != nil {
		return nil, err
	}
	// Again: deleting a replaced subscription may have auto-deleted the
	// address.
	if _, err := b.addressForSend(opts.Address, message.Multicast, b.settingsFor(opts.Address)); err != nil {
		return nil, err
	}
	q, created, err := b.ensureQueue(QueueConfig{Name: sub.Queue, Address: opts.Address, RoutingType: message.Multicast,
		Durable: sub.Durable, Filter: opts.Selector}, false, false, nil)
	if err != nil {
		return nil, err
	}
	if created || !q.durable {
		q.lock()
		q.subscription, q.shared, q.volatile = true, sub.Shared, !sub.Durable
		q.unlock()
	}
	return q, nil
}

// DeleteSubscriptionQueue removes the named subscription queue with its
// messages (AMQP's closed detach of a durable link, MQTT's UNSUBSCRIBE,
// OpenWire's RemoveSubscriptionInfo). It fails with ErrSubscriptionBusy
// while a consumer is attached.
func (s *Session) DeleteSubscriptionQueue(name string) error {
	q := s.b.lookupQueue(name)
	if q == nil {
		return fmt.Errorf("%w: no subscription %q", ErrNoSuchQueue, name)
	}
	q.lock()
	busy, rt := len(q.consumers) > 0, q.rt
	q.unlock()
	if rt != message.Multicast {
		return fmt.Errorf("%w: %q is not a subscription queue", ErrNoSuchQueue, name)
	}
	if busy {
		return fmt.Errorf("%w: %q has an active consumer", ErrSubscriptionBusy, name)
	}
	perm := PermDeleteNonDurableQueue
	if q.durable {
		perm = PermDeleteDurableQueue
	}
	if err := s.authorize(perm, q.address); err != nil {
		return err
	}
	s.b.deleteQueue(q, true)
	return nil
}

// CreateTempTopic creates a multicast address that lives as long as the
// session (a JMS TemporaryTopic, an AMQP dynamic topic). Subscribers get
// subscription queues of their own, as on any topic.
func (s *Session) CreateTempTopic(name string) error {
	if err := s.authorize(PermCreateAddress, name); err != nil {
		return err
	}
	if _, err := s.b.ensureAddress(name, false, true, true, false); err != nil {
		return err
	}
	s.mu.Lock()
	s.tempAddrs = append(s.tempAddrs, name)
	s.mu.Unlock()
	return nil
}

// SubscriptionQueueName is the queue name of a durable subscription, as
// Artemis forms it for STOMP clients.
func SubscriptionQueueName(clientID, name string) string { return clientID + "." + name }

// Unsubscribe closes a consumer, returning its unacknowledged messages.
func (s *Session) Unsubscribe(c *Consumer) {
	c.close()
	s.forget(c)
}

func (s *Session) forget(c *Consumer) {
	s.mu.Lock()
	delete(s.consumers, c.id)
	s.mu.Unlock()
}

// DeleteSubscription removes the durable subscription name of this
// session's client id, with its messages.
func (s *Session) DeleteSubscription(name string) error {
	if s.info.ClientID == "" {
		return ErrDurableNeedsID
	}
	q := s.b.lookupQueue(SubscriptionQueueName(s.info.ClientID, name))
	if q == nil {
		return fmt.Errorf("%w: no durable subscription %q for client-id %q", ErrNoSuchQueue, name, s.info.ClientID)
	}
	if err := s.authorize(PermDeleteDurableQueue, q.address); err != nil {
		return err
	}
	s.b.deleteQueue(q, true)
	return nil
}

// CreateTempQueue creates a non-durable anycast queue that lives as long as
// the session.
func (s *Session) CreateTempQueue(name string) error {
	if err := s.authorize(PermCreateNonDurableQueue, name); err != nil {
		return err
	}
	if _, err := s.b.ensureAddress(name, true, false, true, false); err != nil {
		return err
	}
	q, created, err := s.b.ensureQueue(QueueConfig{Name: name, Address: name, RoutingType: message.Anycast}, true, false, s)
	if err != nil {
		return err
	}
	if created {
		s.mu.Lock()
		s.temps = append(s.temps, q)
		s.mu.Unlock()
	}
	return nil
}

// DeleteTemp deletes a temporary queue or topic this session created,
// with its messages, before the session ends (JMS TemporaryQueue.delete,
// OpenWire's DestinationInfo remove). It fails with ErrTempInUse while a
// consumer reads it, and with ErrNoSuchAddress when the session has no
// temporary destination of that name.
func (s *Session) DeleteTemp(name string) error {
	s.mu.Lock()
	qi := slices.IndexFunc(s.temps, func(q *queue) bool { return q.name == name })
	ai := slices.Index(s.tempAddrs, name)
	s.mu.Unlock()
	if qi < 0 && ai < 0 {
		return fmt.Errorf("%w: this session has no temporary destination %q", ErrNoSuchAddress, name)
	}
	b := s.b
	b.mu.RLock()
	var queues []*queue
	if a := b.addresses[name]; a != nil {
		queues = append(queues, a.queues...)
	}
	b.mu.RUnlock()
	for _, q := range queues {
		q.lock()
		busy := len(q.consumers) > 0
		q.unlock()
		if busy {
			return fmt.Errorf("%w: %q", ErrTempInUse, name)
		}
	}
	s.mu.Lock()
	s.temps = slices.DeleteFunc(s.temps, func(q *queue) bool { return q.name == name })
	s.tempAddrs = slices.DeleteFunc(s.tempAddrs, func(a string) bool { return a == name })
	s.mu.Unlock()
	if qi >= 0 {
		if q := b.lookupQueue(name); q != nil {
			b.deleteQueue(q, true)
		}
	}
	b.deleteTempAddress(name)
	return nil
}

// Browse lists up to max (0 = all) waiting messages of the queue behind a
// destination without consuming them.
func (s *Session) Browse(addr string, rt message.RoutingType, selector string, max int) ([]BrowseItem, error) {
	if err := s.authorize(PermBrowse, addr); err != nil {
		return nil, err
	}
	f, err := s.b.compileFilter(selector)
	if err != nil {
		return nil, fmt.Errorf("bad selector %q: %w", selector, err)
	}
	q := s.b.lookupQueue(addr)
	if q == nil {
		// Browsing a queue nobody created yet shows it empty rather than
		// creating it as a side effect.
		return nil, nil
	}
	q.lock()
	items := q.browseLocked(f, max, s.b.nowMs())
	q.unlock()
	return items, nil
}

// Begin starts the named transaction.
func (s *Session) Begin(name string) (*Tx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSessionClosed
	}
	if _, ok := s.txs[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrTxExists, name)
	}
	tx := &Tx{s: s, name: name}
	s.txs[name] = tx
	return tx, nil
}

// Tx returns the open transaction name.
func (s *Session) Tx(name string) (*Tx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.txs[name]
	if tx == nil {
		return nil, fmt.Errorf("%w: %q (send BEGIN first)", ErrNoSuchTx, name)
	}
	return tx, nil
}

func (s *Session) endTx(tx *Tx) {
	s.mu.Lock()
	delete(s.txs, tx.name)
	s.mu.Unlock()
}

// Close ends the session: open transactions roll back, consumers close and
// return their unacknowledged messages, temporary queues go.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	txs := make([]*Tx, 0, len(s.txs))
	for _, tx := range s.txs {
		txs = append(txs, tx)
	}
	consumers := make([]*Consumer, 0, len(s.consumers))
	for _, c := range s.consumers {
		consumers = append(consumers, c)
	}
	temps, tempAddrs := s.temps, s.tempAddrs
	s.mu.Unlock()
	for _, tx := range txs {
		tx.Rollback()
	}
	for _, c := range consumers {
		c.close()
	}
	for _, q := range temps {
		s.b.deleteQueue(q, true)
	}
	for _, a := range tempAddrs {
		s.b.deleteTempAddress(a)
	}
	s.b.mu.Lock()
	delete(s.b.sessions, s.id)
	s.b.mu.Unlock()
}

// Tx is an open transaction: its sends and acknowledgements take effect
// together at Commit, in one atomic store batch, or not at all.
type Tx struct {
	s    *Session
	name string

	mu    sync.Mutex
	sends []*routed
	acks  []*ref
	done  bool
}

func (tx *Tx) addSend(rt *routed) {
	tx.mu.Lock()
	tx.sends = append(tx.sends, rt)
	tx.mu.Unlock()
}

func (tx *Tx) addAcks(_ *queue, refs []*ref) {
	tx.mu.Lock()
	tx.acks = append(tx.acks, refs...)
	tx.mu.Unlock()
}

// Commit makes the transaction's work durable and visible; done runs once
// it is.
func (tx *Tx) Commit(done func(error)) {
	tx.mu.Lock()
	if tx.done {
		tx.mu.Unlock()
		callDone(done, fmt.Errorf("%w: %q", ErrNoSuchTx, tx.name))
		return
	}
	tx.done = true
	sends, acks := tx.sends, tx.acks
	tx.mu.Unlock()
	tx.s.endTx(tx)

	b := tx.s.b
	sends, err := b.admitTx(sends)
	if err != nil {
		tx.undo(sends, acks, err)
		callDone(done, fmt.Errorf("%w: %w", ErrTxRolledBack, err))
		return
	}
	var batch store.Batch
	for _, rt := range sends {
		batch.Ops = append(batch.Ops, rt.batch.Ops...)
	}
	for _, r := range acks {
		q := r.q
		q.lock()
		r.state = refDone
		q.stats.Acked++
		if q.lastValue {
			q.forgetLastValueLocked(r)
		}
		q.mu.Unlock()
		b.ackOp(&batch, r)
	}
	b.commit(&batch, true, func(err error) {
		for _, rt := range sends {
			if err == nil {
				b.deliver(rt)
			} else {
				rt.abandon()
			}
			if err == nil && len(rt.refs) == 0 {
				b.discardBody(rt.m) // routed nowhere; after a failed write the record may be on disk
			}
			b.dups.settle(rt.addr, rt.dup, err)
		}
		callDone(done, err)
	})
}

// Rollback discards the transaction's sends and returns the messages it
// acknowledged to their queues, marked redelivered.
func (tx *Tx) Rollback() {
	tx.mu.Lock()
	if tx.done {
		tx.mu.Unlock()
		return
	}
	tx.done = true
	sends, acks := tx.sends, tx.acks
	tx.mu.Unlock()
	tx.s.endTx(tx)
	tx.undo(sends, acks, ErrTxRolledBack)
}

// undo discards a transaction's sends and returns the messages it
// acknowledged to their queues, marked redelivered.
func (tx *Tx) undo(sends []*routed, acks []*ref, cause error) {
	for _, rt := range sends {
		rt.abandon()
		tx.s.b.discardBody(rt.m)
		tx.s.b.dups.settle(rt.addr, rt.dup, cause)
	}
	// Return every ref before dispatching any, so they go out again in
	// their original order rather than each as soon as it is back.
	now := tx.s.b.nowMs()
	var queues []*queue
	for i := len(acks) - 1; i >= 0; i-- {
		r := acks[i]
		q := r.q
		q.lock()
		q.delivering++
		q.returnLocked(r, now)
		q.unlock()
		if !slices.Contains(queues, q) {
			queues = append(queues, q)
		}
	}
	for _, q := range queues {
		q.lock()
		q.dispatchLocked()
		q.unlock()
	}
}
