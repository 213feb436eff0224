package openwire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/message"
	"tandem/internal/protocol"
	"tandem/internal/selector"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/openwire"
)

type testAuth struct{}

func (testAuth) Authenticate(_, login, pass string) (protocol.Identity, error) {
	switch {
	case login == "" || (login == "admin" && pass == "secret"):
		return protocol.Identity{User: login, Roles: []string{"amq"}}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// testServer is a broker with an OpenWire listener on a free port.
type testServer struct {
	addr string
	b    *broker.Broker
	srv  *Server
}

func startServer(t *testing.T, opts Options, bopts broker.Options) *testServer {
	t.Helper()
	if bopts.Store == nil {
		bopts.Store = memstore.New()
	}
	if bopts.Filters == nil {
		bopts.Filters = func(s string) (broker.Filter, error) { return selector.Compile(s) }
	}
	b, err := broker.New(bopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	opts.Broker = b
	if opts.Ingest == nil {
		// A gate of one slot, as on a machine of two processors, so that
		// every test runs through the ingest gate as a server does.
		opts.Ingest = protocol.NewIngestGate(1)
	}
	if opts.Auth == nil {
		opts.Auth = testAuth{}
	}
	srv := NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{srv}, HandshakeTimeout: 2 * time.Second})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	return &testServer{addr: ln.Addr().String(), b: b, srv: srv}
}

// client is a raw OpenWire connection speaking the codec directly, so
// tests can send exactly the commands the JMS client sends.
type client struct {
	t       *testing.T
	nc      net.Conn
	r       *wire.Reader
	w       *wire.Writer
	next    int32
	pending []wire.DataStructure
	connID  string
	session int64
	// wf is the broker's WireFormatInfo, brokerInfo the BrokerInfo after it.
	wf         wire.WireFormat
	brokerInfo *wire.BrokerInfo
}

// dialRaw connects and exchanges WireFormatInfos at the given version.
func dialRaw(t *testing.T, addr string, version int32) *client {
	t.Helper()
	f := wire.DefaultClientWireFormat()
	f.Version = version
	return dialWith(t, addr, f)
}

// dialWith connects and proposes f.
func dialWith(t *testing.T, addr string, f wire.WireFormat) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, r: wire.NewReader(nc, wire.ReaderOptions{}), w: wire.NewWriter(nc)}
	info, err := wire.NewWireFormatInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	c.write(info)
	got := c.read(5 * time.Second)
	wfi, ok := got.(*wire.WireFormatInfo)
	if !ok {
		t.Fatalf("first frame from the broker is a %T, want a WireFormatInfo", got)
	}
	if c.wf, err = wfi.WireFormat(); err != nil {
		t.Fatal(err)
	}
	if f.Version >= wire.MinVersion {
		bi, ok := c.read(5 * time.Second).(*wire.BrokerInfo)
		if !ok {
			t.Fatal("no BrokerInfo after the WireFormatInfo")
		}
		c.brokerInfo = bi
	}
	return c
}

// dial connects and opens a connection with a session, as the JMS client
// does before anything else.
func dial(t *testing.T, addr, user, pass, clientID string) *client {
	t.Helper()
	c := dialRaw(t, addr, wire.MaxVersion)
	if r := c.connect(user, pass, clientID); r.DataType() != wire.TypeResponse {
		t.Fatalf("ConnectionInfo answered with %v", describe(r))
	}
	c.session = 1
	c.ok(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: c.connID, Value: c.session}})
	return c
}

var connCounter int

// connect sends a ConnectionInfo and returns its answer.
func (c *client) connect(user, pass, clientID string) wire.DataStructure {
	c.t.Helper()
	if c.connID == "" {
		connCounter++
		c.connID = fmt.Sprintf("ID:test-%d-%d:1", time.Now().UnixNano(), connCounter)
	}
	return c.request(&wire.ConnectionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, ClientID: clientID,
		UserName: user, Password: pass})
}

func (c *client) write(ds wire.DataStructure) {
	c.t.Helper()
	if err := c.w.WriteCommand(ds); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next frame from the broker, skipping keep-alives.
func (c *client) read(within time.Duration) wire.DataStructure {
	c.t.Helper()
	ds, err := c.tryRead(within)
	if err != nil {
		c.t.Fatalf("reading from the broker: %v", err)
	}
	return ds
}

func (c *client) tryRead(within time.Duration) (wire.DataStructure, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	for {
		ds, err := c.r.ReadCommand()
		if err != nil {
			return nil, err
		}
		if _, ok := ds.(*wire.KeepAliveInfo); ok {
			continue
		}
		return ds, nil
	}
}

// oneway sends cmd without asking for an answer.
func (c *client) oneway(cmd wire.Command) {
	c.t.Helper()
	c.next++
	cmd.Base().CommandID = c.next
	c.write(cmd)
}

// request sends cmd asking for an answer and returns the answer; other
// frames that arrive meanwhile are kept for next.
func (c *client) request(cmd wire.Command) wire.DataStructure {
	c.t.Helper()
	c.next++
	b := cmd.Base()
	b.CommandID, b.ResponseRequired = c.next, true
	c.write(cmd)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := c.read(time.Until(deadline))
		switch r := ds.(type) {
		case *wire.Response:
			if r.CorrelationID == b.CommandID {
				return r
			}
		case *wire.ExceptionResponse:
			if r.CorrelationID == b.CommandID {
				return r
			}
		}
		c.pending = append(c.pending, ds)
	}
}

// ok sends cmd and fails the test unless it is answered with a Response.
func (c *client) ok(cmd wire.Command) {
	c.t.Helper()
	if r := c.request(cmd); r.DataType() != wire.TypeResponse {
		c.t.Fatalf("%v answered with %v", cmd.DataType(), describe(r))
	}
}

