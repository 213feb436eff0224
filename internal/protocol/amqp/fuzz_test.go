package amqp

import (
	"io"
	"net"
	"testing"
	"time"

	wire "tandem/internal/wire/amqp"
)

// FuzzConnection sends arbitrary bytes after a valid open and begin: the
// engine must answer or close, never panic or hang, and stay healthy for
// the next client.
func FuzzConnection(f *testing.F) {
	frame := func(ch uint16, p wire.FrameBody, payload []byte) []byte {
		b, err := wire.AppendFrame(nil, ch, p, payload)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	msg, _ := (&wire.Sections{Header: &wire.Header{Durable: true}, Body: wire.ValueBody("x")}).Encode()
	attachSender := frame(0, &wire.Attach{Name: "s", Handle: 0, Role: wire.RoleSender, Target: &wire.Target{Address: "q"},
		InitialDeliveryCount: wire.Some(uint32(0))}, nil)
	attachReceiver := frame(0, &wire.Attach{Name: "r", Handle: 1, Role: wire.RoleReceiver, Source: &wire.Source{Address: "q"}}, nil)
	transfer := frame(0, &wire.Transfer{Handle: 0, DeliveryID: wire.Some(uint32(0)), DeliveryTag: []byte{1}, MessageFormat: wire.Some(uint32(0))}, msg)
	flow := frame(0, &wire.Flow{IncomingWindow: 10, OutgoingWindow: 10, Handle: wire.Some(uint32(1)), DeliveryCount: wire.Some(uint32(0)),
		LinkCredit: wire.Some(uint32(5)), Drain: true}, nil)
	disp := frame(0, &wire.Disposition{Role: wire.RoleReceiver, First: 0, Last: wire.Some(uint32(1 << 31)), Settled: true, State: &wire.Rejected{}}, nil)
	f.Add(attachSender)
	f.Add(append(append([]byte{}, attachSender...), transfer...))
	f.Add(append(append(append(append([]byte{}, attachSender...), transfer...), attachReceiver...), flow...))
	f.Add(append(append(append(append([]byte{}, attachReceiver...), flow...), disp...), frame(0, &wire.Detach{Handle: 1, Closed: true}, nil)...))
	f.Add(frame(0, &wire.End{}, nil))
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	f.Add(transfer[:len(transfer)-3])

	r := startRig(f, rigOptions{opts: Options{MaxFrameSize: 4096, Credit: 4}})
	prefix := append(append([]byte("AMQP\x00\x01\x00\x00"), frame(0, &wire.Open{ContainerID: "fuzz"}, nil)...),
		frame(0, &wire.Begin{IncomingWindow: 100, OutgoingWindow: 100}, nil)...)
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write(append(append([]byte{}, prefix...), data...)); err != nil {
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		// The broker answers and, at the latest when the client's side
		// ends, closes: reading must end well within the deadline.
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the broker neither answered nor closed within 10 s")
			}
		}
	})
}
