package client

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

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
// as the broker sends a large message.
func (sc *serverConn) streamMessage(t *testing.T, sub, id string, n int64) {
	t.Helper()
	f := &stomp.Frame{Command: stomp.CmdMessage, Headers: stomp.Headers{
		{Key: stomp.HdrSubscription, Value: sub}, {Key: stomp.HdrMessageID, Value: id}, {Key: stomp.HdrDestination, Value: "/queue/big"}}}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if err := sc.w.WriteFrameStream(f, n, &repeatReader{n: n}); err != nil {
		t.Errorf("stream the body: %v", err)
	}
	sc.w.Flush()
}

// TestReceivesBodiesAboveTheFrameLimit checks that a message above the
// codec's 100 MiB frame limit, which a broker streams as a large message,
// arrives whole; and that one above WithMaxMessageSize is read off the
// connection and reported as Oversized without breaking the connection.
func TestReceivesBodiesAboveTheFrameLimit(t *testing.T) {
	s := newFakeServer(t, nil)
	const limit = 110 << 20
	c, sc := dial(t, s, WithMaxMessageSize(limit))
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "queue://big", WithAckMode(AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)

	const big = 101 << 20
	go sc.streamMessage(t, sub.ID(), "m-1", big)
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	io.Copy(want, &repeatReader{n: big})
	if got := sha256.Sum256(m.Body); m.Size != big || m.Oversized() || !bytes.Equal(got[:], want.Sum(nil)) {
		t.Fatalf("a %d-byte body arrived as %d bytes (size %d, oversized %v)", big, len(m.Body), m.Size, m.Oversized())
	}

	go sc.streamMessage(t, sub.ID(), "m-2", limit+1)
	m, err = sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Oversized() || m.Body != nil || m.Size != limit+1 || m.Header(hdrOversized) != "" {
		t.Fatalf("over the limit: oversized %v, body %d bytes, size %d", m.Oversized(), len(m.Body), m.Size)
	}
	// The connection carries on: a small message after it arrives.
	sc.message(sub.ID(), "/queue/big", "m-3", "small")
	if m, err = sub.Receive(ctx); err != nil || string(m.Body) != "small" || m.Size != 5 {
		t.Fatalf("after an oversized message: %v, %v", m, err)
	}
}
