package mqtt

import (
	"bytes"
	"fmt"
	"testing"

	"tandem/internal/wire/wiretest"
)

// checkHasPacket reads every packet of data, chunk bytes per underlying
// Read, through a buffer of the given size, and fails if a ReadPacket that
// HasPacket vouched for read from the stream. It returns how many times
// HasPacket said yes.
func checkHasPacket(t *testing.T, data []byte, chunk, buffer, maxPacket int) int {
	t.Helper()
	cr := wiretest.NewChunkReader(data, chunk)
	r := NewReader(cr, ReaderOptions{BufferSize: buffer, MaxPacketSize: maxPacket})
	return wiretest.CountVouched(t, cr, r.HasPacket, func() error {
		_, err := r.ReadPacket()
		return err
	}, fmt.Sprintf("%d-byte reads, %d-byte buffer", chunk, buffer))
}

func TestHasPacket(t *testing.T) {
	connect := connectBytes(t, V311)
	publish := encode(t, &Publish{Topic: "a/b", Payload: []byte("a small message")}, V311)
	large := encode(t, &Publish{QoS: QoS1, PacketID: 7, Topic: "a/b", Payload: bytes.Repeat([]byte("b"), 300)}, V311)
	ping := encode(t, &Pingreq{}, V311)
	var stream []byte
	for _, p := range [][]byte{connect, publish, large, ping, publish} {
		stream = append(stream, p...)
	}
	for chunk := 1; chunk <= len(stream); chunk += 7 {
		for _, buffer := range []int{16, 64, 256, 4096} { // the large packet fits only the last
			checkHasPacket(t, stream, chunk, buffer, 0)
		}
	}
	// Read in one go, every packet but the first is vouched for once the
	// buffer holds the stream.
	if got := checkHasPacket(t, stream, len(stream), 4096, 0); got != 4 {
		t.Fatalf("HasPacket vouched for %d packets of a fully buffered stream, want 4", got)
	}
	// With a 256-byte buffer the PUBLISH after CONNECT is vouched for, the
	// large one never (ReadPacket reads the rest of it from the stream).
	if got := checkHasPacket(t, stream[:len(connect)+len(publish)+len(large)], len(stream), 256, 0); got != 1 {
		t.Fatalf("with a 256-byte buffer HasPacket vouched for %d packets, want 1", got)
	}

	cases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"nothing", nil, false},
		{"the first byte alone", ping[:1], false},
		{"an empty packet", ping, true},
		{"the remaining length cut short", []byte{0x30, 0x80}, false},
		{"the remaining length cut short at 3 bytes", []byte{0x30, 0x80, 0x80, 0x80}, false},
		{"a fifth length byte fails at once", []byte{0x30, 0x80, 0x80, 0x80, 0x80}, true},
		{"a length not in its shortest form fails at once", []byte{0x30, 0x80, 0x00}, true},
		{"body short", []byte{0x30, 4, 0, 1, 'a'}, false},
		{"body whole", []byte{0x30, 4, 0, 1, 'a', 'x'}, true},
		{"body whole and more", []byte{0x30, 3, 0, 1, 'a', 0x30}, true},
		{"a packet over the size limit fails at once", []byte{0x30, 0xff, 0x7f}, true},
		{"publish", publish, true},
		{"publish but its last byte", publish[:len(publish)-1], false},
	}
	for _, tc := range cases {
		r := NewReader(bytes.NewReader(tc.in), ReaderOptions{MaxPacketSize: 1 << 10})
		if len(tc.in) > 0 {
			_, _ = r.br.Peek(len(tc.in))
		}
		if got := r.HasPacket(); got != tc.want {
			t.Errorf("%s: HasPacket = %v, want %v", tc.name, got, tc.want)
		}
	}

	// After a packet is read, its bytes do not count.
	two := append(append([]byte{}, connect...), publish...)
	r := NewReader(bytes.NewReader(two), ReaderOptions{})
	_, _ = r.br.Peek(len(two))
	for i, want := range []bool{true, true, false} {
		if got := r.HasPacket(); got != want {
			t.Fatalf("before packet %d: HasPacket = %v, want %v", i, got, want)
		}
		if _, err := r.ReadPacket(); err != nil && i < 2 {
			t.Fatal(err)
		}
	}
}

// FuzzHasPacket checks HasPacket's promise on arbitrary input read in
// chunks of every size up to 17 bytes: when it says a packet is buffered,
// ReadPacket does not read from the stream.
func FuzzHasPacket(f *testing.F) {
	connect, _ := AppendPacket(nil, &Connect{Version: V311, CleanStart: true, ClientID: "c"}, V311)
	publish, _ := AppendPacket(nil, &Publish{Topic: "a/b", Payload: []byte("m")}, V311)
	f.Add(append(append([]byte{}, connect...), publish...), uint8(3))
	f.Add(append(append([]byte{}, connect...), 0x30, 40, 0, 1, 'a'), uint8(1))
	f.Add(append(append([]byte{}, connect...), 0x30, 0x80, 0x80, 0x80, 0x80), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		checkHasPacket(t, data, int(chunk%17)+1, 16, 64)
		checkHasPacket(t, data, int(chunk%17)+1, 4096, 1<<16)
	})
}
