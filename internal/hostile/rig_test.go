package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"tandem/internal/protocol"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	stompproto "tandem/internal/protocol/stomp"
	"tandem/internal/store/memstore"
)

// users accepts any login; the user name is the login, "anonymous" when
// none is given.
type users struct{}

func (users) Authenticate(_, login, _ string) (protocol.Identity, error) {
	if login == "" {
		login = "anonymous"
	}
	return protocol.Identity{User: login}, nil
}

// rig is a broker with a STOMP listener on a free loopback port.
type rig struct {
	addr string
	b    *broker.Broker
	ln   *listener.Listener
}

// serve starts a rig; the options fill in the listener's and the STOMP
// server's settings before they start.
func serve(t *testing.T, lo listener.Options, so stompproto.Options) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(broker.Options{Store: memstore.New(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	so.Broker, so.Auth, so.Logger = b, users{}, log
	lo.Protocols, lo.Logger = []listener.Protocol{stompproto.NewServer(so)}, log
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := listener.New(nl, lo)
	go ln.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ln.Close(ctx)
		b.Close()
	})
	return &rig{addr: nl.Addr().String(), b: b, ln: ln}
}

// raw is a STOMP client written by hand, so that it can misbehave.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// write sends bytes, failing the test on error.
func (r *raw) write(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// connect logs in as user and expects CONNECTED or returns the ERROR's
// message header.
func (r *raw) connect(user string, extra ...string) (refusal string) {
	r.t.Helper()
	h := "accept-version:1.2\nhost:x\n"
	if user != "" {
		h += "login:" + user + "\npasscode:x\n"
	}
	for _, e := range extra {
		h += e + "\n"
	}
	r.write("CONNECT\n" + h + "\n\x00")
	cmd, headers, err := r.frame(5 * time.Second)
	if err != nil {
		r.t.Fatalf("reading the answer to CONNECT: %v", err)
	}
	if cmd == "CONNECTED" {
		return ""
	}
	return headers["message"]
}

// frame reads one frame (skipping heart-beats) and returns its command and
// headers; the body is kept under the key "body".
func (r *raw) frame(within time.Duration) (string, map[string]string, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(within))
	defer r.nc.SetReadDeadline(time.Time{})
	var cmd string
	for cmd == "" {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		cmd = strings.TrimRight(line, "\r\n")
	}
	headers := map[string]string{}
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		if _, seen := headers[k]; !seen {
			headers[k] = unescape.Replace(v)
		}
	}
	body, err := r.br.ReadString(0)
	if err != nil {
		return "", nil, err
	}
	headers["body"] = strings.TrimSuffix(body, "\x00")
	return cmd, headers, nil
}

// expectError reads frames until an ERROR and returns its message header
// and body, joined by " | ".
func (r *raw) expectError(within time.Duration) string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		cmd, h, err := r.frame(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("no ERROR frame: %v", err)
		}
		if cmd == "ERROR" {
			return h["message"] + " | " + h["body"]
		}
	}
	r.t.Fatalf("no ERROR frame within %v", within)
	return ""
}

// closedWithin waits until the server closes the connection and returns
// how long that took; it fails the test if it stays open past limit.
func (r *raw) closedWithin(limit time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	_ = r.nc.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, r.br)
	if err != nil {
		var ne net.Error
		if ok := asNetErr(err, &ne); ok && ne.Timeout() {
			r.t.Fatalf("the server kept the connection open for %v", limit)
		}
	}
	return time.Since(start)
}

// unescape undoes STOMP 1.2's header escaping.
var unescape = strings.NewReplacer(`\\`, `\`, `\c`, ":", `\n`, "\n", `\r`, "\r")

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

func sendFrame(dest string, body int, extra ...string) string {
	h := "SEND\ndestination:" + dest + "\n"
	for _, e := range extra {
		h += e + "\n"
	}
	return h + fmt.Sprintf("content-length:%d\n\n", body) + strings.Repeat("x", body) + "\x00"
}
