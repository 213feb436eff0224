package mqtt

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/message"
	"tandem/internal/protocol"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/mqtt"
)

// testAuth knows admin/secret, alice/pw and bob/pw, and lets anonymous
// clients in unless noAnonymous.
type testAuth struct{ noAnonymous bool }

func (a testAuth) Authenticate(_, login, pass string) (protocol.Identity, error) {
	switch {
	case login == "" && !a.noAnonymous:
		return protocol.Identity{Roles: []string{"guest"}}, nil
	case login == "admin" && pass == "secret", (login == "alice" || login == "bob") && pass == "pw":
		return protocol.Identity{User: login, Roles: []string{login}}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// rules is an Authorizer: user → permission → allowed address prefixes;
// users it does not list may do everything.
type rules map[string]map[broker.Permission][]string

func (r rules) Authorize(user string, _ []string, perm broker.Permission, addr string) bool {
	perms, ok := r[user]
	if !ok {
		return true
	}
	for _, p := range perms[perm] {
		if strings.HasPrefix(addr, p) {
			return true
		}
	}
	return false
}

// rig is a broker with the MQTT adapter on a free port.
type rig struct {
	t      *testing.T
	st     *memstore.Store
	b      *broker.Broker
	srv    *Server
	l      *listener.Listener
	addr   string
	cancel context.CancelFunc
	opts   Options
	bopts  broker.Options
}

func newRig(t *testing.T, edit func(o *Options, b *broker.Options)) *rig {
	t.Helper()
	r := &rig{t: t, st: memstore.New()}
	r.opts = Options{ReceiveMaximum: 100, TopicAliasMaximum: 10, RetainedDeliveryRate: 1000, CloseOnPublishRefused: true,
		DefaultSessionExpiry: -time.Second}
	r.opts.Auth = testAuth{}
	if edit != nil {
		edit(&r.opts, &r.bopts)
	}
	if r.opts.Ingest == nil {
		// A gate of one slot, as on a machine of two processors, so that
		// every test runs through the ingest gate as a server does.
		r.opts.Ingest = protocol.NewIngestGate(1)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) start() {
	r.t.Helper()
	bo := r.bopts
	bo.Store = r.st
	b, err := broker.New(bo)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.b = b
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	o := r.opts
	o.Broker = b
	o.Context = ctx
	r.srv = NewServer(o)
	if _, err := r.srv.store(ctx); err != nil {
		r.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	if r.addr != "" {
		// A restart keeps the port, as a restarted broker does.
		ln.Close()
		ln = listenRetry(r.t, r.addr)
	}
	r.addr = ln.Addr().String()
	r.l = listener.New(ln, listener.Options{Protocols: []listener.Protocol{r.srv}, HandshakeTimeout: 2 * time.Second})
	go r.l.Serve()
}

func listenRetry(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) stop() {
	if r.l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.cancel()
	r.l.Close(ctx)
	r.b.Close()
	r.l = nil
}

// restart stops the broker, as a crash of the process would leave its
// store, and starts a new one on the same store and port.
func (r *rig) restart() {
	r.t.Helper()
	r.stop()
	r.start()
}

// session opens a broker session, for another protocol's view.
func (r *rig) session() *broker.Session {
	r.t.Helper()
	s, err := r.b.NewSession(broker.SessionInfo{User: "admin"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Close)
	return s
}

// queueDepth returns the messages of a queue, -1 if it does not exist.
func (r *rig) queueDepth(name string) int {
	info, err := r.b.Queue(name)
	if err != nil {
		return -1
	}
	return info.Messages
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a raw MQTT client on the codec.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *wire.Reader
	w  *wire.Writer
	v  wire.Version
}

// dial connects and sends c, returning the CONNACK.
func (r *rig) dial(c *wire.Connect) (*client, *wire.Connack) {
	r.t.Helper()
	cl := r.dialRaw()
	if c.Version == 0 {
		c.Version = wire.V5
	}
	cl.v = c.Version
	cl.r = wire.NewReader(cl.nc, wire.ReaderOptions{Role: wire.ClientSide, Version: c.Version})
	cl.send(c)
	p := cl.next()
	ack, ok := p.(*wire.Connack)
	if !ok {
		r.t.Fatalf("got %T, want CONNACK", p)
	}
	return cl, ack
}

// connect dials and fails the test unless the CONNACK accepts.
func (r *rig) connect(c *wire.Connect) *client {
	r.t.Helper()
	cl, ack := r.dial(c)
	if ack.Reason != 0 {
		r.t.Fatalf("CONNACK %v", ack.Reason)
	}
	return cl
}

func (r *rig) dialRaw() *client {
	r.t.Helper()
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { nc.Close() })
	return &client{t: r.t, nc: nc, w: wire.NewWriter(nc), r: wire.NewReader(nc, wire.ReaderOptions{Role: wire.ClientSide})}
}

func (c *client) send(p wire.Packet) {
	c.t.Helper()
	if err := c.w.WritePacket(p); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next packet within 5 s.
func (c *client) next() wire.Packet {
	c.t.Helper()
	p, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("reading: %v", err)
	}
	return p
}

func (c *client) read(within time.Duration) (wire.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(within))
	return c.r.ReadPacket()
}

// publish reads the next packet and fails unless it is a PUBLISH.
func (c *client) publish() *wire.Publish {
	c.t.Helper()
	p := c.next()
	pub, ok := p.(*wire.Publish)
	if !ok {
		c.t.Fatalf("got %T %+v, want PUBLISH", p, p)
	}
	return pub
}

// nothing checks that no packet arrives within d.
func (c *client) nothing(d time.Duration) {
	c.t.Helper()
	p, err := c.read(d)
	if err == nil {
		c.t.Fatalf("got %T %+v, want nothing", p, p)
	}
}

// closed waits for the server to close the connection, returning the
// packets it sent first.
func (c *client) closed() []wire.Packet {
	c.t.Helper()
	var got []wire.Packet
	for {
		p, err := c.read(5 * time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open; got %v", got)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
				c.t.Fatalf("read: %v", err)
			}
			return got
		}
		got = append(got, p)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "closed"))
}

// sub subscribes to filters at qos and checks the SUBACK grants them.
func (c *client) sub(id uint16, qos wire.QoS, filters ...string) {
	c.t.Helper()
	s := &wire.Subscribe{PacketID: id}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, wire.Subscription{Filter: f, QoS: qos})
	}
	c.send(s)
	ack, ok := c.next().(*wire.Suback)
	if !ok || ack.PacketID != id {
		c.t.Fatalf("got %+v, want SUBACK %d", ack, id)
	}
	for _, code := range ack.Reasons {
		if code != wire.ReasonCode(qos) {
			c.t.Fatalf("SUBACK %v, want QoS %d granted", ack.Reasons, qos)
		}
	}
}

