package client

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

func TestSendWaitsForReceipt(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s)
	ctx := testCtx(t)
	res := async(func() error { return c.Send(ctx, "queue://TEST", []byte("hello\x00world")) })
	f := sc.expect(t, stomp.CmdSend)
	if !pending(res) {
		t.Fatalf("Send returned %v before the broker confirmed", <-res)
	}
	want := map[string]string{
		stomp.HdrDestination:   "/queue/TEST",
		stomp.HdrPersistent:    "true",
		stomp.HdrContentLength: "11",
	}
	for k, v := range want {
		if got := f.Headers.Value(k); got != v {
			t.Errorf("SEND %s = %q, want %q", k, got, v)
		}
	}
	if id := f.Headers.Value(stomp.HdrDuplicateID); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("duplicate id %q is not 128 bits of hex", id)
	}
	if string(f.Body) != "hello\x00world" {
		t.Errorf("body = %q", f.Body)
	}
	sc.receipt(t, f)
	if err := result(t, res); err != nil {
		t.Fatal(err)
	}
}

func TestSendRefused(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s)
	ctx := testCtx(t)
	res := async(func() error { return c.Send(ctx, "q", []byte("x")) })
	f := sc.expect(t, stomp.CmdSend)
	sc.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
		{Key: stomp.HdrMessage, Value: "permission denied"},
		{Key: stomp.HdrReceiptID, Value: f.Headers.Value(stomp.HdrReceipt)},
	}, Body: []byte("user may not send to /queue/q")})
	err := result(t, res)
	var be *BrokerError
	if !errors.As(err, &be) || be.Message != "permission denied" || be.Body != "user may not send to /queue/q" {
		t.Fatalf("Send = %v, want the broker's error", err)
	}
	<-c.Done()
	if err := c.Send(ctx, "q", nil); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Send after ERROR = %v", err)
	}
}

func TestSendOptions(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	exp := time.UnixMilli(1_900_000_000_000)
	tests := []struct {
		name   string
		dest   string
		opts   []SendOption
		want   map[string]string
		absent []string
	}{
		{"defaults", "TEST", nil,
			map[string]string{"destination": "/queue/TEST", "persistent": "true"},
			[]string{"priority", "expires", "content-type", "transaction"}},
		{"non-persistent", "topic://news", []SendOption{NonPersistent()},
			map[string]string{"destination": "/topic/news", "persistent": "false"},
			[]string{"receipt"}},
		{"headers", "/queue/x", []SendOption{WithContentType("text/plain"), WithPriority(7), WithExpiration(exp), WithHeader("app", "v1"), WithHeader("persistent", "false")},
			map[string]string{"content-type": "text/plain", "priority": "7", "expires": "1900000000000", "app": "v1", "persistent": "false"},
			nil},
		{"priority clamped", "q", []SendOption{WithPriority(42)}, map[string]string{"priority": "9"}, nil},
		{"given duplicate id", "q", []SendOption{WithDuplicateID("order-17")}, map[string]string{"_AMQ_DUPL_ID": "order-17"}, nil},
		{"no duplicate id", "q", []SendOption{WithoutDuplicateID()}, nil, []string{"_AMQ_DUPL_ID"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Send(ctx, tc.dest, []byte("b"), tc.opts...); err != nil {
				t.Fatal(err)
			}
			f := sc.expect(t, stomp.CmdSend)
			for k, v := range tc.want {
				if got := f.Headers.Value(k); got != v {
					t.Errorf("%s = %q, want %q (frame %s)", k, got, v, f)
				}
			}
			for _, k := range tc.absent {
				if _, ok := f.Headers.Get(k); ok {
					t.Errorf("%s should be absent (frame %s)", k, f)
				}
			}
		})
	}
	if err := c.Send(ctx, "q", nil, WithHeader("receipt", "mine")); !errors.Is(err, ErrReservedHeader) {
		t.Errorf("overriding receipt = %v", err)
	}
	if err := c.Send(ctx, "bogus://q", nil); !errors.Is(err, ErrBadDestination) {
		t.Errorf("bad destination = %v", err)
	}
	ttl := time.Now().Add(time.Hour).UnixMilli()
	if err := c.Send(ctx, "q", nil, WithTimeToLive(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ := strconv.ParseInt(sc.expect(t, stomp.CmdSend).Headers.Value("expires"), 10, 64)
	if d := got - ttl; d < -time.Minute.Milliseconds() || d > time.Minute.Milliseconds() {
		t.Errorf("WithTimeToLive(1h) gave expires %d, about %d expected", got, ttl)
	}
}

func TestDuplicateIDsDiffer(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	seen := map[string]bool{}
	for range 50 {
		if err := c.Send(ctx, "q", nil); err != nil {
			t.Fatal(err)
		}
		id := sc.expect(t, stomp.CmdSend).Headers.Value(stomp.HdrDuplicateID)
		if seen[id] {
			t.Fatalf("duplicate id %s reused", id)
		}
		seen[id] = true
	}
}

func TestSendWindow(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s, WithSendWindow(3))
	ctx := testCtx(t)
	var sends []*stomp.Frame
	for i := range 3 {
		// With room in the window, Send returns without a receipt.
		if err := c.Send(ctx, "q", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		sends = append(sends, sc.expect(t, stomp.CmdSend))
	}
	fourth := async(func() error { return c.Send(ctx, "q", []byte("3")) })
	waitFor(t, "the fourth Send to wait for the window", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.slotWaiters == 1
	})
	if len(sc.frames) != 0 {
		t.Fatal("a fourth SEND went out with three unconfirmed")
	}
	sc.receipt(t, sends[1])
	if err := result(t, fourth); err != nil {
		t.Fatal(err)
	}
	sends = append(sends, sc.expect(t, stomp.CmdSend))
	flushed := async(func() error { return c.Flush(ctx) })
	for _, i := range []int{0, 2} {
		sc.receipt(t, sends[i])
	}
	if !pending(flushed) {
		t.Fatalf("Flush returned %v with the fourth send unconfirmed", <-flushed)
	}
	sc.receipt(t, sends[3])
	if err := result(t, flushed); err != nil {
		t.Fatal(err)
	}
}

func TestWindowedSendErrorSurfacesLater(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s, WithSendWindow(4))
	ctx := testCtx(t)
	for range 2 {
		if err := c.Send(ctx, "q", nil); err != nil {
			t.Fatal(err)
		}
	}
	first := sc.expect(t, stomp.CmdSend)
	second := sc.expect(t, stomp.CmdSend)
	sc.receipt(t, first)
	sc.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
		{Key: stomp.HdrMessage, Value: "address full"},
		{Key: stomp.HdrReceiptID, Value: second.Headers.Value(stomp.HdrReceipt)},
	}})
	<-c.Done()
	err := c.Flush(ctx)
	var be *BrokerError
	if !errors.As(err, &be) || be.Message != "address full" {
		t.Fatalf("Flush = %v, want the broker's refusal of the second send", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("second Flush = %v", err)
	}
}

