package hostile

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/client"
	"tandem/internal/listener"
	stompproto "tandem/internal/protocol/stomp"
)

// TestSilentClients connects and stops at each step of the handshake: the
// broker closes every such connection within its timeout.
func TestSilentClients(t *testing.T) {
	const timeout = 300 * time.Millisecond
	r := serve(t, listener.Options{HandshakeTimeout: timeout}, stompproto.Options{ConnectTimeout: timeout})
	tests := []struct{ name, send string }{
		{"sends nothing", ""},
		{"stops inside the first bytes", "CONN"},
		{"stops inside CONNECT", "CONNECT\naccept-version:1.2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, r.addr)
			if tc.send != "" {
				c.write(tc.send)
			}
			if took := c.closedWithin(5 * time.Second); took < timeout/2 {
				t.Fatalf("closed after %v, before the %v timeout", took, timeout)
			}
		})
	}
}

// TestHeartBeatTimeout promises heart-beats and sends none: the broker
// says so in an ERROR and closes the connection.
func TestHeartBeatTimeout(t *testing.T) {
	r := serve(t, listener.Options{}, stompproto.Options{HeartBeat: 200 * time.Millisecond})
	c := dialRaw(t, r.addr)
	if refusal := c.connect("u", "heart-beat:200,0"); refusal != "" {
		t.Fatal(refusal)
	}
	start := time.Now()
	if got := c.expectError(5 * time.Second); !strings.Contains(got, "heart-beat timeout") {
		t.Fatalf("ERROR %q; want a heart-beat timeout", got)
	}
	took := time.Since(start)
	if took < 200*time.Millisecond {
		t.Fatalf("timed out after %v, before one heart-beat interval", took)
	}
	c.closedWithin(5 * time.Second)
	t.Logf("a client that promised heart-beats every 200 ms and went silent was closed after %v", took.Round(time.Millisecond))
}

// blackhole is a TCP proxy that can cut a connection the way a pulled
// cable or a crashed host does: both sockets stay open, no bytes pass and
// nobody is told.
type blackhole struct {
	addr string
	cut  atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &blackhole{addr: ln.Addr().String()}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			go b.pipe(in, out)
			go b.pipe(out, in)
		}
	}()
	return b
}

// pipe copies until the cut, then swallows everything.
func (b *blackhole) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if !b.cut.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

// TestHalfOpenConsumerIsDetected cuts the network under a consumer that
// holds an unacknowledged message and keeps sending heart-beats into the
// void: the broker notices the silence, closes the connection, and gives
// the message to another consumer.
func TestHalfOpenConsumerIsDetected(t *testing.T) {
	r := serve(t, listener.Options{}, stompproto.Options{HeartBeat: 200 * time.Millisecond})
	bh := newBlackhole(t, r.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c := dialRaw(t, bh.addr)
	if refusal := c.connect("u", "heart-beat:100,0"); refusal != "" {
		t.Fatal(refusal)
	}
	stopBeats := make(chan struct{})
	defer close(stopBeats)
	go func() {
		for {
			select {
			case <-stopBeats:
				return
			case <-time.After(100 * time.Millisecond):
				c.nc.Write([]byte("\n"))
			}
		}
	}()
	c.write("SUBSCRIBE\nid:1\ndestination:/queue/work\nack:client-individual\n\n\x00")
	prod, err := client.Dial(ctx, "tcp://"+r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Send(ctx, "queue://work", []byte("job")); err != nil {
		t.Fatal(err)
	}
	if cmd, _, err := c.frame(5 * time.Second); err != nil || cmd != "MESSAGE" {
		t.Fatalf("the consumer got %q, %v; want the MESSAGE", cmd, err)
	}
	bh.cut.Store(true)
	cut := time.Now()

	other, err := client.Dial(ctx, "tcp://"+r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sub, err := other.Subscribe(ctx, "queue://work", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.Receive(ctx)
	if err != nil || string(m.Body) != "job" || !m.Redelivered {
		t.Fatalf("second consumer got %v, %v; want the job, redelivered", m, err)
	}
	t.Logf("half-open consumer detected and its message redelivered %v after the cut (heart-beat 200 ms)", time.Since(cut).Round(time.Millisecond))
}

// TestSlowConsumerIsDisconnected subscribes with a large prefetch and no
// window in bytes (consumer-window-size:-1), and never reads: once the bytes
// queued for it pass MaxPendingBytes the broker disconnects it, and every
// message it held goes to a consumer that reads. (With a window in bytes,
// the default, a consumer that stops reading just holds its window.)
func TestSlowConsumerIsDisconnected(t *testing.T) {
	const (
		messages = 300
		size     = 32 << 10
	)
	r := serve(t, listener.Options{}, stompproto.Options{MaxPendingBytes: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slow := dialRaw(t, r.addr)
	if refusal := slow.connect("slow"); refusal != "" {
		t.Fatal(refusal)
	}
	slow.write("SUBSCRIBE\nid:1\ndestination:/queue/flood\nack:client-individual\nactivemq.prefetchSize:100000\nconsumer-window-size:-1\n\n\x00")
	if tc, ok := slow.nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10) // keep the kernel from absorbing the flood
	}

	prod, err := client.Dial(ctx, "tcp://"+r.addr, client.WithSendWindow(32))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pad := strings.Repeat("p", size)
	for i := 0; i < messages; i++ {
		if err := prod.Send(ctx, "queue://flood", []byte(fmt.Sprintf("%d %s", i, pad))); err != nil {
			t.Fatal(err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The slow consumer is cut off: reading now drains what the kernel
	// holds and then meets the close.
	slow.closedWithin(15 * time.Second)

	fast, err := client.Dial(ctx, "tcp://"+r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	sub, err := fast.Subscribe(ctx, "queue://flood", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(8))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	for len(got) < messages {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := sub.Receive(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("after the slow consumer went, %d of %d messages arrived: %v", len(got), messages, err)
		}
		key, _, _ := strings.Cut(string(m.Body), " ")
		mu.Lock()
		got[key] = true
		mu.Unlock()
		m.Ack(ctx)
	}
}
