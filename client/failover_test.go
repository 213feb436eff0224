package client

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

// withoutReceipt returns h without its receipt header, which a failover
// renews.
func withoutReceipt(h stomp.Headers) stomp.Headers {
	h = slices.Clone(h)
	h.Del(stomp.HdrReceipt)
	return h
}

// deadURL returns a tcp:// URL where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "tcp://" + ln.Addr().String()
}

func TestFailoverResendsUnconfirmedSends(t *testing.T) {
	for _, window := range []int{1, 4} {
		t.Run(fmt.Sprintf("window=%d", window), func(t *testing.T) {
			// A and B share a store; A crashes after 5 frames, having
			// stored the 5th without confirming it.
			store := newFakeStore()
			a := newFakeServer(t, func(s *fakeServer) { s.store, s.crashAfter = store, 5 })
			b := newFakeServer(t, func(s *fakeServer) { s.store = store })
			var evs eventLog
			var logs syncBuffer
			c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b), WithSendWindow(window),
				WithEventHandler(evs.add), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			sa := a.next(t)
			ctx := testCtx(t)
			const n = 20
			for i := range n {
				if err := c.Send(ctx, "q", []byte(strconv.Itoa(i))); err != nil {
					t.Fatalf("Send %d = %v; a failover must not surface", i, err)
				}
			}
			if err := c.Flush(ctx); err != nil {
				t.Fatalf("Flush = %v", err)
			}
			sb := b.next(t)

			aFrames := sa.drain()
			if len(aFrames) != 5 {
				t.Fatalf("A received %d frames before its crash, want 5", len(aFrames))
			}
			crashed := aFrames[4].Headers.Value(stomp.HdrDuplicateID)
			// The first frames on B are the resends, in their original
			// order, with their original duplicate ids.
			bFrames := sb.drain()
			if len(bFrames) == 0 || bFrames[0].Headers.Value(stomp.HdrDuplicateID) != crashed || string(bFrames[0].Body) != "4" {
				t.Fatalf("B's first frame = %v, want the resend of %s (body 4)", bFrames[0], crashed)
			}
			stored, dropped := store.snapshot()
			want := make([]string, n)
			for i := range want {
				want[i] = strconv.Itoa(i)
			}
			if !slices.Equal(stored, want) {
				t.Errorf("the store holds %q, want each message once, in order: %q", stored, want)
			}
			if !slices.Contains(dropped, crashed) {
				t.Errorf("the resend of %s, stored before the crash, was not dropped as a duplicate (dropped: %q)", crashed, dropped)
			}
			c.mu.Lock()
			left, slots := len(c.pending), len(c.slots)
			c.mu.Unlock()
			if left != 0 || slots != 0 {
				t.Errorf("after Flush: %d requests pending, %d window slots taken", left, slots)
			}

			// Events reach the handler on a goroutine of their own: wait for
			// the last one before looking at them all.
			if ev := evs.wait(t, EventReconnected); ev.Endpoint != b.URL() || ev.Attempt != 1 {
				t.Errorf("reconnected event = %+v", ev)
			}
			var kinds []EventKind
			for _, ev := range evs.all() {
				kinds = append(kinds, ev.Kind)
			}
			wantKinds := []EventKind{EventConnected, EventConnectionLost, EventReconnecting, EventReconnected}
			if !slices.Equal(kinds, wantKinds) {
				t.Errorf("events %v, want %v", kinds, wantKinds)
			}
			if ev := evs.wait(t, EventConnectionLost); ev.Endpoint != a.URL() || ev.Err == nil {
				t.Errorf("connection-lost event = %+v", ev)
			}
			for _, name := range []string{"event=connected", "event=connection_lost", "event=reconnecting", "event=reconnected"} {
				if !strings.Contains(logs.String(), name) {
					t.Errorf("log has no %s:\n%s", name, logs.String())
				}
			}
			if c.Endpoint().String() != b.URL() || c.Err() != nil {
				t.Errorf("after failover: endpoint %v, Err %v", c.Endpoint(), c.Err())
			}
		})
	}
}

