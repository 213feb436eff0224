package mqtt

import (
	"sync/atomic"
	"time"

	"tandem/internal/message"
	wire "tandem/internal/wire/mqtt"
)

// Retained messages are kept in $sys.mqtt.retain, one per topic (the store
// indexes them), and copied into a new subscription's queue, as Artemis
// copies them, so that they are delivered, acknowledged and redelivered
// like any other message of the subscription. Copies are paced: the first
// second's worth (retained-delivery-rate) at once, then a tenth of it
// every 100 ms, so that subscribing to '#' over a million retained topics
// neither stalls the broker nor floods the journal.

// retainTick is the pacing period.
const retainTick = 100 * time.Millisecond

var retainTxSeq atomic.Uint64

// copyRetained starts copying the retained messages that match sub into
// its queue.
func (s *Server) copyRetained(st *store, sub *subscription) {
	now := timeNow().UnixMilli()
	all := st.retainedMatching(func(topic string) bool { return wire.MatchTopic(sub.topicFilter, topic) })
	msgs := all[:0]
	for _, m := range all {
		if !m.Expired(now) {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return
	}
	rate := s.opts.RetainedDeliveryRate
	first := min(len(msgs), rate)
	if !s.copyBatch(st, sub.queue, msgs[:first]) || first == len(msgs) {
		return
	}
	go func() {
		t := time.NewTicker(retainTick)
		defer t.Stop()
		step := max(rate/10, 1)
		for rest := msgs[first:]; len(rest) > 0; {
			select {
			case <-t.C:
			case <-s.ctx.Done():
				return
			}
			n := min(step, len(rest))
			if !s.copyBatch(st, sub.queue, rest[:n]) {
				return
			}
			rest = rest[n:]
		}
	}()
}

// copyBatch copies msgs into queue in one transaction and waits for it;
// false means the queue is gone (the subscription ended) or the broker
// failed, and copying stops.
func (s *Server) copyBatch(st *store, queue string, msgs []*message.Message) bool {
	tx, err := st.sess.Begin("mqtt-retain-" + itoa(retainTxSeq.Add(1)))
	if err != nil {
		return false
	}
	for _, m := range msgs {
		qos, published, _ := mqttFlags(m)
		cp := m.Clone()
		cp.Durable = qos > 0
		cp.EditExtra(func(x *message.Extra) { setFlags(x, qos, published, true) })
		var sendErr error
		st.sess.SendToQueue(cp, queue, tx, func(err error) { sendErr = err })
		if sendErr != nil {
			tx.Rollback()
			return false
		}
	}
	done := make(chan error, 1)
	tx.Commit(func(err error) { done <- err })
	if err := <-done; err != nil {
		s.log.Debug("retained messages not copied", "queue", queue, "err", err)
		return false
	}
	return true
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
