package mqtt

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	wire "tandem/internal/wire/mqtt"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/records.golden")

// goldenRecords are the records of testdata/records.golden, in its order.
var goldenRecords = []struct {
	name   string
	record any
}{
	{"session", &sessionRecord{ClientID: "sensor-17", User: "alice", Version: wire.V5, Expiry: 3600,
		DisconnectedAt: 1796000000123, Subs: []subRecord{
			{Filter: "sensors/+/temp", QoS: 1, ID: 7},
			{Filter: "$share/g/jobs/#", QoS: 2, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "chat", QoS: 0, NoLocal: true, RetainHandling: 1, ID: 268435455},
		}}},
	{"session, 3.1.1, never expires, no subscription", &sessionRecord{ClientID: "dev", Version: wire.V311, Expiry: neverExpires}},
	{"marker in", marker{ClientID: "pub-1", Dir: markerIn, PacketID: 7}},
	{"marker out", marker{ClientID: "sensor-17", Dir: markerOut, PacketID: 65535}},
}

func encodeAny(r any) []byte {
	switch r := r.(type) {
	case *sessionRecord:
		return r.encode(nil)
	case marker:
		return r.encode(nil)
	}
	panic("unknown record")
}

// TestRecordsGolden holds the stored encodings (docs/mqtt.md, "What is
// stored") to testdata/records.golden: "name: hex" per line.
func TestRecordsGolden(t *testing.T) {
	var b strings.Builder
	for _, g := range goldenRecords {
		b.WriteString(g.name + ": " + hex.EncodeToString(encodeAny(g.record)) + "\n")
	}
	if *updateGolden {
		if err := os.WriteFile("testdata/records.golden", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/records.golden")
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("encodings changed; a stored record must stay readable (go test -update to rewrite after a format change):\n%s\nwant:\n%s", b.String(), want)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		_, hx, _ := strings.Cut(line, ": ")
		raw, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		switch goldenRecords[i].record.(type) {
		case *sessionRecord:
			got, err = decodeSessionRecord(raw)
		case marker:
			got, err = decodeMarker(raw)
		}
		if err != nil || !reflect.DeepEqual(got, goldenRecords[i].record) {
			t.Errorf("%s decodes to %+v, %v", goldenRecords[i].name, got, err)
		}
	}
}

func TestBadRecordsAreRefused(t *testing.T) {
	good := encodeAny(goldenRecords[0].record)
	for name, b := range map[string][]byte{
		"empty":          nil,
		"future format":  append([]byte{2}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"bad level":      append([]byte{1, 9}, good[2:]...),
	} {
		if _, err := decodeSessionRecord(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	for name, b := range map[string][]byte{
		"packet id 0":   marker{ClientID: "x", Dir: markerIn}.encode(nil),
		"bad direction": marker{ClientID: "x", Dir: 'z', PacketID: 1}.encode(nil),
	} {
		if _, err := decodeMarker(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzRecords decodes arbitrary bytes as both kinds of record: no panic,
// and whatever decodes encodes to bytes that decode to the same record.
func FuzzRecords(f *testing.F) {
	for _, g := range goldenRecords {
		f.Add(encodeAny(g.record))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeSessionRecord(b); err == nil {
			again, err := decodeSessionRecord(r.encode(nil))
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("session record %+v re-encodes to %+v, %v", r, again, err)
			}
		}
		if m, err := decodeMarker(b); err == nil {
			enc := m.encode(nil)
			again, err := decodeMarker(enc)
			if err != nil || again != m || !bytes.Equal(enc, encodeAny(again)) {
				t.Fatalf("marker %+v re-encodes to %+v, %v", m, again, err)
			}
		}
	})
}

// TestManyRetainedReplacementsDoNotStallTheStore replaces one retained
// topic thousands of times: every replaced message is settled from a
// delivery callback, which must never wait for the settling.
func TestManyRetainedReplacementsDoNotStallTheStore(t *testing.T) {
	r := newRig(t, nil)
	c := r.connect(&wire.Connect{ClientID: "many", CleanStart: true})
	for i := 0; i < 3000; i++ {
		c.send(&wire.Publish{Topic: "one/topic", Retain: true, Payload: []byte(itoa(uint64(i)))})
	}
	c.pub("one/topic", wire.QoS1, 1, "last")
	waitFor(t, "one retained message left", func() bool { return r.queueDepth(retainQueue) == 1 })
}
