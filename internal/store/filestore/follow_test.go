package filestore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/journal"
	"tandem/internal/message"
	"tandem/internal/store"
)

// storeWorkload drives a store the way a broker does: queues come and go,
// messages are sent to one or more queues, delivered, acknowledged, counted
// and remembered for duplicate detection, with page cursors replaced.
type storeWorkload struct {
	s      *Store
	rng    *rand.Rand
	queues []uint64
	msgs   map[uint64][]uint64 // message id -> queues still holding it
	dups   []uint64
	cursor uint64
}

func (w *storeWorkload) commit(b *store.Batch) error {
	ch := make(chan error, 1)
	w.s.Commit(b, w.rng.IntN(4) != 0, func(err error) { ch <- err })
	return <-ch
}

// step commits one random batch, and stops at the first error (the disk
// froze).
func (w *storeWorkload) step() error {
	var b store.Batch
	switch r := w.rng.IntN(20); {
	case r == 0 || len(w.queues) == 0:
		q := store.Queue{ID: w.s.NewID(), Name: fmt.Sprintf("q%d", len(w.queues)), Address: "orders", RoutingType: message.Anycast, MaxConsumers: -1}
		b.AddQueue(q)
		if err := w.commit(&b); err != nil {
			return err
		}
		w.queues = append(w.queues, q.ID)
		return nil
	case r < 10:
		m := &message.Message{ID: w.s.NewID(), Address: "orders", Durable: true, Priority: uint8(w.rng.IntN(10)),
			Timestamp: 1700000000000, Body: []byte(fmt.Sprintf("body %d %s", w.rng.Int(), strings.Repeat("x", w.rng.IntN(300)))),
			Properties: []message.Property{{Key: "n", Value: fmt.Sprint(w.rng.IntN(100))}}}
		b.AddMessage(m)
		var qs []uint64
		for _, q := range w.queues {
			if len(qs) == 0 || w.rng.IntN(4) == 0 {
				b.AddRef(m.ID, q)
				qs = append(qs, q)
			}
		}
		if w.rng.IntN(3) == 0 {
			d := store.DuplicateID{RecordID: w.s.NewID(), Address: "orders", ID: fmt.Sprint(m.ID)}
			b.AddDuplicateID(d)
			w.dups = append(w.dups, d.RecordID)
		}
		if err := w.commit(&b); err != nil {
			return err
		}
		w.msgs[m.ID] = qs
	case r < 16:
		for id, qs := range w.msgs {
			if w.rng.IntN(3) == 0 {
				b.SetDeliveryCount(id, qs[0], uint32(w.rng.IntN(5)+1))
			}
			if len(qs) == 1 {
				b.DeleteMessage(id)
				delete(w.msgs, id)
			} else {
				b.Ack(id, qs[0])
				w.msgs[id] = qs[1:]
			}
			break
		}
		if len(w.dups) > 50 {
			b.DeleteDuplicateID(w.dups[0])
			w.dups = w.dups[1:]
		}
		return w.commit(&b)
	case r < 18:
		c := store.PageCursor{RecordID: w.s.NewID(), Address: "orders", Page: uint64(w.rng.IntN(10)), Offset: uint64(w.rng.IntN(1000))}
		b.AddPageCursor(c)
		if w.cursor != 0 {
			b.DeletePageCursor(w.cursor)
		}
		if err := w.commit(&b); err != nil {
			return err
		}
		w.cursor = c.RecordID
	default:
		for id, qs := range w.msgs {
			b.SetDeliveryCount(id, qs[len(qs)-1], uint32(w.rng.IntN(9)+1))
			break
		}
		return w.commit(&b)
	}
	return nil
}

