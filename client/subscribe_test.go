package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

func TestSubscribeHeaders(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "queue://orders", WithAckMode(AckClientIndividual), WithPrefetch(10),
		WithSelector("color = 'red'"), WithSubscriptionHeader("durable-subscription-name", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	f := sc.expect(t, stomp.CmdSubscribe)
	want := map[string]string{
		"id": sub.ID(), "destination": "/queue/orders", "ack": "client-individual",
		"activemq.prefetchSize": "10", "selector": "color = 'red'", "durable-subscription-name": "d1",
	}
	for k, v := range want {
		if got := f.Headers.Value(k); got != v {
			t.Errorf("SUBSCRIBE %s = %q, want %q", k, got, v)
		}
	}
	if sub.Destination() != "/queue/orders" || sub.AckMode() != AckClientIndividual {
		t.Errorf("Destination %q AckMode %v", sub.Destination(), sub.AckMode())
	}
	if _, err := c.Subscribe(ctx, "q", WithSubscriptionHeader("id", "x")); !errors.Is(err, ErrReservedHeader) {
		t.Errorf("overriding id = %v", err)
	}
	if _, err := c.Subscribe(ctx, ""); !errors.Is(err, ErrBadDestination) {
		t.Errorf("empty destination = %v", err)
	}
}

func TestSubscribeRefused(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s)
	ctx := testCtx(t)
	res := async(func() error {
		_, err := c.Subscribe(ctx, "q")
		return err
	})
	f := sc.expect(t, stomp.CmdSubscribe)
	sc.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
		{Key: stomp.HdrMessage, Value: "no such queue"},
		{Key: stomp.HdrReceiptID, Value: f.Headers.Value(stomp.HdrReceipt)},
	}})
	var be *BrokerError
	if err := result(t, res); !errors.As(err, &be) || be.Message != "no such queue" {
		t.Fatalf("Subscribe = %v", err)
	}
}

func TestAckModes(t *testing.T) {
	for _, tc := range []struct {
		version string
		mode    AckMode
		wantAck bool
	}{
		{"1.2", AckAuto, false},
		{"1.2", AckClient, true},
		{"1.2", AckClientIndividual, true},
		{"1.1", AckClient, true},
		{"1.1", AckClientIndividual, true},
	} {
		t.Run(tc.version+"/"+tc.mode.String(), func(t *testing.T) {
			s := newFakeServer(t, func(s *fakeServer) { s.version = tc.version })
			c, sc := dial(t, s)
			ctx := testCtx(t)
			sub, err := c.Subscribe(ctx, "q", WithAckMode(tc.mode))
			if err != nil {
				t.Fatal(err)
			}
			if got := sc.expect(t, stomp.CmdSubscribe).Headers.Value("ack"); got != tc.mode.String() {
				t.Fatalf("ack header = %q", got)
			}
			for i := 1; i <= 2; i++ {
				sc.message(sub.ID(), "/queue/q", fmt.Sprintf("m-%d", i), fmt.Sprintf("body %d", i), "ack", fmt.Sprintf("a-%d", i))
			}
			for i := 1; i <= 2; i++ {
				m, err := sub.Receive(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Body) != fmt.Sprintf("body %d", i) || m.MessageID != fmt.Sprintf("m-%d", i) || m.Destination != "/queue/q" || m.Subscription != sub.ID() {
					t.Fatalf("message %d = %+v", i, m)
				}
				if err := m.Ack(ctx); err != nil {
					t.Fatal(err)
				}
				if !tc.wantAck {
					continue
				}
				ack := sc.expect(t, stomp.CmdAck)
				if tc.version == "1.2" {
					if ack.Headers.Value("id") != fmt.Sprintf("a-%d", i) {
						t.Errorf("1.2 ACK should name the ack header: %s", ack)
					}
				} else if ack.Headers.Value("message-id") != m.MessageID || ack.Headers.Value("subscription") != sub.ID() {
					t.Errorf("1.1 ACK should carry message-id and subscription: %s", ack)
				}
				if _, ok := ack.Headers.Get(stomp.HdrReceipt); !ok {
					t.Errorf("ACK asks for no receipt: %s", ack)
				}
			}
			if tc.mode == AckAuto {
				if err := c.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if len(sc.frames) != 0 {
					t.Errorf("auto mode sent %s", <-sc.frames)
				}
			}
		})
	}
}

func TestNack(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", WithAckMode(AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	sc.message(sub.ID(), "/queue/q", "m-1", "x", "ack", "a-1", "redelivered", "true", "priority", "8", "expires", "1900000000000", "persistent", "true", "content-type", "text/plain")
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Redelivered || m.Priority() != 8 || !m.Persistent() || m.ContentType != "text/plain" ||
		!m.Expiration().Equal(time.UnixMilli(1900000000000)) || m.Header("ack") != "a-1" {
		t.Errorf("message accessors: %+v", m)
	}
	if err := m.Nack(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sc.expect(t, stomp.CmdNack); n.Headers.Value("id") != "a-1" {
		t.Errorf("NACK = %s", n)
	}
	auto, err := c.Subscribe(ctx, "q2")
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	sc.message(auto.ID(), "/queue/q2", "m-2", "y")
	m2, err := auto.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Nack(ctx); !errors.Is(err, ErrNotSupported) {
		t.Errorf("NACK in auto mode = %v", err)
	}
	if m2.Priority() != 4 || !m2.Expiration().IsZero() {
		t.Errorf("defaults: priority %d expiration %v", m2.Priority(), m2.Expiration())
	}
}

func TestReceiveContext(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := dial(t, s)
	sub, err := c.Subscribe(testCtx(t), "q")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := sub.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive = %v", err)
	}
}

