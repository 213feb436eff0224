package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	wire "tandem/internal/wire/stomp"
)

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x*7 + x>>11)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func patternSum(n int64) []byte {
	h := sha256.New()
	io.Copy(h, &patternReader{n: n})
	return h.Sum(nil)
}

// rawConn is a STOMP 1.2 connection driven frame by frame, so a test can
// stream bodies that no client would hold in memory.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *wire.Reader
	w  *wire.Writer
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, nc: nc, r: wire.NewReader(nc, wire.ReaderOptions{}), w: wire.NewWriter(nc)}
	c.write(&wire.Frame{Command: wire.CmdConnect, Headers: wire.Headers{{Key: "accept-version", Value: "1.2"},
		{Key: "host", Value: "localhost"}, {Key: "login", Value: "admin"}, {Key: "passcode", Value: "admin"}}})
	f := c.next(nil)
	if f.Command != wire.CmdConnected {
		t.Fatalf("CONNECT answered with %s %q", f.Command, f.Body)
	}
	c.r.SetVersion(wire.V12)
	c.w.SetVersion(wire.V12)
	return c
}

func (c *rawConn) write(f *wire.Frame) {
	c.t.Helper()
	if err := c.w.WriteFrame(f); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame that is not a heart-beat; a streamed body is
// hashed into h (its length returned in the frame's content-length).
func (c *rawConn) next(h hash.Hash) *wire.Frame {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		f, body, err := c.r.ReadFrameStreaming(func(*wire.Frame, int64) bool { return h != nil })
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if body != nil {
			if _, err := io.Copy(h, body); err != nil {
				c.t.Fatalf("read body: %v", err)
			}
		}
		if !f.IsHeartBeat() {
			return f
		}
	}
}

// sendLarge streams a body of n pattern bytes to dest and waits for the
// receipt.
func (c *rawConn) sendLarge(dest string, n int64) {
	c.t.Helper()
	f := &wire.Frame{Command: wire.CmdSend, Headers: wire.Headers{{Key: "destination", Value: dest},
		{Key: "persistent", Value: "true"}, {Key: "receipt", Value: "large-1"}, {Key: "x-size", Value: fmt.Sprint(n)}}}
	if err := c.w.WriteFrameStream(f, n, &patternReader{n: n}); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
	if r := c.next(nil); r.Command != wire.CmdReceipt {
		c.t.Fatalf("large SEND answered with %s %v %q", r.Command, r.Headers, r.Body)
	}
}

// TestLargeMessageStreamsThroughBoundedMemory sends one message far over
// min-large-message-size through the real binary, SIGKILLs the broker,
// restarts it and consumes the message: the body arrives whole (SHA-256)
// and the broker's resident memory stays far below the body's size.
// TANDEM_LARGE_MB sets the size (default 64; 1024 for the 1 GiB run).
func TestLargeMessageStreamsThroughBoundedMemory(t *testing.T) {
	size := int64(envMiB(t, "TANDEM_LARGE_MB", 64)) << 20
	in := create(t, "large")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	idle := vmRSS(t, p.cmd.Process.Pid)
	want := patternSum(size)

	prod := dialRaw(t, in.addr())
	// A body under min-large-message-size (100 KiB) stays an ordinary
	// message: no body file.
	prod.write(&wire.Frame{Command: wire.CmdSend, Headers: wire.Headers{{Key: "destination", Value: "/queue/small"},
		{Key: "persistent", Value: "true"}, {Key: "receipt", Value: "small-1"}}, Body: bytes.Repeat([]byte("s"), 99<<10)})
	if r := prod.next(nil); r.Command != wire.CmdReceipt {
		t.Fatalf("small SEND answered with %s %q", r.Command, r.Body)
	}
	if files, _ := filepath.Glob(filepath.Join(in.dir, "data", "large-messages", "*.msg")); len(files) != 0 {
		t.Fatalf("a 99 KiB message was stored as a large message: %v", files)
	}

	sending := sampleRSS(t, p.cmd.Process.Pid)
	begin := time.Now()
	prod.sendLarge("/queue/big", size)
	sendTime := time.Since(begin)
	sendPeak := sending.finish()
	bodies, _ := filepath.Glob(filepath.Join(in.dir, "data", "large-messages", "*.msg"))
	if len(bodies) != 1 {
		t.Fatalf("%d body files in the large-messages directory after one large send, want 1", len(bodies))
	}
	if st, err := os.Stat(bodies[0]); err != nil || st.Size() != size {
		t.Fatalf("body file %v: %v", st, err)
	}

	p.kill()
	p = start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	receiving := sampleRSS(t, p.cmd.Process.Pid)
	begin = time.Now()
	cons := dialRaw(t, in.addr())
	cons.write(&wire.Frame{Command: wire.CmdSubscribe, Headers: wire.Headers{{Key: "destination", Value: "/queue/big"},
		{Key: "id", Value: "s1"}, {Key: "ack", Value: "client-individual"}}})
	h := sha256.New()
	m := cons.next(h)
	recvTime := time.Since(begin)
	if m.Command != wire.CmdMessage {
		t.Fatalf("expected MESSAGE, got %s %q", m.Command, m.Body)
	}
	if cl, _ := m.Headers.Get("content-length"); cl != fmt.Sprint(size) {
		t.Fatalf("content-length %s, want %d", cl, size)
	}
	if x, _ := m.Headers.Get("x-size"); x != fmt.Sprint(size) {
		t.Fatalf("user header x-size came back as %q", x)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		t.Fatal("the body that arrived differs from the one sent")
	}
	ackID, _ := m.Headers.Get("ack")
	cons.write(&wire.Frame{Command: wire.CmdAck, Headers: wire.Headers{{Key: "id", Value: ackID}, {Key: "receipt", Value: "a1"}}})
	if r := cons.next(nil); r.Command != wire.CmdReceipt {
		t.Fatalf("ACK answered with %s", r.Command)
	}
	recvPeak := receiving.finish()
	deadline := time.Now().Add(5 * time.Second)
	for {
		bodies, _ = filepath.Glob(filepath.Join(in.dir, "data", "large-messages", "*.msg"))
		if len(bodies) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("body file still there after the message was acknowledged: %v", bodies)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("large message of %d MiB: send %v, receive after SIGKILL+restart %v; resident memory idle %d MiB, peak while sending %d MiB, while receiving %d MiB",
		size>>20, sendTime.Round(time.Millisecond), recvTime.Round(time.Millisecond), idle>>20, sendPeak>>20, recvPeak>>20)
	if limit := idle + 48<<20; max(sendPeak, recvPeak) > limit {
		t.Fatalf("peak resident memory %d MiB over %d MiB (idle + 48 MiB) for a %d MiB message",
			max(sendPeak, recvPeak)>>20, limit>>20, size>>20)
	}
}
