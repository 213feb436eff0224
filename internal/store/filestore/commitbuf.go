package filestore

import (
	"sync"

	"tandem/internal/journal"
)

// Commit buffers larger than these are not kept for reuse, so that one
// large message does not pin its encoding's memory.
const (
	maxPooledBytes = 64 << 10
	maxPooledOps   = 1 << 10
)

// commitBuf holds the journal operations of one Commit and their encoding
// until the journal is done with them. Every persistent send used to
// allocate both afresh, a body-sized buffer zeroed and then dropped; reusing
// them took that allocation off the send path. The journal does not retain
// a batch once its done callback has run (journal.WriteAsync), which is
// when release hands the buffer back.
type commitBuf struct {
	ops  []journal.Op
	b    []byte
	done func(error)
	// release is c.finish, bound once so that handing it to the journal
	// does not allocate.
	release func(error)
}

var commitBufs = sync.Pool{New: func() any { return new(commitBuf) }}

// getCommitBuf returns an empty buffer with room for ops operations and
// bytes of encoding.
func getCommitBuf(ops, bytes int) *commitBuf {
	c := commitBufs.Get().(*commitBuf)
	if c.release == nil {
		c.release = c.finish
	}
	if cap(c.ops) < ops {
		c.ops = make([]journal.Op, 0, ops)
	}
	if cap(c.b) < bytes {
		c.b = make([]byte, 0, bytes)
	}
	return c
}

// put returns c to the pool, unless it grew too large to keep.
func (c *commitBuf) put() {
	// The ops' Data point into c.b and at nothing else, so a pooled
	// buffer keeps no one else's memory alive.
	c.ops, c.b, c.done = c.ops[:0], c.b[:0], nil
	if cap(c.b) <= maxPooledBytes && cap(c.ops) <= maxPooledOps {
		commitBufs.Put(c)
	}
}

// finish is the journal's done callback for the batch in c.
func (c *commitBuf) finish(err error) {
	done := c.done
	c.put()
	done(err)
}
