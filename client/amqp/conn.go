package amqp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"

	wire "tandem/internal/wire/amqp"
)

// Errors of the client. A broker's own refusal is a *wire.Error (see
// BrokerError), wrapped with what was refused.
var (
	// ErrClosed is returned by operations on a closed connection.
	ErrClosed = errors.New("amqp: connection closed")
	// ErrConnect reports a dial that reached no broker of the URL.
	ErrConnect = errors.New("amqp: cannot connect")
	// ErrNotAccepted reports a send the broker released or modified
	// rather than accepted (rejected sends return the broker's error).
	ErrNotAccepted = errors.New("amqp: message not accepted")
)

// BrokerError is the error a broker sent (in a close, a detach, a
// rejected outcome), or nil.
func BrokerError(err error) *wire.Error {
	var e *wire.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Options configure a connection.
type Options struct {
	// User and Password log in with SASL PLAIN; without a user the
	// client logs in with SASL ANONYMOUS.
	User, Password string
	// ContainerID names the client (a durable subscription's owner);
	// empty means a random one.
	ContainerID string
	// MaxFrameSize is the largest frame the client reads; default 64 KiB.
	MaxFrameSize uint32
	// TLS configures amqps:// endpoints; nil means the system's roots.
	TLS *tls.Config
	// ConnectTimeout bounds one endpoint's dial and handshake; default
	// 10 s.
	ConnectTimeout time.Duration
	// DesiredCapabilities go in the open frame (sole-connection-for-container...).
	DesiredCapabilities []string
}

// Conn is one AMQP connection with one session. Its methods are safe for
// concurrent use.
type Conn struct {
	nc          net.Conn
	ep          Endpoint
	r           *wire.Reader
	remote      *wire.Open
	containerID string

	wmu       sync.Mutex
	w         *wire.Writer
	lastWrite time.Time

	mu             sync.Mutex
	err            error
	links          map[uint32]*link // by the broker's handle
	byName         map[string]*link // attaching
	nextHandle     uint32
	nextDeliveryID uint32
	nextOutgoingID uint32
	nextIncomingID uint32
	begun          chan struct{}
	done           chan struct{}
	closeOnce      sync.Once
	coordinator    *Sender
	coordinatorMu  sync.Mutex
}

// Dial connects to the first broker of the URL that accepts the
// connection, trying them in the order written.
func Dial(ctx context.Context, rawURL string, o Options) (*Conn, error) {
	eps, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ep := range eps {
		c, err := dialEndpoint(ctx, ep, o)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrConnect, errors.Join(errs...))
}

func dialEndpoint(ctx context.Context, ep Endpoint, o Options) (*Conn, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = 64 << 10
	}
	if o.User == "" {
		o.User, o.Password = ep.User, ep.Password
	}
	if o.ContainerID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.ContainerID = fmt.Sprintf("tandem-client-%x", b)
	}
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	if ep.TLS {
		cfg := o.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: ep.Host}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%s: TLS handshake: %w", ep, err)
		}
		nc = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &Conn{nc: nc, ep: ep, r: wire.NewReader(nc, o.MaxFrameSize), w: wire.NewWriter(nc), containerID: o.ContainerID,
		links: map[uint32]*link{}, byName: map[string]*link{}, begun: make(chan struct{}), done: make(chan struct{})}
	if err := c.handshake(o); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	_ = nc.SetDeadline(time.Time{})
	go c.readLoop()
	if t := c.remote.IdleTimeout; t > 0 {
		go c.heartbeats(time.Duration(t) * time.Millisecond / 2)
	}
	select {
	case <-c.begun:
	case <-c.done:
		return nil, fmt.Errorf("%s: %w", ep, c.failure())
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("%s: %w", ep, ctx.Err())
	}
	return c, nil
}

