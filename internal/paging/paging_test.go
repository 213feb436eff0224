package paging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"tandem/internal/message"
	"tandem/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.page")

func testMessage(i int) *message.Message {
	return &message.Message{
		Address: "orders.eu", RoutingType: message.Multicast, Durable: i%2 == 0, Priority: 7,
		Timestamp: 1700000000000 + int64(i), Expiration: 1800000000000, ScheduledTime: 0,
		Extra:      &message.Extra{ContentType: "text/plain", CorrelationID: "c-1", ReplyTo: "/queue/replies", Type: "order"},
		Properties: []message.Property{{Key: "region", Value: "eu"}, {Key: "_AMQ_DUPL_ID", Value: fmt.Sprint("d-", i)}},
		Body:       []byte(fmt.Sprintf("body %d", i)),
	}
}

func appendWait(t *testing.T, s *PageStore, m *message.Message, queues []uint64) {
	t.Helper()
	ch := make(chan error, 1)
	s.Append(m, queues, true, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, s *PageStore, from store.PagePosition) []store.PagedMessage {
	t.Helper()
	var out []store.PagedMessage
	for {
		recs, err := s.Read(from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Next
	}
}

func TestAppendReadAcrossPagesAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openPageStore(dir, 300, true, nil) // small pages: a few records each
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := 0; i < n; i++ {
		appendWait(t, s, testMessage(i), []uint64{uint64(i), 99})
	}
	got := readAll(t, s, s.Start())
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for i, pm := range got {
		if !reflect.DeepEqual(pm.Message, testMessage(i)) || !reflect.DeepEqual(pm.Queues, []uint64{uint64(i), 99}) {
			t.Fatalf("record %d = %+v %v", i, pm.Message, pm.Queues)
		}
	}
	pages, _ := listPages(dir)
	if len(pages) < 5 {
		t.Fatalf("%d pages for %d records of ~150 bytes with 300-byte pages", len(pages), n)
	}
	// Release everything before record 30, then reopen: the rest is there.
	if err := s.Release(got[30].Pos); err != nil {
		t.Fatal(err)
	}
	end := s.End()
	s.Close()
	s, err = openPageStore(dir, 300, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.End() != end {
		t.Fatalf("end after reopen %+v, want %+v", s.End(), end)
	}
	rest := readAll(t, s, got[30].Pos)
	if len(rest) != n-30 || string(rest[0].Message.Body) != "body 30" {
		t.Fatalf("after release and reopen read %d records from record 30", len(rest))
	}
	if !s.Start().Less(got[30].Pos) && s.Start() != got[30].Pos {
		t.Fatalf("start %+v after release up to %+v", s.Start(), got[30].Pos)
	}
}

func TestTornTailIsCutAtEveryLength(t *testing.T) {
	dir := t.TempDir()
	s, err := openPageStore(dir, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendWait(t, s, testMessage(0), []uint64{1})
	good := s.End()
	appendWait(t, s, testMessage(1), []uint64{1})
	full := s.End()
	s.Close()
	path := filepath.Join(dir, pageName(1))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for cut := int(good.Offset) + 1; cut < int(full.Offset); cut++ {
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := openPageStore(dir, 1<<20, true, nil)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if s.End() != good {
			t.Fatalf("cut at %d: end %+v, want %+v", cut, s.End(), good)
		}
		if recs := readAll(t, s, s.Start()); len(recs) != 1 {
			t.Fatalf("cut at %d: %d records survive, want 1", cut, len(recs))
		}
		s.Close()
	}
}

func TestCorruptionBeforeTheTailIsAnError(t *testing.T) {
	dir := t.TempDir()
	s, err := openPageStore(dir, 200, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		appendWait(t, s, testMessage(i), []uint64{1})
	}
	s.Close()
	path := filepath.Join(dir, pageName(1))
	data, _ := os.ReadFile(path)
	data[headerSize+recordHeaderSize+3] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = openPageStore(dir, 200, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Read(s.Start(), 1<<20)
	if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(pageName(1))) {
		t.Fatalf("reading a flipped bit: %v; want ErrCorrupt naming the file", err)
	}
}

// TestGoldenPage pins the page format: testdata/golden.page must decode to
// the messages it was written from, and writing them again must give the
// same bytes. Run with -update after a deliberate format change (and bump
// the version).
func TestGoldenPage(t *testing.T) {
	golden := filepath.Join("testdata", "golden.page")
	b := encodeHeader(1)
	for i := 0; i < 3; i++ {
		b = appendRecord(b, testMessage(i), []uint64{7, uint64(100 + i)})
	}
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("the page encoding changed; if deliberate, bump formatVersion/payloadVersion and run with -update")
	}
	checkGoldenPage(t, want)
}

// TestGoldenPageV1 reads a page written with payload version 1 (release
// d575a2c and before), which this build must keep reading.
func TestGoldenPageV1(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "golden-v1.page"))
	if err != nil {
		t.Fatal(err)
	}
	b := encodeHeader(1)
	for i := 0; i < 3; i++ {
		b = appendRecordV1(b, testMessage(i), []uint64{7, uint64(100 + i)})
	}
	if !bytes.Equal(b, want) {
		t.Fatal("appendRecordV1 no longer writes what golden-v1.page holds")
	}
	checkGoldenPage(t, want)
}

