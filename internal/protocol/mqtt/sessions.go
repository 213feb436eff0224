package mqtt

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// An MQTT session is the state a client id keeps across its connections
// (docs/mqtt.md, "Sessions and delivery"): its subscriptions, whose
// queues keep collecting while it is away, the QoS 2 exchanges in flight,
// a will waiting out its delay, and when it expires. A session with a
// Session Expiry Interval of 0 ends with its connection; any other is
// recorded in $sys.mqtt.sessions and outlives it, a restart and a
// failover, until the interval runs out after the connection ended.

var (
	errNotOwner = errors.New("the session of this client id belongs to another user")
	errNoBroker = errors.New("mqtt: no broker")
	errTakeover = errors.New("the previous connection of this client id did not let go of its session in time")
)

// timeNow is the clock; tests may replace it.
var timeNow = time.Now

// registry holds the sessions by client id.
type registry struct {
	srv     *Server
	mu      sync.Mutex
	byID    map[string]*session
	stopped bool
}

// session is one client id's session.
type session struct {
	id  string
	reg *registry
	// handshake is held by whatever changes who holds the session: a
	// CONNECT from takeover to CONNACK, the end of a connection, an
	// expiry.
	handshake sync.Mutex

	// Guarded by reg.mu.
	conn    *conn
	epoch   uint64 // counts the connections that attached
	timer   *time.Timer
	will    *pendingWill
	removed bool

	mu      sync.Mutex
	owner   string
	version wire.Version
	expiry  uint32
	subs    map[string]*subscription
	gen     uint64 // changes with the subscriptions
	stored  bool   // a record is in the store
}

// subscription is one subscription of a session.
type subscription struct {
	filter      string // as the client sent it, $share/ included
	topicFilter string // without the share
	share       string
	address     string
	// queue is the subscription queue, "" when the subscriber competes on
	// an anycast address's queue.
	queue     string
	wildFirst bool // the filter starts with '+' or '#'
	o         atomic.Pointer[subRecord]
	// consumer is the current connection's consumer; only that
	// connection's read goroutine touches it.
	consumer *broker.Consumer
}

func (s *subscription) opts() *subRecord { return s.o.Load() }

// pendingWill is a will waiting out its delay.
type pendingWill struct {
	once  sync.Once
	fire  func()
	mu    sync.Mutex
	timer *time.Timer
}

// after publishes the will after d unless it is published or cancelled
// first.
func (w *pendingWill) after(d time.Duration) {
	w.mu.Lock()
	w.timer = time.AfterFunc(d, func() { w.once.Do(w.fire) })
	w.mu.Unlock()
}

func (w *pendingWill) stopTimer() {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

// publishNow publishes the will unless it was published or cancelled.
func (w *pendingWill) publishNow() {
	w.stopTimer()
	w.once.Do(w.fire)
}

// cancel drops the will.
func (w *pendingWill) cancel() {
	w.stopTimer()
	w.once.Do(func() {})
}

func newRegistry(srv *Server) *registry {
	return &registry{srv: srv, byID: map[string]*session{}}
}

// restore loads the sessions of the store's records; those without a
// connection (all of them, at start) count down their expiry from when
// their last connection ended, or from now if the broker stopped with it
// open.
func (r *registry) restore() {
	st := r.srv.st
	now := timeNow()
	for _, rec := range st.allRecords() {
		sess := &session{id: rec.ClientID, reg: r, owner: rec.User, version: rec.Version, expiry: rec.Expiry,
			subs: map[string]*subscription{}, stored: true}
		for _, sr := range rec.Subs {
			sub, err := newSubscription(sr, rec.ClientID, r.srv.competes(st.sess))
			if err != nil {
				r.srv.log.Warn("dropping a stored MQTT subscription", "client_id", rec.ClientID, "filter", sr.Filter, "err", err)
				continue
			}
			sess.subs[sr.Filter] = sub
		}
		left := time.Duration(rec.Expiry) * time.Second
		if rec.DisconnectedAt > 0 {
			left -= now.Sub(time.UnixMilli(rec.DisconnectedAt))
		}
		r.mu.Lock()
		r.byID[rec.ClientID] = sess
		if rec.Expiry != neverExpires {
			epoch := sess.epoch
			sess.timer = time.AfterFunc(max(left, 0), func() { r.expire(sess, epoch) })
		}
		r.mu.Unlock()
	}
}

// stop ends the registry's timers: the broker is stopping, and the next
// start counts what is left.
func (r *registry) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for _, s := range r.byID {
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.will != nil {
			s.will.cancel()
		}
	}
}

