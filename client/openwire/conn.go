package openwire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	wire "tandem/internal/wire/openwire"
)

// Errors.
var (
	// ErrClosed is returned by calls on a closed connection.
	ErrClosed = errors.New("openwire: connection closed")
	// ErrBadURL reports a URL that names no broker.
	ErrBadURL = errors.New("openwire: bad URL")
)

// BrokerError is an exception the broker answered a command with: the Java
// class it names (javax.jms.JMSSecurityException, say) and its message.
type BrokerError struct {
	Class   string
	Message string
}

func (e *BrokerError) Error() string {
	return strings.TrimPrefix(e.Class, "javax.jms.") + ": " + e.Message
}

// Options configure a connection.
type Options struct {
	User, Password string
	// ClientID names the connection; durable subscriptions need one. Empty
	// means a generated one.
	ClientID string
	// ConnectTimeout bounds each broker's connection attempt; default 10 s.
	ConnectTimeout time.Duration
	// SendWindow is how many sends may wait for the broker's confirmation
	// at once; Send blocks beyond it and Flush waits for all. 0 or 1 makes
	// every Send wait for its own confirmation.
	SendWindow int
}

// Conn is a connection to a broker, with one JMS session. Its methods are
// safe for concurrent use.
type Conn struct {
	nc       net.Conn
	opts     Options
	url      string
	broker   string
	connID   string
	maxFrame int64

	wmu sync.Mutex
	w   *wire.Writer

	mu        sync.Mutex
	nextCmd   int32
	pending   map[int32]chan wire.DataStructure
	consumers map[int64]*Consumer
	err       error
	nextID    atomic.Int64
	// async is the last error of a command sent without waiting (a
	// ConnectionError), reported by the next Flush.
	async error

	window   chan struct{}
	inflight sync.WaitGroup
	sendErr  atomic.Pointer[error]

	done      chan struct{}
	closeOnce sync.Once
}

// Dial connects to the first broker of url that accepts the connection.
func Dial(ctx context.Context, url string, opts Options) (*Conn, error) {
	addrs, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	var errs []error
	for _, a := range addrs {
		c, err := dialOne(ctx, a, opts)
		if err == nil {
			return c, nil
		}
		var be *BrokerError
		if errors.As(err, &be) {
			return nil, err // the broker refused: another would too
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("openwire: cannot connect to %s: %w", url, errors.Join(errs...))
}

// ParseURL returns the host:port of each broker a URL names: tcp://host:port,
// host:port, or failover:(tcp://a:1,tcp://b:2)?options (options ignored).
func ParseURL(url string) ([]string, error) {
	s := strings.TrimSpace(url)
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "failover:"); ok {
		s = s[len(s)-len(rest):]
		s = strings.TrimPrefix(s, "//")
		if i := strings.IndexByte(s, '?'); i >= 0 && !strings.Contains(s[i:], ")") {
			s = s[:i]
		}
		s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if i := strings.IndexByte(part, '?'); i >= 0 {
			part = part[:i]
		}
		if scheme, rest, ok := strings.Cut(part, "://"); ok {
			if scheme != "tcp" && scheme != "nio" {
				return nil, fmt.Errorf("%w %q: scheme %s is not supported; use tcp://host:port", ErrBadURL, url, scheme)
			}
			part = rest
		}
		if _, _, err := net.SplitHostPort(part); err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadURL, url, err)
		}
		out = append(out, part)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %q: it names no broker; write tcp://host:port", ErrBadURL, url)
	}
	return out, nil
}

func dialOne(ctx context.Context, addr string, opts Options) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := dctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &Conn{nc: nc, opts: opts, url: "tcp://" + addr, w: wire.NewWriter(nc), pending: map[int32]chan wire.DataStructure{},
		consumers: map[int64]*Consumer{}, done: make(chan struct{})}
	if opts.SendWindow > 1 {
		c.window = make(chan struct{}, opts.SendWindow)
	}
	r := wire.NewReader(nc, wire.ReaderOptions{})
	if err := c.handshake(r); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	go c.readLoop(r)
	if err := c.open(ctx); err != nil {
		c.shutdown(err)
		return nil, err
	}
	go c.keepAlive()
	return c, nil
}

// handshake exchanges WireFormatInfos and reads the BrokerInfo.
func (c *Conn) handshake(r *wire.Reader) error {
	info, err := wire.NewWireFormatInfo(wire.DefaultClientWireFormat())
	if err != nil {
		return err
	}
	if err := c.w.WriteCommand(info); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	first, err := r.ReadCommand()
	if err != nil {
		return fmt.Errorf("openwire handshake with %s: %w", c.url, err)
	}
	bwf, ok := first.(*wire.WireFormatInfo)
	if !ok {
		return fmt.Errorf("openwire handshake with %s: the broker sent a %v first", c.url, first.DataType())
	}
	theirs, err := bwf.WireFormat()
	if err != nil {
		return err
	}
	agreed, err := wire.Negotiate(wire.DefaultClientWireFormat(), theirs)
	if err != nil {
		return err
	}
	c.w.SetMaxFrameSize(agreed.MaxFrameSize)
	r.SetMaxFrameSize(int(min(agreed.MaxFrameSize, 1<<31-1)))
	c.broker = c.url
	c.maxFrame = agreed.MaxFrameSize
	return nil
}

