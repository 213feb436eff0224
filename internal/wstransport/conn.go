package wstransport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// conn is a WebSocket as the stream a protocol adapter reads and writes:
// a Read takes bytes from the current message and moves on to the next,
// whatever its type (STOMP pages send text, MQTT clients binary); every
// Write is one message. A goroutine reads whole messages (each bounded by
// the read limit) and hands them over one at a time, so a read deadline
// can pass without abandoning a message half read: the adapter gets a
// timeout and may still write its goodbye (STOMP's heart-beat ERROR). A
// write deadline that passes during a write closes the WebSocket.
type conn struct {
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	// text sends messages that are valid UTF-8 as text, for STOMP pages
	// whose libraries read text frames only; the rest go as binary.
	text   bool
	local  net.Addr
	remote net.Addr

	rmu  sync.Mutex
	cur  []byte        // the rest of the message being read
	msgs chan []byte   // messages from the reading goroutine
	gone chan struct{} // closed when the reading goroutine ends
	rerr error         // why it ended; set before gone is closed

	wmu sync.Mutex

	dmu       sync.Mutex
	rDeadline time.Time
	wDeadline time.Time
}

var _ net.Conn = (*conn)(nil)

func newConn(ctx context.Context, c *websocket.Conn, r *http.Request, text bool) *conn {
	cc := &conn{c: c, text: text, local: addrOf(r.Context().Value(http.LocalAddrContextKey)), remote: remoteAddr(r.RemoteAddr)}
	cc.ctx, cc.cancel = context.WithCancel(ctx)
	cc.msgs, cc.gone = make(chan []byte), make(chan struct{})
	go cc.readMessages()
	return cc
}

// readMessages reads messages until the WebSocket ends.
func (c *conn) readMessages() {
	defer close(c.gone)
	for {
		_, p, err := c.c.Read(c.ctx)
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway:
				err = io.EOF
			}
			c.rerr = err
			return
		}
		if len(p) == 0 {
			continue
		}
		select {
		case c.msgs <- p:
		case <-c.ctx.Done():
			c.rerr = net.ErrClosed
			return
		}
	}
}

// opCtx returns the context of one read or write, bounded by deadline.
func (c *conn) opCtx(deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return c.ctx, func() {}
	}
	return context.WithDeadline(c.ctx, deadline)
}

// Read implements net.Conn.
func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.cur) == 0 {
		c.dmu.Lock()
		d := c.rDeadline
		c.dmu.Unlock()
		var expired <-chan time.Time
		if !d.IsZero() {
			wait := time.Until(d)
			if wait <= 0 {
				return 0, errTimeout{"read"}
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			expired = t.C
		}
		select {
		case m := <-c.msgs:
			c.cur = m
		case <-c.gone:
			return 0, c.rerr
		case <-expired:
			return 0, errTimeout{"read"}
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// Write implements net.Conn: p goes out as one message.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.dmu.Lock()
	d := c.wDeadline
	c.dmu.Unlock()
	if !d.IsZero() && !time.Now().Before(d) {
		return 0, errTimeout{"write"}
	}
	typ := websocket.MessageBinary
	if c.text && utf8.Valid(p) {
		typ = websocket.MessageText
	}
	ctx, cancel := c.opCtx(d)
	err := c.c.Write(ctx, typ, p)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if timedOut {
			return 0, errTimeout{"write"}
		}
		return 0, err
	}
	return len(p), nil
}

// Close implements net.Conn with a normal closure.
func (c *conn) Close() error {
	c.cancel()
	return c.c.Close(websocket.StatusNormalClosure, "")
}

// CloseWrite lets adapters that half-close after a last frame (STOMP's
// ERROR) end the WebSocket the same way.
func (c *conn) CloseWrite() error { return c.Close() }

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.dmu.Lock()
	c.rDeadline, c.wDeadline = t, t
	c.dmu.Unlock()
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	c.rDeadline = t
	c.dmu.Unlock()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.wDeadline = t
	c.dmu.Unlock()
	return nil
}

func addrOf(v any) net.Addr {
	if a, ok := v.(net.Addr); ok {
		return a
	}
	return dummyAddr{}
}

// remoteAddr parses the request's "host:port" into a net.Addr, so that
// adapters see the client's IP as on a plain connection.
func remoteAddr(s string) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", s); err == nil {
		return a
	}
	return dummyAddr{}
}