// lock returns the session of id, created empty if there is none, with
// its handshake held.
func (r *registry) lock(id string) *session {
	for {
		r.mu.Lock()
		s := r.byID[id]
		if s == nil {
			s = &session{id: id, reg: r, subs: map[string]*subscription{}}
			r.byID[id] = s
		}
		r.mu.Unlock()
		s.handshake.Lock()
		r.mu.Lock()
		removed := s.removed
		r.mu.Unlock()
		if !removed {
			return s
		}
		s.handshake.Unlock()
	}
}

// attach makes c the connection of its client id's session, taking it
// over from a connection that holds it, and applies Clean Start. present
// reports a session that continues.
func (r *registry) attach(c *conn, clean bool, expiry uint32) (sess *session, present bool, err error) {
	st := c.st
	sess = r.lock(c.clientID)
	defer sess.handshake.Unlock()
	r.mu.Lock()
	old := sess.conn
	r.mu.Unlock()
	sess.mu.Lock()
	owner, has := sess.owner, sess.stored || len(sess.subs) > 0
	sess.mu.Unlock()
	has = has || st.countMarkers(c.clientID, markerIn)+st.countMarkers(c.clientID, markerOut) > 0
	if (has || old != nil) && owner != c.user {
		return nil, false, errNotOwner
	}
	defer func() {
		if err != nil {
			r.forgetIfEmpty(sess)
		}
	}()
	if old != nil {
		// Session takeover [MQTT-3.1.4-3]: the old connection gets
		// DISCONNECT 0x8E (MQTT 5) and closes; its consumers return what
		// they hold before this one attaches.
		old.takenOver.Store(true)
		old.log.Info("MQTT client id taken over by a new connection", "event", "mqtt_takeover", "client_id", c.clientID,
			"new_remote", c.nc.RemoteAddr().String())
		old.kick(wire.SessionTakenOver, "another connection with client id "+c.clientID+" took over the session")
		select {
		case <-old.finished:
		case <-time.After(10 * time.Second):
			return nil, false, errTakeover
		}
	}
	r.mu.Lock()
	if sess.timer != nil {
		sess.timer.Stop()
		sess.timer = nil
	}
	w := sess.will
	sess.will = nil
	r.mu.Unlock()
	if w != nil {
		// A new connection to the session stops a will waiting out its
		// delay, unless Clean Start ends the session: then it goes now.
		if clean {
			w.publishNow()
		} else {
			w.cancel()
		}
	}
	if clean && has {
		r.end(sess, false)
		has = false
	}
	sess.mu.Lock()
	sess.owner, sess.version, sess.expiry = c.user, c.version, expiry
	wasStored := sess.stored
	sess.mu.Unlock()
	if expiry > 0 {
		if err := st.writeRecord(sess.record(0)); err != nil {
			return nil, false, err
		}
		sess.mu.Lock()
		sess.stored = true
		sess.mu.Unlock()
	} else if wasStored {
		// The session continues but ends with this connection: its record
		// must not bring it back after a restart.
		if err := st.deleteRecord(c.clientID); err != nil {
			return nil, false, err
		}
		sess.mu.Lock()
		sess.stored = false
		sess.mu.Unlock()
	}
	r.mu.Lock()
	sess.conn = c
	sess.epoch++
	c.epoch = sess.epoch
	r.mu.Unlock()
	return sess, !clean && has, nil
}

// forgetIfEmpty removes a session that a refused CONNECT created: it has
// no connection, no subscriptions and no record.
func (r *registry) forgetIfEmpty(sess *session) {
	sess.mu.Lock()
	empty := !sess.stored && len(sess.subs) == 0
	sess.mu.Unlock()
	r.mu.Lock()
	if empty && sess.conn == nil && sess.will == nil && sess.timer == nil && r.byID[sess.id] == sess {
		sess.removed = true
		delete(r.byID, sess.id)
	}
	r.mu.Unlock()
}

