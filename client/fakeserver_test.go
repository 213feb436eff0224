package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

// testTimeout bounds every wait in these tests. It is a deadline for
// polling, never a sleep: a passing test finishes as fast as the code.
const testTimeout = 5 * time.Second

// fakeServer is a scripted STOMP broker for tests, built on the codec. It
// performs the handshake by itself and hands each connection to the test,
// which reads the client's frames and answers them as the scenario needs.
// It can crash (stop) and come back on the same port (restart), and with a
// store it remembers duplicate ids as the real broker does.
type fakeServer struct {
	t     testing.TB
	addr  string // host:port, kept across restarts
	conns chan *serverConn
	wg    sync.WaitGroup

	// users, when set, is the only accepted login/passcode pairs.
	users map[string]string
	// version is the CONNECTED version header; "-" omits it (STOMP 1.0).
	version string
	// heartBeat is the CONNECTED heart-beat header.
	heartBeat string
	// connected holds extra CONNECTED headers, such as tandem-backups.
	connected stomp.Headers
	// autoReceipt makes connections answer every receipt request at once.
	autoReceipt bool
	// store, when set, keeps every SEND's duplicate id; the same store
	// given to two servers stands for their shared journal.
	store *fakeStore
	// crashAfter, when positive, makes the server crash (stop) when a
	// connection has sent that many frames: the last is stored but not
	// confirmed, as when a broker dies between its journal sync and the
	// RECEIPT.
	crashAfter int
	// raw, when set, replaces the handshake: the test gets the raw socket.
	raw func(net.Conn)

	mu   sync.Mutex
	ln   net.Listener // nil while stopped
	live []net.Conn
}

// newFakeServer listens on a free local port; configure sets its fields
// before it accepts.
func newFakeServer(t testing.TB, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, addr: ln.Addr().String(), conns: make(chan *serverConn, 64), version: "1.2",
		heartBeat: "0,0", autoReceipt: true}
	if configure != nil {
		configure(s)
	}
	t.Cleanup(func() {
		s.stop()
		s.wg.Wait()
	})
	s.serve(ln)
	return s
}

// serve accepts connections on ln until it is closed.
func (s *fakeServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				// Stopped between Accept and here.
				s.mu.Unlock()
				nc.Close()
				return
			}
			s.live = append(s.live, nc)
			s.mu.Unlock()
			if s.raw != nil {
				s.wg.Go(func() { s.raw(nc) })
				continue
			}
			s.wg.Go(func() { s.handshake(nc) })
		}
	})
}

// stop crashes the server: it stops listening and drops every connection
// without a word, as a killed broker does. It is idempotent.
func (s *fakeServer) stop() {
	s.mu.Lock()
	ln, live := s.ln, s.live
	s.ln, s.live = nil, nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, nc := range live {
		nc.Close()
	}
}

// restart listens again on the server's address after stop.
func (s *fakeServer) restart(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("restart on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// URL returns the server's address as a client URL.
func (s *fakeServer) URL() string { return "tcp://" + s.addr }

// fakeStore is the duplicate-id memory of a broker's journal, shared by
// the fake servers that stand for a live/backup pair.
type fakeStore struct {
	mu      sync.Mutex
	ids     map[string]bool
	bodies  []string // bodies of stored messages, in store order
	dropped []string // duplicate ids of dropped resends
}

// newFakeStore returns an empty store.
func newFakeStore() *fakeStore { return &fakeStore{ids: map[string]bool{}} }

// add stores a SEND unless its duplicate id was seen before, as the
// broker's duplicate detection does.
func (st *fakeStore) add(f *stomp.Frame) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if id := f.Headers.Value(stomp.HdrDuplicateID); id != "" {
		if st.ids[id] {
			st.dropped = append(st.dropped, id)
			return
		}
		st.ids[id] = true
	}
	st.bodies = append(st.bodies, string(f.Body))
}

// snapshot returns the stored bodies and the dropped duplicate ids.
func (st *fakeStore) snapshot() (bodies, dropped []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.bodies...), append([]string(nil), st.dropped...)
}

