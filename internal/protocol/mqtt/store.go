package mqtt

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// The queues the adapter keeps its state in. They are durable anycast
// queues that only the adapter's internal session reads and writes
// (SendToQueue): no address routes to them, so no wildcard subscription
// sees their messages.
const (
	// sessionsQueue holds one session record per client id whose session
	// outlives its connection.
	sessionsQueue = "$sys.mqtt.sessions"
	// qos2Queue holds the markers of QoS 2 exchanges in flight.
	qos2Queue = "$sys.mqtt.qos2"
	// retainQueue holds the retained messages, one per topic, each a copy
	// of the message as published (its address unchanged).
	retainQueue = "$sys.mqtt.retain"
)

// store is the adapter's durable state. An internal broker session
// consumes each state queue with an unlimited window and never settles
// what it holds: the unsettled deliveries are the index, in memory, of
// what the queues contain. Replacing a record sends the new one and
// settles the old; removing one settles it. After a restart or a failover
// the queues' messages are delivered again and the index is rebuilt.
//
// Where a write races another for the same key, the message with the
// higher id (the later send) wins, so a replayed queue yields the same
// index as the live one.
type store struct {
	log  *slog.Logger
	sess *broker.Session

	mu       sync.Mutex
	records  map[string]*heldRecord            // by client id
	markers  map[string]map[uint32]*heldMarker // by client id, then markerKey
	retained map[string]*heldRetained          // by address
	cleared  map[string]clearedTopic           // addresses an empty retained message cleared lately
	cons     map[string]*broker.Consumer       // by queue
	// The janitor's work: a list, not a bounded channel, since the
	// delivery callbacks that add to it hold a queue lock that the work
	// itself takes, and must never wait for it.
	jobsMu  sync.Mutex
	jobs    []func()
	jobWake chan struct{}
	done    chan struct{}

	loadMu sync.Mutex
	loaded bool // every state queue exists and is read
}

// held is an unsettled delivery of the store's consumers.
type held struct {
	cons     *broker.Consumer
	delivery uint64
	msgID    uint64
}

type heldRecord struct {
	held
	rec *sessionRecord
}

type heldMarker struct {
	held
	m marker
}

type heldRetained struct {
	held
	msg   *message.Message
	topic string // the MQTT topic of msg's address
}

// clearedTopic remembers, for a while, the id of the empty retained
// message that cleared a topic, so that an older retained message whose
// write completes after it does not bring the topic back.
type clearedTopic struct {
	msgID uint64
	at    time.Time
}

// clearedMemory is how long a clearing is remembered: far longer than two
// writes of the same topic can be out of order.
const clearedMemory = time.Minute

// stateQueues are the store's queues, each with the callback that
// indexes its messages.
func (s *store) stateQueues() []struct {
	name    string
	deliver func(broker.Delivery)
} {
	return []struct {
		name    string
		deliver func(broker.Delivery)
	}{{sessionsQueue, s.onRecord}, {qos2Queue, s.onMarker}, {retainQueue, s.onRetained}}
}

