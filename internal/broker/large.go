package broker

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Large messages: a protocol adapter streams a body of at least
// min-large-message-size into a file of the large-messages directory
// (CreateLargeBody) and sends a message whose Large field names it; the
// journal and page files record only the headers and the file's number.
// A delivery opens the file (OpenLargeBody) and the adapter streams it out,
// so a body of any size passes through a fixed buffer.
//
// The file goes when the message does: every queue reference counts in
// entry.liveRefs, and the reference that takes it to zero deletes the file.
// A copy of the message (a dead letter, an expired message moved away)
// gets its own name for the file (a hard link). A body whose message was
// never stored (refused, dropped, a duplicate, routed nowhere) is deleted
// at once.

// ErrNoLargeMessages is returned when large messages are not configured.
var ErrNoLargeMessages = errors.New("large messages are not enabled on this broker (persistence is off)")

// MayBeLarge reports whether a body of n bytes could be a large message
// on some address; when it cannot, an adapter need not look at the
// destination at all.
func (s *Session) MayBeLarge(n int64) bool {
	if s.b.opts.Large == nil {
		return false
	}
	floor := s.b.opts.SmallestLargeMessage
	if floor <= 0 {
		floor = DefaultAddressSettings().MinLargeMessageSize
	}
	return n >= floor
}

// LargeMessageThreshold returns the body size from which a message to
// address is streamed to the large-messages directory, or -1 when large
// messages are off.
func (s *Session) LargeMessageThreshold(address string) int64 {
	if s.b.opts.Large == nil {
		return -1
	}
	if t := s.b.settingsFor(address).MinLargeMessageSize; t > 0 {
		return t
	}
	return DefaultAddressSettings().MinLargeMessageSize
}

// CreateLargeBody starts a new large message body.
func (s *Session) CreateLargeBody() (store.LargeWriter, error) {
	if s.b.opts.Large == nil {
		return nil, ErrNoLargeMessages
	}
	w, err := s.b.opts.Large.Create()
	if err != nil {
		return nil, fmt.Errorf("create a large message body: %w", err)
	}
	return w, nil
}

// OpenLargeBody opens a delivered large message's body for reading. The
// body stays readable through the returned reader even if the message is
// acknowledged (and its file deleted) meanwhile.
func (s *Session) OpenLargeBody(l *message.Large) (io.ReadCloser, error) { return s.b.OpenLargeBody(l) }

// OpenLargeBody opens a large message's body for reading, for management
// (a browsed message's preview) as for deliveries.
func (b *Broker) OpenLargeBody(l *message.Large) (io.ReadCloser, error) {
	if b.opts.Large == nil {
		return nil, ErrNoLargeMessages
	}
	rc, err := b.opts.Large.Open(l.ID)
	if err != nil {
		return nil, fmt.Errorf("open large message body: %w", err)
	}
	return rc, nil
}

// DiscardLargeBody deletes the body of a large message that was never sent
// (its SEND failed before reaching the broker).
func (s *Session) DiscardLargeBody(l *message.Large) {
	s.b.discardBody(&message.Message{Extra: &message.Extra{Large: l}})
}

// guardLarge wraps the done callback of a send of m so that a refused
// large message's body is deleted.
func (b *Broker) guardLarge(m *message.Message, done func(error)) func(error) {
	if m.Large() == nil {
		return done
	}
	return func(err error) {
		if err != nil {
			b.discardBody(m)
		}
		callDone(done, err)
	}
}

// discardBody deletes the body file of a large message no queue holds.
func (b *Broker) discardBody(m *message.Message) {
	if m.Large() == nil || b.opts.Large == nil {
		return
	}
	if err := b.opts.Large.Delete(m.Large().ID); err != nil {
		b.log.Warn("could not delete a large message body", "event", "large_message_error", "id", m.Large().ID, "err", err)
	}
}

// holdBody counts n more queue references to a large message's body.
func holdBody(e *entry, n int) {
	if e.m.Large() != nil {
		atomic.AddInt32(&e.liveRefs, int32(n))
	}
}

// releaseBody drops one reference to a large message's body, deleting the
// file with the last.
func (b *Broker) releaseBody(r *ref) {
	if r.e.m.Large() == nil || r.bodyReleased {
		return
	}
	r.bodyReleased = true
	if atomic.AddInt32(&r.e.liveRefs, -1) == 0 {
		b.discardBody(r.e.m)
	}
}

// copyBody gives a copy of a large message its own name for the body.
func (b *Broker) copyBody(cp *message.Message) error {
	l := cp.Large()
	if l == nil || b.opts.Large == nil {
		return nil
	}
	id, err := b.opts.Large.Link(l.ID)
	if err != nil {
		return err
	}
	cp.SetLarge(&message.Large{ID: id, Size: l.Size})
	return nil
}

// cleanLargeOrphans deletes body files no stored message names: bodies of
// messages whose record never reached the journal before a crash. It is
// skipped while any address has paged messages, whose records may name
// bodies too.
func (b *Broker) cleanLargeOrphans(referenced map[uint64]bool) {
	if b.opts.Large == nil {
		return
	}
	for _, pg := range b.pages {
		if pg.paging.Load() {
			return
		}
	}
	ids, err := b.opts.Large.IDs()
	if err != nil {
		b.log.Warn("could not list large message bodies", "event", "large_message_error", "err", err)
		return
	}
	n := 0
	for _, id := range ids {
		if !referenced[id] {
			if err := b.opts.Large.Delete(id); err == nil {
				n++
			}
		}
	}
	if n > 0 {
		b.log.Info("deleted large message bodies no message refers to", "event", "large_orphans_deleted", "count", n)
	}
}
