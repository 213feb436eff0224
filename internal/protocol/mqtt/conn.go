package mqtt

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/broker"
	"tandem/internal/message"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/mqtt"
)

// conn is one MQTT connection. A read goroutine decodes and handles the
// client's packets; a writer goroutine encodes what is queued for the
// client (acknowledgements, deliveries) and writes each burst with one
// system call.
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint64
	log *slog.Logger
	r   *wire.Reader
	w   *wire.Writer // the writer goroutine's alone once CONNACK is queued

	// Set by CONNECT, read-only afterwards.
	version   wire.Version
	clientID  string
	user      string
	roles     []string
	session   *broker.Session
	sess      *session
	epoch     uint64 // sess.epoch when this connection attached
	release   func() // gives back the user's connection slot
	st        *store
	readLimit time.Duration // 1.5 × keep-alive; 0 = none
	readSetAt time.Time
	aliases   *wire.InboundAliases
	// turn is the connection's place at the ingest gate (read goroutine;
	// ingest.go).
	turn   protocol.Turn
	outMax int // in-flight QoS 1 and 2 deliveries the client accepts

	// will is the CONNECT's will (nil: none), dropped by a normal
	// DISCONNECT; touched by the read goroutine until the connection
	// ends.
	will      *wire.Will
	willDelay uint32

	// Inbound flow (docs/mqtt.md, "Flow control").
	inflightIn atomic.Int32
	inMu       sync.Mutex
	inPending  map[uint16]bool // QoS 2 publishes being stored
	inFreed    chan struct{}   // a slot freed, for a 3.1.1 client at its limit
	txSeq      uint64
	addrs      map[string]string              // topic → address, read goroutine only
	rts        map[string]message.RoutingType // address → routing type, read goroutine only

	// Outbound queue: control packets and deliveries for the writer.
	outMu      sync.Mutex
	out        []outItem
	outBytes   int
	closeAfter bool
	wake       chan struct{}

	// Outbound flow: QoS 1 and 2 deliveries waiting for the client.
	flowMu   sync.Mutex
	inflight map[uint16]*outFlight

	// The writer goroutine's own: deliveries waiting for room in the
	// client's Receive Maximum or for their packet identifier, and what it
	// caches per address.
	held   []*outDelivery
	topics map[string]string // address → topic
	subIDs subIDCache

	closeOnce  sync.Once
	closing    chan struct{}
	finished   chan struct{} // closed once the connection let go of its session
	connected  atomic.Bool   // CONNACK accepted the client
	normalEnd  atomic.Bool   // the client sent DISCONNECT without a will
	takenOver  atomic.Bool   // another connection took the client id
	serverGone atomic.Bool   // the broker is stopping
}

// outItem is a control packet or a delivery waiting for the writer.
type outItem struct {
	pkt   wire.Packet
	dl    *outDelivery
	final bool // the connection ends after this packet
}

// outDelivery is a message for the client.
type outDelivery struct {
	sub *subscription
	d   broker.Delivery
	rc  io.ReadCloser // a large message's body, opened while the broker held it
}

// outFlight is a QoS 1 or 2 delivery, or a PUBREL, the client has not
// finished acknowledging.
type outFlight struct {
	cons     *broker.Consumer // nil for a PUBREL resent from a marker
	delivery uint64
	qos      wire.QoS
	// released: the client answered PUBREC and the PUBREL is out (or
	// being stored); PUBCOMP ends the exchange.
	released bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:      s,
		nc:       nc,
		id:       s.nextID.Add(1),
		log:      s.log.With("remote", nc.RemoteAddr().String()),
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		finished: make(chan struct{}),
		inflight: map[uint16]*outFlight{},
		inFreed:  make(chan struct{}, 1),
		turn:     protocol.NewTurn(s.opts.Ingest),
	}
	c.r = wire.NewReader(nc, wire.ReaderOptions{MaxPacketSize: s.opts.MaxConnectPacketSize})
	c.w = wire.NewWriter(nc)
	return c
}

// run serves the connection until it ends.
func (c *conn) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, c.serverStopping)
	defer stop()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	// Let the writer put what is queued on the wire (a refusing CONNACK,
	// a DISCONNECT, acknowledgements), then drain what the client still
	// sends for a moment, so the close does not reset the connection
	// before the client reads it.
	c.enqueueFinal(nil)
	select {
	case <-writerDone:
	case <-time.After(2 * time.Second):
	}
	select {
	case <-c.closing:
	default:
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
	}
	c.shutdown()
	<-writerDone
	c.closeBodies()
	c.end()
	if c.release != nil {
		c.release()
	}
}