func TestFailoverResubscribes(t *testing.T) {
	a := newFakeServer(t, nil)
	b := newFakeServer(t, nil)
	c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b))
	sa := a.next(t)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "queue://orders", WithAckMode(AckClientIndividual), WithPrefetch(10),
		WithSelector("color = 'red'"), WithSubscriptionHeader("durable-subscription-name", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	auto, err := c.Subscribe(ctx, "topic://news")
	if err != nil {
		t.Fatal(err)
	}
	orig := []*stomp.Frame{sa.expect(t, stomp.CmdSubscribe), sa.expect(t, stomp.CmdSubscribe)}
	sa.message(sub.ID(), "/queue/orders", "m-1", "one", "ack", "a-1")
	m1, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A Receive waiting across the failover gets the redelivery.
	got := make(chan *Message, 1)
	recv := async(func() error {
		m, err := sub.Receive(ctx)
		got <- m
		return err
	})

	a.stop()
	sb := b.next(t)
	for i, want := range orig {
		f := sb.expect(t, stomp.CmdSubscribe)
		if !slices.Equal(withoutReceipt(f.Headers), withoutReceipt(want.Headers)) {
			t.Errorf("re-SUBSCRIBE %d = %v, want the headers of %v", i, f.Headers, want.Headers)
		}
		if _, ok := f.Headers.Get(stomp.HdrReceipt); !ok {
			t.Errorf("re-SUBSCRIBE %d asks for no receipt", i)
		}
	}
	if !pending(recv) {
		t.Fatalf("Receive returned during the failover: %v", <-recv)
	}

	// The stale message's ACK is skipped: the next frame B sees is the ACK
	// of the redelivered copy.
	if err := m1.Ack(ctx); err != nil {
		t.Fatalf("Ack of a message from before the failover = %v, want nil", err)
	}
	sb.message(sub.ID(), "/queue/orders", "m-1", "one", "ack", "b-1", "redelivered", "true")
	if err := result(t, recv); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m.MessageID != "m-1" || !m.Redelivered {
		t.Fatalf("after failover Receive = %+v, want m-1 redelivered", m)
	}
	if err := m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if f := sb.expect(t, stomp.CmdAck); f.Headers.Value(stomp.HdrID) != "b-1" {
		t.Errorf("ACK after failover = %v, want id b-1", f)
	}
	sb.message(auto.ID(), "/topic/news", "n-1", "hello")
	if n, err := auto.Receive(ctx); err != nil || n.MessageID != "n-1" {
		t.Errorf("auto subscription after failover: %v, %v", n, err)
	}
}

func TestFailoverDropsUnacknowledgedBuffer(t *testing.T) {
	a := newFakeServer(t, nil)
	b := newFakeServer(t, nil)
	var evs eventLog
	c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b), WithEventHandler(evs.add))
	sa := a.next(t)
	ctx := testCtx(t)
	client, err := c.Subscribe(ctx, "q", WithAckMode(AckClient))
	if err != nil {
		t.Fatal(err)
	}
	auto, err := c.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	sa.message(client.ID(), "/queue/q", "m-1", "x")
	sa.message(auto.ID(), "/queue/r", "n-1", "y")
	waitFor(t, "both messages buffered", func() bool { return client.Buffered() == 1 && auto.Buffered() == 1 })
	a.stop()
	evs.wait(t, EventReconnected)
	// The broker redelivers the unacknowledged one; the auto-acknowledged
	// one is consumed on the broker and must stay.
	if client.Buffered() != 0 || auto.Buffered() != 1 {
		t.Errorf("after failover: client-ack buffer %d (want 0), auto buffer %d (want 1)", client.Buffered(), auto.Buffered())
	}
}

