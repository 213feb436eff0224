package perf

import (
	"bytes"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	const run = "5f3a9c1e2b7d4a60"
	payload := makePayload(1024)
	s := newStamper(payload, run)
	if s.body == nil {
		t.Fatal("a 1 KiB body has no stamp")
	}
	for _, due := range []time.Duration{0, 1, 1234567890123, 1<<63 - 1} {
		body := s.stamp(due)
		if len(body) != len(payload) || !bytes.Equal(body[stampSize:], payload[stampSize:]) {
			t.Fatalf("stamping changed the body beyond its first %d bytes", stampSize)
		}
		got, mine, found := readStamp(body, run)
		if !found || !mine || got != due {
			t.Errorf("readStamp after stamp(%d) = %d, mine %v, found %v", due, got, mine, found)
		}
		if _, mine, _ := readStamp(body, "0000000000000000"); mine {
			t.Errorf("a stamp of run %s reads as another run's", run)
		}
	}
	if !bytes.Equal(payload, makePayload(1024)) {
		t.Error("stamping changed the shared payload")
	}
}

func TestReadStampFindsNoneInForeignBodies(t *testing.T) {
	const run = "5f3a9c1e2b7d4a60"
	stamped := newStamper(makePayload(64), run).stamp(42)
	badHex := bytes.Clone(stamped)
	badHex[stampSize-1] = 'z'
	noColon := bytes.Clone(stamped)
	noColon[stampDueAt-1] = '-'
	for name, body := range map[string][]byte{
		"empty":                        nil,
		"shorter than a stamp":         stamped[:stampSize-1],
		"an older version's body":      makePayload(1024),
		"due time not hex":             badHex,
		"no colon before the due time": noColon,
	} {
		if _, _, found := readStamp(body, run); found {
			t.Errorf("%s: readStamp found a stamp", name)
		}
	}
}

func TestShortBodiesAndOddRunIDsGetNoStamp(t *testing.T) {
	if s := newStamper(makePayload(stampSize-1), "5f3a9c1e2b7d4a60"); s.body != nil {
		t.Errorf("a %d-byte body got a stamp", stampSize-1)
	}
	if s := newStamper(makePayload(stampSize), "5f3a9c1e2b7d4a60"); s.body == nil {
		t.Errorf("a %d-byte body got no stamp", stampSize)
	}
	if s := newStamper(makePayload(1024), "short"); s.body != nil {
		t.Error("a run id that is not 16 characters was stamped")
	}
}
