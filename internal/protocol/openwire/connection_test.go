package openwire

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/openwire"
)

func TestHandshakeTurnsTightEncodingCachingAndStackTracesOff(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	c := dialRaw(t, s.addr, wire.MaxVersion)
	agreed, err := wire.Negotiate(wire.DefaultClientWireFormat(), c.wf)
	if err != nil {
		t.Fatal(err)
	}
	if agreed.TightEncodingEnabled || agreed.CacheEnabled || agreed.StackTraceEnabled || agreed.Version != wire.MaxVersion {
		t.Fatalf("agreed %+v", agreed)
	}
	if c.wf.MaxFrameSize != wire.DefaultMaxFrameSize || c.wf.MaxInactivityDuration != 30000 {
		t.Fatalf("broker proposed frame limit %d, inactivity %d", c.wf.MaxFrameSize, c.wf.MaxInactivityDuration)
	}
	if bi := c.brokerInfo; bi.BrokerName == "" {
		t.Fatalf("BrokerInfo without a name: %+v", bi)
	}
	if r := c.connect("", "", "cid"); r.DataType() != wire.TypeResponse {
		t.Fatalf("ConnectionInfo answered with %s", describe(r))
	}
}

// TestBadInputIsRefusedClearlyAndOthersCarryOn is the bad-input
// list at the protocol level: each case is refused with a message that
// says what was wrong, and a client connected beside it keeps working.
func TestBadInputIsRefusedClearlyAndOthersCarryOn(t *testing.T) {
	s := startServer(t, Options{MaxFrameSize: 64 << 10}, broker.Options{})
	bystander := dial(t, s.addr, "", "", "bystander")
	held := dial(t, s.addr, "", "", "taken")
	q := wire.NewQueue("q")
	cid := bystander.subscribe(1, q, 10)
	for _, tc := range []struct {
		name  string
		run   func(t *testing.T) string // returns what the client was told
		class string
		says  string
	}{
		{"wrong password", func(t *testing.T) string {
			c := dialRaw(t, s.addr, wire.MaxVersion)
			r, ok := c.connect("admin", "wrong", "").(*wire.ExceptionResponse)
			if !ok {
				t.Fatal("a wrong password was accepted")
			}
			if r := c.request(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: c.connID, Value: 1}}); r.DataType() != wire.TypeExceptionResponse {
				t.Fatal("a session was opened on a refused connection")
			}
			return r.Exception.Class + ": " + r.Exception.Message
		}, classSecurity, "password is invalid"},
		{"duplicate client ID", func(t *testing.T) string {
			c := dialRaw(t, s.addr, wire.MaxVersion)
			r, ok := c.connect("", "", "taken").(*wire.ExceptionResponse)
			if !ok {
				t.Fatal("a second connection took client ID taken")
			}
			return r.Exception.Class + ": " + r.Exception.Message
		}, classInvalidClientID, "already connected"},
		{"old protocol version", func(t *testing.T) string {
			c := dialRaw(t, s.addr, 9)
			if c.wf.Version != 9 {
				t.Fatalf("answered version %d, want 9", c.wf.Version)
			}
			r, ok := c.connect("", "", "").(*wire.ExceptionResponse)
			if !ok {
				t.Fatal("a version 9 client was accepted")
			}
			c.closed()
			return r.Exception.Class + ": " + r.Exception.Message
		}, classJMSException, "OpenWire version 9 is not supported"},
		{"corrupt frame", func(t *testing.T) string {
			c := dial(t, s.addr, "", "", "")
			// A KeepAliveInfo with a boolean of 7 and a byte left over.
			if _, err := c.nc.Write([]byte{0, 0, 0, 7, byte(wire.TypeKeepAliveInfo), 0, 0, 0, 9, 7, 0}); err != nil {
				t.Fatal(err)
			}
			for _, ds := range c.closed() {
				if ce, ok := ds.(*wire.ConnectionError); ok {
					return ce.Exception.Class + ": " + ce.Exception.Message
				}
			}
			t.Fatal("no ConnectionError before the close")
			return ""
		}, classIOException, "corrupt frame"},
		{"frame over the limit", func(t *testing.T) string {
			c := dial(t, s.addr, "", "", "")
			var hdr [5]byte
			binary.BigEndian.PutUint32(hdr[:], 1<<20)
			hdr[4] = byte(wire.TypeTextMessage)
			if _, err := c.nc.Write(hdr[:]); err != nil {
				t.Fatal(err)
			}
			for _, ds := range c.closed() {
				if ce, ok := ds.(*wire.ConnectionError); ok {
					return ce.Exception.Class + ": " + ce.Exception.Message
				}
			}
			t.Fatal("no ConnectionError before the close")
			return ""
		}, classIOException, "frame too large"},
		{"unknown command asking for an answer", func(t *testing.T) string {
			c := dial(t, s.addr, "", "", "")
			// FlushCommand (15): a real command the codec does not decode.
			if _, err := c.nc.Write([]byte{0, 0, 0, 6, 15, 0, 0, 0, 77, 1}); err != nil {
				t.Fatal(err)
			}
			r, ok := c.read(5 * time.Second).(*wire.ExceptionResponse)
			if !ok || r.CorrelationID != 77 {
				t.Fatalf("answered with %v", r)
			}
			c.ok(&wire.ProducerInfo{ProducerID: c.producerID(1)}) // still usable
			return r.Exception.Class + ": " + r.Exception.Message
		}, classJMSException, "could not read this command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.run(t)
			if !strings.HasPrefix(got, tc.class+": ") || !strings.Contains(got, tc.says) {
				t.Fatalf("the client was told %q; want a %s saying %q", got, tc.class, tc.says)
			}
			bystander.send(bystander.textMessage(q, tc.name))
			if got := text(t, bystander.dispatch()); got != tc.name {
				t.Fatalf("the bystander received %q", got)
			}
		})
	}
	_ = cid
	_ = held
}