func TestUnsubscribe(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	sc.message(sub.ID(), "/queue/q", "m-1", "kept")
	waitFor(t, "the message to arrive", func() bool { return sub.Buffered() == 1 })
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if u := sc.expect(t, stomp.CmdUnsubscribe); u.Headers.Value("id") != sub.ID() {
		t.Errorf("UNSUBSCRIBE = %s", u)
	}
	sc.message(sub.ID(), "/queue/q", "m-2", "dropped")
	if m, err := sub.Receive(ctx); err != nil || string(m.Body) != "kept" {
		t.Fatalf("Receive after Unsubscribe = %v, %v; want the buffered message", m, err)
	}
	if _, err := sub.Receive(ctx); !errors.Is(err, ErrSubscriptionClosed) {
		t.Fatalf("Receive = %v, want ErrSubscriptionClosed", err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Errorf("second Unsubscribe = %v", err)
	}
}

func TestManyMessagesDoNotStallReceipts(t *testing.T) {
	// A consumer that does not keep up must not block the connection: a
	// send on the same Conn still gets its receipt.
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	for i := range 3000 {
		sc.message(sub.ID(), "/queue/q", fmt.Sprint(i), "x")
	}
	if err := c.Send(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		m, err := sub.Receive(ctx)
		if err != nil || m.MessageID != fmt.Sprint(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
}

func TestConcurrentReceivers(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	const receivers, total = 4, 400
	got := make(chan string, total)
	errs := make(chan error, receivers)
	for range receivers {
		go func() {
			for {
				m, err := sub.Receive(ctx)
				if err != nil {
					errs <- err
					return
				}
				got <- m.MessageID
			}
		}()
	}
	for i := range total {
		sc.message(sub.ID(), "/queue/q", fmt.Sprint(i), "x")
	}
	seen := map[string]bool{}
	for range total {
		select {
		case id := <-got:
			seen[id] = true
		case <-time.After(testTimeout):
			t.Fatalf("only %d of %d messages received", len(seen), total)
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct messages, want %d", len(seen), total)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	for range receivers {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrSubscriptionClosed) {
				t.Errorf("receiver ended with %v", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("a receiver was not woken by Unsubscribe")
		}
	}
}

func TestBrowse(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	type out struct {
		msgs []*Message
		err  error
	}
	res := make(chan out, 1)
	go func() {
		m, err := c.Browse(ctx, "test", WithBrowseSelector("a = 1"))
		res <- out{m, err}
	}()
	f := sc.expect(t, stomp.CmdSubscribe)
	if f.Headers.Value("browser") != "true" || f.Headers.Value("destination") != "/queue/test" ||
		f.Headers.Value("ack") != "auto" || f.Headers.Value("selector") != "a = 1" {
		t.Fatalf("browse SUBSCRIBE = %s", f)
	}
	id := f.Headers.Value("id")
	sc.message(id, "/queue/test", "m-1", "one")
	sc.message(id, "/queue/test", "m-2", "two")
	sc.message(id, "/queue/test", "end", "", "browser", "end")
	var r out
	select {
	case r = <-res:
	case <-time.After(testTimeout):
		t.Fatal("Browse did not end at browser:end")
	}
	if r.err != nil || len(r.msgs) != 2 || string(r.msgs[0].Body) != "one" || string(r.msgs[1].Body) != "two" {
		t.Fatalf("Browse = %v, %v", r.msgs, r.err)
	}
	if u := sc.expect(t, stomp.CmdUnsubscribe); u.Headers.Value("id") != id {
		t.Errorf("browse ended with %s", u)
	}
}

func TestBrowseFallbacks(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)

	// No end marker: the idle timeout ends the browse.
	res := async(func() error {
		msgs, err := c.Browse(ctx, "q", WithBrowseTimeout(20*time.Millisecond))
		if err == nil && len(msgs) != 1 {
			err = fmt.Errorf("got %d messages", len(msgs))
		}
		return err
	})
	id := sc.expect(t, stomp.CmdSubscribe).Headers.Value("id")
	sc.message(id, "/queue/q", "m-1", "one")
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdUnsubscribe)

	// A limit ends it early; an error from the callback is returned.
	res = async(func() error {
		n := 0
		err := c.BrowseFunc(ctx, "q", func(*Message) error { n++; return nil }, WithBrowseLimit(2))
		if err == nil && n != 2 {
			err = fmt.Errorf("callback ran %d times", n)
		}
		return err
	})
	id = sc.expect(t, stomp.CmdSubscribe).Headers.Value("id")
	for i := range 3 {
		sc.message(id, "/queue/q", fmt.Sprint(i), "x")
	}
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdUnsubscribe)

	stop := errors.New("stop")
	res = async(func() error {
		return c.BrowseFunc(ctx, "q", func(*Message) error { return stop })
	})
	id = sc.expect(t, stomp.CmdSubscribe).Headers.Value("id")
	sc.message(id, "/queue/q", "1", "x")
	if err := result(t, res); !errors.Is(err, stop) {
		t.Fatalf("BrowseFunc = %v", err)
	}

	// The caller's context still bounds a browse without fallback.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Browse(short, "q"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Browse past its context = %v", err)
	}
}