// TestFollowedOpenMatchesReplay runs a store until its disk freezes at a
// random write, while a follower reads it, then opens it again through the
// follower, with VerifyFollower checking the state against a full replay
// of a copy taken first; and so on, round after round on the same store.
func TestFollowedOpenMatchesReplay(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	o := options(dir)
	o.FileSize, o.CompactMinFiles, o.CompactPercentage = 16<<10, 3, 40
	var fol *Follower
	w := &storeWorkload{msgs: map[uint64][]uint64{}}
	used, tail, records := 0, 0, 0
	for round := range 12 {
		ffs := journal.NewFaultFS(nil)
		ro := o
		ro.FS, ro.Epoch, ro.Follower, ro.VerifyFollower, ro.Sync = ffs, uint64(round+1), fol, true, rng.IntN(2) == 0
		s, err := Open(ro)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		if rep := s.Replayed(); rep.Messages.Used {
			used++
			tail += rep.Messages.TailOps
			records += rep.Messages.Records
		}
		st, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		// The workload picks up from what the store recovered.
		w.s, w.rng = s, rand.New(rand.NewPCG(seed, uint64(round)))
		w.queues, w.msgs = nil, map[uint64][]uint64{}
		for _, q := range st.Queues {
			w.queues = append(w.queues, q.ID)
		}
		for _, sm := range st.Messages {
			for _, r := range sm.Refs {
				w.msgs[sm.Message.ID] = append(w.msgs[sm.Message.ID], r.QueueID)
			}
		}

		fol, err = NewFollower(FollowOptions{JournalDir: o.JournalDir, BindingsDir: o.BindingsDir})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(rng.IntN(3)) * time.Millisecond):
				}
				if _, err := fol.Poll(stop); err != nil {
					t.Errorf("Poll: %v", err)
					return
				}
			}
		}()
		ffs.CrashAfter(300 + w.rng.IntN(3000))
		for w.step() == nil {
		}
		close(stop)
		wg.Wait()
		s.Close()
		for {
			n, err := fol.Poll(nil)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}
	t.Logf("%d of 11 takeovers used the follower, replaying %d operations for %d records", used, tail, records)
	if used == 0 {
		t.Errorf("no takeover used the follower")
	}
}

// TestVerifyFollowerCatchesADifference checks that the check behind
// VerifyFollower fails when the states differ, so that a green test means
// something.
func TestVerifyFollowerCatchesADifference(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(options(dir))
	if err != nil {
		t.Fatal(err)
	}
	s.Load()
	var b store.Batch
	m := &message.Message{ID: s.NewID(), Address: "a", Body: []byte("x")}
	b.AddQueue(store.Queue{ID: s.NewID(), Name: "q", Address: "a"})
	b.AddMessage(m)
	b.AddRef(m.ID, 1)
	ch := make(chan error, 1)
	s.Commit(&b, true, func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, err := copyForCheck(options(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.remove()
	if err := c.compare(&store.State{}); err == nil {
		t.Fatal("an empty state compared equal to a store holding a queue and a message")
	}
	if _, err := os.Stat(c.dir); err != nil {
		t.Fatal(err)
	}
}

func TestOrderedKeepsAddOrderAcrossHoles(t *testing.T) {
	var o ordered[int]
	var want []int
	for i := 1; i <= 5000; i++ {
		if err := o.add(uint64(i), i); err != nil {
			t.Fatal(err)
		}
		// Remove most of what came before, as consumers do, so that the
		// holes are closed now and then.
		if i%4 != 0 && i > 10 {
			if !o.remove(uint64(i - 10)) {
				t.Fatalf("record %d was not there", i-10)
			}
		}
	}
	if o.remove(3) || o.get(3) != nil {
		t.Fatal("a removed record is still there")
	}
	for i := 1; i <= 5000; i++ {
		removed := i <= 4990 && (i+10)%4 != 0 && i+10 > 10
		if !removed {
			want = append(want, i)
		}
	}
	if o.len() != len(want) {
		t.Fatalf("%d records, want %d", o.len(), len(want))
	}
	for _, v := range want {
		if p := o.get(uint64(v)); p == nil || *p != v {
			t.Fatalf("record %d: %v", v, p)
		}
	}
	got := o.take(func(id uint64, v *int) bool { return *v%3 != 0 })
	var kept []int
	for _, v := range want {
		if v%3 != 0 {
			kept = append(kept, v)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Fatalf("take returned %d records out of order or wrong", len(got))
	}
	if err := o.add(0, 1); err == nil {
		t.Fatal("a record with id 0 was accepted")
	}
}
