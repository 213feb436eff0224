package broker

import (
	"fmt"

	"tandem/internal/message"
)

// Lookups and queue creation for adapters that need more than send and
// subscribe: an AMQP link without capabilities takes the routing type of
// the address it names, a recovered AMQP subscription its address and
// selector, and MQTT keeps retained messages and session state in queues
// of its own.

// QueueInfo returns a snapshot of the named queue.
func (s *Session) QueueInfo(name string) (QueueInfo, error) {
	return s.b.Queue(name)
}

// AddressInfo returns a snapshot of the named address.
func (s *Session) AddressInfo(name string) (AddressInfo, error) {
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	a := s.b.addresses[name]
	if a == nil {
		return AddressInfo{}, fmt.Errorf("%w: %q", ErrNoSuchAddress, name)
	}
	return a.infoRLocked(), nil
}

// EnsureQueue creates the queue qc describes, and its address, unless the
// queue exists already on the same address, with the permissions Artemis
// asks for: createAddress for a new address, createDurableQueue or
// createNonDurableQueue for the queue.
func (s *Session) EnsureQueue(qc QueueConfig) error {
	if qc.Address == "" {
		qc.Address = qc.Name
	}
	if q := s.b.lookupQueue(qc.Name); q != nil {
		if q.address != qc.Address {
			return fmt.Errorf("%w: queue %q already exists on address %q, not %q", ErrBadDestination, qc.Name, q.address, qc.Address)
		}
		return nil
	}
	perm := PermCreateNonDurableQueue
	if qc.Durable {
		perm = PermCreateDurableQueue
	}
	if err := s.authorize(perm, qc.Address); err != nil {
		return err
	}
	s.b.mu.RLock()
	a := s.b.addresses[qc.Address]
	hasRT := a != nil && hasRoutingType(a, qc.RoutingType)
	s.b.mu.RUnlock()
	if !hasRT {
		if err := s.authorize(PermCreateAddress, qc.Address); err != nil {
			return err
		}
	}
	if _, err := s.b.ensureAddress(qc.Address, qc.RoutingType == message.Anycast, qc.RoutingType == message.Multicast, false, false); err != nil {
		return err
	}
	_, _, err := s.b.ensureQueue(qc, false, false, nil)
	return err
}
