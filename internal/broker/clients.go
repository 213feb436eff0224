package broker

import (
	"fmt"
	"sort"

	"tandem/internal/message"
)

// ConnectionInfo is a snapshot of one client session for management: who
// is connected, from where, over which protocol.
type ConnectionInfo struct {
	ID         uint64
	User       string
	ClientID   string
	RemoteAddr string
	Protocol   string
	Consumers  int
	// Transactions is the number of transactions the session has open.
	Transactions int
}

// ConsumerInfo is a snapshot of one consumer for management.
type ConsumerInfo struct {
	ID         uint64
	SessionID  uint64
	Queue      string
	Address    string
	User       string
	RemoteAddr string
	Protocol   string
	Filter     string
	AckMode    AckMode
	Priority   int
	Exclusive  bool
	// Delivering counts the messages handed to the consumer and not yet
	// acknowledged (always 0 for auto-acknowledging consumers).
	Delivering int
}

// String returns the STOMP spelling of the acknowledgement mode.
func (m AckMode) String() string {
	switch m {
	case AckClient:
		return "client"
	case AckIndividual:
		return "client-individual"
	default:
		return "auto"
	}
}

// sessionList copies the open sessions under the registry lock, so callers
// can inspect them without holding it.
func (b *Broker) sessionList() []*Session {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		out = append(out, s)
	}
	return out
}

// consumerList copies the session's consumers under its lock.
func (s *Session) consumerList() []*Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Consumer, 0, len(s.consumers))
	for _, c := range s.consumers {
		out = append(out, c)
	}
	return out
}

// Connections returns a snapshot of every open session, sorted by id. A
// session is what a protocol adapter opens for each client connection.
func (b *Broker) Connections() []ConnectionInfo {
	sessions := b.sessionList()
	out := make([]ConnectionInfo, 0, len(sessions))
	for _, s := range sessions {
		s.mu.Lock()
		ci := ConnectionInfo{
			ID: s.id, User: s.info.User, ClientID: s.info.ClientID, RemoteAddr: s.info.RemoteAddr,
			Protocol: s.info.Protocol, Consumers: len(s.consumers), Transactions: len(s.txs),
		}
		s.mu.Unlock()
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Consumers returns a snapshot of every consumer of every session, sorted
// by id. Each consumer's queue lock is taken on its own, never two at once.
func (b *Broker) Consumers() []ConsumerInfo {
	var out []ConsumerInfo
	for _, s := range b.sessionList() {
		for _, c := range s.consumerList() {
			ci := ConsumerInfo{
				ID: c.id, SessionID: s.id, Queue: c.q.name, Address: c.q.address,
				User: s.info.User, RemoteAddr: s.info.RemoteAddr, Protocol: s.info.Protocol,
				AckMode: c.ackMode, Priority: c.priority, Exclusive: c.exclusive,
			}
			if st, ok := c.filter.(fmt.Stringer); ok {
				ci.Filter = st.String()
			}
			c.q.lock()
			ci.Delivering = c.inflight.n
			c.q.unlock()
			out = append(out, ci)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// BrowseQueue lists up to max (0 = all) waiting messages of the named queue
// in delivery order without consuming them. Unlike Session.Browse it checks
// no permission: management callers are authorised by their own layer.
func (b *Broker) BrowseQueue(name string, max int) ([]BrowseItem, error) {
	q := b.lookupQueue(name)
	if q == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchQueue, name)
	}
	q.lock()
	items := q.browseLocked(nil, max, b.nowMs())
	q.unlock()
	return items, nil
}

// SendMessage routes m as a producer would and waits until it is accepted:
// for a durable message, until it is on stable storage. Management uses it
// to send test messages; it checks no permission.
func (b *Broker) SendMessage(m *message.Message) error {
	if m.Priority > message.MaxPriority {
		m.Priority = message.MaxPriority
	}
	done := make(chan error, 1)
	b.send(m, func(err error) { done <- err }, true, false, b.nowMs())
	return <-done
}
