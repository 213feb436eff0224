package stomp

import (
	"bytes"
	"fmt"
	"testing"

	"tandem/internal/wire/wiretest"
)

// checkHasFrame reads every frame of data, chunk bytes per underlying Read,
// and fails if a ReadFrame that HasFrame vouched for read from the
// connection. It returns how many times HasFrame said yes.
func checkHasFrame(t *testing.T, data []byte, chunk, buffer int, v Version) int {
	t.Helper()
	cr := wiretest.NewChunkReader(data, chunk)
	r := NewReader(cr, ReaderOptions{MaxHeaders: 20, MaxHeaderSize: 512, MaxBodySize: 2048, BufferSize: buffer})
	r.SetVersion(v)
	return wiretest.CountVouched(t, cr, r.HasFrame, func() error {
		_, err := r.ReadFrame()
		return err
	}, fmt.Sprintf("version %s, %d-byte reads", v, chunk))
}

func TestHasFrame(t *testing.T) {
	stream := []byte("SEND\ndestination:/queue/a\ncontent-length:5\n\nab\x00cd\x00" +
		"\n\r\n" +
		"SEND\r\ndestination:/queue/b\r\n\r\nhello\x00" +
		"ACK\nid:7\ncontent-length: 0 \n\n\x00" +
		"SEND\ndestination:/queue/c\ncontent-length:3\ncontent-length:9\n\nxyz\x00")
	for _, v := range []Version{V10, V11, V12} {
		for chunk := 1; chunk <= len(stream); chunk++ {
			checkHasFrame(t, stream, chunk, 64, v)
		}
		// Read in one go, every frame but the first is vouched for once
		// the buffer holds the stream.
		if got := checkHasFrame(t, stream, len(stream), 4096, v); got != 5 {
			t.Fatalf("version %s: HasFrame vouched for %d frames of a fully buffered stream, want 5", v, got)
		}
	}

	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"nothing", "", false},
		{"part of a command", "SEN", false},
		{"headers not ended", "SEND\ndestination:/queue/a\n", false},
		{"sized body short", "SEND\ncontent-length:4\n\nabc", false},
		{"sized body without its NUL", "SEND\ncontent-length:3\n\nabc", false},
		{"sized body whole", "SEND\ncontent-length:3\n\nabc\x00", true},
		{"terminated body short", "SEND\n\nabc", false},
		{"terminated body whole", "SEND\n\nabc\x00", true},
		{"bad content-length fails at once", "SEND\ncontent-length:x\n\n", true},
		{"heart-beat", "\n", true},
		{"heart-beat with CR", "\r\n", true},
	}
	for _, tc := range cases {
		r := NewReader(bytes.NewReader([]byte(tc.in)), ReaderOptions{})
		if tc.in != "" {
			_, _ = r.br.Peek(len(tc.in))
		}
		if got := r.HasFrame(); got != tc.want {
			t.Errorf("%s: HasFrame = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzHasFrame checks HasFrame's promise on arbitrary input read in chunks
// of every size up to 17 bytes: when it says a frame is buffered, ReadFrame
// does not read from the connection.
func FuzzHasFrame(f *testing.F) {
	f.Add([]byte("SEND\ndestination:/queue/a\ncontent-length:5\n\nab\x00cd\x00\nSEND\n\nx\x00"), uint8(3))
	f.Add([]byte("ACK\r\nid:1\r\n\r\n\x00\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		for _, v := range []Version{V10, V11, V12} {
			checkHasFrame(t, data, int(chunk%17)+1, 16, v)
			checkHasFrame(t, data, int(chunk%17)+1, 4096, v)
		}
	})
}
