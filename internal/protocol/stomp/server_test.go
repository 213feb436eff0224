package stomp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/stomp"
)

type testAuth struct{}

func (testAuth) Authenticate(_, login, pass string) (protocol.Identity, error) {
	switch {
	case login == "" || (login == "admin" && pass == "secret"):
		return protocol.Identity{User: login, Roles: []string{"amq"}}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// startServer runs a broker and a STOMP listener on a free port.
func startServer(t *testing.T, opts Options) string {
	t.Helper()
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	opts.Broker = b
	opts.Auth = testAuth{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{NewServer(opts)}, HandshakeTimeout: 2 * time.Second})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	return ln.Addr().String()
}

// client is a raw STOMP connection for send/expect tests.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *wire.Reader
	w  *wire.Writer
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: wire.NewReader(nc, wire.ReaderOptions{}), w: wire.NewWriter(nc)}
}

func (c *client) send(cmd string, body string, kv ...string) {
	c.t.Helper()
	f := &wire.Frame{Command: cmd, Body: []byte(body)}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers.Add(kv[i], kv[i+1])
	}
	if err := c.w.WriteFrame(f); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads the next non-heart-beat frame and checks its command.
func (c *client) expect(cmd string) *wire.Frame {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", cmd, err)
		}
		if f.IsHeartBeat() {
			continue
		}
		if f.Command != cmd {
			c.t.Fatalf("got %s %v %q, want %s", f.Command, f.Headers, f.Body, cmd)
		}
		return f
	}
}

// expectClosed checks that the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("connection still open")
			}
			return
		}
		if !f.IsHeartBeat() {
			c.t.Fatalf("unexpected %s before close", f.Command)
		}
	}
}

func (c *client) connect(kv ...string) *wire.Frame {
	c.t.Helper()
	c.send("CONNECT", "", append([]string{"accept-version", "1.2", "host", "localhost"}, kv...)...)
	f := c.expect("CONNECTED")
	c.r.SetVersion(wire.V12)
	c.w.SetVersion(wire.V12)
	return f
}

func header(t *testing.T, f *wire.Frame, key string) string {
	t.Helper()
	v, ok := f.Headers.Get(key)
	if !ok {
		t.Fatalf("%s frame has no %s header: %v", f.Command, key, f.Headers)
	}
	return v
}

func TestSendSubscribeAck(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	if v := header(t, c.connect("login", "admin", "passcode", "secret"), "version"); v != "1.2" {
		t.Fatalf("version %s", v)
	}
	c.send("SEND", "hello", "destination", "/queue/orders", "persistent", "true", "receipt", "r1", "color", "red")
	if id := header(t, c.expect("RECEIPT"), "receipt-id"); id != "r1" {
		t.Fatalf("receipt-id %s", id)
	}
	c.send("SUBSCRIBE", "", "id", "s1", "destination", "/queue/orders", "ack", "client-individual")
	m := c.expect("MESSAGE")
	if string(m.Body) != "hello" || header(t, m, "color") != "red" || header(t, m, "subscription") != "s1" ||
		header(t, m, "destination") != "/queue/orders" || header(t, m, "persistent") != "true" {
		t.Fatalf("message %v %q", m.Headers, m.Body)
	}
	c.send("ACK", "", "id", header(t, m, "ack"), "receipt", "r2")
	c.expect("RECEIPT")
	c.send("DISCONNECT", "", "receipt", "bye")
	c.expect("RECEIPT")
	c.expectClosed()
}

