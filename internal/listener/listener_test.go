package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"tandem/internal/tlsconfig"
)

// echoProto claims connections starting with its magic and echoes what it
// reads, so a test can check the first bytes reach the protocol intact.
type echoProto struct{ magic []byte }

func (e echoProto) Name() string { return string(e.magic) }

func (e echoProto) Detect(p []byte) int {
	n := min(len(p), len(e.magic))
	if !bytes.Equal(p[:n], e.magic[:n]) {
		return NoMatch
	}
	if n < len(e.magic) {
		return NeedMore
	}
	return Match
}

func (e echoProto) Serve(ctx context.Context, c net.Conn) {
	go func() { <-ctx.Done(); c.Close() }()
	io.Copy(c, c)
}

func serve(t *testing.T, opts Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, opts)
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	return ln.Addr().String()
}

func roundTrip(t *testing.T, addr string, send string) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(send)); err != nil {
		return "", err
	}
	buf := make([]byte, len(send))
	_, err = io.ReadFull(c, buf)
	return string(buf), err
}

func TestDetectsProtocolFromFirstBytes(t *testing.T) {
	addr := serve(t, Options{Protocols: []Protocol{echoProto{[]byte("AAA")}, echoProto{[]byte("ABB")}}})
	for _, msg := range []string{"AAA hello", "ABB world"} {
		got, err := roundTrip(t, addr, msg)
		if err != nil || got != msg {
			t.Fatalf("%q came back as %q (%v)", msg, got, err)
		}
	}
}

func TestUnknownProtocolIsClosed(t *testing.T) {
	addr := serve(t, Options{Protocols: []Protocol{echoProto{[]byte("AAA")}}})
	if got, err := roundTrip(t, addr, "GET / HTTP/1.1\r\n"); err == nil {
		t.Fatalf("unknown protocol was served: %q", got)
	}
}

func TestSilentConnectionTimesOut(t *testing.T) {
	addr := serve(t, Options{Protocols: []Protocol{echoProto{[]byte("AAA")}}, HandshakeTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent connection: read returned %v, want EOF from the server's close", err)
	}
}

func TestMaxConnections(t *testing.T) {
	addr := serve(t, Options{Protocols: []Protocol{echoProto{[]byte("AAA")}}, MaxConnections: 1})
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.Write([]byte("AAA"))
	buf := make([]byte, 3)
	first.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(first, buf); err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(t, addr, "AAA second"); err == nil {
		t.Fatalf("second connection beyond the limit was served: %q", got)
	}
}

func TestTLSAcceptor(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if _, err := tlsconfig.WriteSelfSigned(cert, key, tlsconfig.SelfSigned{Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	scfg, err := tlsconfig.Server(tlsconfig.Settings{Enabled: true, CertPath: cert, KeyPath: key, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, Options{Protocols: []Protocol{echoProto{[]byte("AAA")}}, TLS: scfg, HandshakeTimeout: 200 * time.Millisecond})
	ccfg, err := tlsconfig.Client(tlsconfig.Settings{TrustStorePath: cert, VerifyHost: true}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("protocol detected inside TLS", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("AAA over tls"))
		buf := make([]byte, len("AAA over tls"))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "AAA over tls" {
			t.Fatalf("echo over TLS: %q, %v", buf, err)
		}
	})
	t.Run("plain text is refused", func(t *testing.T) {
		if got, err := roundTrip(t, addr, "AAA plain"); err == nil {
			t.Fatalf("a plain-text client was served on a TLS acceptor: %q", got)
		}
	})
	t.Run("stalled handshake times out", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("silent TLS client: read returned %v, want EOF once the handshake timed out", err)
		}
	})
}

func TestKeyedLimit(t *testing.T) {
	l := &KeyedLimit{Max: 2}
	r1, ok1 := l.Acquire("a")
	_, ok2 := l.Acquire("a")
	_, ok3 := l.Acquire("a")
	_, okB := l.Acquire("b")
	if !ok1 || !ok2 || ok3 || !okB {
		t.Fatalf("acquire results %v %v %v %v; want the third for a refused, b admitted", ok1, ok2, ok3, okB)
	}
	r1()
	r1() // a second release must not free another slot
	if got := l.Held("a"); got != 1 {
		t.Fatalf("a holds %d after one release (called twice); want 1", got)
	}
	if _, ok := l.Acquire("a"); !ok {
		t.Fatal("the released slot was not reusable")
	}
	if _, ok := (&KeyedLimit{}).Acquire("x"); !ok {
		t.Fatal("a zero limit refused")
	}
}