// openStore loads the state queues that exist. A broker that never served
// an MQTT client has none: ensure creates them for the first one.
func openStore(b interface {
	NewSession(broker.SessionInfo) (*broker.Session, error)
}, log *slog.Logger) (*store, error) {
	sess, err := b.NewSession(broker.SessionInfo{User: "$mqtt", ClientID: "$sys.mqtt", Protocol: "MQTT", Internal: true})
	if err != nil {
		return nil, err
	}
	s := &store{log: log, sess: sess, records: map[string]*heldRecord{}, markers: map[string]map[uint32]*heldMarker{},
		retained: map[string]*heldRetained{}, cleared: map[string]clearedTopic{}, cons: map[string]*broker.Consumer{},
		jobWake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.runJanitor()
	if err := s.load(false); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// ensure creates the state queues that do not exist yet and reads them.
func (s *store) ensure() error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded {
		return nil
	}
	if err := s.load(true); err != nil {
		return err
	}
	s.loaded = true
	return nil
}

// load subscribes to the state queues not read yet, creating missing ones
// when create is set.
func (s *store) load(create bool) error {
	for _, q := range s.stateQueues() {
		s.mu.Lock()
		_, reading := s.cons[q.name]
		s.mu.Unlock()
		if reading {
			continue
		}
		if _, err := s.sess.QueueInfo(q.name); err != nil {
			if !create {
				continue
			}
			if err := s.sess.EnsureQueue(broker.QueueConfig{Name: q.name, Address: q.name, RoutingType: message.Anycast, Durable: true}); err != nil {
				return fmt.Errorf("mqtt: create %s: %w", q.name, err)
			}
		}
		// Subscribe delivers every message the queue holds before it
		// returns, so the index is complete when load returns.
		c, err := s.sess.Subscribe(broker.SubscribeOptions{Address: q.name, Queue: q.name, RoutingType: message.Anycast,
			AckMode: broker.AckIndividual, Window: -1, WindowBytes: -1, Deliver: q.deliver})
		if err != nil {
			return fmt.Errorf("mqtt: read %s: %w", q.name, err)
		}
		s.mu.Lock()
		s.cons[q.name] = c
		s.mu.Unlock()
	}
	return nil
}

// close ends the internal session; the queues keep their messages.
func (s *store) close() {
	s.sess.Close()
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
}

// runJanitor settles what the delivery callbacks decided to drop: they
// run under a queue lock and may not call back into the broker.
func (s *store) runJanitor() {
	for {
		select {
		case <-s.jobWake:
		case <-s.done:
			return
		}
		s.jobsMu.Lock()
		jobs := s.jobs
		s.jobs = nil
		s.jobsMu.Unlock()
		for _, f := range jobs {
			f()
		}
	}
}

// later runs f on the janitor goroutine. It never blocks.
func (s *store) later(f func()) {
	s.jobsMu.Lock()
	s.jobs = append(s.jobs, f)
	s.jobsMu.Unlock()
	select {
	case s.jobWake <- struct{}{}:
	default:
	}
}

// drop settles h as consumed, from a delivery callback.
func (s *store) drop(h held) {
	s.later(func() { h.cons.Settle(h.delivery, h.delivery, broker.Settlement{Outcome: broker.Accepted}, nil, nil) })
}

// settle settles h as consumed and waits until that is durable.
func (s *store) settle(h held) error {
	ch := make(chan error, 1)
	h.cons.Settle(h.delivery, h.delivery, broker.Settlement{Outcome: broker.Accepted}, nil, func(err error) { ch <- err })
	err := <-ch
	if errors.Is(err, broker.ErrUnknownDelivery) {
		return nil // settled already: the store is closing, or a replay dropped it
	}
	return err
}

func heldOf(d broker.Delivery) held {
	return held{cons: d.Consumer, delivery: d.ID, msgID: d.Message.ID}
}

// onRecord indexes a session record (delivery callback).
func (s *store) onRecord(d broker.Delivery) {
	h := heldOf(d)
	rec, err := decodeSessionRecord(d.Message.Body)
	if err != nil {
		s.log.Error("dropping an MQTT session record that does not decode", "event", "mqtt_bad_record", "id", d.Message.ID, "err", err)
		s.drop(h)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.records[rec.ClientID]; old != nil {
		if old.msgID > h.msgID {
			s.drop(h)
			return
		}
		s.drop(old.held)
	}
	s.records[rec.ClientID] = &heldRecord{held: h, rec: rec}
}

// onMarker indexes a QoS 2 marker (delivery callback).
func (s *store) onMarker(d broker.Delivery) {
	h := heldOf(d)
	m, err := decodeMarker(d.Message.Body)
	if err != nil {
		s.log.Error("dropping an MQTT QoS 2 marker that does not decode", "event", "mqtt_bad_record", "id", d.Message.ID, "err", err)
		s.drop(h)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := s.markers[m.ClientID]
	if byID == nil {
		byID = map[uint32]*heldMarker{}
		s.markers[m.ClientID] = byID
	}
	key := markerKey(m.Dir, m.PacketID)
	if old := byID[key]; old != nil {
		if old.msgID > h.msgID {
			s.drop(h)
			return
		}
		s.drop(old.held)
	}
	byID[key] = &heldMarker{held: h, m: m}
}

// markerKey keeps a client's inbound and outbound markers of one packet
// identifier apart: the two directions number their packets
// independently.
func markerKey(dir markerDir, pid uint16) uint32 { return uint32(dir)<<16 | uint32(pid) }

// onRetained indexes a retained message or the empty one that clears its
// topic (delivery callback).
func (s *store) onRetained(d broker.Delivery) {
	h := heldOf(d)
	m := d.Message
	topic := m.Address
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cleared[topic]; ok && c.msgID > h.msgID {
		s.drop(h)
		return
	}
	old := s.retained[topic]
	if old != nil && old.msgID > h.msgID {
		s.drop(h)
		return
	}
	if old != nil {
		s.drop(old.held)
		delete(s.retained, topic)
	}
	if m.BodySize() == 0 {
		s.drop(h)
		s.cleared[topic] = clearedTopic{msgID: h.msgID, at: time.Now()}
		return
	}
	s.retained[topic] = &heldRetained{held: h, msg: m, topic: wire.AddressToTopic(m.Address)}
}

// writeRecord stores rec as its client's session record and waits until
// it is durable.
func (s *store) writeRecord(rec *sessionRecord) error {
	m := &message.Message{Address: sessionsQueue, Durable: true, Priority: message.DefaultPriority, Body: rec.encode(nil)}
	return s.sendWait(m, sessionsQueue)
}

// deleteRecord removes a client's session record, if any.
func (s *store) deleteRecord(clientID string) error {
	s.mu.Lock()
	h := s.records[clientID]
	delete(s.records, clientID)
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	return s.settle(h.held)
}

// record returns a client's stored session record, or nil.
func (s *store) record(clientID string) *sessionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.records[clientID]; h != nil {
		return h.rec
	}
	return nil
}

// allRecords returns every stored session record.
func (s *store) allRecords() []*sessionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*sessionRecord, 0, len(s.records))
	for _, h := range s.records {
		out = append(out, h.rec)
	}
	return out
}