// open sends the ConnectionInfo and the session's SessionInfo.
func (c *Conn) open(ctx context.Context) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	c.connID = "ID:" + host + "-go-" + hex.EncodeToString(b[:]) + ":1"
	clientID := c.opts.ClientID
	if clientID == "" {
		clientID = c.connID
	}
	ci := &wire.ConnectionInfo{ConnectionID: &wire.ConnectionID{Value: c.connID}, ClientID: clientID,
		UserName: c.opts.User, Password: c.opts.Password}
	if err := c.request(ctx, ci); err != nil {
		return err
	}
	return c.request(ctx, &wire.SessionInfo{SessionID: &wire.SessionID{ConnectionID: c.connID, Value: 1}})
}

// Broker names the broker: its URL, and its name when it gave one.
func (c *Conn) Broker() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broker
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) readLoop(r *wire.Reader) {
	for {
		ds, err := r.ReadCommand()
		if err != nil {
			if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrUnsupportedType) {
				continue // one frame lost; the stream is in step
			}
			c.shutdown(fmt.Errorf("openwire: connection to %s lost: %w", c.url, err))
			return
		}
		switch x := ds.(type) {
		case *wire.Response:
			c.answer(x.CorrelationID, x)
		case *wire.ExceptionResponse:
			c.answer(x.CorrelationID, x)
		case *wire.DataArrayResponse:
			c.answer(x.CorrelationID, x)
		case *wire.MessageDispatch:
			c.dispatch(x)
		case *wire.KeepAliveInfo:
			if x.ResponseRequired {
				_ = c.write(&wire.KeepAliveInfo{})
			}
		case *wire.ConnectionError:
			c.mu.Lock()
			c.async = brokerError(x.Exception)
			c.mu.Unlock()
		case *wire.BrokerInfo:
			if x.BrokerName != "" {
				c.mu.Lock()
				c.broker = c.url + " (" + x.BrokerName + ")"
				c.mu.Unlock()
			}
		case *wire.ProducerAck, *wire.ConnectionControl, *wire.ConsumerControl:
		}
	}
}

func (c *Conn) answer(id int32, ds wire.DataStructure) {
	c.mu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- ds
	}
}

// keepAlive sends a KeepAliveInfo every 10 s, inside the broker's
// inactivity limit.
func (c *Conn) keepAlive() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			_ = c.write(&wire.KeepAliveInfo{})
		}
	}
}

// write sends one command.
func (c *Conn) write(cmd wire.Command) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	c.nextCmd++
	cmd.Base().CommandID = c.nextCmd
	c.mu.Unlock()
	if err := c.w.WriteCommand(cmd); err != nil {
		return err
	}
	return c.w.Flush()
}

// start sends cmd asking for an answer and returns the channel the answer
// comes on.
func (c *Conn) start(cmd wire.Command) (chan wire.DataStructure, error) {
	ch := make(chan wire.DataStructure, 1)
	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, err
	}
	c.nextCmd++
	b := cmd.Base()
	b.CommandID, b.ResponseRequired = c.nextCmd, true
	c.pending[b.CommandID] = ch
	c.mu.Unlock()
	err := c.w.WriteCommand(cmd)
	if err == nil {
		err = c.w.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.pending, b.CommandID)
		c.mu.Unlock()
		return nil, err
	}
	return ch, nil
}

// wait waits for an answer on ch.
func (c *Conn) wait(ctx context.Context, ch chan wire.DataStructure) error {
	select {
	case ds := <-ch:
		if er, ok := ds.(*wire.ExceptionResponse); ok {
			return brokerError(er.Exception)
		}
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request sends cmd and waits for its answer.
func (c *Conn) request(ctx context.Context, cmd wire.Command) error {
	ch, err := c.start(cmd)
	if err != nil {
		return err
	}
	return c.wait(ctx, ch)
}

func brokerError(t *wire.Throwable) error {
	if t == nil {
		return &BrokerError{Class: "javax.jms.JMSException", Message: "the broker refused the command"}
	}
	return &BrokerError{Class: t.Class, Message: t.Message}
}

// shutdown ends the connection with err.
func (c *Conn) shutdown(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.nc.Close()
	})
}

// Close closes the connection: consumers go, unacknowledged messages return
// to the broker, an open transaction rolls back.
func (c *Conn) Close() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.request(ctx, &wire.RemoveInfo{ObjectID: &wire.ConnectionID{Value: c.connID}, LastDeliveredSequenceID: wire.LastDeliveredUnknown})
	_ = c.write(&wire.ShutdownInfo{})
	c.shutdown(ErrClosed)
	return err
}