func TestDestinationSpellingsReachTheSameQueue(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.connect()
	for i, d := range []string{"/queue/a", "queue://a", "a"} {
		c.send("SEND", d, "destination", d, "receipt", "r")
		c.expect("RECEIPT")
		_ = i
	}
	c.send("SEND", "typed", "destination", "a", "destination-type", "ANYCAST", "receipt", "r")
	c.expect("RECEIPT")
	c.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/a")
	for _, want := range []string{"/queue/a", "queue://a", "a", "typed"} {
		if got := string(c.expect("MESSAGE").Body); got != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
}

func TestTopicFanOut(t *testing.T) {
	addr := startServer(t, Options{})
	subs := make([]*client, 2)
	for i := range subs {
		subs[i] = dial(t, addr)
		subs[i].connect()
		subs[i].send("SUBSCRIBE", "", "id", "s", "destination", "/topic/news", "receipt", "ok")
		subs[i].expect("RECEIPT")
	}
	p := dial(t, addr)
	p.connect()
	p.send("SEND", "extra", "destination", "topic://news")
	for _, s := range subs {
		if got := string(s.expect("MESSAGE").Body); got != "extra" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestBadLoginGetsErrorAndClose(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.send("CONNECT", "", "accept-version", "1.2", "login", "admin", "passcode", "wrong")
	e := c.expect("ERROR")
	if !strings.Contains(header(t, e, "message"), "login failed") {
		t.Fatalf("error %v", e.Headers)
	}
	c.expectClosed()
}

func TestMisbehavingClientsDoNotDisturbOthers(t *testing.T) {
	addr := startServer(t, Options{MaxFrameSize: 4096})
	good := dial(t, addr)
	good.connect()
	good.send("SEND", "kept", "destination", "/queue/q", "persistent", "true", "receipt", "r")
	good.expect("RECEIPT")

	cases := []struct {
		name string
		act  func(c *client)
	}{
		{"garbage", func(c *client) { c.nc.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }},
		{"frame too large", func(c *client) {
			c.connect()
			c.send("SEND", strings.Repeat("x", 10000), "destination", "/queue/q")
			c.expect("ERROR")
		}},
		{"unknown ack", func(c *client) {
			c.connect()
			c.send("ACK", "", "id", "99.99")
			c.expect("ERROR")
		}},
		{"subscribe to nothing", func(c *client) {
			c.connect()
			c.send("SUBSCRIBE", "", "id", "s")
			c.expect("ERROR")
		}},
		{"frame before connect", func(c *client) {
			c.send("CONNECT", "", "accept-version", "9.9")
			c.expect("ERROR")
		}},
		{"bad escape", func(c *client) {
			c.connect()
			c.nc.Write([]byte("SEND\ndestination:/queue/q\nbad:\\t\n\nx\x00"))
			c.expect("ERROR")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.t = t
			tc.act(c)
			c.expectClosed()
		})
	}
	good.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/q")
	if got := string(good.expect("MESSAGE").Body); got != "kept" {
		t.Fatalf("got %q", got)
	}
}

func TestUnackedMessagesAreRedeliveredAfterDisconnect(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.connect()
	c.send("SEND", "m", "destination", "/queue/q", "receipt", "r")
	c.expect("RECEIPT")
	c.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/q", "ack", "client")
	c.expect("MESSAGE")
	c.nc.Close()

	c2 := dial(t, addr)
	c2.connect()
	c2.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/q", "ack", "client")
	m := c2.expect("MESSAGE")
	if header(t, m, "redelivered") != "true" || header(t, m, "delivery-count") != "2" {
		t.Fatalf("redelivery headers %v", m.Headers)
	}
}

func TestBrowseEndsWithMarker(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.connect()
	for i := 0; i < 2; i++ {
		c.send("SEND", "m", "destination", "/queue/q", "receipt", "r")
		c.expect("RECEIPT")
	}
	for round := 0; round < 2; round++ {
		c.send("SUBSCRIBE", "", "id", "b", "destination", "/queue/q", "browser", "true")
		c.expect("MESSAGE")
		c.expect("MESSAGE")
		if header(t, c.expect("MESSAGE"), "browser") != "end" {
			t.Fatal("no end marker")
		}
		c.send("UNSUBSCRIBE", "", "id", "b")
	}
}

func TestTransactionsOverStomp(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.connect()
	c.send("BEGIN", "", "transaction", "t1")
	c.send("SEND", "aborted", "destination", "/queue/q", "transaction", "t1")
	c.send("ABORT", "", "transaction", "t1")
	c.send("BEGIN", "", "transaction", "t2")
	c.send("SEND", "committed", "destination", "/queue/q", "transaction", "t2")
	c.send("COMMIT", "", "transaction", "t2", "receipt", "c")
	c.expect("RECEIPT")
	c.send("SUBSCRIBE", "", "id", "b", "destination", "/queue/q", "browser", "true")
	if got := string(c.expect("MESSAGE").Body); got != "committed" {
		t.Fatalf("got %q", got)
	}
	c.expect("MESSAGE")
}

func TestStomp10ClientAcksByMessageID(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.send("CONNECT", "")
	if v := header(t, c.expect("CONNECTED"), "version"); v != "1.0" {
		t.Fatalf("version %s", v)
	}
	c.send("SEND", "old", "destination", "/queue/q")
	c.send("SUBSCRIBE", "", "destination", "/queue/q", "ack", "client")
	m := c.expect("MESSAGE")
	c.send("ACK", "", "message-id", header(t, m, "message-id"), "receipt", "r")
	c.expect("RECEIPT")
}

func TestHeartBeatTimeoutClosesConnection(t *testing.T) {
	addr := startServer(t, Options{HeartBeat: 100 * time.Millisecond})
	c := dial(t, addr)
	f := c.connect("heart-beat", "100,100")
	if hb := header(t, f, "heart-beat"); hb != "100,100" {
		t.Fatalf("heart-beat %s", hb)
	}
	// Send nothing: the server expects a beat every 100 ms and gives up
	// after 1.5 intervals plus a second of grace.
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without an ERROR: %v", err)
		}
		if f.Command == "ERROR" {
			break
		}
	}
	c.expectClosed()
}

// TestReceiptWrittenDirectlyKeepsItsPlace checks the receipts the read
// goroutine writes itself (a SEND with a receipt and nothing behind it):
// each arrives, in order, and never ahead of a frame queued before it —
// here the MESSAGE the send itself delivers to the same connection.
func TestReceiptWrittenDirectlyKeepsItsPlace(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.connect("login", "admin", "passcode", "secret")
	for i := range 20 {
		id := fmt.Sprintf("r%d", i)
		c.send("SEND", "alone", "destination", "/queue/direct", "persistent", "true", "receipt", id)
		if got := header(t, c.expect("RECEIPT"), "receipt-id"); got != id {
			t.Fatalf("receipt-id %s, want %s", got, id)
		}
	}
	c.send("SUBSCRIBE", "", "id", "s1", "destination", "/queue/mine", "ack", "auto", "receipt", "sub")
	c.expect("RECEIPT")
	for i := range 20 {
		c.send("SEND", "to myself", "destination", "/queue/mine", "persistent", "true", "receipt", fmt.Sprintf("m%d", i))
		c.expect("MESSAGE")
		if got := header(t, c.expect("RECEIPT"), "receipt-id"); got != fmt.Sprintf("m%d", i) {
			t.Fatalf("receipt-id %s, want m%d", got, i)
		}
	}
}

// failingConn is a connection whose writes fail once armed, while its
// reads go on: a peer that stopped taking bytes but still sends.
type failingConn struct {
	net.Conn
	armed atomic.Bool
}

func (f *failingConn) Write(p []byte) (int, error) {
	if f.armed.Load() {
		return 0, errors.New("write: broken pipe")
	}
	return f.Conn.Write(p)
}

// TestFailedHeartBeatWriteClosesConnection: a heart-beat that cannot be
// written closes the connection, even while the client's own beats keep
// its read side alive.
func TestFailedHeartBeatWriteClosesConnection(t *testing.T) {
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	opts := Options{HeartBeat: 50 * time.Millisecond}
	opts.Broker, opts.Auth = b, testAuth{}
	srv := NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan *failingConn, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		fc := &failingConn{Conn: nc}
		conns <- fc
		srv.Serve(context.Background(), fc)
	}()
	c := dial(t, ln.Addr().String())
	c.connect("heart-beat", "50,50")
	(<-conns).armed.Store(true)
	// The client beats on, so the server's read side never times out.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := c.nc.Write([]byte("\n")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept a connection whose heart-beats could not be written")
	}
}