func TestFailoverStaleAcksAndTransactions(t *testing.T) {
	a := newFakeServer(t, nil)
	b := newFakeServer(t, nil)
	var evs eventLog
	c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b), WithEventHandler(evs.add))
	sa := a.next(t)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "in", WithAckMode(AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	sa.expect(t, stomp.CmdSubscribe)
	sa.message(sub.ID(), "/queue/in", "m-1", "x", "ack", "a-1")
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, "out", []byte("y")); err != nil {
		t.Fatal(err)
	}
	sa.expect(t, stomp.CmdBegin)
	sa.expect(t, stomp.CmdSend)

	a.stop()
	evs.wait(t, EventReconnected)
	sb := b.next(t)
	sb.expect(t, stomp.CmdSubscribe)

	if err := m.Ack(ctx); err != nil {
		t.Errorf("stale Ack = %v, want nil", err)
	}
	if err := m.Nack(ctx); err != nil {
		t.Errorf("stale Nack = %v, want nil", err)
	}
	err = tx.Commit(ctx)
	if !errors.Is(err, ErrTxRolledBack) || !strings.Contains(err.Error(), "transaction rolled back by failover; retry it") {
		t.Errorf("Commit of a transaction open across a failover = %v", err)
	}
	if errors.Is(err, ErrConnectionLost) {
		t.Errorf("Commit error %v claims the Conn is lost; it carries on", err)
	}
	if err := tx.Send(ctx, "out", nil); !errors.Is(err, ErrTxRolledBack) {
		t.Errorf("Send in the dead transaction = %v", err)
	}
	if err := tx.Ack(ctx, m); !errors.Is(err, ErrTxRolledBack) {
		t.Errorf("Ack in the dead transaction = %v", err)
	}
	if err := tx.Abort(ctx); err != nil {
		t.Errorf("Abort of the dead transaction = %v, want nil", err)
	}
	// Nothing of the above reached B: its next frames are a fresh
	// transaction's.
	tx2, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f := sb.expect(t, stomp.CmdBegin); f.Headers.Value(stomp.HdrTransaction) != tx2.ID() {
		t.Errorf("frame after the stale acknowledgements = %v, want the new BEGIN", f)
	}
	if err := tx2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sb.expect(t, stomp.CmdCommit)
}

func TestFailoverResendsPendingBegin(t *testing.T) {
	a := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	b := newFakeServer(t, nil)
	c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b))
	sa := a.next(t)
	ctx := testCtx(t)
	var tx *Tx
	began := async(func() (err error) {
		tx, err = c.Begin(ctx)
		return err
	})
	first := sa.expect(t, stomp.CmdBegin)
	a.stop()
	sb := b.next(t)
	again := sb.expect(t, stomp.CmdBegin)
	if again.Headers.Value(stomp.HdrTransaction) != first.Headers.Value(stomp.HdrTransaction) {
		t.Errorf("BEGIN resent as %v, want %v", again, first)
	}
	if err := result(t, began); err != nil {
		t.Fatalf("Begin across a failover = %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit of a transaction begun across a failover = %v", err)
	}
}

func TestFailoverOnBrokerErrors(t *testing.T) {
	a := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	b := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b))
	sa := a.next(t)
	ctx := testCtx(t)

	// A broker shutting down refuses the send in flight: the send goes to
	// the next broker and succeeds.
	res := async(func() error { return c.Send(ctx, "q", []byte("x")) })
	f := sa.expect(t, stomp.CmdSend)
	sa.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
		{Key: stomp.HdrMessage, Value: "broker is shutting down"},
		{Key: stomp.HdrReceiptID, Value: f.Headers.Value(stomp.HdrReceipt)},
	}})
	sb := b.next(t)
	again := sb.expect(t, stomp.CmdSend)
	if again.Headers.Value(stomp.HdrDuplicateID) != f.Headers.Value(stomp.HdrDuplicateID) {
		t.Errorf("resend %v lost the duplicate id of %v", again, f)
	}
	sb.receipt(t, again)
	if err := result(t, res); err != nil {
		t.Fatalf("Send refused by a broker shutting down = %v, want nil after failover", err)
	}

	// A refusal of this very send is the caller's: it gets the error, and
	// the Conn carries on with the next broker.
	res = async(func() error { return c.Send(ctx, "q", []byte("y")) })
	f = sb.expect(t, stomp.CmdSend)
	sb.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
		{Key: stomp.HdrMessage, Value: "permission denied"},
		{Key: stomp.HdrReceiptID, Value: f.Headers.Value(stomp.HdrReceipt)},
	}})
	var be *BrokerError
	if err := result(t, res); !errors.As(err, &be) || be.Message != "permission denied" {
		t.Fatalf("refused Send = %v", err)
	}
	sa2 := a.next(t) // the round puts the broker just lost last: A is next
	res = async(func() error { return c.Send(ctx, "q", []byte("z")) })
	sa2.receipt(t, sa2.expect(t, stomp.CmdSend))
	if err := result(t, res); err != nil || c.Err() != nil {
		t.Fatalf("Send after a refusal = %v (Conn: %v)", err, c.Err())
	}
}

