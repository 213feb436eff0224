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
		// The common case: one frame, and no copy of t to allocate.
		b = append(b, payload...)
		patchFrameSize(b[start:])
		return b, nil
	}
	b = b[:start]
	first := *t
	cont := Transfer{Handle: t.Handle, DeliveryID: t.DeliveryID, Settled: t.Settled}
	cur := &first
	for {
		frameStart := len(b)
		cur.More = false
		b, err = AppendFrame(b, channel, cur, nil)
		if err != nil {
			return b[:start], err
		}
		overhead := len(b) - frameStart
		if uint64(overhead)+uint64(len(payload)) <= uint64(maxFrameSize) {
			b = append(b, payload...)
			patchFrameSize(b[frameStart:])
			return b, nil
		}
		// Too big: redo this frame with more=true and as much payload as fits.
		b = b[:frameStart]
		cur.More = true
		if b, err = AppendFrame(b, channel, cur, nil); err != nil {
			return b[:start], err
		}
		room := int(maxFrameSize) - (len(b) - frameStart)
		if room <= 0 {
			return b[:start], encodeErr("max-frame-size %d leaves no room for a payload after a %d-byte transfer", maxFrameSize, len(b)-frameStart)
		}
		b = append(b, payload[:room]...)
		patchFrameSize(b[frameStart:])
		payload = payload[room:]
		cur = &cont
	}
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
