package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"tandem/internal/listener"
	"tandem/internal/protocol"
)

// Magic opens every cluster connection; it cannot be mistaken for the
// first bytes of STOMP, OpenWire, AMQP, MQTT or HTTP.
var Magic = []byte("TNDMCLU1")

// Timing of the connection: each side pings every PingInterval and gives
// up on a peer silent for DeadAfter, so a backup that dies is unlisted
// within a few seconds and a healthy one never is.
const (
	PingInterval = time.Second
	DeadAfter    = 5 * time.Second
	// maxMessage bounds one message; a hello is a few hundred bytes.
	maxMessage = 64 << 10
)

// Message types.
const (
	typeHello   = "hello"
	typeWelcome = "welcome"
	typeRefused = "refused"
	typePing    = "ping"
)

// Hello is a waiting node introducing itself.
type Hello struct {
	NodeID    string              `json:"nodeId"`
	Name      string              `json:"name"`
	Endpoints []protocol.Endpoint `json:"endpoints"`
	User      string              `json:"user,omitempty"`
	Password  string              `json:"password,omitempty"`
}

// message is one framed message: a 4-byte big-endian length and JSON.
type message struct {
	Type   string `json:"type"`
	Hello  *Hello `json:"hello,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ErrRefused reports a live node that refused the announcement.
var ErrRefused = errors.New("cluster: the live node refused the announcement")

func writeMessage(w io.Writer, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

func readMessage(r io.Reader) (message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return message{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxMessage {
		return message{}, fmt.Errorf("cluster: a message of %d bytes is over the %d byte limit", n, maxMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return message{}, fmt.Errorf("cluster: malformed message: %w", err)
	}
	return m, nil
}

// Register is the live side's hook: it lists the announced node until
// release is called, or refuses it with an error whose text goes back to
// the node. id is the identity the hello's credentials authenticated as.
type Register func(h Hello, id protocol.Identity) (release func(), err error)

// Server is the live side, a listener protocol on the client port.
type Server struct {
	auth     protocol.Authenticator
	register Register
	log      *slog.Logger
}

var _ listener.Protocol = (*Server)(nil)

// NewServer returns the live side. register nil refuses every announcement
// (a node that is not live).
func NewServer(auth protocol.Authenticator, register Register, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{auth: auth, register: register, log: log}
}

// Name implements listener.Protocol.
func (s *Server) Name() string { return "cluster" }

// Detect implements listener.Protocol.
func (s *Server) Detect(prefix []byte) int {
	n := min(len(prefix), len(Magic))
	if !bytes.Equal(prefix[:n], Magic[:n]) {
		return listener.NoMatch
	}
	if n < len(Magic) {
		return listener.NeedMore
	}
	return listener.Match
}

// Serve implements listener.Protocol.
func (s *Server) Serve(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	r := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(DeadAfter))
	if _, err := io.ReadFull(r, make([]byte, len(Magic))); err != nil {
		return
	}
	m, err := readMessage(r)
	if err != nil || m.Type != typeHello || m.Hello == nil {
		_ = writeMessage(nc, message{Type: typeRefused, Reason: "expected a hello"})
		return
	}
	h := *m.Hello
	refuse := func(reason string) {
		s.log.Warn("refused a node's announcement", "event", "ha_announce_refused", "node", h.Name, "reason", reason)
		_ = writeMessage(nc, message{Type: typeRefused, Reason: reason})
	}
	if s.register == nil {
		refuse("this node does not accept HA announcements (it is not the live node of a pair)")
		return
	}
	id, err := s.auth.Authenticate(protocol.SourceOf(nc), h.User, h.Password)
	if err != nil {
		refuse("login failed: " + err.Error())
		return
	}
	release, err := s.register(h, id)
	if err != nil {
		refuse(err.Error())
		return
	}
	defer release()
	if writeMessage(nc, message{Type: typeWelcome}) != nil {
		return
	}
	keepAlive(ctx, nc, r)
}

// keepAlive pings the peer and reads its pings until either side goes
// quiet or the connection ends.
func keepAlive(ctx context.Context, nc net.Conn, r *bufio.Reader) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(PingInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				nc.Close()
				return
			case <-t.C:
				_ = nc.SetWriteDeadline(time.Now().Add(DeadAfter))
				if writeMessage(nc, message{Type: typePing}) != nil {
					nc.Close()
					return
				}
			}
		}
	}()
	for {
		_ = nc.SetReadDeadline(time.Now().Add(DeadAfter))
		if _, err := readMessage(r); err != nil {
			return
		}
	}
}

// Announce introduces this node to the live node over nc and holds the
// connection until it ends or ctx is cancelled. welcomed, if not nil, runs
// once the live has listed the node. Announce returns when the connection
// ends; accepted reports whether the live listed the node, and err why not.
func Announce(ctx context.Context, nc net.Conn, h Hello, welcomed func()) (accepted bool, err error) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	_ = nc.SetWriteDeadline(time.Now().Add(DeadAfter))
	var buf bytes.Buffer
	buf.Write(Magic)
	if err := writeMessage(&buf, message{Type: typeHello, Hello: &h}); err != nil {
		return false, err
	}
	if _, err := nc.Write(buf.Bytes()); err != nil {
		return false, err
	}
	r := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(DeadAfter))
	m, err := readMessage(r)
	if err != nil {
		return false, err
	}
	switch m.Type {
	case typeWelcome:
	case typeRefused:
		return false, fmt.Errorf("%w: %s", ErrRefused, m.Reason)
	default:
		return false, fmt.Errorf("cluster: unexpected %q in answer to a hello", m.Type)
	}
	if welcomed != nil {
		welcomed()
	}
	keepAlive(ctx, nc, r)
	return true, nil
}
