package openwire

import (
	"sync"
	"time"

	wire "tandem/internal/wire/openwire"
)

// Temporary destinations and their advisories. A JMS connection (with the
// client's default watchTopicAdvisories) subscribes to
// ActiveMQ.Advisory.TempQueue and TempTopic and refuses to send to a
// temporary destination it has not heard of there; so for request/reply
// across connections every temporary destination that exists is announced
// to every such subscriber: the ones alive when it subscribes, and each one
// created or deleted afterwards. Other advisory topics may be subscribed
// to but stay silent (docs/openwire.md).

// tempRegistry knows the temporary destinations of every OpenWire
// connection and the consumers watching for them.
type tempRegistry struct {
	mu       sync.Mutex
	dests    map[string]tempDest
	watchers map[*consumer]watch
	seq      int64
}

type tempDest struct {
	dest   *wire.Destination
	connID string
	owner  *conn
}

// watch is what an advisory consumer listens to.
type watch struct {
	queues, topics bool
}

func (r *tempRegistry) init() {
	r.dests = map[string]tempDest{}
	r.watchers = map[*consumer]watch{}
}

// lookup returns the temporary destination named name, or nil.
func (r *tempRegistry) lookup(name string) *wire.Destination {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.dests[name]; ok {
		return t.dest
	}
	return nil
}

// exists reports whether a temporary destination of that name and kind is
// alive.
func (r *tempRegistry) exists(d *wire.Destination) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.dests[d.Name]
	return ok && t.dest.Kind == d.Kind
}

// add records a new temporary destination of owner and announces it.
func (r *tempRegistry) add(d *wire.Destination, owner *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dests[d.Name] = tempDest{dest: d, connID: owner.connID, owner: owner}
	for k, w := range r.watchers {
		if w.wants(d) {
			r.announceLocked(k, d, owner.connID, wire.DestinationAdd)
		}
	}
}

// remove forgets a temporary destination of owner and announces its end.
func (r *tempRegistry) remove(d *wire.Destination, owner *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.dests[d.Name]
	if !ok || t.owner != owner {
		return
	}
	delete(r.dests, d.Name)
	for k, w := range r.watchers {
		if w.wants(t.dest) {
			r.announceLocked(k, t.dest, owner.connID, wire.DestinationRemove)
		}
	}
}

// watch registers an advisory consumer and replays the temporary
// destinations alive now to it.
func (r *tempRegistry) watch(k *consumer, w watch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers[k] = w
	for _, t := range r.dests {
		if w.wants(t.dest) {
			r.announceLocked(k, t.dest, t.connID, wire.DestinationAdd)
		}
	}
}

// unwatch forgets an advisory consumer.
func (r *tempRegistry) unwatch(k *consumer) {
	r.mu.Lock()
	delete(r.watchers, k)
	r.mu.Unlock()
}

func (w watch) wants(d *wire.Destination) bool {
	return (d.Kind == wire.TypeTempQueue && w.queues) || (d.Kind == wire.TypeTempTopic && w.topics)
}

// announceLocked sends k an advisory message carrying the DestinationInfo,
// as ActiveMQ Classic's AdvisoryBroker does.
func (r *tempRegistry) announceLocked(k *consumer, d *wire.Destination, connID string, op byte) {
	r.seq++
	topic := advisoryTempQueue
	if d.Kind == wire.TypeTempTopic {
		topic = advisoryTempTopic
	}
	producer := &wire.ProducerID{ConnectionID: k.conn.srv.advisoryID(), Value: 1, SessionID: 0}
	m := &wire.Message{
		Kind:        wire.TypeMessage,
		ProducerID:  producer,
		Destination: wire.NewTopic(topic),
		MessageID:   &wire.MessageID{ProducerID: producer, ProducerSequenceID: r.seq},
		Priority:    4,
		Timestamp:   time.Now().UnixMilli(),
		Type:        "Advisory",
		DataStructure: &wire.DestinationInfo{ConnectionID: &wire.ConnectionID{Value: connID}, Destination: d,
			OperationType: op},
	}
	k.conn.send(&wire.MessageDispatch{ConsumerID: k.wid, Destination: k.dest, Message: m})
}

// advisoryID is the producer connection id of advisory messages.
func (s *Server) advisoryID() string { return "ID:tandem-advisory-" + s.boot }