// detach lets go of c's session once c ended (its broker session is
// closed, so its consumers returned what they held). It publishes or
// schedules the will of an abnormal end and ends or records the session.
func (r *registry) detach(c *conn) {
	sess := c.sess
	r.mu.Lock()
	if sess.conn == c {
		sess.conn = nil
	}
	stopped := r.stopped || c.serverGone.Load()
	var fireNow *pendingWill
	if c.will != nil && !c.normalEnd.Load() && !stopped {
		w := r.newWill(c)
		delay := min(c.willDelay, sess.expiryOf())
		if delay == 0 {
			fireNow = w
		} else {
			w.after(time.Duration(delay) * time.Second)
			sess.will = w
		}
	}
	r.mu.Unlock()
	close(c.finished)
	if fireNow != nil {
		fireNow.publishNow()
	}
	if stopped {
		return // the next start finds the session as it was
	}
	sess.handshake.Lock()
	defer sess.handshake.Unlock()
	r.mu.Lock()
	current := sess.epoch == c.epoch && sess.conn == nil && !sess.removed
	r.mu.Unlock()
	if !current {
		return // another connection attached meanwhile and took it from here
	}
	expiry := sess.expiryOf()
	if expiry == 0 {
		r.end(sess, true)
		return
	}
	if err := c.st.writeRecord(sess.record(timeNow().UnixMilli())); err != nil {
		c.log.Warn("MQTT session record not written", "client_id", c.clientID, "err", err)
	}
	if expiry != neverExpires {
		r.mu.Lock()
		epoch := sess.epoch
		sess.timer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { r.expire(sess, epoch) })
		r.mu.Unlock()
	}
}

// expire ends a session whose expiry ran out, unless a connection
// attached since the timer was set.
func (r *registry) expire(sess *session, epoch uint64) {
	sess.handshake.Lock()
	defer sess.handshake.Unlock()
	r.mu.Lock()
	live := sess.epoch != epoch || sess.conn != nil || sess.removed || r.stopped
	r.mu.Unlock()
	if live {
		return
	}
	r.srv.log.Info("MQTT session expired", "event", "mqtt_session_expired", "client_id", sess.id)
	r.end(sess, true)
}

// end deletes a session's state: its subscriptions' queues, its QoS 2
// markers, its record, and sends a will still waiting. With remove, the
// session leaves the registry (it expired or ended with its connection);
// without, it stays, empty, for the connection that cleaned it. The
// caller holds the handshake.
func (r *registry) end(sess *session, remove bool) {
	st := r.srv.st
	r.mu.Lock()
	w := sess.will
	sess.will = nil
	if remove {
		sess.removed = true
		delete(r.byID, sess.id)
	}
	r.mu.Unlock()
	if w != nil {
		w.publishNow()
	}
	sess.mu.Lock()
	subs := sess.subs
	sess.subs = map[string]*subscription{}
	sess.gen++
	stored := sess.stored
	sess.stored = false
	sess.mu.Unlock()
	for _, sub := range subs {
		r.dropQueue(sess, sub)
	}
	if err := st.removeMarkers(sess.id); err != nil {
		r.srv.log.Warn("MQTT QoS 2 markers not removed", "client_id", sess.id, "err", err)
	}
	if stored {
		if err := st.deleteRecord(sess.id); err != nil {
			r.srv.log.Warn("MQTT session record not removed", "client_id", sess.id, "err", err)
		}
	}
}

// dropQueue deletes the queue of a subscription that ended. A shared
// subscription's queue goes only when no other session subscribes to it.
func (r *registry) dropQueue(sess *session, sub *subscription) {
	if sub.queue == "" {
		return
	}
	if sub.share != "" && r.sharedElsewhere(sess, sub.queue) {
		return
	}
	err := r.srv.st.sess.DeleteSubscriptionQueue(sub.queue)
	if err != nil && !errors.Is(err, broker.ErrNoSuchQueue) && !errors.Is(err, broker.ErrSubscriptionBusy) {
		r.srv.log.Warn("MQTT subscription queue not deleted", "client_id", sess.id, "queue", sub.queue, "err", err)
	}
}