// handshake reads CONNECT, checks the login and answers.
func (s *fakeServer) handshake(nc net.Conn) {
	sc := &serverConn{
		t: s.t, nc: nc, srv: s,
		r:      stomp.NewReader(nc, stomp.ReaderOptions{}),
		w:      stomp.NewWriter(nc),
		frames: make(chan *stomp.Frame, 10000),
		closed: make(chan struct{}),
	}
	sc.auto.Store(s.autoReceipt)
	var f *stomp.Frame
	for {
		var err error
		if f, err = sc.r.ReadFrame(); err != nil {
			nc.Close()
			return
		}
		if !f.IsHeartBeat() {
			break
		}
	}
	sc.connect = f
	if s.users != nil {
		login, _ := f.Headers.Get(stomp.HdrLogin)
		pass, _ := f.Headers.Get(stomp.HdrPasscode)
		if want, ok := s.users[login]; !ok || want != pass {
			sc.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
				{Key: stomp.HdrMessage, Value: "Security Error: user " + login + " or password is invalid"},
			}, Body: []byte("check the\ncredentials")})
			nc.Close()
			return
		}
	}
	cf := &stomp.Frame{Command: stomp.CmdConnected}
	if s.version != "-" {
		cf.Headers.Add(stomp.HdrVersion, s.version)
	}
	cf.Headers.Add(stomp.HdrServer, "fake/1.0")
	cf.Headers.Add(stomp.HdrSession, "sess-1")
	cf.Headers.Add(stomp.HdrHeartBeat, s.heartBeat)
	cf.Headers = append(cf.Headers, s.connected...)
	v, _ := stomp.ParseVersion(strings.TrimPrefix(s.version, "-"))
	sc.send(cf)
	sc.r.SetVersion(v)
	sc.wmu.Lock()
	sc.w.SetVersion(v)
	sc.wmu.Unlock()
	go sc.readLoop()
	s.conns <- sc
}

// next returns the next connection that completed the handshake.
func (s *fakeServer) next(t testing.TB) *serverConn {
	t.Helper()
	select {
	case sc := <-s.conns:
		return sc
	case <-time.After(testTimeout):
		t.Fatal("no client connection arrived")
		return nil
	}
}

// serverConn is the server side of one client connection.
type serverConn struct {
	t       testing.TB
	nc      net.Conn
	srv     *fakeServer
	r       *stomp.Reader
	wmu     sync.Mutex
	w       *stomp.Writer
	connect *stomp.Frame
	frames  chan *stomp.Frame // every non-heart-beat frame from the client
	closed  chan struct{}     // closed when the client's side ended
	readErr error             // why; valid after closed
	auto    atomic.Bool       // answer receipts automatically
	beats   atomic.Int64      // heart-beats received
}

// readLoop records the client's frames, stores SENDs when the server has a
// store, crashes the server when told to, and answers receipts when
// autoReceipt is on. A frame is recorded before its RECEIPT goes out, so a
// test that saw a call return finds its frame recorded.
func (sc *serverConn) readLoop() {
	defer close(sc.closed)
	n := 0
	for {
		f, err := sc.r.ReadFrame()
		if err != nil {
			sc.readErr = err
			return
		}
		if f.IsHeartBeat() {
			sc.beats.Add(1)
			continue
		}
		n++
		if f.Command == stomp.CmdSend && sc.srv.store != nil {
			sc.srv.store.add(f)
		}
		sc.frames <- f
		if sc.srv.crashAfter > 0 && n == sc.srv.crashAfter {
			// Frames already buffered are lost with the broker.
			sc.srv.stop()
			sc.readErr = net.ErrClosed
			return
		}
		if id, ok := f.Headers.Get(stomp.HdrReceipt); ok && sc.auto.Load() {
			sc.send(&stomp.Frame{Command: stomp.CmdReceipt, Headers: stomp.Headers{{Key: stomp.HdrReceiptID, Value: id}}})
		}
	}
}

// send writes a frame to the client; it may be called from any goroutine.
func (sc *serverConn) send(f *stomp.Frame) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if err := sc.w.WriteFrame(f); err != nil {
		sc.t.Errorf("fake server cannot encode %s: %v", f, err)
		return
	}
	sc.w.Flush() // a write error means the client left; the test will see that
}

// next returns the client's next frame.
func (sc *serverConn) next(t testing.TB) *stomp.Frame {
	t.Helper()
	select {
	case f := <-sc.frames:
		return f
	case <-time.After(testTimeout):
		t.Fatal("the client sent no frame")
		return nil
	}
}

