package perf

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// A stamp is how a message carries its run and its due time when the body
// has room for it: the first stampSize bytes of the body are
//
//	tdmperf:<run id, 16 hex digits>:<due time in ns, 16 hex digits>
//
// A body is the load the run was asked for, so the stamp costs the broker
// nothing; two headers would add some 60 bytes to every frame and two
// properties to every message the broker keeps, which is not the load the
// figures claim to measure. A body shorter than a stamp carries the
// headers hdrRun and hdrDue instead. The stamp is printable, so a broker
// that hands bodies to text-minded code keeps it intact.
const (
	stampMagic   = "tdmperf:"
	stampRunAt   = len(stampMagic)
	stampDueAt   = stampRunAt + 16 + 1
	stampSize    = stampDueAt + 16
	stampRunSize = 16
)

// stamper writes stamps into one producer's copy of the payload.
type stamper struct {
	body []byte // nil when the body is too short for a stamp
}

// newStamper prepares the body a producer sends: its own copy of payload,
// with the magic and run written once, when payload has room for a stamp.
func newStamper(payload []byte, run string) stamper {
	if len(payload) < stampSize || len(run) != stampRunSize {
		return stamper{}
	}
	b := append([]byte(nil), payload...)
	copy(b, stampMagic)
	copy(b[stampRunAt:], run)
	b[stampDueAt-1] = ':'
	return stamper{body: b}
}

// stamp writes due into the body and returns it. The body is reused for
// the next message, so it must be written out before stamp is called again.
func (s stamper) stamp(due time.Duration) []byte {
	var d [8]byte
	binary.BigEndian.PutUint64(d[:], uint64(due))
	hex.Encode(s.body[stampDueAt:stampSize], d[:])
	return s.body
}

// readStamp reads the stamp at the start of body. found is false when
// body carries none (a short body, or a message that is not tandem perf's
// or that an older version sent); the headers then say what it is. mine
// is true when the stamp is of the run run.
func readStamp(body []byte, run string) (due time.Duration, mine, found bool) {
	if len(body) < stampSize || string(body[:stampRunAt]) != stampMagic || body[stampDueAt-1] != ':' {
		return 0, false, false
	}
	var d [8]byte
	if _, err := hex.Decode(d[:], body[stampDueAt:stampSize]); err != nil {
		return 0, false, false
	}
	due = time.Duration(binary.BigEndian.Uint64(d[:]))
	return due, string(body[stampRunAt:stampRunAt+stampRunSize]) == run, true
}

// headerDue parses the due time a short message carries in hdrDue.
func headerDue(s string) (time.Duration, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return time.Duration(v), err == nil
}
