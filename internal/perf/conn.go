package perf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"tandem/client"
	"tandem/internal/wire/stomp"
)

// conn is one STOMP connection of the load generator. One goroutine reads
// (conn.r); writes are serialised by wmu, and a burst of frames encoded
// with write is handed to the kernel by one flush.
type conn struct {
	nc      net.Conn
	r       *stomp.Reader
	server  string
	version stomp.Version // negotiated in the handshake

	wmu sync.Mutex
	w   *stomp.Writer
}

// login is what a connection presents in its CONNECT frame.
type login struct {
	user, password string
	// vhost is the host header; empty sends the endpoint's host.
	vhost string
}

// dial connects to the first broker of the URL that completes a STOMP
// handshake, trying them in the order written. local, when set, is the
// address to connect from.
func dial(ctx context.Context, url string, l login, timeout time.Duration, local net.Addr) (*conn, error) {
	eps, _, err := client.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	var errs []error
	for _, ep := range eps {
		c, err := dialEndpoint(ctx, ep, l, timeout, local)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w to %s: %w", ErrConnect, url, errors.Join(errs...))
}

// dialEndpoint opens a TCP connection to ep and performs the STOMP
// handshake, asking for no heart-beats: a run is short and busy, and
// heart-beats would only add frames to what is measured.
func dialEndpoint(ctx context.Context, ep client.Endpoint, l login, timeout time.Duration, local net.Addr) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{LocalAddr: local}
	nc, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w (is the broker running and listening there?)", ep, err)
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	c := &conn{nc: nc, r: stomp.NewReader(nc, stomp.ReaderOptions{}), w: stomp.NewWriter(nc)}
	host := l.vhost
	if host == "" {
		host = ep.Host
	}
	if err := c.handshake(host, l.user, l.password); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: STOMP handshake: %w", ep, ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *conn) handshake(host, user, password string) error {
	f := &stomp.Frame{Command: stomp.CmdConnect}
	f.Headers.Add(stomp.HdrAcceptVersion, stomp.SupportedVersions)
	f.Headers.Add(stomp.HdrHost, host)
	if user != "" {
		f.Headers.Add(stomp.HdrLogin, user)
		f.Headers.Add(stomp.HdrPasscode, password)
	}
	f.Headers.Add(stomp.HdrHeartBeat, "0,0")
	if err := c.w.WriteFrame(f); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	reply, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("STOMP handshake: %w", err)
	}
	switch reply.Command {
	case stomp.CmdConnected:
	case stomp.CmdError:
		return brokerError(reply)
	default:
		return fmt.Errorf("STOMP handshake: expected CONNECTED, got %s", reply.Command)
	}
	v, err := stomp.ParseVersion(reply.Headers.Value(stomp.HdrVersion))
	if err != nil {
		return fmt.Errorf("STOMP handshake: %w", err)
	}
	c.version = v
	c.r.SetVersion(v)
	c.w.SetVersion(v)
	c.server = reply.Headers.Value(stomp.HdrServer)
	return nil
}

// readFrame returns the next frame that is not a heart-beat.
func (c *conn) readFrame() (*stomp.Frame, error) {
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		if !f.IsHeartBeat() {
			return f, nil
		}
	}
}

// write encodes f and, when flush is set, hands everything encoded so far
// to the kernel in one write. Encoding errors leave the stream usable;
// write errors break it.
func (c *conn) write(f *stomp.Frame, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteFrame(f); err != nil {
		return err
	}
	if !flush {
		return nil
	}
	return c.w.Flush()
}

// minFrameSize is the size of the smallest frame other than a heart-beat:
// "ERROR", an empty line and the NUL.
const minFrameSize = len("ERROR\n\n\x00")

// readDrained reports whether the read buffer holds no whole frame, so
// the next read may wait for the broker. Only the reading goroutine may
// ask. A buffer that is not quite empty still counts as drained: brokers
// follow frames with an end of line (a heart-beat to the reader), which
// stays buffered after the frame is read, and a consumer that waited for
// an empty buffer before sending its ACKs would wait for ever on a broker
// that waits for them.
func (c *conn) readDrained() bool { return c.r.Buffered() < minFrameSize }

// writeBuffered encodes f and hands the buffer to the kernel when idle is
// set (the caller has nothing more to add soon) or a burst has built up.
func (c *conn) writeBuffered(f *stomp.Frame, idle bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteFrame(f); err != nil {
		return err
	}
	if !idle && c.w.Buffered() < burstBytes {
		return nil
	}
	return c.w.Flush()
}

// flush writes out frames encoded without flush.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

func (c *conn) serverName() string { return c.server }

func (c *conn) newProducer(r *runner, index int, dests []string) loadProducer {
	return newProducer(r, index, c, dests)
}

func (c *conn) newConsumer(r *runner, index int, dests []string) loadConsumer {
	return newConsumer(r, index, c, dests)
}

// close ends the connection: a DISCONNECT frame (so the broker sees a
// clean goodbye rather than a reset), bounded by grace, then the socket is
// closed, which also stops the connection's reader.
func (c *conn) close(grace time.Duration) {
	f := &stomp.Frame{Command: stomp.CmdDisconnect}
	f.Headers.Add(stomp.HdrReceipt, "bye")
	c.nc.SetWriteDeadline(time.Now().Add(grace))
	_ = c.write(f, true)
	c.nc.Close()
}

// brokerError turns an ERROR frame into an error that quotes the broker.
func brokerError(f *stomp.Frame) error {
	msg := f.Headers.Value(stomp.HdrMessage)
	if body := string(f.Body); body != "" && body != msg {
		if len(body) > 200 {
			body = body[:200] + "…"
		}
		if msg == "" {
			msg = body
		} else {
			msg += ": " + body
		}
	}
	if msg == "" {
		msg = "(no message)"
	}
	return fmt.Errorf("%w: %s", ErrBroker, msg)
}

// probeInterval is the pause between two connection attempts of WaitReady:
// short enough that a start-up or failover time is read to within a few
// milliseconds, long enough not to load a broker that is starting.
const probeInterval = 5 * time.Millisecond

// WaitReady tries to open a STOMP connection to url until one succeeds,
// the way a client waiting for a broker would, and returns the moment the
// broker answered CONNECTED. It is how bench/compare times start-up and
// failover: the broker counts as ready when a client can use it, not when
// its port opens. It gives up after timeout with the last error.
// vhost is the CONNECT frame's host header (empty: the URL's host).
func WaitReady(ctx context.Context, url, user, password, vhost string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := dial(ctx, url, login{user: user, password: password, vhost: vhost}, time.Second, nil)
		if err == nil {
			at := time.Now()
			c.close(time.Second)
			return at, nil
		}
		t := time.NewTimer(probeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, fmt.Errorf("%s not ready within %v: %w", url, timeout, err)
		case <-t.C:
		}
	}
}
