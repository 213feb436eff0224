package pgstore

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"tandem/internal/pgdb"
)

// body returns n bytes of a fixed pseudo-random sequence.
func body(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeBody stores data as a large body, written in pieces of piece bytes.
func writeBody(t *testing.T, s *Store, data []byte, piece int) uint64 {
	t.Helper()
	w, err := s.Large().Create()
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		k := min(piece, len(rest))
		if n, err := w.Write(rest[:k]); err != nil || n != k {
			t.Fatalf("write: %d, %v", n, err)
		}
		rest = rest[k:]
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w.ID()
}

func readBody(t *testing.T, s *Store, id uint64) []byte {
	t.Helper()
	r, err := s.Large().Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body %d: %v", id, err)
	}
	return got
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

func (e *env) chunks(t *testing.T) int {
	return e.count(t, "SELECT count(*) FROM "+pgdb.DefaultLargeMessages+"_chunks")
}

// TestLargeBodies writes bodies of several sizes in chunks, reads them
// back, gives one a second name, and deletes both names.
func TestLargeBodies(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, 4*ChunkSize + 123} {
		data := body(n)
		id := writeBody(t, s, data, 100_000)
		if got := readBody(t, s, id); !bytes.Equal(got, data) {
			t.Fatalf("a body of %d bytes read back as %d bytes, or different", n, len(got))
		}
	}
	data := body(3*ChunkSize + 5)
	id := writeBody(t, s, data, 64<<10)
	before := e.chunks(t)
	copyID, err := s.Large().Link(id)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the link is readable", func() bool {
		r, _ := s.Large().Open(copyID)
		defer r.Close()
		got, err := io.ReadAll(r)
		return err == nil && bytes.Equal(got, data)
	})
	if e.chunks(t) != before {
		t.Fatal("a link copied chunks")
	}
	if err := s.Large().Delete(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the original name is gone", func() bool {
		return e.count(t, "SELECT count(*) FROM "+pgdb.DefaultLargeMessages+" WHERE id = $1", int64(id)) == 0
	})
	if got := readBody(t, s, copyID); !bytes.Equal(got, data) {
		t.Fatal("the copy lost its body with the original")
	}
	if err := s.Large().Delete(copyID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the chunks go with the last name", func() bool { return e.chunks(t) == before-4 })
	ids, err := s.Large().IDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ids {
		if x == id || x == copyID {
			t.Fatalf("IDs still lists %d after it was deleted: %v", x, ids)
		}
	}
}

// TestLargeBodyDeletedWhileRead: a body deleted while a delivery streams it
// stays readable until the reader closes, and goes then.
func TestLargeBodyDeletedWhileRead(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	data := body(3 * ChunkSize)
	id := writeBody(t, s, data, ChunkSize)
	r, err := s.Large().Open(id)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if err := s.Large().Delete(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(head, rest...), data) {
		t.Fatalf("reading on after the delete: %v", err)
	}
	if e.chunks(t) == 0 {
		t.Fatal("the chunks went while the body was being read")
	}
	r.Close()
	eventually(t, "the body goes when its reader closes", func() bool { return e.chunks(t) == 0 })
}

// TestUnfinishedLargeBodies: an aborted body leaves no chunks, and neither
// does one a crash interrupted (collected when the store opens).
func TestUnfinishedLargeBodies(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	w, err := s.Large().Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body(2*ChunkSize + 10)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	eventually(t, "an aborted body's chunks go", func() bool { return e.chunks(t) == 0 })

	w, err = s.Large().Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body(3 * ChunkSize)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "chunks of a body being written are stored", func() bool { return e.chunks(t) == 3 })
	s.Close() // a crash before Commit, as far as the database can tell
	e.open(t)
	if n := e.chunks(t); n != 0 {
		t.Fatalf("%d chunks of an unfinished body survived the next start", n)
	}
}

// TestPageStore appends, reads and releases paged messages, and finds them
// again after the store is reopened.
func TestPageStore(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ps, err := s.Pager().Open("orders")
	if err != nil {
		t.Fatal(err)
	}
	if ps.Start() != ps.End() {
		t.Fatalf("a new page store: start %v, end %v", ps.Start(), ps.End())
	}
	var msgs []string
	for i := range 10 {
		b, _ := send(s, "") // only for its id
		m := b.Ops[0].Message
		m.Body = []byte{byte('a' + i)}
		msgs = append(msgs, string(m.Body))
		ch := make(chan error, 1)
		ps.Append(m, []uint64{7, uint64(i)}, true, func(err error) { ch <- err })
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ps.Read(ps.Start(), 1<<20)
	if err != nil || len(recs) != 10 {
		t.Fatalf("read %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if string(r.Message.Body) != msgs[i] || len(r.Queues) != 2 || r.Queues[1] != uint64(i) {
			t.Fatalf("record %d: %q %v", i, r.Message.Body, r.Queues)
		}
		if i > 0 && r.Pos != recs[i-1].Next {
			t.Fatalf("record %d starts at %v, the one before ends at %v", i, r.Pos, recs[i-1].Next)
		}
	}
	if recs[9].Next != ps.End() {
		t.Fatalf("the last record ends at %v, the store at %v", recs[9].Next, ps.End())
	}
	one, err := ps.Read(recs[3].Pos, 1)
	if err != nil || len(one) != 1 || string(one[0].Message.Body) != msgs[3] {
		t.Fatalf("a read of one byte: %v %v", one, err)
	}
	if err := ps.Release(recs[6].Pos); err != nil {
		t.Fatal(err)
	}
	if ps.Start() != recs[6].Pos || e.count(t, "SELECT count(*) FROM "+pgdb.DefaultPageStore) != 4 {
		t.Fatalf("after releasing 6: start %v", ps.Start())
	}
	s.Close()
	s2, err := Open(context.Background(), e.options(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	addrs, err := s2.Pager().Addresses()
	if err != nil || len(addrs) != 1 || addrs[0] != "orders" {
		t.Fatalf("paged addresses %v, %v", addrs, err)
	}
	ps2, err := s2.Pager().Open("orders")
	if err != nil {
		t.Fatal(err)
	}
	if ps2.Start() != recs[6].Pos || ps2.End() != recs[9].Next {
		t.Fatalf("after reopening: start %v end %v, want %v %v", ps2.Start(), ps2.End(), recs[6].Pos, recs[9].Next)
	}
	left, err := ps2.Read(ps2.Start(), 1<<20)
	if err != nil || len(left) != 4 || string(left[0].Message.Body) != msgs[6] {
		t.Fatalf("after reopening read %d records, %v", len(left), err)
	}
}
