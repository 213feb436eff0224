package wiretest

import (
	"io"
	"testing"
)

// ChunkReader hands out a stream at most a few bytes per Read and records
// a Read made while Forbid is set.
type ChunkReader struct {
	data  []byte
	rest  []byte
	chunk int
	// Forbid marks a stretch in which a Read is a failure; Broke records
	// that one happened.
	Forbid bool
	Broke  bool
}

// NewChunkReader returns a ChunkReader of data, chunk bytes (at least one)
// per Read.
func NewChunkReader(data []byte, chunk int) *ChunkReader {
	return &ChunkReader{data: data, rest: data, chunk: max(chunk, 1)}
}

// Read implements io.Reader.
func (c *ChunkReader) Read(p []byte) (int, error) {
	if c.Forbid {
		c.Broke = true
	}
	if len(c.rest) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.chunk, len(c.rest))
	copy(p, c.rest[:n])
	c.rest = c.rest[n:]
	return n, nil
}

// CountVouched reads frames from a reader over cr with read, at most 64 and
// until one fails, asking has before each whether a whole frame is
// buffered. It fails t if a read that has vouched for read from cr, naming
// the case with what, and returns how many times has said yes.
func CountVouched(t testing.TB, cr *ChunkReader, has func() bool, read func() error, what string) int {
	t.Helper()
	yes := 0
	for range 64 {
		cr.Forbid = has()
		if cr.Forbid {
			yes++
		}
		err := read()
		if cr.Broke {
			t.Fatalf("%s: a frame was said to be buffered, but reading it read from the stream (input %q)", what, cr.data)
		}
		cr.Forbid = false
		if err != nil {
			return yes
		}
	}
	return yes
}
