package openwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"tandem/internal/wire/wiretest"
)

// checkHasFrame reads every frame of data, chunk bytes per underlying Read,
// through a buffer of the given size, and fails if a ReadFrame that
// HasFrame vouched for read from the stream. It returns how many times
// HasFrame said yes.
func checkHasFrame(t *testing.T, data []byte, chunk, buffer, maxFrame int) int {
	t.Helper()
	cr := wiretest.NewChunkReader(data, chunk)
	r := NewReader(cr, ReaderOptions{BufferSize: buffer, MaxFrameSize: maxFrame})
	return wiretest.CountVouched(t, cr, r.HasFrame, func() error {
		_, err := r.ReadFrame()
		return err
	}, fmt.Sprintf("%d-byte reads, %d-byte buffer", chunk, buffer))
}

// sizePrefix is a frame header announcing n bytes.
func sizePrefix(n int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(n))
}

func TestHasFrame(t *testing.T) {
	keepAlive, err := AppendFrame(nil, &KeepAliveInfo{BaseCommand{CommandID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := AppendFrame(nil, sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	big := sampleMessage()
	big.Content = bytes.Repeat([]byte("b"), 300)
	large, err := AppendFrame(nil, big)
	if err != nil {
		t.Fatal(err)
	}
	var stream []byte
	for _, f := range [][]byte{keepAlive, msg, large, msg, keepAlive} {
		stream = append(stream, f...)
	}
	for chunk := 1; chunk <= len(stream); chunk += 7 {
		for _, buffer := range []int{16, 64, 256, 4096} { // the large frame fits only the last
			checkHasFrame(t, stream, chunk, buffer, 0)
		}
	}
	// Read in one go, every frame but the first is vouched for once the
	// buffer holds the stream.
	if got := checkHasFrame(t, stream, len(stream), 4096, 0); got != 4 {
		t.Fatalf("HasFrame vouched for %d frames of a fully buffered stream, want 4", got)
	}
	// With a 256-byte buffer the message after the first keep-alive is
	// vouched for, the large frame after it never (ReadFrame reads the
	// rest of it from the stream).
	if got := checkHasFrame(t, stream[:len(keepAlive)+len(msg)+len(large)], len(stream), 256, 0); got != 1 {
		t.Fatalf("with a 256-byte buffer HasFrame vouched for %d frames, want 1", got)
	}

	cases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"nothing", nil, false},
		{"part of the size prefix", sizePrefix(9)[:3], false},
		{"size prefix alone", sizePrefix(9), false},
		{"body short", append(sizePrefix(3), 1, 2), false},
		{"body whole", append(sizePrefix(3), 1, 2, 3), true},
		{"body whole and more", append(sizePrefix(2), 1, 2, 0, 0), true},
		{"zero size fails at once", sizePrefix(0), true},
		{"negative size fails at once", sizePrefix(-5), true},
		{"size over the limit fails at once", sizePrefix(1 << 20), true},
		{"keep-alive", keepAlive, true},
		{"message", msg, true},
		{"message but its last byte", msg[:len(msg)-1], false},
	}
	for _, tc := range cases {
		r := NewReader(bytes.NewReader(tc.in), ReaderOptions{MaxFrameSize: 1 << 10})
		if len(tc.in) > 0 {
			_, _ = r.br.Peek(len(tc.in))
		}
		if got := r.HasFrame(); got != tc.want {
			t.Errorf("%s: HasFrame = %v, want %v", tc.name, got, tc.want)
		}
	}

	// After a frame is read, its bytes (still in the buffer until the next
	// ReadFrame) do not count.
	two := append(append([]byte{}, keepAlive...), msg...)
	r := NewReader(bytes.NewReader(two), ReaderOptions{})
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
	keepAlive, _ := AppendFrame(nil, &KeepAliveInfo{BaseCommand{CommandID: 1}})
	msg, _ := AppendFrame(nil, sampleMessage())
	f.Add(append(append([]byte{}, keepAlive...), msg...), uint8(3))
	f.Add(append(sizePrefix(40), 1, 2, 3), uint8(1))
	f.Add(append(sizePrefix(-1), keepAlive...), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		checkHasFrame(t, data, int(chunk%17)+1, 16, 64)
		checkHasFrame(t, data, int(chunk%17)+1, 4096, 0)
	})
}