// checkGoldenPage reads page bytes through a page store and compares the
// records with the messages they were written from.
func checkGoldenPage(t *testing.T, page []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pageName(1)), page, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := openPageStore(dir, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := readAll(t, s, s.Start())
	if len(recs) != 3 {
		t.Fatalf("golden page holds %d records, want 3", len(recs))
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Message, testMessage(i)) || !reflect.DeepEqual(r.Queues, []uint64{7, uint64(100 + i)}) {
			t.Fatalf("golden record %d decodes to %+v %v", i, r.Message, r.Queues)
		}
	}
}

// appendRecordV1 writes a record in payload version 1.
func appendRecordV1(b []byte, m *message.Message, queues []uint64) []byte {
	start := len(b)
	b = append(b, make([]byte, recordHeaderSize)...)
	b = append(b, payloadVersionV1)
	b = binary.AppendUvarint(b, uint64(len(queues)))
	for _, q := range queues {
		b = binary.AppendUvarint(b, q)
	}
	b = appendMessageV1(b, m)
	payload := b[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

func TestPagerKeepsAddressesApart(t *testing.T) {
	dir := t.TempDir()
	p, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"orders", "orders/../../etc", "news.#", "ünï"}
	for _, n := range names {
		s, err := p.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		appendWait(t, s.(*PageStore), &message.Message{Address: n, Body: []byte(n)}, []uint64{1})
	}
	p.Close()
	p, _ = New(Options{Dir: dir})
	defer p.Close()
	got, err := p.Addresses()
	if err != nil || len(got) != len(names) {
		t.Fatalf("addresses %q, %v", got, err)
	}
	for _, n := range names {
		s, _ := p.Open(n)
		recs := readAll(t, s.(*PageStore), s.Start())
		if len(recs) != 1 || string(recs[0].Message.Body) != n {
			t.Fatalf("address %q reads back %d records", n, len(recs))
		}
	}
}

func TestBadInputGetsClearErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("paging-directory")) {
		t.Fatalf("missing directory: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "junk.page"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openPageStore(dir, 1<<20, true, nil); err == nil {
		t.Fatal("a page file with a bad name was accepted")
	}
}

// appendMessageV1 is the message layout of payload version 1, kept so tests
// can write the old format that this build still reads.
func appendMessageV1(b []byte, m *message.Message) []byte {
	b = appendString(b, m.Address)
	flags := byte(m.RoutingType) & 1
	if m.Durable {
		flags |= 2
	}
	if m.Large() != nil {
		flags |= 4
	}
	b = append(b, flags, m.Priority)
	b = binary.AppendVarint(b, m.Timestamp)
	b = binary.AppendVarint(b, m.Expiration)
	b = binary.AppendVarint(b, m.ScheduledTime)
	for _, s := range []string{m.ContentType(), m.CorrelationID(), m.ReplyTo(), m.Type()} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Properties)))
	for _, p := range m.Properties {
		b = appendString(b, p.Key)
		b = appendString(b, p.Value)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Body)))
	b = append(b, m.Body...)
	if l := m.Large(); l != nil {
		b = binary.AppendUvarint(b, l.ID)
		b = binary.AppendUvarint(b, uint64(l.Size))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
