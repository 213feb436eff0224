package amqp

import (
	"fmt"
)

// AppendTransfer appends the transfer frames that carry payload (one
// encoded message) on channel. When the whole fits maxFrameSize (0: no
// limit) it is one frame with t as given. Otherwise the message is cut:
// the first frame carries every field of t, the continuation frames carry
// the handle, the delivery-id and settled, and every frame but the last
// has more=true. Each frame is filled to maxFrameSize exactly. t.More
// must be false (it is the splitter's to set); t is not modified.
func AppendTransfer(b []byte, channel uint16, t *Transfer, payload []byte, maxFrameSize uint32) ([]byte, error) {
	if t.More {
		return b, encodeErr("transfer with more=true given to the splitter; it sets more itself")
	}
	start := len(b)
	b, err := AppendFrame(b, channel, t, nil)
	if err != nil {
		return b[:start], err
	}
	if maxFrameSize == 0 || uint64(len(b)-start)+uint64(len(payload)) <= uint64(maxFrameSize) {
		// The common case: one frame, and no splitter to set up.
		b = append(b, payload...)
		patchFrameSize(b[start:])
		return b, nil
	}
	b = b[:start]
	var s TransferSplitter
	if err := s.Reset(channel, t, payload, maxFrameSize); err != nil {
		return b, err
	}
	for !s.Done() {
		if b, err = s.AppendNext(b); err != nil {
			return b[:start], err
		}
	}
	return b, nil
}

// TransferSplitter cuts one message into transfer frames one frame at a
// time, exactly as AppendTransfer cuts it all at once, for a sender that
// must stop in the middle of a message when the peer's session
// incoming-window is spent and go on once the peer widens it. The zero
// value is done; Reset starts a message. It keeps no reference to the
// caller's Transfer, only to the payload.
type TransferSplitter struct {
	channel uint16
	first   Transfer
	cont    Transfer
	payload []byte
	max     uint32
	started bool
	// active is set by Reset and cleared once the last frame is out, so
	// that the zero value is done.
	active bool
}

// Reset starts cutting payload, carried by t on channel, into frames of at
// most maxFrameSize bytes (0: one frame, whatever its size).
func (s *TransferSplitter) Reset(channel uint16, t *Transfer, payload []byte, maxFrameSize uint32) error {
	if t.More {
		return encodeErr("transfer with more=true given to the splitter; it sets more itself")
	}
	*s = TransferSplitter{channel: channel, first: *t, payload: payload, max: maxFrameSize, active: true,
		cont: Transfer{Handle: t.Handle, DeliveryID: t.DeliveryID, Settled: t.Settled}}
	return nil
}

// Done reports whether every frame of the message has been appended.
func (s *TransferSplitter) Done() bool { return !s.active }