// expect returns the client's next frame and checks its command.
func (sc *serverConn) expect(t testing.TB, cmd string) *stomp.Frame {
	t.Helper()
	f := sc.next(t)
	if f.Command != cmd {
		t.Fatalf("client sent %s, want %s", f, cmd)
	}
	return f
}

// receipt confirms f.
func (sc *serverConn) receipt(t testing.TB, f *stomp.Frame) {
	t.Helper()
	id, ok := f.Headers.Get(stomp.HdrReceipt)
	if !ok {
		t.Fatalf("%s has no receipt header", f)
	}
	sc.send(&stomp.Frame{Command: stomp.CmdReceipt, Headers: stomp.Headers{{Key: stomp.HdrReceiptID, Value: id}}})
}

// message delivers a MESSAGE to subscription sub.
func (sc *serverConn) message(sub, dest, id, body string, kv ...string) {
	f := &stomp.Frame{Command: stomp.CmdMessage, Body: []byte(body)}
	f.Headers.Add(stomp.HdrSubscription, sub)
	f.Headers.Add(stomp.HdrMessageID, id)
	f.Headers.Add(stomp.HdrDestination, dest)
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers.Add(kv[i], kv[i+1])
	}
	sc.send(f)
}

// waitClosed waits until the client closed its side.
func (sc *serverConn) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-sc.closed:
		if sc.readErr != nil && !errors.Is(sc.readErr, io.EOF) && !errors.Is(sc.readErr, net.ErrClosed) {
			t.Logf("client side ended with %v", sc.readErr)
		}
	case <-time.After(testTimeout):
		t.Fatal("the client did not close the connection")
	}
}

// waitFor polls cond until it holds or the test deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a guess at timing
	}
}

// async runs fn in a goroutine and returns its result channel.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// result waits for an async call to finish.
func result(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(testTimeout):
		t.Fatal("call did not return")
		return nil
	}
}

// pending reports whether an async call is still running.
func pending(ch <-chan error) bool { return len(ch) == 0 }

// dial connects a client to s and returns both ends; the client is closed
// at the end of the test.
func dial(t testing.TB, s *fakeServer, opts ...Option) (*Conn, *serverConn) {
	t.Helper()
	return dialURL(t, s.URL(), opts...), s.next(t)
}

// dialURL connects a client to url, without heart-beats and with a short
// close timeout; the client is closed at the end of the test.
func dialURL(t testing.TB, url string, opts ...Option) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	opts = append([]Option{WithHeartBeat(0, 0), WithCloseTimeout(100 * time.Millisecond)}, opts...)
	c, err := Dial(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// failoverURL lists servers in ActiveMQ Classic's failover: form, followed
// by query (options without the '?', or "").
func failoverURL(query string, servers ...*fakeServer) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.URL()
	}
	u := "failover:(" + strings.Join(urls, ",") + ")"
	if query != "" {
		u += "?" + query
	}
	return u
}

// drain returns the frames the client sent on sc so far, without waiting.
func (sc *serverConn) drain() []*stomp.Frame {
	var fs []*stomp.Frame
	for {
		select {
		case f := <-sc.frames:
			fs = append(fs, f)
		default:
			return fs
		}
	}
}

// eventLog records a Conn's events for a test.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

// add is the event handler.
func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// all returns the events so far.
func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

// wait polls until an event of kind k has arrived and returns the first.
func (l *eventLog) wait(t testing.TB, k EventKind) Event {
	t.Helper()
	var ev Event
	waitFor(t, "event "+k.String(), func() bool {
		for _, e := range l.all() {
			if e.Kind == k {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

// sleepLog is an injected back-off sleep that records the delays and does
// not wait.
type sleepLog struct {
	mu     sync.Mutex
	delays []time.Duration
}

// option installs the recorder in a Conn.
func (l *sleepLog) option() Option {
	return func(c *config) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			l.mu.Lock()
			l.delays = append(l.delays, d)
			l.mu.Unlock()
			return ctx.Err()
		}
	}
}

// all returns the recorded delays.
func (l *sleepLog) all() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.delays...)
}

// testCtx returns a context bounded by the test deadline.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}