// TestFailoverReconnectTakesOverTheStaleConnection: a client whose
// connection died on its side reconnects with the same ConnectionId and
// client ID before the broker noticed; the old connection is closed at
// once and the messages it held come back to the new one.
func TestFailoverReconnectTakesOverTheStaleConnection(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{})
	old := dial(t, s.addr, "", "", "app")
	q := wire.NewQueue("orders")
	cid := old.subscribe(1, q, 10)
	old.send(old.textMessage(q, "held"))
	if got := text(t, old.dispatch()); got != "held" {
		t.Fatalf("got %q", got)
	}
	fresh := dialRaw(t, s.addr, wire.MaxVersion)
	fresh.connID = old.connID
	r := fresh.request(&wire.ConnectionInfo{ConnectionID: &wire.ConnectionID{Value: old.connID}, ClientID: "app",
		FailoverReconnect: true, FaultTolerant: true})
	if r.DataType() != wire.TypeResponse {
		t.Fatalf("the reconnect was answered with %s", describe(r))
	}
	old.closed()
	fresh.session = 1
	fresh.ok(&wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: fresh.connID, Value: 1}})
	fresh.subscribe(cid.Value, q, 10)
	md := fresh.dispatch()
	if got := text(t, md); got != "held" || md.RedeliveryCounter != 1 {
		t.Fatalf("after the takeover got %q, redelivery counter %d", got, md.RedeliveryCounter)
	}
}

func TestKeepAlive(t *testing.T) {
	s := startServer(t, Options{MaxInactivity: 600 * time.Millisecond}, broker.Options{})
	c := dial(t, s.addr, "", "", "")
	// The broker answers a keep-alive that asks for an answer.
	c.oneway(&wire.KeepAliveInfo{BaseCommand: wire.BaseCommand{ResponseRequired: true}})
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	ds, err := c.r.ReadCommand()
	if ka, ok := ds.(*wire.KeepAliveInfo); err != nil || !ok || ka.ResponseRequired {
		t.Fatalf("answer to a keep-alive: %v %v", ds, err)
	}
	// An idle broker sends keep-alives of its own, a third of the limit apart.
	ds, err = c.r.ReadCommand()
	if _, ok := ds.(*wire.KeepAliveInfo); err != nil || !ok {
		t.Fatalf("no keep-alive from an idle broker: %v %v", ds, err)
	}
	// A client that goes silent is disconnected after the limit.
	start := time.Now()
	c.closed()
	if time.Since(start) > 3*time.Second {
		t.Fatalf("a silent client was disconnected only after %v", time.Since(start))
	}
}

// TestTopologyIsToldToClients: the live's ConnectionControl lists the
// pair's OpenWire URLs, which a failover client adds to its own.
func TestTopologyIsToldToClients(t *testing.T) {
	topo := protocol.Topology{NodeID: "node-1", Epoch: 3,
		Live: protocol.Node{Name: "live", Endpoints: []protocol.Endpoint{{URL: "tcp://live:61616"}}},
		Backups: []protocol.Node{
			{Name: "b1", Endpoints: []protocol.Endpoint{{URL: "tcp://backup:61617"}}},
			{Name: "b2", Endpoints: []protocol.Endpoint{{URL: "tcp://stomp-only:61618", Protocols: []string{"STOMP"}}}},
		}}
	s := startServer(t, Options{Env: protocol.Env{Topology: func() protocol.Topology { return topo }}}, broker.Options{})
	c := dialRaw(t, s.addr, wire.MaxVersion)
	bi := c.brokerInfo
	if bi.BrokerURL != "tcp://live:61616" || len(bi.PeerBrokerInfos) != 1 || bi.PeerBrokerInfos[0].BrokerURL != "tcp://backup:61617" {
		t.Fatalf("BrokerInfo %+v", bi)
	}
	c.connect("", "", "")
	for {
		ds := c.read(5 * time.Second)
		if cc, ok := ds.(*wire.ConnectionControl); ok {
			if cc.ConnectedBrokers != "tcp://live:61616,tcp://backup:61617" {
				t.Fatalf("ConnectionControl lists %q", cc.ConnectedBrokers)
			}
			return
		}
	}
}