// handshake runs SASL, exchanges open frames and begins the session.
func (c *Conn) handshake(o Options) error {
	c.w.WriteProtocolHeader(wire.HeaderSASL)
	if err := c.w.Flush(); err != nil {
		return err
	}
	h, err := c.r.ReadProtocolHeader()
	if err != nil {
		return err
	}
	if h != wire.HeaderSASL {
		return fmt.Errorf("the broker answered %s to a SASL header", h)
	}
	f, err := c.r.ReadFrame()
	if err != nil {
		return err
	}
	p, err := wire.DecodeSASL(f.Body)
	if err != nil {
		return err
	}
	mechs, ok := p.(*wire.SASLMechanisms)
	if !ok {
		return fmt.Errorf("expected sasl-mechanisms")
	}
	init := &wire.SASLInit{Mechanism: wire.SASLMechanismAnonymous, InitialResponse: []byte{}}
	if o.User != "" {
		init = &wire.SASLInit{Mechanism: wire.SASLMechanismPlain, InitialResponse: wire.PlainResponse(o.User, o.Password)}
	}
	if !wire.HasCapability(mechs.Mechanisms, init.Mechanism) {
		return fmt.Errorf("the broker does not offer SASL %s (it offers %v)", init.Mechanism, mechs.Mechanisms)
	}
	if err := c.w.WriteFrame(0, init, nil); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	if f, err = c.r.ReadFrame(); err != nil {
		return err
	}
	if p, err = wire.DecodeSASL(f.Body); err != nil {
		return err
	}
	out, ok := p.(*wire.SASLOutcome)
	if !ok {
		return fmt.Errorf("expected sasl-outcome")
	}
	if out.Code != wire.SASLOK {
		return fmt.Errorf("login refused (SASL %s, outcome code %d): check the user name and password", init.Mechanism, out.Code)
	}
	c.w.WriteProtocolHeader(wire.HeaderAMQP)
	caps := make([]wire.Symbol, len(o.DesiredCapabilities))
	for i, s := range o.DesiredCapabilities {
		caps[i] = wire.Symbol(s)
	}
	if err := c.w.WriteFrame(0, &wire.Open{ContainerID: o.ContainerID, Hostname: c.ep.Host, MaxFrameSize: o.MaxFrameSize,
		DesiredCapabilities: caps}, nil); err != nil {
		return err
	}
	if err := c.w.WriteFrame(0, &wire.Begin{NextOutgoingID: 0, IncomingWindow: math.MaxInt32, OutgoingWindow: math.MaxInt32}, nil); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	if h, err = c.r.ReadProtocolHeader(); err != nil {
		return err
	}
	if h != wire.HeaderAMQP {
		return fmt.Errorf("the broker answered %s after SASL", h)
	}
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return err
		}
		if f.IsHeartbeat() {
			continue
		}
		p, _, err := wire.DecodePerformative(f.Body)
		if err != nil {
			return err
		}
		switch p := p.(type) {
		case *wire.Open:
			c.remote = p
			c.w.SetMaxFrameSize(p.EffectiveMaxFrameSize())
			// The broker refuses a connection with an open, then a close:
			// read on to report the close's reason.
			if v, _ := p.Properties.Get(wire.Symbol("amqp:connection-establishment-failed")); v == true {
				continue
			}
			return nil
		case *wire.Close:
			if p.Error != nil {
				return p.Error
			}
			return ErrClosed
		}
	}
}

// Endpoint returns the broker the connection reached.
func (c *Conn) Endpoint() Endpoint { return c.ep }

// ContainerID returns the client's container id.
func (c *Conn) ContainerID() string { return c.containerID }

// Server returns the broker's container id (tandem: "tandem/NAME").
func (c *Conn) Server() string { return c.remote.ContainerID }

// FailoverList returns the backups the broker announced in its open frame
// (failover-server-list), as host:port.
func (c *Conn) FailoverList() []Endpoint {
	v, _ := c.remote.Properties.Get(wire.PropertyFailoverServerList)
	list, _ := v.(wire.List)
	var out []Endpoint
	for _, e := range list {
		m, ok := e.(wire.Map)
		if !ok {
			continue
		}
		host, _ := m.Get(wire.Symbol("network-host"))
		port, _ := m.Get(wire.Symbol("port"))
		scheme, _ := m.Get(wire.Symbol("scheme"))
		h, _ := host.(string)
		if h == "" {
			continue
		}
		out = append(out, Endpoint{Host: h, Port: fmt.Sprint(port), TLS: scheme == "amqps"})
	}
	return out
}

// Done is closed when the connection ends; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (ErrClosed after Close), or nil
// while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection. Durable subscriptions stay.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		_ = c.write(0, &wire.Close{})
		c.fail(ErrClosed)
		// Give the broker a moment to answer, so it sees a clean close.
		select {
		case <-c.done:
		case <-time.After(time.Second):
		}
		c.nc.Close()
	})
	return nil
}

