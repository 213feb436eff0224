package journal

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// modelSink is a FollowSink that keeps what it is told in a model, so that
// what a follower reported can be compared with what Open delivers.
type modelSink struct {
	m      *model
	resets int
}

func newModelSink() *modelSink { return &modelSink{m: newModel()} }

func (s *modelSink) Add(rec Record) error {
	if _, ok := s.m.recs[rec.ID]; ok {
		return fmt.Errorf("add of live record %d without a delete first", rec.ID)
	}
	s.m.apply([]Op{{Kind: OpAdd, ID: rec.ID, Type: rec.Type, Data: rec.Data}})
	return nil
}

func (s *modelSink) Update(id uint64, u Update) error {
	if _, ok := s.m.recs[id]; !ok {
		return fmt.Errorf("update of dead record %d", id)
	}
	s.m.apply([]Op{{Kind: OpUpdate, ID: id, Type: u.Type, Data: u.Data}})
	return nil
}

func (s *modelSink) Delete(id uint64) error {
	if _, ok := s.m.recs[id]; !ok {
		return fmt.Errorf("delete of dead record %d", id)
	}
	s.m.apply([]Op{{Kind: OpDelete, ID: id}})
	return nil
}

func (s *modelSink) Reset() { s.m, s.resets = newModel(), s.resets+1 }