// Frames returns how many frames the rest of the message takes, without
// appending them: what a sender checks against the peer's incoming-window.
func (s *TransferSplitter) Frames() (int, error) {
	if s.Done() {
		return 0, nil
	}
	probe := *s
	var scratch [64]byte
	n := 0
	for !probe.Done() {
		// Only the frame headers matter: count with the payload cut away.
		if _, err := probe.appendNext(scratch[:0], false); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// AppendNext appends the next frame of the message to b.
func (s *TransferSplitter) AppendNext(b []byte) ([]byte, error) { return s.appendNext(b, true) }

// appendNext appends the next frame; without withPayload it appends the
// frame's performative alone (Frames counts with it) but advances as if
// the payload had been written.
func (s *TransferSplitter) appendNext(b []byte, withPayload bool) ([]byte, error) {
	if s.Done() {
		return b, encodeErr("transfer splitter asked for a frame after the last one")
	}
	cur := &s.cont
	if !s.started {
		cur = &s.first
	}
	frameStart := len(b)
	cur.More = false
	b, err := AppendFrame(b, s.channel, cur, nil)
	if err != nil {
		return b[:frameStart], err
	}
	overhead := len(b) - frameStart
	if s.max == 0 || uint64(overhead)+uint64(len(s.payload)) <= uint64(s.max) {
		if withPayload {
			b = append(b, s.payload...)
			patchFrameSize(b[frameStart:])
		}
		s.payload, s.started, s.active = nil, true, false
		return b, nil
	}
	// Too big: redo this frame with more=true and as much payload as fits.
	b = b[:frameStart]
	cur.More = true
	if b, err = AppendFrame(b, s.channel, cur, nil); err != nil {
		return b[:frameStart], err
	}
	room := int(s.max) - (len(b) - frameStart)
	if room <= 0 {
		return b[:frameStart], encodeErr("max-frame-size %d leaves no room for a payload after a %d-byte transfer", s.max, len(b)-frameStart)
	}
	if withPayload {
		b = append(b, s.payload[:room]...)
		patchFrameSize(b[frameStart:])
	}
	s.payload = s.payload[room:]
	s.started = true
	return b, nil
}

// patchFrameSize rewrites the size of the frame that fills f.
func patchFrameSize(f []byte) {
	n := uint32(len(f))
	f[0], f[1], f[2], f[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// Delivery is a message assembled from the transfers of one delivery.
type Delivery struct {
	// Transfer holds the first frame's fields, with Settled true if any
	// frame was settled, and State, RcvSettleMode and Batchable as the last
	// frame that set them. More is always false.
	Transfer
	// Payload is the encoded message, in memory of its own (never aliasing
	// a frame), ready to be stored as is.
	Payload []byte
	// Frames is the number of transfer frames the delivery took.
	Frames int
}

// Assembler joins the transfers of one link into deliveries: the engine
// keeps one per receiving link. It is not safe for concurrent use.
type Assembler struct {
	// MaxMessageSize bounds an assembled message (the link's
	// max-message-size); 0 means no limit, which a server should not
	// allow.
	MaxMessageSize uint64

	cur     Delivery
	started bool
}

// InProgress reports whether a delivery has begun and not yet ended.
func (a *Assembler) InProgress() bool { return a.started }

// Add adds one transfer with its payload (which it copies; the caller may
// reuse it). It returns nil while the delivery is incomplete. When the
// transfer ends the delivery it returns it; an aborted delivery comes back
// with Aborted set and no payload, so that the engine can account for its
// delivery-id. A transfer that does not fit the delivery in progress fails
// with ErrTransferSequence, a message above MaxMessageSize with
// ErrMessageTooLarge; either way the delivery in progress is dropped.
func (a *Assembler) Add(t *Transfer, payload []byte) (*Delivery, error) {
	if !a.started {
		if !t.DeliveryID.Set && !t.Aborted {
			return nil, fmt.Errorf("%w: the first transfer of a delivery has no delivery-id", ErrTransferSequence)
		}
		a.cur = Delivery{Transfer: *t}
		a.cur.Payload = nil
		a.started = true
	} else {
		if t.DeliveryID.Set && t.DeliveryID.Value != a.cur.DeliveryID.Value {
			id := a.cur.DeliveryID.Value
			a.reset()
			return nil, fmt.Errorf("%w: transfer for delivery %d while delivery %d is incomplete", ErrTransferSequence, t.DeliveryID.Value, id)
		}
		if t.Settled {
			a.cur.Settled = true
		}
		if t.State != nil {
			a.cur.State = t.State
		}
		if t.RcvSettleMode.Set {
			a.cur.RcvSettleMode = t.RcvSettleMode
		}
		a.cur.Batchable = t.Batchable
	}
	a.cur.Frames++
	if t.Aborted {
		d := a.cur
		d.Aborted, d.More, d.Payload = true, false, nil
		a.reset()
		return &d, nil
	}
	if a.MaxMessageSize != 0 && uint64(len(a.cur.Payload))+uint64(len(payload)) > a.MaxMessageSize {
		size := uint64(len(a.cur.Payload)) + uint64(len(payload))
		a.reset()
		return nil, fmt.Errorf("%w: %d bytes and counting, the limit is %d", ErrMessageTooLarge, size, a.MaxMessageSize)
	}
	if !t.More && a.cur.Payload == nil {
		// The common case, a message in one frame: one exact allocation.
		a.cur.Payload = append(make([]byte, 0, len(payload)), payload...)
	} else {
		a.cur.Payload = append(a.cur.Payload, payload...)
	}
	if t.More {
		return nil, nil
	}
	if !a.cur.DeliveryID.Set {
		a.reset()
		return nil, fmt.Errorf("%w: delivery without a delivery-id", ErrTransferSequence)
	}
	d := a.cur
	d.More = false
	if d.Frames > 1 && cap(d.Payload)-len(d.Payload) > len(d.Payload)/4 {
		// Growing by appending left up to twice the message's size
		// allocated; the stored copy should cost what the message does.
		d.Payload = append(make([]byte, 0, len(d.Payload)), d.Payload...)
	}
	a.reset()
	return &d, nil
}

// reset drops the delivery in progress.
func (a *Assembler) reset() {
	a.cur = Delivery{}
	a.started = false
}
