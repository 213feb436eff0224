package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

func TestDialHandshake(t *testing.T) {
	s := newFakeServer(t, nil)
	var logs bytes.Buffer
	c, sc := dial(t, s, WithCredentials("admin", "secret"), WithClientID("app-1"),
		WithHeartBeat(3*time.Second, 4*time.Second), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	h := sc.connect.Headers
	want := map[string]string{
		stomp.HdrAcceptVersion: "1.0,1.1,1.2",
		stomp.HdrHost:          "127.0.0.1",
		stomp.HdrLogin:         "admin",
		stomp.HdrPasscode:      "secret",
		stomp.HdrClientID:      "app-1",
		stomp.HdrHeartBeat:     "3000,4000",
	}
	for k, v := range want {
		if got := h.Value(k); got != v {
			t.Errorf("CONNECT %s = %q, want %q", k, got, v)
		}
	}
	if sc.connect.Command != stomp.CmdConnect {
		t.Errorf("handshake command = %s", sc.connect.Command)
	}
	if c.Version() != stomp.V12 || c.Server() != "fake/1.0" || c.Endpoint().String() != s.URL() {
		t.Errorf("Version %v, Server %q, Endpoint %v", c.Version(), c.Server(), c.Endpoint())
	}
	if !strings.Contains(logs.String(), "connected to broker") {
		t.Errorf("no connection log line in %q", logs.String())
	}
	if c.Err() != nil {
		t.Fatalf("Err() = %v on a live connection", c.Err())
	}
}

func TestDialWithoutCredentials(t *testing.T) {
	s := newFakeServer(t, nil)
	_, sc := dial(t, s, WithHost("vhost"))
	if _, ok := sc.connect.Headers.Get(stomp.HdrLogin); ok {
		t.Error("CONNECT carries a login although none was given")
	}
	if sc.connect.Headers.Value(stomp.HdrHost) != "vhost" {
		t.Error("WithHost is ignored")
	}
}

func TestDialLoginFailure(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.users = map[string]string{"admin": "admin"} })
	_, err := Dial(testCtx(t), s.URL(), WithCredentials("admin", "wrong"))
	if err == nil {
		t.Fatal("Dial succeeded with a bad password")
	}
	var be *BrokerError
	if !errors.Is(err, ErrConnectRejected) || !errors.As(err, &be) {
		t.Fatalf("error %v should wrap ErrConnectRejected and a *BrokerError", err)
	}
	msg := err.Error()
	for _, part := range []string{s.URL(), "broker refused the connection", "password is invalid", "check the credentials"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not mention %q", msg, part)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
}

func TestDialFailures(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "tcp://" + ln.Addr().String()
	ln.Close()

	silent := newFakeServer(t, func(s *fakeServer) { s.raw = func(net.Conn) {} })
	httpish := newFakeServer(t, func(s *fakeServer) {
		s.raw = func(nc net.Conn) { nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) }
	})
	hangup := newFakeServer(t, func(s *fakeServer) { s.raw = func(nc net.Conn) { nc.Close() } })

	tests := []struct {
		name  string
		url   string
		opts  []Option
		parts []string
		is    error
	}{
		{"refused", refused, nil, []string{refused, "refused"}, nil},
		{"bad URL", "udp://x:1", nil, []string{`"udp://x:1"`, "unknown scheme"}, ErrBadURL},
		{"no CONNECTED", silent.URL(), []Option{WithConnectTimeout(50 * time.Millisecond)}, []string{silent.URL(), "no CONNECTED frame within 50ms"}, context.DeadlineExceeded},
		{"not STOMP", httpish.URL(), nil, []string{httpish.URL(), "not STOMP"}, ErrProtocol},
		{"hang-up", hangup.URL(), nil, []string{hangup.URL(), "connection closed during the STOMP handshake"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(testCtx(t), tc.url, tc.opts...)
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not mention %q", err, p)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestDialCancelled(t *testing.T) {
	silent := newFakeServer(t, func(s *fakeServer) { s.raw = func(net.Conn) {} })
	ctx, cancel := context.WithCancel(context.Background())
	done := async(func() error {
		_, err := Dial(ctx, silent.URL())
		return err
	})
	cancel()
	if err := result(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial after cancel = %v", err)
	}
}

func TestDialTriesEndpointsInOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	s := newFakeServer(t, nil)
	live := strings.TrimPrefix(s.URL(), "tcp://")

	for _, url := range []string{
		"failover:(tcp://" + dead + ",tcp://" + live + ")?randomize=false",
		"(tcp://" + dead + ",tcp://" + live + ")?ha=true",
	} {
		c, err := Dial(testCtx(t), url, WithHeartBeat(0, 0))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		s.next(t)
		if c.Endpoint().Addr() != live {
			t.Errorf("%s: connected to %v", url, c.Endpoint())
		}
		if !c.URLOptions().Failover() {
			t.Errorf("%s: URL options lost", url)
		}
		c.Close()
	}

	// startupMaxReconnectAttempts=0: one round, no retry (by default
	// Classic's failover: retries for ever).
	_, err = Dial(testCtx(t), "failover:(tcp://"+dead+",tcp://"+dead+")?startupMaxReconnectAttempts=0")
	if err == nil || !strings.Contains(err.Error(), "could not connect to any broker of failover:") || strings.Count(err.Error(), dead) < 3 {
		t.Fatalf("error should name the URL and each broker: %v", err)
	}
}

func TestVersion10Broker(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.version = "-" })
	c, sc := dial(t, s)
	if c.Version() != stomp.V10 {
		t.Fatalf("version = %v, want 1.0 when CONNECTED has no version header", c.Version())
	}
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", WithAckMode(AckClient))
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	sc.message(sub.ID(), "/queue/q", "m-1", "x")
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Nack(ctx); !errors.Is(err, ErrNotSupported) {
		t.Errorf("NACK on 1.0 = %v", err)
	}
	if err := m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	ack := sc.expect(t, stomp.CmdAck)
	if ack.Headers.Value(stomp.HdrMessageID) != "m-1" {
		t.Errorf("1.0 ACK = %s", ack)
	}
}

