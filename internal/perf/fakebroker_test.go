package perf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

// fakeBroker is a minimal STOMP broker for the engine's tests: it accepts
// CONNECT, answers every receipt request, holds transactional sends until
// COMMIT, and hands each message to one subscriber of its destination in
// turn (queue semantics). Hooks let a test stall it or refuse clients.
type fakeBroker struct {
	t  *testing.T
	ln net.Listener

	// refuse, when set, answers CONNECT with this ERROR message;
	// refuseSend answers the first SEND with this one and closes.
	refuse, refuseSend string
	// stallAfter and stall make the broker stop reading each connection
	// for stall once it has read stallAfter SEND frames, once per connection.
	stallAfter int
	stall      time.Duration
	// receiptDelay delays every RECEIPT, as a disk sync would.
	receiptDelay time.Duration
	// eol follows every frame with an end of line, as tandem, ActiveMQ
	// and RabbitMQ do.
	eol bool

	mu      sync.Mutex
	subs    map[string][]*fakeSub
	next    map[string]int
	sends   int
	commits int
	// subscribes holds every SUBSCRIBE frame; ackFrames counts ACKs.
	subscribes []*stomp.Frame
	ackFrames  int
	// remotes counts connections per remote IP.
	remotes map[string]int
	// tagged counts the SENDs carrying the run header (short bodies);
	// bodyLens the body lengths seen.
	tagged   int
	bodyLens map[int]int
	// persistentHdr counts the SENDs per persistent header value.
	persistentHdr map[string]int
	conns         []net.Conn
}

// fakeSub is one subscription. With a client ack mode and a prefetch, the
// broker holds messages back once prefetch of them are unacknowledged,
// as a real broker does, so a consumer that does not acknowledge stalls.
type fakeSub struct {
	id       string
	c        *fakeConn
	mode     string // auto, client or client-individual
	prefetch int

	// Guarded by fakeBroker.mu.
	delivered int
	unacked   []int          // message numbers sent and not acknowledged, in order
	backlog   []*stomp.Frame // messages held back by the prefetch
}

func (s *fakeSub) full() bool {
	return s.mode != "auto" && s.prefetch > 0 && len(s.unacked) >= s.prefetch
}

type fakeConn struct {
	nc  net.Conn
	wmu sync.Mutex
	w   *stomp.Writer
}

func (c *fakeConn) send(f *stomp.Frame) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.w.WriteFrame(f)
	_ = c.w.Flush()
}

func startFakeBroker(t *testing.T, setup func(*fakeBroker)) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{t: t, ln: ln, subs: map[string][]*fakeSub{}, next: map[string]int{}, remotes: map[string]int{}}
	if setup != nil {
		setup(b)
	}
	go b.accept()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *fakeBroker) url() string { return "tcp://" + b.ln.Addr().String() }

func (b *fakeBroker) accept() {
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns = append(b.conns, nc)
		if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
			b.remotes[a.IP.String()]++
		}
		b.mu.Unlock()
		go b.serve(nc)
	}
}

func (b *fakeBroker) serve(nc net.Conn) {
	defer nc.Close()
	r := stomp.NewReader(nc, stomp.ReaderOptions{})
	c := &fakeConn{nc: nc, w: stomp.NewWriter(nc)}
	c.w.SetEOLAfterFrame(b.eol)
	var txs = map[string][]*stomp.Frame{}
	sends := 0
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		switch f.Command {
		case stomp.CmdConnect, stomp.CmdStomp:
			if b.refuse != "" {
				c.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{{Key: stomp.HdrMessage, Value: b.refuse}}})
				return
			}
			r.SetVersion(stomp.V12)
			c.w.SetVersion(stomp.V12)
			c.send(&stomp.Frame{Command: stomp.CmdConnected, Headers: stomp.Headers{
				{Key: stomp.HdrVersion, Value: "1.2"}, {Key: stomp.HdrServer, Value: "fake/1"}}})
			continue
		case stomp.CmdSubscribe:
			d := f.Headers.Value(stomp.HdrDestination)
			prefetch, _ := strconv.Atoi(f.Headers.Value(stomp.HdrPrefetchSize))
			mode := f.Headers.Value(stomp.HdrAck)
			if mode == "" {
				mode = "auto"
			}
			b.mu.Lock()
			b.subscribes = append(b.subscribes, f)
			b.subs[d] = append(b.subs[d], &fakeSub{id: f.Headers.Value(stomp.HdrID), c: c, mode: mode, prefetch: prefetch})
			b.mu.Unlock()
		case stomp.CmdAck:
			if err := b.ack(c, f.Headers.Value(stomp.HdrID)); err != nil {
				c.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{{Key: stomp.HdrMessage, Value: err.Error()}}})
				return
			}
		case stomp.CmdSend:
			if b.refuseSend != "" {
				c.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{{Key: stomp.HdrMessage, Value: b.refuseSend}}})
				return
			}
			sends++
			b.mu.Lock()
			if _, ok := f.Headers.Get(hdrRun); ok {
				b.tagged++
			}
			if b.bodyLens == nil {
				b.bodyLens = map[int]int{}
			}
			b.bodyLens[len(f.Body)]++
			if b.persistentHdr == nil {
				b.persistentHdr = map[string]int{}
			}
			v, ok := f.Headers.Get(stomp.HdrPersistent)
			if !ok {
				v = "(none)"
			}
			b.persistentHdr[v]++
			b.mu.Unlock()
			if b.stall > 0 && sends == b.stallAfter {
				time.Sleep(b.stall)
			}
			if tx := f.Headers.Value(stomp.HdrTransaction); tx != "" {
				txs[tx] = append(txs[tx], f)
			} else {
				b.deliver(f)
			}
		case stomp.CmdCommit:
			tx := f.Headers.Value(stomp.HdrTransaction)
			for _, m := range txs[tx] {
				b.deliver(m)
			}
			delete(txs, tx)
			b.mu.Lock()
			b.commits++
			b.mu.Unlock()
		}
		if id, ok := f.Headers.Get(stomp.HdrReceipt); ok {
			if b.receiptDelay > 0 {
				time.Sleep(b.receiptDelay)
			}
			c.send(&stomp.Frame{Command: stomp.CmdReceipt, Headers: stomp.Headers{{Key: stomp.HdrReceiptID, Value: id}}})
		}
	}
}