func newTestFollower(t *testing.T, dir string) (*Follower, *modelSink) {
	t.Helper()
	sink := newModelSink()
	fl, err := NewFollower(FollowOptions{Dir: dir, Sink: sink, SweepEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return fl, sink
}

// catchUp polls fl until a poll applies nothing.
func catchUp(t *testing.T, fl *Follower) {
	t.Helper()
	for range 1000 {
		n, err := fl.Poll(nil)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the follower never caught up")
}

// takeOver opens dir with fl's state and, on a copy made first, with a full
// replay, and checks that both reach the same records, index and files.
func takeOver(t *testing.T, fl *Follower, sink *modelSink, o Options) (*Journal, Followed) {
	t.Helper()
	ref := copyDir(t, o.Dir)
	j, res, err := OpenFollowed(o, fl, func(r Record) error {
		sink.m.apply([]Op{{Kind: OpAdd, ID: r.ID, Type: r.Type, Data: r.Data}})
		for _, u := range r.Updates {
			sink.m.apply([]Op{{Kind: OpUpdate, ID: r.ID, Type: u.Type, Data: u.Data}})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("OpenFollowed: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	ro := o
	ro.Dir, ro.FS = ref, nil
	var recs []Record
	full, err := Open(ro, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Open of a copy: %v", err)
	}
	defer os.RemoveAll(ref)
	defer full.Close()
	sameRecords(t, sink.m.records(), recs)
	sameIndex(t, j, full)
	return j, res
}

// sameIndex compares the index and file accounting of two journals once
// their background work has settled.
func sameIndex(t *testing.T, a, b *Journal) {
	t.Helper()
	settle(t, a)
	settle(t, b)
	a.runMu.Lock()
	defer a.runMu.Unlock()
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if !maps.Equal(a.recs, b.recs) {
		t.Fatalf("index entries differ: %d against %d records", len(a.recs), len(b.recs))
	}
	if !maps.EqualFunc(a.upds, b.upds, slices.Equal[[]updRef]) {
		t.Fatalf("update groups differ")
	}
	if a.liveBytes != b.liveBytes || a.nextSeq != b.nextSeq || a.nextGen != b.nextGen || a.maxEpoch != b.maxEpoch {
		t.Fatalf("totals differ: live %d/%d, next seq %d/%d, next gen %d/%d, max epoch %d/%d",
			a.liveBytes, b.liveBytes, a.nextSeq, b.nextSeq, a.nextGen, b.nextGen, a.maxEpoch, b.maxEpoch)
	}
	if a.cur.seq != b.cur.seq || len(a.ready) != len(b.ready) || a.dataFiles != b.dataFiles || a.usedBytes != b.usedBytes {
		t.Fatalf("files differ: current %d/%d, ready %d/%d, data %d/%d, used %d/%d",
			a.cur.seq, b.cur.seq, len(a.ready), len(b.ready), a.dataFiles, b.dataFiles, a.usedBytes, b.usedBytes)
	}
	if len(a.files) != len(b.files) {
		t.Fatalf("%d files against %d", len(a.files), len(b.files))
	}
	for seq, fa := range a.files {
		fb := b.files[seq]
		if fb == nil {
			t.Fatalf("file %d only in one journal", seq)
		}
		ka, kb := fa.kills, fb.kills
		if len(ka) == 0 && len(kb) == 0 {
			ka, kb = nil, nil
		}
		if fa.gen != fb.gen || fa.epoch != fb.epoch || fa.compacted != fb.compacted || fa.size != fb.size || fa.end != fb.end ||
			fa.liveOps != fb.liveOps || fa.liveBytes != fb.liveBytes || fa.ready != fb.ready || !maps.Equal(ka, kb) {
			t.Fatalf("file %s differs:\n%+v\n%+v", fa.name, *fa, *fb)
		}
	}
}

// sameFiles compares the data files of two journal directories byte for
// byte.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	la, lb := dataFiles(t, a), dataFiles(t, b)
	if len(la) != len(lb) {
		t.Fatalf("%d data files against %d", len(la), len(lb))
	}
	for i := range la {
		if filepath.Base(la[i]) != filepath.Base(lb[i]) {
			t.Fatalf("file %s against %s", filepath.Base(la[i]), filepath.Base(lb[i]))
		}
		ba, err := os.ReadFile(la[i])
		if err != nil {
			t.Fatal(err)
		}
		bb, err := os.ReadFile(lb[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ba, bb) {
			t.Fatalf("%s differs", filepath.Base(la[i]))
		}
	}
}

func TestFollowerAppliesOnlyDurableFrames(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	j, _ := open(t, o)
	fl, sink := newTestFollower(t, dir)
	mustWrite(t, j, nil, add(1, 1, "one"))
	catchUp(t, fl)
	if len(sink.m.recs) != 0 {
		t.Fatalf("the follower applied the last frame before anything showed it durable")
	}
	mustWrite(t, j, nil, add(2, 1, "two"))
	catchUp(t, fl)
	if _, ok := sink.m.recs[1]; !ok || len(sink.m.recs) != 1 {
		t.Fatalf("after a second frame, the follower holds %v, want record 1 only", summary(sink.m.records()))
	}
}

func TestTakeoverReplaysOnlyTheTail(t *testing.T) {
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			o.FileSize, o.Sync = 64<<10, sync
			j, _ := open(t, o)
			fl, sink := newTestFollower(t, dir)
			const before, after = 2000, 10
			for i := range before {
				mustWrite(t, j, nil, add(uint64(i+1), 1, fmt.Sprintf("message %d %0100d", i, 0)), upd(uint64(i+1), 2, "ref"))
				if i%97 == 0 {
					catchUp(t, fl)
				}
			}
			catchUp(t, fl)
			for i := range after {
				mustWrite(t, j, nil, del(uint64(i+1)))
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			o.Epoch = 2
			_, res := takeOver(t, fl, sink, o)
			if !res.Used {
				t.Fatalf("the follower's state was not used: %s", res.Reason)
			}
			// The tail: the deletes written after the follower caught up,
			// and at most the frames it could not know were durable
			// then (the last one, or with Sync off the current file).
			limit := after + 2
			if !sync {
				limit = after + int(o.FileSize/130)
			}
			if res.TailOps > limit || res.Records != before-after {
				t.Fatalf("replayed %d operations of the tail (at most %d expected) for %d live records", res.TailOps, limit, res.Records)
			}
			t.Logf("replayed %d operations at takeover, %d records live", res.TailOps, res.Records)
		})
	}
}

func TestTakeoverFallsBack(t *testing.T) {
	// Each case changes the directory after the follower read it, in a way
	// it cannot account for; the takeover must replay everything and reach
	// the same state as a full replay.
	tests := []struct {
		name  string
		after func(t *testing.T, dir string, j *Journal)
	}{
		{"a file the follower read is removed with live records", func(t *testing.T, dir string, j *Journal) {
			j.Close()
			if err := os.Remove(dataFiles(t, dir)[0]); err != nil {
				t.Fatal(err)
			}
		}},
		{"a file is replaced by compaction", func(t *testing.T, dir string, j *Journal) {
			for i := range 40 {
				mustWrite(t, j, nil, del(uint64(2*i+1)))
			}
			if err := j.Compact(); err != nil {
				t.Fatal(err)
			}
			j.Close()
		}},
		{"a newer activation wrote a file", func(t *testing.T, dir string, j *Journal) {
			j.Close()
			o := testOptions(dir)
			o.Epoch = 5
			k, _ := open(t, o)
			mustWrite(t, k, nil, add(1000, 1, "from epoch 5"))
			k.Close()
		}},
		{"a compaction control file is left", func(t *testing.T, dir string, j *Journal) {
			j.Close()
			b := encodeControl([]uint64{1}, []uint64{1})
			if err := os.WriteFile(filepath.Join(dir, ctlName("tandem")), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			o.FileSize = 8 << 10
			j, _ := open(t, o)
			fl, sink := newTestFollower(t, dir)
			for i := range 100 {
				mustWrite(t, j, nil, add(uint64(i+1), 1, fmt.Sprintf("message %d %060d", i, 0)))
			}
			catchUp(t, fl)
			tt.after(t, dir, j)
			o.Epoch = 9
			_, res := takeOver(t, fl, sink, o)
			if res.Used {
				t.Fatalf("the follower's state was used")
			}
			t.Logf("fell back: %s", res.Reason)
		})
	}
}

func TestTakeoverCutsATornTail(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	j, _ := open(t, o)
	fl, sink := newTestFollower(t, dir)
	for i := range 30 {
		mustWrite(t, j, nil, add(uint64(i+1), 1, fmt.Sprintf("message %d", i)))
	}
	catchUp(t, fl)
	j.Close()
	path, off, n := lastFrame(t, dir)
	zeroFrom(t, path, off+n/2, off+n)
	o.Epoch = 2
	_, res := takeOver(t, fl, sink, o)
	if !res.Used || len(sink.m.recs) != 29 {
		t.Fatalf("used %v (%s), %d records", res.Used, res.Reason, len(sink.m.recs))
	}
}

// TestFollowerUnderLoad follows journals written by concurrent writers, with
// small files rolling, being reclaimed, recycled and compacted, until a
// simulated crash; the takeover must reach exactly what a full replay of the
// same directory does: records, index and, after the recovery's own writes,
// the files themselves.
func TestFollowerUnderLoad(t *testing.T) {
	tests := []struct {
		name    string
		sync    bool
		compact int
	}{
		{"sync, compaction", true, 30},
		{"sync, no compaction", true, -1},
		{"no sync, compaction", false, 60},
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(ti)))
			used := 0
			for round := range 6 {
				dir := t.TempDir()
				ffs := NewFaultFS(nil)
				o := testOptions(dir)
				o.FileSize, o.Sync, o.FS = 4<<10, tt.sync, ffs
				o.CompactMinFiles, o.CompactPercentage = 2, tt.compact
				j, _ := open(t, o)
				fl, sink := newTestFollower(t, dir)
				ffs.CrashAfter(500 + rng.IntN(5000))
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := fl.Poll(stop); err != nil {
							t.Errorf("Poll: %v", err)
							return
						}
						time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
					}
				}()
				var writers sync.WaitGroup
				for w := range 3 {
					writers.Add(1)
					go func() {
						defer writers.Done()
						sw := &stressWorker{id: w + 1, rng: rand.New(rand.NewPCG(seed, uint64(100*round+w))), m: newModel()}
						for i := 0; ; i++ {
							ops := sw.batch()
							if err := j.Write(ops, sw.rng.IntN(3) != 0); err != nil {
								return
							}
							sw.apply(ops)
							if i%40 == 39 && tt.compact > 0 {
								j.Compact()
							}
						}
					}()
				}
				writers.Wait()
				close(stop)
				wg.Wait()
				j.Close()
				catchUp(t, fl)
				o.FS, o.Epoch = nil, 2
				k, res := takeOver(t, fl, sink, o)
				if res.Used {
					used++
				}
				t.Logf("round %d: used %v (%s), %d of %d operations replayed at takeover, %d records, follower restarts %d",
					round, res.Used, res.Reason, res.TailOps, fl.Stats().Applied, res.Records, sink.resets)
				// The recovered journal goes on like any other.
				mustWrite(t, k, nil, add(1<<40, 1, "after the takeover"))
			}
			if used == 0 {
				t.Errorf("no takeover used the follower's state")
			}
		})
	}
}