// pub publishes and waits for the acknowledgement QoS 1 and 2 call for
// (completing QoS 2).
func (c *client) pub(topic string, qos wire.QoS, pid uint16, payload string, props ...wire.Property) {
	c.t.Helper()
	if qos == 0 {
		pid = 0
	}
	c.send(&wire.Publish{Topic: topic, QoS: qos, PacketID: pid, Payload: []byte(payload), Properties: props})
	switch qos {
	case wire.QoS1:
		if a, ok := c.next().(*wire.Puback); !ok || a.PacketID != pid || a.Reason != 0 {
			c.t.Fatalf("got %+v, want PUBACK %d", a, pid)
		}
	case wire.QoS2:
		if a, ok := c.next().(*wire.Pubrec); !ok || a.PacketID != pid || a.Reason != 0 {
			c.t.Fatalf("got %+v, want PUBREC %d", a, pid)
		}
		c.send(&wire.Pubrel{PacketID: pid})
		if a, ok := c.next().(*wire.Pubcomp); !ok || a.PacketID != pid || a.Reason != 0 {
			c.t.Fatalf("got %+v, want PUBCOMP %d", a, pid)
		}
	}
}

// ack acknowledges a received PUBLISH as its QoS asks.
func (c *client) ack(p *wire.Publish) {
	c.t.Helper()
	switch p.QoS {
	case wire.QoS1:
		c.send(&wire.Puback{PacketID: p.PacketID})
	case wire.QoS2:
		c.send(&wire.Pubrec{PacketID: p.PacketID})
		if r, ok := c.next().(*wire.Pubrel); !ok || r.PacketID != p.PacketID {
			c.t.Fatalf("got %+v, want PUBREL %d", r, p.PacketID)
		}
		c.send(&wire.Pubcomp{PacketID: p.PacketID})
	}
}

// consume collects n messages from an address through a broker consumer.
func (r *rig) consume(addr string, rt message.RoutingType, n int) <-chan *message.Message {
	r.t.Helper()
	ch := make(chan *message.Message, 1000)
	s := r.session()
	if _, err := s.Subscribe(broker.SubscribeOptions{Address: addr, RoutingType: rt,
		Deliver: func(d broker.Delivery) { ch <- d.Message }}); err != nil {
		r.t.Fatal(err)
	}
	return ch
}

func recv(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return nil
	}
}