// write sends one frame.
func (c *Conn) write(ch uint16, p wire.FrameBody) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteFrame(ch, p, nil); err != nil {
		return err
	}
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	c.lastWrite = time.Now()
	return c.w.Flush()
}

// heartbeats sends an empty frame whenever nothing was written for
// half the broker's idle timeout.
func (c *Conn) heartbeats(every time.Duration) {
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.wmu.Lock()
			if time.Since(c.lastWrite) >= every {
				c.w.WriteHeartbeat()
				_ = c.flushLocked()
			}
			c.wmu.Unlock()
		}
	}
}

// failure returns why the connection ended.
func (c *Conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrClosed
	}
	return c.err
}

// fail ends the connection with err: every link fails with it.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	links := make([]*link, 0, len(c.links)+len(c.byName))
	for _, l := range c.links {
		links = append(links, l)
	}
	for _, l := range c.byName {
		links = append(links, l)
	}
	c.mu.Unlock()
	for _, l := range links {
		l.detached(err)
	}
	close(c.done)
}

func (c *Conn) readLoop() {
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = fmt.Errorf("connection to %s lost: %w", c.ep, err)
			}
			c.fail(err)
			c.nc.Close()
			return
		}
		if f.IsHeartbeat() {
			continue
		}
		p, payload, err := wire.DecodePerformative(f.Body)
		if err != nil {
			c.fail(err)
			c.nc.Close()
			return
		}
		if err := c.handle(p, payload); err != nil {
			c.fail(err)
			c.nc.Close()
			return
		}
	}
}

// handle dispatches one performative from the broker.
func (c *Conn) handle(p wire.Performative, payload []byte) error {
	switch p := p.(type) {
	case *wire.Begin:
		c.mu.Lock()
		c.nextIncomingID = p.NextOutgoingID
		c.mu.Unlock()
		close(c.begun)
	case *wire.Attach:
		c.mu.Lock()
		l := c.byName[p.Name]
		delete(c.byName, p.Name)
		if l != nil {
			c.links[p.Handle] = l
		}
		c.mu.Unlock()
		if l != nil {
			l.attached(p)
		}
	case *wire.Flow:
		if p.Handle.Set {
			if l := c.link(p.Handle.Value); l != nil {
				l.flow(p)
			}
		}
	case *wire.Transfer:
		c.mu.Lock()
		c.nextIncomingID++
		c.mu.Unlock()
		if l := c.link(p.Handle); l != nil {
			return l.transfer(p, payload)
		}
	case *wire.Disposition:
		c.disposition(p)
	case *wire.Detach:
		c.mu.Lock()
		l := c.links[p.Handle]
		delete(c.links, p.Handle)
		c.mu.Unlock()
		if l != nil {
			var err error = fmt.Errorf("link %q detached by the broker", l.name)
			if p.Error != nil {
				err = p.Error
			}
			if l.detached(err) {
				_ = c.write(0, &wire.Detach{Handle: l.handle, Closed: p.Closed})
			}
		}
	case *wire.End:
		if p.Error != nil {
			return p.Error
		}
		return fmt.Errorf("the broker ended the session")
	case *wire.Close:
		if p.Error != nil {
			return p.Error
		}
		return ErrClosed
	}
	return nil
}

func (c *Conn) link(remote uint32) *link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.links[remote]
}

// disposition hands the outcomes of our sends to their waiters.
func (c *Conn) disposition(d *wire.Disposition) {
	if d.Role != wire.RoleReceiver {
		return
	}
	c.mu.Lock()
	var ls []*link
	for _, l := range c.links {
		ls = append(ls, l)
	}
	c.mu.Unlock()
	for _, l := range ls {
		l.outcomes(d.First, d.LastID(), d.State)
	}
}

// sessionFlow fills in a flow's session fields.
func (c *Conn) sessionFlow(f *wire.Flow) {
	c.mu.Lock()
	f.NextIncomingID = wire.Some(c.nextIncomingID)
	f.NextOutgoingID = c.nextOutgoingID
	c.mu.Unlock()
	f.IncomingWindow, f.OutgoingWindow = math.MaxInt32, math.MaxInt32
}
