package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	wire "tandem/internal/wire/mqtt"
)

// The protocol versions a client can ask for.
const (
	V311 = wire.V311
	V5   = wire.V5
)

// Errors.
var (
	// ErrClosed: the connection is closed or broke.
	ErrClosed = errors.New("mqtt: connection closed")
	// ErrRefused: the broker refused the CONNECT (see *RefusedError).
	ErrRefused = errors.New("mqtt: connection refused")
	// ErrNotAcknowledged: the broker answered a publish or subscription
	// with a failure reason code (see *ReasonError).
	ErrNotAcknowledged = errors.New("mqtt: refused by the broker")
)

// ReasonError carries the reason code of a refusal.
type ReasonError struct {
	Kind   error // ErrRefused or ErrNotAcknowledged
	Packet string
	Code   wire.ReasonCode
	Reason string // the MQTT 5 Reason String, if any
}

func (e *ReasonError) Error() string {
	s := fmt.Sprintf("%v: %s %v", e.Kind, e.Packet, e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the kind.
func (e *ReasonError) Unwrap() error { return e.Kind }

// Options configure a connection.
type Options struct {
	ClientID string
	// Username and Password log in; an empty Username connects
	// anonymously.
	Username, Password string
	// Version is V311 or V5 (the default).
	Version wire.Version
	// CleanStart starts a new session; false continues the client id's
	// session if the broker has one.
	CleanStart bool
	// SessionExpiry is the MQTT 5 Session Expiry Interval in seconds.
	SessionExpiry uint32
	// KeepAlive is the keep-alive period; 0 means 60 s, negative none.
	KeepAlive time.Duration
	// ReceiveMaximum bounds the QoS 1 and 2 messages the broker sends
	// before they are acknowledged (MQTT 5); 0 means 65535.
	ReceiveMaximum uint16
	// TLS is used for ssl:// and mqtts:// URLs; nil means the system's
	// roots.
	TLS *tls.Config
	// AutoAck acknowledges received messages as Receive returns them.
	AutoAck bool
	// Will is published by the broker if the connection ends abnormally.
	Will *wire.Will
	// Properties are extra MQTT 5 CONNECT properties.
	Properties wire.Properties
}

// Message is a message to publish or a received one.
type Message struct {
	Topic      string
	Payload    []byte
	QoS        wire.QoS
	Retain     bool
	Dup        bool // received: the broker may have sent it before
	Properties wire.Properties

	c   *Client
	pid uint16
}

// Ack acknowledges a received QoS 1 or 2 message (PUBACK, or PUBREC
// and, once the broker answers with PUBREL, PUBCOMP). It does nothing for
// QoS 0 or a message acknowledged already.
func (m *Message) Ack() error {
	if m.c == nil || m.QoS == 0 {
		return nil
	}
	c := m.c
	m.c = nil
	if m.QoS == wire.QoS1 {
		return c.write(&wire.Puback{PacketID: m.pid})
	}
	return c.write(&wire.Pubrec{PacketID: m.pid})
}

// Subscription is one filter of a SUBSCRIBE.
type Subscription = wire.Subscription

// Client is one MQTT connection. Its methods are safe for concurrent use.
type Client struct {
	nc      net.Conn
	version wire.Version
	opts    Options
	connack *wire.Connack

	wmu sync.Mutex
	w   *wire.Writer

	mu       sync.Mutex
	nextPID  uint16
	pending  map[uint16]*pendingOp // publishes, subscriptions and unsubscriptions awaiting their answer
	inQoS2   map[uint16]bool       // QoS 2 identifiers received and not yet released
	slots    chan struct{}         // one per publish in flight, up to the broker's Receive Maximum
	err      error
	closed   chan struct{}
	incoming chan *Message
	pongs    chan struct{}
}

type pendingOp struct {
	done  func(p wire.Packet, err error)
	qos   wire.QoS
	isPub bool
}

// Dial connects to url (tcp://host:port, mqtt://, ssl:// or mqtts://) and
// sends CONNECT.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mqtt: %q is not a broker URL such as tcp://localhost:1883", rawURL)
	}
	var nc net.Conn
	var d net.Dialer
	switch u.Scheme {
	case "tcp", "mqtt":
		nc, err = d.DialContext(ctx, "tcp", u.Host)
	case "ssl", "tls", "mqtts":
		cfg := opts.TLS
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		td := tls.Dialer{NetDialer: &d, Config: cfg}
		nc, err = td.DialContext(ctx, "tcp", u.Host)
	default:
		return nil, fmt.Errorf("mqtt: URL scheme %q: use tcp://, mqtt://, ssl:// or mqtts://", u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("mqtt: dial %s: %w", u.Host, err)
	}
	c, err := NewClient(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// NewClient runs an MQTT connection over nc, which may be any stream (a
// WebSocket, say): it sends CONNECT and waits for CONNACK.
func NewClient(ctx context.Context, nc net.Conn, opts Options) (*Client, error) {
	if opts.Version == 0 {
		opts.Version = wire.V5
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 60 * time.Second
	}
	c := &Client{nc: nc, version: opts.Version, opts: opts, w: wire.NewWriter(nc), pending: map[uint16]*pendingOp{},
		inQoS2: map[uint16]bool{}, closed: make(chan struct{}), incoming: make(chan *Message, 1024), pongs: make(chan struct{}, 1)}
	conn := &wire.Connect{Version: opts.Version, ClientID: opts.ClientID, CleanStart: opts.CleanStart, Will: opts.Will}
	if opts.KeepAlive > 0 {
		conn.KeepAlive = uint16(min(opts.KeepAlive/time.Second, 65535))
	}
	if opts.Username != "" {
		conn.HasUsername, conn.Username = true, opts.Username
		conn.HasPassword, conn.Password = true, []byte(opts.Password)
	}
	if opts.Version == wire.V5 {
		conn.Properties = append(conn.Properties, opts.Properties...)
		if opts.SessionExpiry > 0 {
			conn.Properties = append(conn.Properties, wire.IntProp(wire.PropSessionExpiry, opts.SessionExpiry))
		}
		if opts.ReceiveMaximum > 0 {
			conn.Properties = append(conn.Properties, wire.IntProp(wire.PropReceiveMaximum, uint32(opts.ReceiveMaximum)))
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	} else {
		_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if err := c.w.WritePacket(conn); err != nil {
		return nil, fmt.Errorf("mqtt: CONNECT: %w", err)
	}
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("mqtt: CONNECT: %w", err)
	}
	r := wire.NewReader(nc, wire.ReaderOptions{Role: wire.ClientSide, Version: opts.Version})
	p, err := r.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("mqtt: reading CONNACK: %w", err)
	}
	ack, ok := p.(*wire.Connack)
	if !ok {
		return nil, fmt.Errorf("mqtt: the broker answered CONNECT with %v", p.Type())
	}
	if ack.Reason != 0 {
		why, _ := ack.Properties.String(wire.PropReasonString)
		return nil, &ReasonError{Kind: ErrRefused, Packet: "CONNACK", Code: ack.Reason, Reason: why}
	}
	_ = nc.SetDeadline(time.Time{})
	c.connack = ack
	inflight := 65535
	if rm, ok := ack.Properties.Int(wire.PropReceiveMaximum); ok {
		inflight = int(rm)
	}
	if mps, ok := ack.Properties.Int(wire.PropMaximumPacketSize); ok {
		c.w.SetMaxPacketSize(int(mps))
	}
	c.slots = make(chan struct{}, inflight)
	go c.readLoop(r)
	if opts.KeepAlive > 0 {
		go c.pingLoop(opts.KeepAlive)
	}
	return c, nil
}

// SessionPresent reports whether the broker continued a session.
func (c *Client) SessionPresent() bool { return c.connack.SessionPresent }

// Connack returns the broker's CONNACK (its properties say what it
// allows).
func (c *Client) Connack() *wire.Connack { return c.connack }

// write sends one packet.
func (c *Client) write(p wire.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WritePacket(p); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		c.fail(err)
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// fail ends the connection with err, failing what waits.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = map[uint16]*pendingOp{}
	close(c.closed)
	c.mu.Unlock()
	c.nc.Close()
	for _, op := range pending {
		op.done(nil, fmt.Errorf("%w: %w", ErrClosed, err))
	}
}

// Err returns why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// allocate registers op under a free packet identifier.
func (c *Client) allocate(op *pendingOp) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	for i := 0; i < 65535; i++ {
		c.nextPID++
		if c.nextPID == 0 {
			c.nextPID = 1
		}
		if _, busy := c.pending[c.nextPID]; !busy {
			c.pending[c.nextPID] = op
			return c.nextPID, nil
		}
	}
	return 0, errors.New("mqtt: every packet identifier is in use")
}

func (c *Client) finish(pid uint16) *pendingOp {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := c.pending[pid]
	delete(c.pending, pid)
	return op
}

// Publish sends m and waits for the broker's acknowledgement.
func (c *Client) Publish(ctx context.Context, m *Message) error {
	ch := make(chan error, 1)
	if err := c.PublishAsync(ctx, m, func(err error) { ch <- err }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PublishAsync sends m without waiting for its acknowledgement; done (which
// may be nil) runs when it comes (at once for QoS 0). It waits only for
// room among the publishes in flight (the broker's Receive Maximum).
func (c *Client) PublishAsync(ctx context.Context, m *Message, done func(error)) error {
	if done == nil {
		done = func(error) {}
	}
	p := &wire.Publish{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Payload: m.Payload}
	if c.version == wire.V5 {
		p.Properties = m.Properties
	}
	if m.QoS == 0 {
		err := c.write(p)
		done(err)
		return err
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return fmt.Errorf("%w: %w", ErrClosed, c.Err())
	}
	op := &pendingOp{qos: m.QoS, isPub: true, done: func(pk wire.Packet, err error) {
		<-c.slots
		if err == nil {
			err = ackError(pk)
		}
		done(err)
	}}
	pid, err := c.allocate(op)
	if err != nil {
		<-c.slots
		return err
	}
	p.PacketID = pid
	if err := c.write(p); err != nil {
		if c.finish(pid) != nil {
			<-c.slots
		}
		return err
	}
	return nil
}

// ackError turns a failing acknowledgement into an error.
func ackError(p wire.Packet) error {
	var code wire.ReasonCode
	var props wire.Properties
	switch p := p.(type) {
	case *wire.Puback:
		code, props = p.Reason, p.Properties
	case *wire.Pubrec:
		code, props = p.Reason, p.Properties
	case *wire.Pubcomp:
		code, props = p.Reason, p.Properties
	}
	if !code.IsError() {
		return nil
	}
	why, _ := props.String(wire.PropReasonString)
	return &ReasonError{Kind: ErrNotAcknowledged, Packet: p.Type().String(), Code: code, Reason: why}
}

// Subscribe subscribes and returns the SUBACK's codes, one per
// subscription; a failure code is also an error.
func (c *Client) Subscribe(ctx context.Context, subs ...Subscription) ([]wire.ReasonCode, error) {
	ch := make(chan wire.Packet, 1)
	errc := make(chan error, 1)
	pid, err := c.allocate(&pendingOp{done: func(p wire.Packet, err error) {
		if err != nil {
			errc <- err
			return
		}
		ch <- p
	}})
	if err != nil {
		return nil, err
	}
	if err := c.write(&wire.Subscribe{PacketID: pid, Subscriptions: subs}); err != nil {
		c.finish(pid)
		return nil, err
	}
	select {
	case p := <-ch:
		ack, ok := p.(*wire.Suback)
		if !ok {
			return nil, fmt.Errorf("mqtt: SUBSCRIBE answered with %v", p.Type())
		}
		for i, code := range ack.Reasons {
			if code.IsError() {
				why, _ := ack.Properties.String(wire.PropReasonString)
				return ack.Reasons, &ReasonError{Kind: ErrNotAcknowledged, Packet: "SUBACK for " + subs[min(i, len(subs)-1)].Filter,
					Code: code, Reason: why}
			}
		}
		return ack.Reasons, nil
	case err := <-errc:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Unsubscribe removes subscriptions.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) error {
	errc := make(chan error, 1)
	pid, err := c.allocate(&pendingOp{done: func(_ wire.Packet, err error) { errc <- err }})
	if err != nil {
		return err
	}
	if err := c.write(&wire.Unsubscribe{PacketID: pid, Filters: filters}); err != nil {
		c.finish(pid)
		return err
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Receive returns the next message the broker sent.
func (c *Client) Receive(ctx context.Context) (*Message, error) {
	select {
	case m := <-c.incoming:
		if c.opts.AutoAck {
			if err := m.Ack(); err != nil {
				return nil, err
			}
		}
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		select {
		case m := <-c.incoming:
			return m, nil
		default:
		}
		return nil, fmt.Errorf("%w: %w", ErrClosed, c.Err())
	}
}

// Close sends DISCONNECT and closes the connection.
func (c *Client) Close() error {
	_ = c.write(&wire.Disconnect{})
	c.fail(ErrClosed)
	return nil
}

// readLoop reads what the broker sends until the connection ends.
func (c *Client) readLoop(r *wire.Reader) {
	for {
		p, err := r.ReadPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the broker closed the connection")
			}
			c.fail(err)
			return
		}
		switch p := p.(type) {
		case *wire.Publish:
			c.received(p)
		case *wire.Puback:
			if op := c.finish(p.PacketID); op != nil {
				op.done(p, nil)
			}
		case *wire.Pubrec:
			c.mu.Lock()
			op := c.pending[p.PacketID]
			c.mu.Unlock()
			if op == nil {
				continue
			}
			if p.Reason.IsError() {
				c.finish(p.PacketID)
				op.done(p, nil)
				continue
			}
			_ = c.write(&wire.Pubrel{PacketID: p.PacketID})
		case *wire.Pubcomp:
			if op := c.finish(p.PacketID); op != nil {
				op.done(p, nil)
			}
		case *wire.Pubrel:
			c.mu.Lock()
			delete(c.inQoS2, p.PacketID)
			c.mu.Unlock()
			_ = c.write(&wire.Pubcomp{PacketID: p.PacketID})
		case *wire.Suback, *wire.Unsuback:
			var pid uint16
			if s, ok := p.(*wire.Suback); ok {
				pid = s.PacketID
			} else {
				pid = p.(*wire.Unsuback).PacketID
			}
			if op := c.finish(pid); op != nil {
				op.done(p, nil)
			}
		case *wire.Pingresp:
			select {
			case c.pongs <- struct{}{}:
			default:
			}
		case *wire.Disconnect:
			why, _ := p.Properties.String(wire.PropReasonString)
			c.fail(&ReasonError{Kind: ErrClosed, Packet: "DISCONNECT", Code: p.Reason, Reason: why})
			return
		}
	}
}

// received queues a message for Receive; a QoS 2 message whose packet
// identifier is still unreleased is a duplicate and is not.
func (c *Client) received(p *wire.Publish) {
	if p.QoS == wire.QoS2 {
		c.mu.Lock()
		dup := c.inQoS2[p.PacketID]
		c.inQoS2[p.PacketID] = true
		c.mu.Unlock()
		if dup {
			_ = c.write(&wire.Pubrec{PacketID: p.PacketID})
			return
		}
	}
	m := &Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Dup, Properties: p.Properties,
		c: c, pid: p.PacketID}
	select {
	case c.incoming <- m:
	case <-c.closed:
	}
}

// pingLoop sends PINGREQ every keep-alive period and ends the connection
// when the broker does not answer within one.
func (c *Client) pingLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		if err := c.write(&wire.Pingreq{}); err != nil {
			return
		}
		select {
		case <-c.pongs:
		case <-c.closed:
			return
		case <-time.After(every):
			c.fail(errors.New("no PINGRESP within the keep-alive period"))
			return
		}
	}
}

// Version returns the protocol version in use.
func (c *Client) Version() wire.Version { return c.version }

// String describes the connection.
func (c *Client) String() string {
	return "mqtt " + c.version.String() + " " + c.nc.RemoteAddr().String() + " client " + strconv.Quote(c.opts.ClientID)
}