// TestTakeoverLeavesTheSameFiles checks the files a followed takeover and a
// full replay leave behind are the same, byte for byte.
func TestTakeoverLeavesTheSameFiles(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.CompactMinFiles, o.CompactPercentage = 2, 30
	j, _ := open(t, o)
	fl, sink := newTestFollower(t, dir)
	for i := range 300 {
		mustWrite(t, j, nil, add(uint64(i+1), 1, fmt.Sprintf("message %d %080d", i, 0)))
		if i >= 10 && i%3 != 0 {
			mustWrite(t, j, nil, del(uint64(i-9)))
		}
		if i%25 == 0 {
			catchUp(t, fl)
		}
	}
	catchUp(t, fl)
	j.Close()
	ref := copyDir(t, dir)
	o.Epoch = 2
	k, res, err := OpenFollowed(o, fl, func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Used {
		t.Fatalf("not used: %s", res.Reason)
	}
	ro := o
	ro.Dir = ref
	full, _ := open(t, ro)
	sameIndex(t, k, full)
	k.Close()
	full.Close()
	sameFiles(t, dir, ref)
	_ = sink
}

// TestTakeoverAfterAnotherActivation: the live leaves a torn tail, another
// activation recovers the journal (cutting the tail) and writes to it, and
// only then does the follower's node take over. Whether or not the follower
// read what the other activation wrote, the takeover must reach what a full
// replay does.
func TestTakeoverAfterAnotherActivation(t *testing.T) {
	for _, pollBetween := range []bool{false, true} {
		t.Run(fmt.Sprintf("polled in between=%v", pollBetween), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			j, _ := open(t, o)
			fl, sink := newTestFollower(t, dir)
			for i := range 40 {
				mustWrite(t, j, nil, add(uint64(i+1), 1, fmt.Sprintf("message %d", i)))
			}
			catchUp(t, fl)
			mustWrite(t, j, nil, del(3), add(100, 1, "torn"))
			j.Close()
			path, off, n := lastFrame(t, dir)
			zeroFrom(t, path, off+n/2, off+n)
			catchUp(t, fl)

			o.Epoch = 2
			k, _ := open(t, o)
			for i := range 10 {
				mustWrite(t, k, nil, add(uint64(200+i), 1, "from epoch 2"), del(uint64(i+10)))
			}
			k.Close()
			if pollBetween {
				catchUp(t, fl)
			}
			o.Epoch = 3
			_, res := takeOver(t, fl, sink, o)
			t.Logf("used %v (%s), %d operations replayed", res.Used, res.Reason, res.TailOps)
		})
	}
}