// markerMessage is the message that stores mk.
func markerMessage(mk marker) *message.Message {
	return &message.Message{Address: qos2Queue, Durable: true, Priority: message.DefaultPriority, Body: mk.encode(nil)}
}

// hasMarker reports whether a client has a marker for pid in direction dir.
func (s *store) hasMarker(clientID string, dir markerDir, pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.markers[clientID][markerKey(dir, pid)]
	return h != nil && h.m.Dir == dir
}

// markersOf returns the packet identifiers of a client's markers in
// direction dir, oldest first.
func (s *store) markersOf(clientID string, dir markerDir) []uint16 {
	s.mu.Lock()
	var hs []*heldMarker
	for _, h := range s.markers[clientID] {
		if h.m.Dir == dir {
			hs = append(hs, h)
		}
	}
	s.mu.Unlock()
	sortHeld(hs)
	out := make([]uint16, len(hs))
	for i, h := range hs {
		out[i] = h.m.PacketID
	}
	return out
}

// removeMarkerAsync settles a client's marker for pid in direction dir without
// waiting: done (which may be nil) runs once the removal is durable, with
// whether there was such a marker.
func (s *store) removeMarkerAsync(clientID string, dir markerDir, pid uint16, done func(found bool, err error)) {
	s.mu.Lock()
	byID := s.markers[clientID]
	h := byID[markerKey(dir, pid)]
	if h == nil || h.m.Dir != dir {
		s.mu.Unlock()
		if done != nil {
			done(false, nil)
		}
		return
	}
	delete(byID, markerKey(dir, pid))
	if len(byID) == 0 {
		delete(s.markers, clientID)
	}
	s.mu.Unlock()
	h.cons.Settle(h.delivery, h.delivery, broker.Settlement{Outcome: broker.Accepted}, nil, func(err error) {
		if errors.Is(err, broker.ErrUnknownDelivery) {
			err = nil
		}
		if done != nil {
			done(true, err)
		}
	})
}

// countMarkers returns how many markers a client has in direction dir.
func (s *store) countMarkers(clientID string, dir markerDir) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.markers[clientID] {
		if h.m.Dir == dir {
			n++
		}
	}
	return n
}

// removeMarkers settles every marker of a client.
func (s *store) removeMarkers(clientID string) error {
	s.mu.Lock()
	byID := s.markers[clientID]
	delete(s.markers, clientID)
	s.mu.Unlock()
	var errs []error
	for _, h := range byID {
		errs = append(errs, s.settle(h.held))
	}
	return errors.Join(errs...)
}

// retainedMatching returns the retained messages whose topic match
// accepts, oldest first.
func (s *store) retainedMatching(match func(topic string) bool) []*message.Message {
	s.mu.Lock()
	var hs []*heldRetained
	nowMs := time.Now().UnixMilli()
	for addr, h := range s.retained {
		if h.msg.Expired(nowMs) {
			// The broker expires only waiting messages; these are held.
			delete(s.retained, addr)
			s.drop(h.held)
			continue
		}
		if match(h.topic) {
			hs = append(hs, h)
		}
	}
	now := time.Now()
	for topic, c := range s.cleared {
		if now.Sub(c.at) > clearedMemory {
			delete(s.cleared, topic)
		}
	}
	s.mu.Unlock()
	sortHeld(hs)
	out := make([]*message.Message, len(hs))
	for i, h := range hs {
		out[i] = h.msg
	}
	return out
}

// retainedCount returns how many topics have a retained message.
func (s *store) retainedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.retained)
}

// sendWait sends m to queue through the internal session and waits until
// it is durable.
func (s *store) sendWait(m *message.Message, queue string) error {
	ch := make(chan error, 1)
	s.sess.SendToQueue(m, queue, nil, func(err error) { ch <- err })
	return <-ch
}

// heldOrder is anything with a held delivery, for sortHeld.
type heldOrder interface{ id() uint64 }

func (h *heldMarker) id() uint64   { return h.msgID }
func (h *heldRetained) id() uint64 { return h.msgID }

// sortHeld sorts by message id, which is the order of the sends.
func sortHeld[T heldOrder](hs []T) {
	slices.SortFunc(hs, func(a, b T) int { return cmp.Compare(a.id(), b.id()) })
}
