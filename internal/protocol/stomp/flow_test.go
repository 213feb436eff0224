package stomp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/stomp"
)

// startServerWith is startServer on a broker built with bopts.
func startServerWith(t *testing.T, bopts broker.Options, opts Options) string {
	t.Helper()
	bopts.Store = memstore.New()
	b, err := broker.New(bopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	opts.Broker = b
	opts.Auth = testAuth{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{NewServer(opts)}, HandshakeTimeout: 2 * time.Second})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	return ln.Addr().String()
}

// encode renders frames in STOMP 1.2 for writing in one go (pipelined).
func encode(t *testing.T, frames ...*wire.Frame) []byte {
	t.Helper()
	var out []byte
	for _, f := range frames {
		var err error
		if out, err = wire.AppendFrame(out, f, wire.V12); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sendFrame(dest, body string, kv ...string) *wire.Frame {
	f := &wire.Frame{Command: wire.CmdSend, Body: []byte(body)}
	f.Headers.Add("destination", dest)
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers.Add(kv[i], kv[i+1])
	}
	return f
}

// TestStalledProducerDoesNotHoldTheIngestGate: a client that pipelines
// SENDs and then stops in the middle of a frame must not keep its turn at
// the gate while the broker waits for the rest, or every other producer
// would wait with it.
func TestStalledProducerDoesNotHoldTheIngestGate(t *testing.T) {
	addr := startServer(t, Options{Env: protocol.Env{Ingest: protocol.NewIngestGate(1)}})
	cons := dial(t, addr)
	cons.connect()
	cons.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/a", "receipt", "sub")
	cons.expect("RECEIPT")

	a := dial(t, addr)
	a.connect()
	raw := encode(t, sendFrame("/queue/a", "one"), sendFrame("/queue/a", "two"), sendFrame("/queue/a", "three"))
	raw = append(raw, "SEND\ndestination:/queue/a\ncontent-length:10\n\nabc"...)
	if _, err := a.nc.Write(raw); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two", "three"} {
		if got := string(cons.expect("MESSAGE").Body); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}

	b := dial(t, addr)
	b.connect()
	var frames []*wire.Frame
	for i := 0; i < 50; i++ {
		frames = append(frames, sendFrame("/queue/b", "x", "receipt", fmt.Sprint(i)))
	}
	if _, err := b.nc.Write(encode(t, frames...)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if id := header(t, b.expect("RECEIPT"), "receipt-id"); id != fmt.Sprint(i) {
			t.Fatalf("receipt %s, want %d", id, i)
		}
	}
}

// TestBlockWithholdsCreditFromAPipeliningProducer: a producer that
// pipelines sends to a full BLOCK address gets no more receipts, and its
// further sends are not taken, until a consumer makes room; then every
// send is confirmed and delivered in order.
func TestBlockWithholdsCreditFromAPipeliningProducer(t *testing.T) {
	const limit, n = 4 << 10, 12
	settings := func(string) broker.AddressSettings {
		s := broker.DefaultAddressSettings()
		s.MaxSizeBytes, s.FullPolicy = limit, broker.FullBlock
		return s
	}
	addr := startServerWith(t, broker.Options{Settings: settings},
		Options{Env: protocol.Env{Ingest: protocol.NewIngestGate(1)}, ProducerWindowSize: 64 << 10})
	p := dial(t, addr)
	p.connect()
	body := strings.Repeat("z", 1000)
	var frames []*wire.Frame
	for i := 0; i < n; i++ {
		frames = append(frames, sendFrame("/queue/blocked", fmt.Sprintf("%02d%s", i, body), "receipt", fmt.Sprint(i)))
	}
	if _, err := p.nc.Write(encode(t, frames...)); err != nil {
		t.Fatal(err)
	}
	// About four 1 KiB messages fit under 4 KiB; the rest wait.
	confirmed := 0
	for {
		_ = p.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		f, err := p.r.ReadFrame()
		if err != nil {
			break
		}
		if f.Command == wire.CmdReceipt {
			confirmed++
		}
	}
	if confirmed < 3 || confirmed > 5 {
		t.Fatalf("%d sends of about 1 KiB confirmed to an address blocking at 4 KiB", confirmed)
	}
	c := dial(t, addr)
	c.connect()
	c.send("SUBSCRIBE", "", "id", "s", "destination", "/queue/blocked", "ack", "client-individual")
	for i := 0; i < n; i++ {
		m := c.expect("MESSAGE")
		if got := string(m.Body[:2]); got != fmt.Sprintf("%02d", i) {
			t.Fatalf("message %d arrived as %s", i, got)
		}
		c.send("ACK", "", "id", header(t, m, "ack"))
	}
	for ; confirmed < n; confirmed++ {
		p.expect("RECEIPT")
	}
}