// TestFollowerSkipsAFileRecycledUnderIt covers a race of recycling: the
// follower opens a dead file by its name, the writer renames it away and
// stamps it with a later number, and the follower reads the new header
// through its descriptor. That file is gone under its name, not corrupt; a
// header with an earlier number than the name is corrupt, and stops the
// follower.
func TestFollowerSkipsAFileRecycledUnderIt(t *testing.T) {
	for _, tc := range []struct {
		name           string
		nameSeq, hdSeq uint64
		broken         bool
	}{
		{"recycled to a later number", 84, 91, false},
		{"an earlier number than the name", 91, 84, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var hb [headerSize]byte
			encodeHeader(hb[:], FileHeader{Seq: tc.hdSeq, Gen: 7, Epoch: 1})
			data := make([]byte, 4<<10)
			copy(data, hb[:])
			if err := os.WriteFile(filepath.Join(dir, dataName("tandem", tc.nameSeq)), data, 0o644); err != nil {
				t.Fatal(err)
			}
			fl, _ := newTestFollower(t, dir)
			_, err := fl.Poll(nil)
			if got := errors.Is(err, ErrFollowerBroken); got != tc.broken {
				t.Fatalf("Poll: %v; want the follower broken: %v", err, tc.broken)
			}
		})
	}
}

// TestReplacingAddKeepsTheAccounting writes an add of a live record's id
// (which replaces it) on a journal opened by a full replay and on one
// opened from a follower's state: both must account for it as a journal
// replaying the result does (the index skips the lookup for ids above
// every id it holds, and must know that bound however it was opened).
func TestReplacingAddKeepsTheAccounting(t *testing.T) {
	for _, followed := range []bool{false, true} {
		t.Run(fmt.Sprintf("followed=%v", followed), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			o.FileSize = 64 << 10
			j, _ := open(t, o)
			fl, sink := newTestFollower(t, dir)
			const total = 2000 // four files
			for i := range total {
				mustWrite(t, j, nil, add(uint64(i+1), 1, fmt.Sprintf("first %d %0100d", i, 0)))
			}
			// Deletes after the follower caught up: the tail a takeover
			// replays holds no add.
			mustWrite(t, j, nil, del(total-1))
			catchUp(t, fl)
			mustWrite(t, j, nil, del(total-2))
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			o.Epoch = 2
			if followed {
				var res Followed
				j, res = takeOver(t, fl, sink, o)
				if !res.Used {
					t.Fatalf("the follower's state was not used: %s", res.Reason)
				}
			} else {
				j, _ = open(t, o)
				t.Cleanup(func() { j.Close() })
			}
			// Id 50 is in the first file, which a takeover does not read.
			mustWrite(t, j, nil, add(50, 1, "second, replacing the first"), add(total+1, 1, "new"))
			settle(t, j)
			ref := copyDir(t, dir)
			defer os.RemoveAll(ref)
			ro := o
			ro.Dir = ref
			full, recs := open(t, ro)
			defer full.Close()
			if len(recs) != total-1 {
				t.Fatalf("a replay found %d records, want %d", len(recs), total-1)
			}
			settle(t, full)
			j.runMu.Lock()
			defer j.runMu.Unlock()
			full.runMu.Lock()
			defer full.runMu.Unlock()
			if !maps.Equal(j.recs, full.recs) || j.liveBytes != full.liveBytes {
				t.Fatalf("after the replacing add: %d records, %d bytes live; a replay of the result: %d records, %d bytes",
					len(j.recs), j.liveBytes, len(full.recs), full.liveBytes)
			}
		})
	}
}
