package amqp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"

	"tandem/internal/wire/wiretest"
)

// newSizedReader is NewReader with a read buffer of the given size, so
// that frames larger than the buffer can be tried with small inputs.
func newSizedReader(r io.Reader, buffer int, maxFrame uint32) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, buffer), max: maxFrame}
}

// checkHasFrame reads every frame of data, chunk bytes per underlying
// Read, through a buffer of the given size, and fails if a ReadFrame that
// HasFrame vouched for read from the stream. It returns how many times
// HasFrame said yes.
func checkHasFrame(t *testing.T, data []byte, chunk, buffer int, maxFrame uint32) int {
	t.Helper()
	cr := wiretest.NewChunkReader(data, chunk)
	r := newSizedReader(cr, buffer, maxFrame)
	return wiretest.CountVouched(t, cr, r.HasFrame, func() error {
		_, err := r.ReadFrame()
		return err
	}, fmt.Sprintf("%d-byte reads, %d-byte buffer", chunk, buffer))
}

// frameHeader is a frame header announcing size bytes with data offset
// doff and frame type typ.
func frameHeader(size uint32, doff, typ byte) []byte {
	return []byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size), doff, typ, 0, 0}
}

func TestHasFrame(t *testing.T) {
	begin, err := AppendFrame(nil, 1, &Begin{NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	transfer, err := AppendFrame(nil, 1, &Transfer{Handle: 0, DeliveryID: Some(uint32(0)), DeliveryTag: []byte{1}},
		[]byte("a small message"))
	if err != nil {
		t.Fatal(err)
	}
	large, err := AppendFrame(nil, 1, &Transfer{Handle: 0, DeliveryID: Some(uint32(1)), DeliveryTag: []byte{2}},
		bytes.Repeat([]byte("b"), 300))
	if err != nil {
		t.Fatal(err)
	}
	heartbeat := AppendHeartbeat(nil)
	var stream []byte
	for _, f := range [][]byte{heartbeat, begin, transfer, large, transfer, heartbeat} {
		stream = append(stream, f...)
	}
	for chunk := 1; chunk <= len(stream); chunk += 7 {
		for _, buffer := range []int{16, 64, 256, 4096} { // the large frame fits only the last
			checkHasFrame(t, stream, chunk, buffer, 0)
		}
	}
	// Read in one go, every frame but the first is vouched for once the
	// buffer holds the stream.
	if got := checkHasFrame(t, stream, len(stream), 4096, 0); got != 5 {
		t.Fatalf("HasFrame vouched for %d frames of a fully buffered stream, want 5", got)
	}
	// With a 256-byte buffer the frames after the first heartbeat are
	// vouched for up to the large one, never the large one (ReadFrame
	// reads the rest of it from the stream).
	short := stream[:len(heartbeat)+len(begin)+len(transfer)+len(large)]
	if got := checkHasFrame(t, short, len(stream), 256, 0); got != 2 {
		t.Fatalf("with a 256-byte buffer HasFrame vouched for %d frames, want 2", got)
	}

	cases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"nothing", nil, false},
		{"part of the header", heartbeat[:5], false},
		{"heartbeat", heartbeat, true},
		{"header alone", frameHeader(12, 2, 0), false},
		{"body short", append(frameHeader(12, 2, 0), 1, 2, 3), false},
		{"body whole", append(frameHeader(12, 2, 0), 1, 2, 3, 4), true},
		{"body whole and more", append(frameHeader(10, 2, 0), 1, 2, 0, 0), true},
		{"size below the header fails at once", frameHeader(4, 2, 0), true},
		{"data offset below 2 fails at once", frameHeader(100, 1, 0), true},
		{"unknown frame type fails at once", frameHeader(100, 2, 7), true},
		{"size over the limit fails at once", frameHeader(1<<20, 2, 0), true},
		{"transfer", transfer, true},
		{"transfer but its last byte", transfer[:len(transfer)-1], false},
	}
	for _, tc := range cases {
		r := NewReader(bytes.NewReader(tc.in), 1<<10)
		if len(tc.in) > 0 {
			_, _ = r.br.Peek(len(tc.in))
		}
		if got := r.HasFrame(); got != tc.want {
			t.Errorf("%s: HasFrame = %v, want %v", tc.name, got, tc.want)
		}
	}

	// After a frame is read, its bytes do not count.
	two := append(append([]byte{}, begin...), transfer...)
	r := NewReader(bytes.NewReader(two), 0)
	_, _ = r.br.Peek(len(two))
	for i, want := range []bool{true, true, false} {
		if got := r.HasFrame(); got != want {
			t.Fatalf("before frame %d: HasFrame = %v, want %v", i, got, want)
		}
		if _, err := r.ReadFrame(); err != nil && i < 2 {
			t.Fatal(err)
		}
	}
}

// FuzzHasFrame checks HasFrame's promise on arbitrary input read in chunks
// of every size up to 17 bytes: when it says a frame is buffered, ReadFrame
// does not read from the stream.
func FuzzHasFrame(f *testing.F) {
	begin, _ := AppendFrame(nil, 1, &Begin{NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3}, nil)
	transfer, _ := AppendFrame(nil, 1, &Transfer{Handle: 0, DeliveryID: Some(uint32(0)), DeliveryTag: []byte{1}}, []byte("m"))
	f.Add(append(append(AppendHeartbeat(nil), begin...), transfer...), uint8(3))
	f.Add(append(frameHeader(40, 2, 0), 1, 2, 3), uint8(1))
	f.Add(append(frameHeader(3, 2, 0), begin...), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		checkHasFrame(t, data, int(chunk%17)+1, 16, 64)
		// A limit, so that a header announcing gigabytes is not read
		// into memory that size (a Reader without one would).
		checkHasFrame(t, data, int(chunk%17)+1, 4096, 1<<16)
	})
}