// sharedElsewhere reports whether a session other than sess subscribes to
// the shared queue.
func (r *registry) sharedElsewhere(sess *session, queue string) bool {
	r.mu.Lock()
	others := make([]*session, 0, len(r.byID))
	for _, s := range r.byID {
		if s != sess {
			others = append(others, s)
		}
	}
	r.mu.Unlock()
	for _, s := range others {
		s.mu.Lock()
		for _, sub := range s.subs {
			if sub.queue == queue {
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
	}
	return false
}

// newWill prepares the publication of c's will: with c's identity, so
// that security-settings apply to it as to c's own publishes.
func (r *registry) newWill(c *conn) *pendingWill {
	will, user, roles, clientID, version := c.will, c.user, c.roles, c.clientID, c.version
	srv := r.srv
	return &pendingWill{fire: func() {
		bs, err := srv.opts.Broker.NewSession(broker.SessionInfo{User: user, Roles: roles, ClientID: clientID,
			RemoteAddr: "will", Protocol: protocolName})
		if err != nil {
			srv.log.Warn("MQTT will not published", "client_id", clientID, "err", err)
			return
		}
		props := make(wire.Properties, 0, len(will.Properties))
		for _, p := range will.Properties {
			if p.ID != wire.PropWillDelay {
				props = append(props, p)
			}
		}
		p := &wire.Publish{Topic: will.Topic, QoS: will.QoS, Retain: will.Retain, Payload: will.Payload}
		if version == wire.V5 {
			p.Properties = props
		}
		addr := wire.TopicToAddress(will.Topic)
		rt := message.Multicast
		if info, err := bs.AddressInfo(addr); err == nil && info.Anycast && !info.Multicast {
			rt = message.Anycast
		}
		m, _ := toMessage(p, addr, rt, timeNow().UnixMilli())
		srv.route(bs, srv.st, m, will.Retain, nil, "mqtt-will", func(err error) {
			bs.Close()
			if err != nil {
				srv.log.Warn("MQTT will not published", "client_id", clientID, "topic", will.Topic, "err", err)
				return
			}
			srv.log.Debug("MQTT will published", "event", "mqtt_will", "client_id", clientID, "topic", will.Topic)
		})
	}}
}

// record renders the session as its stored record.
func (s *session) record(disconnectedAt int64) *sessionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &sessionRecord{ClientID: s.id, User: s.owner, Version: s.version, Expiry: s.expiry, DisconnectedAt: disconnectedAt}
	for _, sub := range s.subs {
		rec.Subs = append(rec.Subs, *sub.opts())
	}
	return rec
}

func (s *session) expiryOf() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry
}

func (s *session) setExpiry(v uint32) {
	s.mu.Lock()
	s.expiry = v
	s.mu.Unlock()
}

func (s *session) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// matchingIDs returns the Subscription Identifiers of the subscriptions
// that match topic.
func (s *session) matchingIDs(topic string) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []uint32
	for _, sub := range s.subs {
		if o := sub.opts(); o.ID != 0 && wire.MatchTopic(sub.filter, topic) {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// subscriptionList returns the session's subscriptions.
func (s *session) subscriptionList() []*subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, sub)
	}
	return out
}

// newSubscription builds a subscription from its record. The queue is
// named as Artemis names it: <clientId>.<address filter>, or
// <share name>.<address filter> for a shared one; competes says the
// subscriber reads an anycast address's queue instead.
func newSubscription(rec subRecord, clientID string, competes func(addr string) bool) (*subscription, error) {
	if err := wire.CheckTopicFilter(rec.Filter); err != nil {
		return nil, err
	}
	share, tf, shared := wire.SplitShared(rec.Filter)
	if !shared {
		tf = rec.Filter
	}
	sub := &subscription{filter: rec.Filter, topicFilter: tf, share: share, address: wire.TopicToAddress(tf)}
	sub.wildFirst = tf != "" && (tf[0] == '+' || tf[0] == '#')
	if competes == nil || !competes(sub.address) {
		if shared {
			sub.queue = share + "." + sub.address
		} else {
			sub.queue = clientID + "." + sub.address
		}
	}
	r := rec
	sub.o.Store(&r)
	return sub, nil
}