func TestCloseDisconnects(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d := sc.expect(t, stomp.CmdDisconnect)
	if _, ok := d.Headers.Get(stomp.HdrReceipt); !ok {
		t.Error("DISCONNECT asks for no receipt")
	}
	sc.waitClosed(t)
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err after Close = %v", c.Err())
	}
	ctx := testCtx(t)
	if err := c.Send(ctx, "q", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
	if _, err := c.Subscribe(ctx, "q"); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v", err)
	}
	if _, err := c.Begin(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Begin after Close = %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done is not closed after Close")
	}
}

func TestCloseWithoutDisconnectReceipt(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s, WithCloseTimeout(50*time.Millisecond))
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v; a broker that does not confirm DISCONNECT is not the caller's problem", err)
	}
	sc.expect(t, stomp.CmdDisconnect)
	sc.waitClosed(t)
}

func TestErrorFrameStopsConn(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	sc.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{{Key: stomp.HdrMessage, Value: "disk full"}}})
	<-c.Done()
	var be *BrokerError
	if err := c.Err(); !errors.Is(err, ErrConnectionLost) || !errors.As(err, &be) || be.Message != "disk full" {
		t.Fatalf("Err() = %v", err)
	}
	if _, err := sub.Receive(ctx); !errors.As(err, &be) {
		t.Errorf("Receive after ERROR = %v", err)
	}
	if err := c.Send(ctx, "q", nil); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Send after ERROR = %v", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Flush after ERROR = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after ERROR = %v", err)
	}
}

func TestBrokerVanishes(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s)
	ctx := testCtx(t)
	res := async(func() error { return c.Send(ctx, "q", []byte("x")) })
	sc.expect(t, stomp.CmdSend)
	sc.nc.Close()
	err := result(t, res)
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), s.URL()) {
		t.Fatalf("Send when the broker vanished = %v", err)
	}
}

func TestHeartBeatsSent(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.heartBeat = "0,20" })
	c, sc := dial(t, s, WithHeartBeat(10*time.Millisecond, 0))
	waitFor(t, "heart-beats from the client", func() bool { return sc.beats.Load() >= 3 })
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

func TestHeartBeatTimeout(t *testing.T) {
	// The broker promises heart-beats every 10ms and sends none.
	s := newFakeServer(t, func(s *fakeServer) { s.heartBeat = "10,0" })
	c, _ := dial(t, s, WithHeartBeat(0, 10*time.Millisecond))
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("a silent broker went unnoticed")
	}
	if err := c.Err(); !errors.Is(err, ErrHeartBeatTimeout) || !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Err() = %v", err)
	}
}

func TestHeartBeatsKeepAlive(t *testing.T) {
	// The broker heart-beats every 10ms and asked to be checked at 200ms
	// (so the client allows 400ms of silence); the idle client must not
	// time out over a second and more of beats, which is far past the
	// deadline unless each beat moves it. The margin keeps a loaded
	// machine's scheduling stalls from failing the test.
	s := newFakeServer(t, func(s *fakeServer) { s.heartBeat = "200,0" })
	c, sc := dial(t, s, WithHeartBeat(0, 200*time.Millisecond))
	var sent atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				sc.wmu.Lock()
				sc.w.WriteHeartBeat()
				sc.w.Flush()
				sc.wmu.Unlock()
				sent.Add(1)
			}
		}
	}()
	waitFor(t, "120 heart-beats from the broker", func() bool { return sent.Load() >= 120 || c.Err() != nil })
	if err := c.Err(); err != nil {
		t.Fatalf("connection failed despite heart-beats: %v", err)
	}
}

func TestBrokerErrorText(t *testing.T) {
	tests := []struct {
		e    BrokerError
		want string
	}{
		{BrokerError{}, "broker error (no details given)"},
		{BrokerError{Message: "denied"}, "broker error: denied"},
		{BrokerError{Body: "line1\nline2"}, "broker error: line1 line2"},
		{BrokerError{Message: "denied", Body: "denied"}, "broker error: denied"},
		{BrokerError{Message: "denied", Body: "  user x\n may not send "}, "broker error: denied: user x may not send"},
		// The server's short message is often the start of the body.
		{BrokerError{Message: "login failed", Body: "login failed for user \"x\": bad credentials"},
			"broker error: login failed for user \"x\": bad credentials"},
		{BrokerError{Message: "destination name is 3000 bytes long; the limit is 1024 (max-destination-name-len",
			Body: "destination name is 3000 bytes long; the limit is 1024 (max-destination-name-length in broker.yaml)\n"},
			"broker error: destination name is 3000 bytes long; the limit is 1024 (max-destination-name-length in broker.yaml)"},
		{BrokerError{Message: "m", Body: strings.Repeat("b", 400)}, "broker error: m: " + strings.Repeat("b", 300) + "..."},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