// shutdown stops both loops; it is safe to call more than once.
func (c *conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.nc.Close()
	})
}

// serverStopping ends the connection because the broker stops. An MQTT 5
// client is told so, and where to go when the pair has a backup that
// serves MQTT (Server Reference, docs/protocols.md "Topology").
func (c *conn) serverStopping() {
	c.serverGone.Store(true)
	if c.connected.Load() && c.version == wire.V5 {
		d := &wire.Disconnect{Reason: wire.ServerShuttingDown}
		if ref := c.serverReference(); ref != "" {
			d = &wire.Disconnect{Reason: wire.UseAnotherServer, Properties: wire.Properties{
				wire.StringProp(wire.PropServerReference, ref)}}
		}
		c.enqueueFinal(d)
		time.AfterFunc(time.Second, c.shutdown)
		return
	}
	c.shutdown()
}

// enqueue queues a control packet for the writer.
func (c *conn) enqueue(p wire.Packet) { c.push(outItem{pkt: p}, 16) }

// enqueueFinal queues the connection's last packet; the writer closes the
// connection after it.
func (c *conn) enqueueFinal(p wire.Packet) {
	c.outMu.Lock()
	if c.closeAfter {
		c.outMu.Unlock()
		return
	}
	c.out = append(c.out, outItem{pkt: p, final: true})
	c.closeAfter = true
	c.outMu.Unlock()
	c.signal()
}

// push appends an item that takes about size bytes and wakes the writer.
// It never blocks: a client that stops reading is disconnected once its
// queue passes MaxPendingBytes.
func (c *conn) push(it outItem, size int) {
	c.outMu.Lock()
	if c.closeAfter {
		c.outMu.Unlock()
		if it.dl != nil && it.dl.rc != nil {
			it.dl.rc.Close()
		}
		return
	}
	c.out = append(c.out, it)
	c.outBytes += size
	pending := c.outBytes
	c.outMu.Unlock()
	if pending > c.srv.opts.MaxPendingBytes {
		c.log.Warn("closing an MQTT connection that does not read its messages", "event", "slow_consumer_disconnected",
			"client_id", c.clientID, "pending_bytes", pending)
		c.shutdown()
		return
	}
	c.signal()
}

// signal wakes the writer.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeBodies closes the large bodies of deliveries never written.
func (c *conn) closeBodies() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	for _, it := range c.out {
		if it.dl != nil && it.dl.rc != nil {
			it.dl.rc.Close()
		}
	}
	c.out = nil
}

// readLoop reads and handles packets until the connection ends.
func (c *conn) readLoop() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ConnectTimeout))
	// However the connection ends, its turn goes back to the gate: a turn
	// kept would stall every pipelining producer of the broker.
	defer c.turn.Release()
	for {
		if c.turn.Held() && !c.r.HasPacket() {
			// The next read may wait for the client: a client that stops
			// in the middle of a packet must not hold the gate.
			c.turn.Release()
		}
		p, err := c.r.ReadPacket()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !gated(p) {
			c.turn.Release()
		}
		if !c.handle(p) {
			return
		}
		if c.readLimit > 0 {
			c.extendReadDeadline()
		}
	}
}

// extendReadDeadline moves the keep-alive read deadline after a frame
// (protocol.ExtendReadDeadline).
func (c *conn) extendReadDeadline() {
	protocol.ExtendReadDeadline(c.nc, c.readLimit, &c.readSetAt)
}

// readFailed answers a read error: bad input gets the CONNACK or
// DISCONNECT its reason code calls for (docs/mqtt.md).
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.As(err, &ne) && ne.Timeout():
		if !c.connected.Load() {
			c.log.Info("closing an MQTT connection that sent no CONNECT in time", "event", "handshake_timeout")
			return
		}
		c.log.Info("closing an MQTT connection whose keep-alive ran out", "event", "keepalive_timeout",
			"client_id", c.clientID, "limit", c.readLimit)
		if c.version == wire.V5 {
			c.enqueueFinal(&wire.Disconnect{Reason: wire.KeepAliveTimeout})
		}
		return
	}
	if ack, v, ok := wire.ConnackFor(err); ok {
		c.log.Info("refusing an MQTT CONNECT", "event", "connect_refused", "err", err)
		c.version = v
		c.w.SetVersion(v)
		c.enqueueFinal(ack)
		return
	}
	if d, ok := wire.DisconnectFor(err); ok {
		c.log.Info("closing an MQTT connection that sent a bad packet", "event", "bad_frame", "client_id", c.clientID, "err", err)
		d.Properties = wire.Properties{wire.StringProp(wire.PropReasonString, truncate(err.Error(), 500))}
		c.enqueueFinal(d)
		return
	}
	var we *wire.Error
	if errors.As(err, &we) {
		c.log.Info("closing an MQTT connection that sent a bad packet", "event", "bad_frame", "client_id", c.clientID, "err", err)
		return
	}
	c.log.Debug("MQTT connection read failed", "client_id", c.clientID, "err", err)
}