func TestFailoverOnHeartBeatTimeout(t *testing.T) {
	// A promises heart-beats every 10ms and sends none.
	a := newFakeServer(t, func(s *fakeServer) { s.heartBeat = "10,0" })
	b := newFakeServer(t, nil)
	var evs eventLog
	dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b), WithHeartBeat(0, 10*time.Millisecond),
		WithEventHandler(evs.add))
	if ev := evs.wait(t, EventConnectionLost); !errors.Is(ev.Err, ErrHeartBeatTimeout) {
		t.Errorf("connection-lost event = %+v, want a heart-beat timeout", ev)
	}
	if ev := evs.wait(t, EventReconnected); ev.Endpoint != b.URL() {
		t.Errorf("reconnected to %s, want %s", ev.Endpoint, b.URL())
	}
}

func TestFailoverTopology(t *testing.T) {
	third := newFakeServer(t, nil)
	b := newFakeServer(t, func(s *fakeServer) {
		// The new live advertises its own backup, and the old live again.
		s.connected = stomp.Headers{{Key: hdrBackups, Value: third.URL() + "," + s.URL()}}
	})
	a := newFakeServer(t, func(s *fakeServer) {
		s.connected = stomp.Headers{{Key: hdrBackups, Value: b.URL() + ", tcp://bad:port"}}
	})

	// A plain tcp:// URL does not fail over, whatever the broker says.
	var logs syncBuffer
	plain := dialURL(t, a.URL(), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	a.next(t)
	if eps := plain.Endpoints(); len(eps) != 1 {
		t.Errorf("a tcp:// Conn learned backups: %v", eps)
	}
	if !strings.Contains(logs.String(), "ignoring a bad backup URL") {
		t.Errorf("a bad tandem-backups entry went unreported:\n%s", logs.String())
	}

	// failover: with only the live's URL learns the backup from it.
	var evs eventLog
	c := dialURL(t, failoverURL("", a), WithEventHandler(evs.add))
	a.next(t)
	if eps := c.Endpoints(); len(eps) != 2 || eps[1].String() != b.URL() {
		t.Fatalf("endpoints after CONNECTED = %v, want A then B", eps)
	}
	a.stop()
	b.next(t)
	if ev := evs.wait(t, EventReconnected); ev.Endpoint != b.URL() {
		t.Errorf("reconnected to %s, want the advertised backup %s", ev.Endpoint, b.URL())
	}
	if c.Endpoint().String() != b.URL() {
		t.Errorf("Endpoint = %v", c.Endpoint())
	}
	var eps []string
	for _, ep := range c.Endpoints() {
		eps = append(eps, ep.String())
	}
	if want := []string{a.URL(), b.URL(), third.URL()}; !slices.Equal(eps, want) {
		t.Errorf("endpoints after the reconnect = %v, want %v (learned again, without duplicates)", eps, want)
	}
	select {
	case <-plain.Done():
	case <-time.After(testTimeout):
		t.Fatal("the tcp:// Conn did not stop when its broker died")
	}
	if err := plain.Err(); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("tcp:// Conn Err = %v", err)
	}
}