// TestRefuseAnswersTheConnectionInfo: a connection the listener refuses
// (too many connections) is told why through its ConnectionInfo.
func TestRefuseAnswersTheConnectionInfo(t *testing.T) {
	srv := NewServer(Options{})
	a, b := net.Pipe()
	go srv.Refuse(a, "too many connections from 127.0.0.1 (max-connections-per-ip 1)")
	c := &client{t: t, nc: b, r: wire.NewReader(b, wire.ReaderOptions{}), w: wire.NewWriter(b)}
	info, _ := wire.NewWireFormatInfo(wire.DefaultClientWireFormat())
	go func() {
		// net.Pipe is synchronous: each write waits for the other side.
		w := wire.NewWriter(b)
		_ = w.WriteCommand(info)
		_ = w.Flush()
		_ = w.WriteCommand(&wire.ConnectionInfo{BaseCommand: wire.BaseCommand{CommandID: 1, ResponseRequired: true},
			ConnectionID: &wire.ConnectionID{Value: "x"}})
		_ = w.Flush()
	}()
	if _, ok := c.read(5 * time.Second).(*wire.WireFormatInfo); !ok {
		t.Fatal("no WireFormatInfo")
	}
	r, ok := c.read(5 * time.Second).(*wire.ExceptionResponse)
	if !ok || r.CorrelationID != 1 || !strings.Contains(r.Exception.Message, "max-connections-per-ip") {
		t.Fatalf("refusal %v", r)
	}
}

// guard refuses every permission on addresses starting with "secret".
type guard struct{}

func (guard) Authorize(_ string, _ []string, _ broker.Permission, addr string) bool {
	return !strings.HasPrefix(addr, "secret")
}

// TestRefusedSendAndConsumeAreJMSSecurityExceptions: what security-settings
// forbid is refused with the exception a JMS application expects, and the
// connection carries on.
func TestRefusedSendAndConsumeAreJMSSecurityExceptions(t *testing.T) {
	s := startServer(t, Options{}, broker.Options{Authorizer: guard{}})
	c := dial(t, s.addr, "", "", "")
	if e := c.fails(c.textMessage(wire.NewQueue("secret.q"), "x")); e.Class != classSecurity || !strings.Contains(e.Message, "may not send") {
		t.Fatalf("send: %s", e)
	}
	if e := c.fails(&wire.ConsumerInfo{ConsumerID: c.consumerID(1), Destination: wire.NewQueue("secret.q"), PrefetchSize: 1}); e.Class != classSecurity {
		t.Fatalf("consume: %s", e)
	}
	// Asynchronously: the exception listener hears of it.
	m := c.textMessage(wire.NewTopic("secret.t"), "x")
	m.Persistent = false
	c.oneway(m)
	if ce, ok := c.nextFrame(5 * time.Second).(*wire.ConnectionError); !ok || ce.Exception.Class != classSecurity {
		t.Fatalf("async send: %v", ce)
	}
	c.send(c.textMessage(wire.NewQueue("open"), "fine"))
}

// TestABurstOfLargeMessagesIsNotASlowConsumer: a consumer whose prefetch
// brings many large messages at once is not mistaken for one that does
// not read: deliveries count little against MaxPendingBytes, since the
// prefetch bounds them and their bodies are the broker's anyway.
func TestABurstOfLargeMessagesIsNotASlowConsumer(t *testing.T) {
	s := startServer(t, Options{MaxPendingBytes: 1 << 20}, broker.Options{})
	p := dial(t, s.addr, "", "", "")
	q := wire.NewQueue("burst")
	body := make([]byte, 32<<10)
	for i := 0; i < 200; i++ { // 6.4 MiB, well over the limit
		m := p.textMessage(q, "")
		m.Kind = wire.TypeBytesMessage
		m.SetContent(body)
		m.Persistent = false
		p.oneway(m)
	}
	p.ok(&wire.ProducerInfo{ProducerID: p.producerID(2)})
	p.subscribe(1, q, 1000)
	if n := len(p.messages(200)); n != 200 {
		t.Fatalf("got %d", n)
	}
}

// TestAClientThatDoesNotReadIsCutOff: a connection whose queue of
// commands to send passes MaxPendingBytes because the peer does not read
// is closed, rather than grow without bound.
func TestAClientThatDoesNotReadIsCutOff(t *testing.T) {
	srv := NewServer(Options{MaxPendingBytes: 64 << 10})
	a, b := net.Pipe() // synchronous: the writer blocks on its first write
	defer b.Close()
	c := newConn(srv, a)
	done := make(chan struct{})
	go func() { c.writeLoop(); close(done) }()
	for i := 0; i < 10000; i++ {
		c.send(&wire.KeepAliveInfo{})
	}
	select {
	case <-c.closing:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
	<-done
	c.outMu.Lock()
	n := len(c.out)
	c.outMu.Unlock()
	if n > 1000 {
		t.Fatalf("%d commands queued after the cut-off", n)
	}
}
