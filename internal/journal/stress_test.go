package journal

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// stressWorker is one writer of TestCrashRounds: it owns the ids of its
// records, so its batches are ordered and the model of them is its own.
type stressWorker struct {
	id    int
	rng   *rand.Rand
	m     *model   // what its acknowledged batches left
	live  []uint64 // its live record ids, for picking
	next  uint64
	maybe []Op // the batch in flight when the disk froze, if any
}

func (w *stressWorker) newID() uint64 {
	w.next++
	return uint64(w.id)<<32 | w.next
}

// batch returns a random batch: new records, updates and deletes of live
// ones, in the proportions of a broker (messages, delivery counts, acks).
func (w *stressWorker) batch() []Op {
	var ops []Op
	for range 1 + w.rng.IntN(3) {
		switch r := w.rng.IntN(10); {
		case r < 4 || len(w.live) < 3:
			id := w.newID()
			ops = append(ops, add(id, 1, fmt.Sprintf("rec %d %0*d", id, w.rng.IntN(200), 0)))
			if w.rng.IntN(3) == 0 {
				ops = append(ops, upd(id, 2, "ref"))
			}
		case r < 6:
			id := w.live[w.rng.IntN(len(w.live))]
			ops = append(ops, upd(id, 3, "count "+strconv.Itoa(w.rng.IntN(100))))
		default:
			// Mostly the oldest, as a queue consumes, sometimes any.
			i := 0
			if w.rng.IntN(4) == 0 {
				i = w.rng.IntN(len(w.live))
			}
			ops = append(ops, del(w.live[i]))
			w.live = slices.Delete(w.live, i, i+1)
		}
	}
	return ops
}

// apply records an acknowledged batch.
func (w *stressWorker) apply(ops []Op) {
	w.m.apply(ops)
	w.live = w.live[:0]
	for id := range w.m.recs {
		w.live = append(w.live, id)
	}
	slices.Sort(w.live)
}

// TestCrashRounds runs concurrent writers on a journal of tiny files, so
// that files roll, are reclaimed and compacted all the time, freezes the disk
// at a random mutating call, reopens, and checks that every acknowledged
// batch survived (and the one in flight at the freeze, if any, wholly or not
// at all) — then goes on writing on the recovered journal, round after
// round. TANDEM_JOURNAL_STRESS sets the duration (default one second).
func TestCrashRounds(t *testing.T) {
	duration := time.Second
	if v := os.Getenv("TANDEM_JOURNAL_STRESS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TANDEM_JOURNAL_STRESS=%q: %v", v, err)
		}
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TANDEM_JOURNAL_STRESS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (TANDEM_JOURNAL_STRESS_SEED replays the choices, not the interleaving)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	const writers = 4
	workers := make([]*stressWorker, writers)
	for i := range workers {
		workers[i] = &stressWorker{id: i + 1, rng: rand.New(rand.NewPCG(seed, uint64(i+2))), m: newModel()}
	}
	deadline := time.Now().Add(duration)
	rounds := 0
	var compactions, reclaimed, batches uint64
	// A follower reads each round's writes as a waiting node would, and
	// the next round opens the journal through it, as a takeover does:
	// takeOver checks that it reaches what a full replay of a copy does.
	var fl *Follower
	var sink *modelSink
	var followed, tail, total int
	for ; rounds == 0 || time.Now().Before(deadline); rounds++ {
		ffs := NewFaultFS(nil)
		o := testOptions(dir)
		o.FileSize = 4 << 10
		// Compaction off in some rounds, so that files also die of
		// deletes alone and are recycled or removed.
		o.CompactMinFiles, o.CompactPercentage = 2, []int{-1, 30, 60}[rng.IntN(3)]
		o.Sync = rng.IntN(2) == 0
		o.FS = ffs
		o.Epoch = uint64(rounds + 1)
		var j *Journal
		var recs []Record
		if fl == nil {
			j, recs = open(t, o)
		} else {
			catchUp(t, fl)
			var res Followed
			j, res = takeOver(t, fl, sink, o)
			recs = sink.m.records()
			if res.Used {
				followed++
				tail += res.TailOps
			}
			total += res.Records
		}
		checkRound(t, rounds, recs, workers)
		fl, sink = newTestFollower(t, dir)
		stopFollowing := make(chan struct{})
		var following sync.WaitGroup
		following.Add(1)
		go func() {
			defer following.Done()
			prng := rand.New(rand.NewPCG(seed, uint64(rounds)))
			for {
				select {
				case <-stopFollowing:
					return
				case <-time.After(time.Duration(prng.IntN(2000)) * time.Microsecond):
				}
				if _, err := fl.Poll(stopFollowing); err != nil {
					t.Errorf("round %d: Poll: %v", rounds, err)
					return
				}
			}
		}()

		ffs.CrashAfter(20 + rng.IntN(1500))
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					ops := w.batch()
					if err := j.Write(ops, w.rng.IntN(4) != 0); err != nil {
						w.maybe = ops
						return
					}
					w.apply(ops)
					if i%50 == 49 {
						j.Compact() // fails once the disk froze: that is the point
					}
				}
			}()
		}
		wg.Wait()
		close(stopFollowing)
		following.Wait()
		st := j.Stats()
		compactions, reclaimed, batches = compactions+st.Compactions, reclaimed+st.ReclaimedFiles, batches+st.Batches
		j.Close()
	}
	o := testOptions(dir)
	o.Epoch = uint64(rounds + 1)
	catchUp(t, fl)
	j, _ := takeOver(t, fl, sink, o)
	checkRound(t, rounds, sink.m.records(), workers)
	j.Close()
	t.Logf("%d crash rounds survived: %d batches, %d compactions, %d files reclaimed", rounds, batches, compactions, reclaimed)
	t.Logf("%d of %d takeovers used the follower's state, replaying %d operations for %d live records", followed, rounds, tail, total)
	if compactions == 0 || reclaimed == 0 {
		t.Errorf("the workload neither compacted nor reclaimed, so it tested little")
	}
	if followed == 0 {
		t.Errorf("no takeover used the follower's state")
	}
}

// checkRound compares what a reopen recovered with each worker's model, and
// settles each worker's batch in flight at the crash by what was recovered.
func checkRound(t *testing.T, round int, recs []Record, workers []*stressWorker) {
	t.Helper()
	got := map[int][]Record{}
	for _, r := range recs {
		got[int(r.ID>>32)] = append(got[int(r.ID>>32)], r)
	}
	byID := func(a, b Record) int { return cmp.Compare(a.ID, b.ID) }
	for _, w := range workers {
		have := got[w.id]
		slices.SortFunc(have, byID)
		want := w.m.records()
		slices.SortFunc(want, byID)
		if equalRecords(have, want) {
			w.maybe = nil
			w.apply(nil) // batch() may have dropped ids of the lost batch from live
			continue
		}
		if w.maybe != nil {
			with := w.m.clone()
			with.apply(w.maybe)
			alt := with.records()
			slices.SortFunc(alt, byID)
			if equalRecords(have, alt) {
				w.apply(w.maybe)
				w.maybe = nil
				continue
			}
		}
		t.Fatalf("round %d, writer %d: recovered records differ from the acknowledged ones (in flight at the crash: %v)\n got: %s\nwant: %s",
			round, w.id, w.maybe, summary(have), summary(want))
	}
	delete(got, 0)
	for id := range got {
		if id < 1 || id > len(workers) {
			t.Fatalf("round %d: recovered records of no writer: %s", round, summary(got[id]))
		}
	}
}