// deliver hands m to the next subscriber of its destination, if any.
func (b *fakeBroker) deliver(m *stomp.Frame) {
	d := m.Headers.Value(stomp.HdrDestination)
	b.mu.Lock()
	b.sends++
	id := b.sends
	subs := b.subs[d]
	var s *fakeSub
	if len(subs) > 0 {
		s = subs[b.next[d]%len(subs)]
		b.next[d]++
	}
	if s == nil {
		b.mu.Unlock()
		return
	}
	out := &stomp.Frame{Command: stomp.CmdMessage, Body: m.Body}
	out.Headers = append(out.Headers, m.Headers...)
	out.Headers.Del(stomp.HdrReceipt)
	out.Headers.Del(stomp.HdrTransaction)
	out.Headers.Add(stomp.HdrSubscription, s.id)
	out.Headers.Add(stomp.HdrMessageID, strconv.Itoa(id))
	out.Headers.Add("ack", "a"+strconv.Itoa(id))
	if s.full() {
		s.backlog = append(s.backlog, out)
		b.mu.Unlock()
		return
	}
	// Sent under the lock, so that a subscription gets its messages in
	// the order they are recorded, which cumulative ACKs rely on.
	b.sent(s, id)
	s.c.send(out)
	b.mu.Unlock()
}

// sent records message id as delivered to s; b.mu is held.
func (b *fakeBroker) sent(s *fakeSub, id int) {
	s.delivered++
	if s.mode != "auto" {
		s.unacked = append(s.unacked, id)
	}
}

// ack applies the ACK of message "a<id>" from connection c: cumulative
// for a client subscription, of that message alone for client-individual;
// then it sends what the prefetch held back.
func (b *fakeBroker) ack(c *fakeConn, ackID string) error {
	id, err := strconv.Atoi(strings.TrimPrefix(ackID, "a"))
	if err != nil || !strings.HasPrefix(ackID, "a") {
		return fmt.Errorf("ACK id %q is not one this broker sent", ackID)
	}
	b.mu.Lock()
	b.ackFrames++
	var sub *fakeSub
	at := -1
	for _, subs := range b.subs {
		for _, s := range subs {
			if s.c != c {
				continue
			}
			for i, u := range s.unacked {
				if u == id {
					sub, at = s, i
				}
			}
		}
	}
	if sub == nil {
		b.mu.Unlock()
		return fmt.Errorf("ACK of message %d, which is not unacknowledged on this connection", id)
	}
	if sub.mode == "client" {
		sub.unacked = sub.unacked[at+1:]
	} else {
		sub.unacked = append(sub.unacked[:at], sub.unacked[at+1:]...)
	}
	for len(sub.backlog) > 0 && !sub.full() {
		m := sub.backlog[0]
		sub.backlog = sub.backlog[1:]
		n, _ := strconv.Atoi(m.Headers.Value(stomp.HdrMessageID))
		b.sent(sub, n)
		sub.c.send(m)
	}
	b.mu.Unlock()
	return nil
}

// ackState returns, over every subscription, the messages delivered, the
// ones still unacknowledged or held back, and the ACK frames received.
func (b *fakeBroker) ackState() (delivered, outstanding, frames int, perSub []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, subs := range b.subs {
		for _, s := range subs {
			delivered += s.delivered
			outstanding += len(s.unacked) + len(s.backlog)
			perSub = append(perSub, s.delivered)
		}
	}
	return delivered, outstanding, b.ackFrames, perSub
}

func (b *fakeBroker) counts() (sends, commits int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sends, b.commits
}