func TestDialFailoverStartup(t *testing.T) {
	dead := deadURL(t)
	alive := newFakeServer(t, nil)
	// Randomized (Classic's default) or not, every round tries every
	// broker, so the one listening is found whatever its place.
	for _, q := range []string{"", "randomize=false"} {
		url := "failover:(" + dead + "," + alive.URL() + ")?" + q
		c := dialURL(t, url)
		alive.next(t)
		if c.Endpoint().String() != alive.URL() {
			t.Errorf("%s: connected to %v", url, c.Endpoint())
		}
		c.Close()
	}

	dead2 := deadURL(t)
	var sleeps sleepLog
	url := "failover:(" + dead + "," + dead2 + ")?startupMaxReconnectAttempts=2&initialReconnectDelay=10&backOffMultiplier=3"
	_, err := Dial(testCtx(t), url, sleeps.option())
	if err == nil {
		t.Fatal("Dial succeeded with every broker dead")
	}
	msg := err.Error()
	for _, part := range []string{"could not connect to any broker of " + url + " after 3 attempts", dead, dead2, "refused"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not mention %q", msg, part)
		}
	}
	if want := []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}; !slices.Equal(sleeps.all(), want) {
		t.Errorf("back-off between rounds = %v, want %v", sleeps.all(), want)
	}

	// Artemis: initialConnectAttempts rounds, retryInterval growing by
	// retryIntervalMultiplier up to maxRetryInterval.
	sleeps = sleepLog{}
	url = "(" + dead + ")?ha=true&initialConnectAttempts=3&retryInterval=100&retryIntervalMultiplier=2&maxRetryInterval=150"
	if _, err := Dial(testCtx(t), url, sleeps.option()); err == nil || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("Artemis startup error = %v", err)
	}
	if want := []time.Duration{100 * time.Millisecond, 150 * time.Millisecond}; !slices.Equal(sleeps.all(), want) {
		t.Errorf("Artemis back-off = %v, want %v", sleeps.all(), want)
	}

	// A refused login ends Dial at once, even with retries allowed.
	locked := newFakeServer(t, func(s *fakeServer) { s.users = map[string]string{"admin": "admin"} })
	_, err = Dial(testCtx(t), failoverURL("", locked), WithCredentials("admin", "wrong"))
	if !errors.Is(err, ErrConnectRejected) {
		t.Errorf("Dial with a bad password = %v", err)
	}
}

func TestFailoverGivesUp(t *testing.T) {
	a := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	b := newFakeServer(t, nil)
	var sleeps sleepLog
	var evs eventLog
	c := dialURL(t, failoverURL("randomize=false&maxReconnectAttempts=2&initialReconnectDelay=7", a, b),
		sleeps.option(), WithEventHandler(evs.add))
	sa := a.next(t)
	ctx := testCtx(t)
	res := async(func() error { return c.Send(ctx, "q", []byte("x")) })
	sa.expect(t, stomp.CmdSend)
	b.stop()
	a.stop()

	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("the Conn did not give up")
	}
	err := c.Err()
	want := "gave up reconnecting to " + a.URL() + ", " + b.URL() + " after 2 attempts: last error: connect to " + a.URL()
	if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrReconnectFailed) || !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Err() = %v, want it to start with %q", err, want)
	}
	if got := result(t, res); !errors.Is(got, ErrReconnectFailed) {
		t.Errorf("pending Send = %v, want the Conn's error", got)
	}
	if got := c.Send(ctx, "q", nil); !errors.Is(got, ErrReconnectFailed) {
		t.Errorf("Send after giving up = %v", got)
	}
	if want := []time.Duration{7 * time.Millisecond}; !slices.Equal(sleeps.all(), want) {
		t.Errorf("back-off = %v, want %v (the first round is immediate)", sleeps.all(), want)
	}
	ev := evs.wait(t, EventFailed)
	if ev.Attempt != 2 || !errors.Is(ev.Err, ErrReconnectFailed) {
		t.Errorf("failed event = %+v", ev)
	}
	var tries []string
	for _, e := range evs.all() {
		if e.Kind == EventReconnecting {
			tries = append(tries, fmt.Sprintf("%d:%s", e.Attempt, e.Endpoint))
		}
	}
	wantTries := []string{"1:" + b.URL(), "1:" + a.URL(), "2:" + b.URL(), "2:" + a.URL()}
	if !slices.Equal(tries, wantTries) {
		t.Errorf("reconnect attempts %v, want %v (the lost broker last)", tries, wantTries)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after giving up = %v", err)
	}
}