func TestWindowedSendErrorOnNextSend(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s, WithSendWindow(2))
	ctx := testCtx(t)
	if err := c.Send(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	f := sc.expect(t, stomp.CmdSend)
	// The broker refuses the send but keeps the connection: the refusal
	// must reach the next Send, which is not sent.
	c.completeReceipt(f.Headers.Value(stomp.HdrReceipt), errors.New("refused"))
	if err := c.Send(ctx, "q", nil); err == nil || err.Error() != "refused" {
		t.Fatalf("next Send = %v", err)
	}
	if len(sc.frames) != 0 {
		t.Error("the Send that reported the earlier failure was sent anyway")
	}
	if err := c.Send(ctx, "q", nil); err != nil {
		t.Fatalf("the error must be reported once: %v", err)
	}
}

func TestAbandonedSendErrorIsKept(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s)
	ctx, cancel := context.WithCancel(testCtx(t))
	res := async(func() error { return c.Send(ctx, "q", nil) })
	f := sc.expect(t, stomp.CmdSend)
	cancel()
	if err := result(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Send = %v", err)
	}
	c.completeReceipt(f.Headers.Value(stomp.HdrReceipt), errors.New("late refusal"))
	if err := c.Flush(testCtx(t)); err == nil || err.Error() != "late refusal" {
		t.Fatalf("Flush = %v, want the abandoned send's failure", err)
	}
}

func TestSendCancelledWhileWindowFull(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s, WithSendWindow(2))
	ctx := testCtx(t)
	for range 2 {
		if err := c.Send(ctx, "q", nil); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithCancel(ctx)
	res := async(func() error { return c.Send(short, "q", nil) })
	waitFor(t, "Send to wait for the window", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.slotWaiters == 1
	})
	cancel()
	if err := result(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v", err)
	}
	for range 2 {
		sc.receipt(t, sc.expect(t, stomp.CmdSend))
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(c.slots) != 0 {
		t.Fatalf("%d window slots leaked", len(c.slots))
	}
}

func TestConcurrentSends(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s, WithSendWindow(8))
	ctx := testCtx(t)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := c.Send(ctx, "q", []byte(fmt.Sprintf("%d-%d", w, i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range workers * each {
		got[string(sc.expect(t, stomp.CmdSend).Body)] = true
	}
	if len(got) != workers*each {
		t.Fatalf("broker got %d distinct messages, want %d", len(got), workers*each)
	}
}

func TestCloseFlushesSends(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s, WithSendWindow(4))
	ctx := testCtx(t)
	if err := c.Send(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	closed := async(c.Close)
	f := sc.expect(t, stomp.CmdSend)
	if !pending(closed) {
		t.Fatalf("Close returned %v before the send was confirmed", <-closed)
	}
	sc.receipt(t, f)
	sc.receipt(t, sc.expect(t, stomp.CmdDisconnect))
	if err := result(t, closed); err != nil {
		t.Fatal(err)
	}
}