// fails sends cmd and returns the exception it is answered with.
func (c *client) fails(cmd wire.Command) *wire.Throwable {
	c.t.Helper()
	r, ok := c.request(cmd).(*wire.ExceptionResponse)
	if !ok {
		c.t.Fatalf("%v was accepted; want an exception", cmd.DataType())
	}
	return r.Exception
}

// nextFrame returns the next frame not yet consumed by request.
func (c *client) nextFrame(within time.Duration) wire.DataStructure {
	c.t.Helper()
	if len(c.pending) > 0 {
		ds := c.pending[0]
		c.pending = c.pending[1:]
		return ds
	}
	return c.read(within)
}

// dispatch waits for the next MessageDispatch.
func (c *client) dispatch() *wire.MessageDispatch {
	c.t.Helper()
	for {
		ds := c.nextFrame(5 * time.Second)
		if md, ok := ds.(*wire.MessageDispatch); ok {
			return md
		}
		c.t.Logf("skipping %s", describe(ds))
	}
}

// messages waits for n dispatches with messages.
func (c *client) messages(n int) []*wire.MessageDispatch {
	c.t.Helper()
	out := make([]*wire.MessageDispatch, 0, n)
	for len(out) < n {
		md := c.dispatch()
		if md.Message == nil {
			c.t.Fatalf("a dispatch without a message after %d of %d", len(out), n)
		}
		out = append(out, md)
	}
	return out
}

// quiet checks that nothing but keep-alives arrives for a while.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	if len(c.pending) > 0 {
		c.t.Fatalf("unexpected %s", describe(c.pending[0]))
	}
	ds, err := c.tryRead(d)
	if err == nil {
		c.t.Fatalf("unexpected %s", describe(ds))
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("connection failed: %v", err)
	}
}

// closed checks that the broker closes the connection, and returns the
// frames it sent before.
func (c *client) closed() []wire.DataStructure {
	c.t.Helper()
	var got []wire.DataStructure
	for {
		ds, err := c.tryRead(5 * time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("the connection is still open")
			}
			return got
		}
		got = append(got, ds)
	}
}

func describe(ds wire.DataStructure) string {
	switch x := ds.(type) {
	case *wire.ExceptionResponse:
		return fmt.Sprintf("ExceptionResponse(%s)", x.Exception)
	case *wire.ConnectionError:
		return fmt.Sprintf("ConnectionError(%s)", x.Exception)
	case nil:
		return "nothing"
	}
	return ds.DataType().String()
}

// ids hands out consumer and producer IDs in the client's session.
func (c *client) consumerID(n int64) *wire.ConsumerID {
	return &wire.ConsumerID{ConnectionID: c.connID, SessionID: c.session, Value: n}
}

func (c *client) producerID(n int64) *wire.ProducerID {
	return &wire.ProducerID{ConnectionID: c.connID, SessionID: c.session, Value: n}
}

// subscribe opens a consumer on dest with a prefetch.
func (c *client) subscribe(n int64, dest *wire.Destination, prefetch int32, edit ...func(*wire.ConsumerInfo)) *wire.ConsumerID {
	c.t.Helper()
	ci := &wire.ConsumerInfo{ConsumerID: c.consumerID(n), Destination: dest, PrefetchSize: prefetch}
	for _, e := range edit {
		e(ci)
	}
	c.ok(ci)
	return ci.ConsumerID
}

var msgSeq int64

// textMessage is a persistent TextMessage from producer 1.
func (c *client) textMessage(dest *wire.Destination, text string) *wire.Message {
	msgSeq++
	pid := c.producerID(1)
	m := &wire.Message{Kind: wire.TypeTextMessage, ProducerID: pid, Destination: dest, Persistent: true, Priority: 4,
		MessageID: &wire.MessageID{ProducerID: pid, ProducerSequenceID: msgSeq}, Timestamp: time.Now().UnixMilli()}
	m.SetText(text)
	return m
}

// send sends a persistent message and waits for its answer.
func (c *client) send(m *wire.Message) {
	c.t.Helper()
	c.ok(m)
}

// ack sends an ack of type typ for the dispatches first..last.
func (c *client) ack(cid *wire.ConsumerID, typ byte, first, last *wire.MessageDispatch, count int32, tx wire.TransactionID) {
	c.t.Helper()
	a := &wire.MessageAck{ConsumerID: cid, AckType: typ, LastMessageID: last.Message.MessageID, MessageCount: count,
		Destination: last.Destination, TransactionID: tx}
	if first != nil {
		a.FirstMessageID = first.Message.MessageID
	}
	c.ok(a)
}

func text(t *testing.T, md *wire.MessageDispatch) string {
	t.Helper()
	s, err := md.Message.Text()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func texts(t *testing.T, mds []*wire.MessageDispatch) string {
	t.Helper()
	var out []string
	for _, md := range mds {
		out = append(out, text(t, md))
	}
	return strings.Join(out, ",")
}

// depth returns the messages waiting in queue name.
func (s *testServer) depth(t *testing.T, name string) int {
	t.Helper()
	q, err := s.b.Queue(name)
	if err != nil {
		return 0
	}
	return int(q.Messages)
}

// waitFor polls cond until it holds, or fails after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// session opens a broker session directly, as another protocol would.
func (s *testServer) session(t *testing.T) *broker.Session {
	t.Helper()
	sess, err := s.b.NewSession(broker.SessionInfo{Protocol: "TEST"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess
}

// sendNeutral sends m through a broker session and waits until stored.
func sendNeutral(t *testing.T, sess *broker.Session, m *message.Message) {
	t.Helper()
	ch := make(chan error, 1)
	sess.Send(m, nil, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}
