package stomp

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the reader in every version. The
// properties: the reader never panics; every error it returns is one of the
// codec's sentinels or an EOF (the input is in memory, so nothing else can
// fail); and every frame it returns can be written in the same version and
// read back as the same frame, apart from content-length, which the writer
// always sets to the body's real length. The seed corpus lives in
// testdata/fuzz/FuzzReadFrame.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("SEND\ndestination:/queue/a\n\nhello\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []Version{V10, V11, V12} {
			fuzzOneVersion(t, data, v)
		}
	})
}

func fuzzOneVersion(t *testing.T, data []byte, v Version) {
	// Small limits so the fuzzer reaches them with small inputs.
	r := NewReader(bytes.NewReader(data), ReaderOptions{MaxHeaders: 20, MaxHeaderSize: 512, MaxBodySize: 2048, BufferSize: 16})
	r.SetVersion(v)
	for range 64 {
		got, err := r.ReadFrame()
		if err != nil {
			if !expectedReadError(err) {
				t.Fatalf("version %s: unexpected kind of error: %v", v, err)
			}
			return
		}
		checkReencodes(t, got, v)
	}
}

// expectedReadError reports whether err is one the reader may return for
// in-memory input.
func expectedReadError(err error) bool {
	for _, want := range []error{io.EOF, io.ErrUnexpectedEOF, ErrBadFrame, ErrFrameTooLarge, ErrTooManyHeaders, ErrHeaderTooLarge} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// checkReencodes writes f in version v, reads it back with generous limits
// (escaping may lengthen a line; the writer may add content-length) and
// compares.
func checkReencodes(t *testing.T, f *Frame, v Version) {
	enc, err := AppendFrame(nil, f, v)
	if err != nil {
		t.Fatalf("version %s: the reader accepted %s but the writer refuses it: %v", v, f, err)
	}
	r := NewReader(bytes.NewReader(enc), ReaderOptions{MaxHeaders: 1 << 20, MaxHeaderSize: 1 << 20})
	r.SetVersion(v)
	back, err := r.ReadFrame()
	if err != nil {
		t.Fatalf("version %s: re-reading %q: %v", v, enc, err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("version %s: %q encodes more than one frame (next: %v)", v, enc, err)
	}
	want := &Frame{Command: f.Command, Headers: slices.Clone(f.Headers), Body: f.Body}
	if _, has := want.Headers.Get(HdrContentLength); has || len(want.Body) > 0 {
		want.Headers.Set(HdrContentLength, strconv.Itoa(len(want.Body)))
	}
	if !sameFrame(back, want) {
		t.Fatalf("version %s: round trip changed the frame\n got: %s %q\nwant: %s %q\nencoded: %q", v, back, back.Body, want, want.Body, enc)
	}
}
