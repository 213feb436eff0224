package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"tandem/internal/wire/stomp"
)

// repeatReader yields n bytes of a repeating pattern without holding them.
type repeatReader struct{ off, n int64 }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		p[i] = byte((r.off + int64(i)) % 251)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// streamMessage sends a MESSAGE whose body of n pattern bytes is streamed,
// as the broker sends a large message, and reports the write's error.
func (sc *serverConn) streamMessage(sub, id string, n int64) error {
	f := &stomp.Frame{Command: stomp.CmdMessage, Headers: stomp.Headers{
		{Key: stomp.HdrSubscription, Value: sub}, {Key: stomp.HdrMessageID, Value: id}, {Key: stomp.HdrDestination, Value: "/queue/big"}}}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if err := sc.w.WriteFrameStream(f, n, &repeatReader{n: n}); err != nil {
		return err
	}
	return sc.w.Flush()
}

// receiveStreamed streams a body of n bytes to sub and receives it.
func receiveStreamed(t *testing.T, sc *serverConn, sub *Subscription, id string, n int64) *Message {
	t.Helper()
	// A 100 MiB body takes a while under the race detector on a busy
	// machine: this bounds a hang, not the speed.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- sc.streamMessage(sub.ID(), id, n) }()
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("the fake broker could not stream the body: %v", err)
	}
	return m
}

// TestReceivesBodiesAboveTheFrameLimit checks that a message above the
// codec's 100 MiB frame limit, which a broker streams as a large message,
// arrives whole.
func TestReceivesBodiesAboveTheFrameLimit(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	sub, err := c.Subscribe(testCtx(t), "queue://big", WithAckMode(AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	const big = 101 << 20
	m := receiveStreamed(t, sc, sub, "m-1", big)
	want := sha256.New()
	io.Copy(want, &repeatReader{n: big})
	if got := sha256.Sum256(m.Body); m.Size != big || m.Oversized() || !bytes.Equal(got[:], want.Sum(nil)) {
		t.Fatalf("a %d-byte body arrived as %d bytes (size %d, oversized %v)", big, len(m.Body), m.Size, m.Oversized())
	}
}

// TestOversizedMessageLeavesTheConnectionUsable checks that a body above
// WithMaxMessageSize is read off the connection and reported as
// Oversized, and that the connection carries on.
func TestOversizedMessageLeavesTheConnectionUsable(t *testing.T) {
	s := newFakeServer(t, nil)
	const limit = 2 << 20
	c, sc := dial(t, s, WithMaxMessageSize(limit))
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "queue://big", WithAckMode(AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	m := receiveStreamed(t, sc, sub, "m-1", limit+1)
	if !m.Oversized() || m.Body != nil || m.Size != limit+1 || m.Header(hdrOversized) != "" {
		t.Fatalf("over the limit: oversized %v, body %d bytes, size %d", m.Oversized(), len(m.Body), m.Size)
	}
	m = receiveStreamed(t, sc, sub, "m-2", limit)
	if m.Oversized() || len(m.Body) != limit {
		t.Fatalf("at the limit: oversized %v, body %d bytes", m.Oversized(), len(m.Body))
	}
	sc.message(sub.ID(), "/queue/big", "m-3", "small")
	if m, err = sub.Receive(ctx); err != nil || string(m.Body) != "small" || m.Size != 5 {
		t.Fatalf("after an oversized message: %v, %v", m, err)
	}
}