// disconnect ends an established connection for a reason of the
// server's: an MQTT 5 client gets DISCONNECT with the code and a reason
// string; a 3.1.1 client just sees the connection close.
func (c *conn) disconnect(code wire.ReasonCode, why string) bool {
	c.log.Info("closing an MQTT connection", "event", "mqtt_disconnect", "client_id", c.clientID,
		"reason", code.String(), "detail", why)
	if c.version == wire.V5 {
		c.enqueueFinal(&wire.Disconnect{Reason: code, Properties: wire.Properties{
			wire.StringProp(wire.PropReasonString, truncate(why, 500))}})
	} else {
		c.enqueueFinal(nil)
	}
	return false
}

// handle processes one packet; false ends the connection.
func (c *conn) handle(p wire.Packet) bool {
	switch p := p.(type) {
	case *wire.Connect:
		return c.connect(p)
	case *wire.Publish:
		return c.publish(p)
	case *wire.Puback:
		c.puback(p.PacketID)
	case *wire.Pubrec:
		c.pubrec(p)
	case *wire.Pubrel:
		c.pubrel(p.PacketID)
	case *wire.Pubcomp:
		c.pubcomp(p.PacketID)
	case *wire.Subscribe:
		return c.subscribe(p)
	case *wire.Unsubscribe:
		return c.unsubscribe(p)
	case *wire.Pingreq:
		c.enqueue(&wire.Pingresp{})
	case *wire.Disconnect:
		return c.clientDisconnect(p)
	case *wire.Auth:
		return c.disconnect(wire.ProtocolError, "AUTH without an authentication method in CONNECT; tandem does not support enhanced authentication")
	}
	return true
}

// clientDisconnect handles the client's DISCONNECT.
func (c *conn) clientDisconnect(p *wire.Disconnect) bool {
	if c.version == wire.V5 {
		if v, ok := p.Properties.Int(wire.PropSessionExpiry); ok {
			if c.sess.expiryOf() == 0 && v != 0 {
				return c.disconnect(wire.ProtocolError, "DISCONNECT sets a Session Expiry Interval after CONNECT set none [MQTT-3.14.2-2]")
			}
			c.sess.setExpiry(v)
		}
		if p.Reason == wire.DisconnectWithWillMessage {
			return false // the will is published, as after an abnormal end
		}
	}
	c.normalEnd.Store(true)
	return false
}

// writeLoop writes what is queued, one burst per wake-up.
func (c *conn) writeLoop() {
	var batch []outItem
	var after afterFlush
	for {
		select {
		case <-c.wake:
		case <-c.closing:
			return
		}
		c.outMu.Lock()
		batch, c.out = c.out, batch[:0]
		c.outBytes = 0
		c.outMu.Unlock()
		final := false
		for i, it := range batch {
			switch {
			case it.dl != nil:
				c.held = append(c.held, it.dl)
			case it.pkt != nil:
				if err := c.w.WritePacket(it.pkt); err != nil {
					if !errors.Is(err, wire.ErrPacketTooLarge) && !errors.Is(err, wire.ErrBadPacket) {
						c.closeHeld(batch[i+1:])
						c.shutdown()
						return
					}
					c.log.Warn("MQTT packet not sent", "client_id", c.clientID, "type", it.pkt.Type().String(), "err", err)
				}
			}
			if it.final {
				final = true
				c.closeHeld(batch[i+1:])
				break
			}
		}
		clear(batch)
		if !final {
			if !c.pumpHeld(&after) {
				c.shutdown()
				return
			}
		}
		err := c.w.Flush()
		after.run()
		if err != nil {
			c.shutdown()
			return
		}
		if final {
			if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// closeHeld closes the bodies of deliveries that will never be written.
func (c *conn) closeHeld(items []outItem) {
	for _, it := range items {
		if it.dl != nil && it.dl.rc != nil {
			it.dl.rc.Close()
		}
	}
	for _, dl := range c.held {
		if dl.rc != nil {
			dl.rc.Close()
		}
	}
	c.held = nil
}