func TestCloseDuringReconnect(t *testing.T) {
	a := newFakeServer(t, nil)
	var evs eventLog
	// The real sleep, and a long one: Close must cut it short.
	c := dialURL(t, failoverURL("initialReconnectDelay=60000", a), WithEventHandler(evs.add))
	a.next(t)
	a.stop()
	evs.wait(t, EventReconnecting)
	ctx := testCtx(t)
	res := async(func() error { return c.Send(ctx, "q", []byte("x")) })
	waitFor(t, "Send waiting for the reconnect", func() bool { return pending(res) && c.pendingCount() == 1 })
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v during a reconnect", d)
	}
	if err := result(t, res); !errors.Is(err, ErrClosed) {
		t.Errorf("Send waiting for the reconnect = %v, want ErrClosed", err)
	}
	// Close returned, so the reconnect goroutine has ended.
	c.reconnecting.Wait()
}

func TestFailoverTimeoutOption(t *testing.T) {
	a := newFakeServer(t, nil)
	var evs eventLog
	c := dialURL(t, failoverURL("timeout=50&initialReconnectDelay=1&maxReconnectDelay=5", a), WithEventHandler(evs.add))
	sa := a.next(t)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := c.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	sa.expect(t, stomp.CmdSubscribe)
	sa.expect(t, stomp.CmdSubscribe)
	a.stop()
	evs.wait(t, EventConnectionLost)
	if err := gone.Unsubscribe(ctx); err != nil {
		t.Errorf("Unsubscribe during the outage = %v", err)
	}
	if _, err := gone.Receive(ctx); !errors.Is(err, ErrSubscriptionClosed) {
		t.Errorf("Receive after Unsubscribe = %v", err)
	}
	if err := c.Send(ctx, "q", []byte("x")); !errors.Is(err, ErrFailoverTimeout) {
		t.Errorf("Send while no broker is reachable past the timeout = %v", err)
	}
	if _, err := sub.Receive(ctx); !errors.Is(err, ErrFailoverTimeout) {
		t.Errorf("Receive past the timeout = %v", err)
	}
	if c.Err() != nil {
		t.Errorf("Err() = %v; the Conn keeps reconnecting", c.Err())
	}

	// The broker comes back on the same port: everything works again.
	a.restart(t)
	sa = a.next(t)
	if f := sa.expect(t, stomp.CmdSubscribe); f.Headers.Value(stomp.HdrID) != sub.ID() {
		t.Errorf("re-SUBSCRIBE = %v", f)
	}
	evs.wait(t, EventReconnected)
	if err := c.Send(ctx, "q", []byte("y")); err != nil {
		t.Fatalf("Send after the broker came back = %v", err)
	}
	// Neither the timed-out send nor the dropped subscription comes back.
	if f := sa.expect(t, stomp.CmdSend); string(f.Body) != "y" {
		t.Errorf("frame after the re-SUBSCRIBE = %v, want the new SEND", f)
	}
	sa.message(sub.ID(), "/queue/q", "m-1", "z")
	if _, err := sub.Receive(ctx); err != nil {
		t.Errorf("Receive after the broker came back = %v", err)
	}
}

func TestBrowseAcrossFailover(t *testing.T) {
	a := newFakeServer(t, nil)
	b := newFakeServer(t, nil)
	c := dialURL(t, failoverURL("randomize=false&initialReconnectDelay=1", a, b))
	sa := a.next(t)
	ctx := testCtx(t)
	var ids []string
	res := async(func() error {
		return c.BrowseFunc(ctx, "q", func(m *Message) error {
			ids = append(ids, m.MessageID)
			if m.MessageID == "m-2" {
				a.stop() // the broker dies half-way through the browse
			}
			return nil
		})
	})
	f := sa.expect(t, stomp.CmdSubscribe)
	sa.message(f.Headers.Value(stomp.HdrID), "/queue/q", "m-1", "x")
	sa.message(f.Headers.Value(stomp.HdrID), "/queue/q", "m-2", "x")
	sb := b.next(t)
	f = sb.expect(t, stomp.CmdSubscribe)
	if f.Headers.Value(stomp.HdrBrowser) != "true" {
		t.Fatalf("browse re-created as %v", f)
	}
	for _, id := range []string{"m-1", "m-2", "m-3"} {
		sb.message(f.Headers.Value(stomp.HdrID), "/queue/q", id, "x")
	}
	sb.message(f.Headers.Value(stomp.HdrID), "/queue/q", "end", "", stomp.HdrBrowser, "end")
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	if want := []string{"m-1", "m-2", "m-3"}; !slices.Equal(ids, want) {
		t.Errorf("browsed %v, want %v: each message once", ids, want)
	}
}

func TestBackoffDelays(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x * float64(time.Millisecond))
		}
		return out
	}
	tests := []struct {
		name string
		url  string
		want []time.Duration // delays before rounds 2, 3, ...
	}{
		{"Classic defaults", "failover:(tcp://a)", ms(10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 30000, 30000)},
		{"Classic capped", "failover:(tcp://a)?initialReconnectDelay=100&maxReconnectDelay=500&backOffMultiplier=3", ms(100, 300, 500, 500)},
		{"Classic constant", "failover:(tcp://a)?initialReconnectDelay=50&useExponentialBackOff=false", ms(50, 50, 50)},
		{"Classic no delay", "failover:(tcp://a)?initialReconnectDelay=0", ms(0, 0)},
		{"Classic uncapped", "failover:(tcp://a)?maxReconnectDelay=-1&initialReconnectDelay=1000", ms(1000, 2000, 4000)},
		{"Artemis defaults", "(tcp://a)?ha=true&reconnectAttempts=-1", ms(2000, 2000, 2000)},
		{"Artemis multiplier", "(tcp://a)?ha=true&retryInterval=100&retryIntervalMultiplier=1.5&maxRetryInterval=400", ms(100, 150, 225, 337.5, 400, 400)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, o, err := ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			var got []time.Duration
			for n := 1; n <= len(tc.want); n++ {
				got = append(got, backoffDelay(o, n))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("delays %v, want %v", got, tc.want)
			}
		})
	}
	_, o, _ := ParseURL("failover:(tcp://a)?maxReconnectDelay=-1")
	if d := backoffDelay(o, 10000); d != maxBackoff {
		t.Errorf("uncapped delay after many rounds = %v, want the %v ceiling", d, maxBackoff)
	}
}

func TestReconnectLimits(t *testing.T) {
	tests := []struct {
		url             string
		failover        bool
		startup, rounds int
	}{
		{"tcp://a", false, 1, 0},
		{"failover:(tcp://a)", true, -1, -1},
		{"failover:(tcp://a)?maxReconnectAttempts=3", true, 4, 3},
		{"failover:(tcp://a)?maxReconnectAttempts=3&startupMaxReconnectAttempts=0", true, 1, 3},
		{"failover:(tcp://a)?maxReconnectAttempts=0", false, 1, 0},
		{"(tcp://a,tcp://b)", false, 1, 0},
		{"(tcp://a,tcp://b)?ha=true", true, 1, 1},
		{"(tcp://a,tcp://b)?ha=true&reconnectAttempts=-1&initialConnectAttempts=-1", true, -1, -1},
		{"tcp://a?reconnectAttempts=5", true, 1, 5},
	}
	for _, tc := range tests {
		_, o, err := ParseURL(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		rounds := reconnectRounds(o)
		failover := o.Failover() && rounds != 0
		if failover != tc.failover || startupRounds(o) != tc.startup || rounds != tc.rounds {
			t.Errorf("%s: failover %v, startup rounds %d, reconnect rounds %d; want %v, %d, %d",
				tc.url, failover, startupRounds(o), rounds, tc.failover, tc.startup, tc.rounds)
		}
	}
}

func TestConnectionLevelErrors(t *testing.T) {
	tests := []struct {
		be   BrokerError
		want bool
	}{
		{BrokerError{Message: "disk full"}, true}, // no receipt: nothing else to blame
		{BrokerError{Message: "broker is shutting down", ReceiptID: "r-1"}, true},
		{BrokerError{Message: "send failed", Body: "broker is shutting down", ReceiptID: "r-1"}, true},
		{BrokerError{Message: "server unavailable", ReceiptID: "r-1"}, true},
		{BrokerError{Message: "permission denied", ReceiptID: "r-1"}, false},
	}
	for _, tc := range tests {
		if got := connectionLevel(&tc.be); got != tc.want {
			t.Errorf("connectionLevel(%+v) = %v", tc.be, got)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pendingCount returns how many requests await their receipt.
func (c *Conn) pendingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
