package journal

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// writeInline calls WriteInline and reports whether done ran before it
// returned, and with what.
func writeInline(j *Journal, ops []Op, durable bool) (ranInline bool, wait func() error) {
	ch := make(chan error, 1)
	j.WriteInline(ops, durable, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return true, func() error { return err }
	default:
		return false, func() error { return <-ch }
	}
}

// waitIdle waits until the journal has nothing to do: maintenance settled
// and the writer goroutine back to sleep.
func waitIdle(t *testing.T, j *Journal) {
	t.Helper()
	settle(t, j)
	deadline := time.Now().Add(10 * time.Second)
	for !j.runMu.TryLock() {
		if time.Now().After(deadline) {
			t.Fatal("the writer goroutine never went idle")
		}
		runtime.Gosched()
	}
	j.runMu.Unlock()
}

func TestWriteInlineOnAnIdleJournalWritesOnTheCaller(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	m := newModel()
	for i := range 20 {
		// Idle means the maintainer has a file ready, too: the writes are
		// large enough that every fourth or so rolls over to it.
		waitIdle(t, j)
		ops := []Op{add(uint64(i), 1, fmt.Sprintf("inline-%d-%0900d", i, i))}
		inline, wait := writeInline(j, ops, true)
		if err := wait(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if !inline {
			t.Errorf("write %d on an idle journal was handed to the writer goroutine", i)
		}
		m.apply(ops)
	}
	if st := j.Stats(); st.Syncs < 20 {
		t.Errorf("%d syncs for 20 durable inline writes", st.Syncs)
	}
	_, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
}

func TestWriteInlineJoinsTheGroupWhenOthersWait(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	waitIdle(t, j)
	var order []string
	var mu sync.Mutex
	note := func(s string) func(error) {
		return func(err error) {
			if err != nil {
				t.Errorf("%s: %v", s, err)
			}
			mu.Lock()
			order = append(order, s)
			mu.Unlock()
		}
	}
	// A batch submitted but not yet taken by the (sleeping) writer: an
	// inline write must queue behind it, not overtake it.
	r := j.getReq()
	r.kind, r.ops, r.durable, r.done = reqWrite, []Op{add(1, 1, "first")}, true, note("queued")
	j.mu.Lock()
	j.pending = append(j.pending, r)
	j.mu.Unlock()
	j.WriteInline([]Op{add(2, 1, "second")}, true, note("inline"))
	j.wake()
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != "[queued inline]" {
		t.Fatalf("completions %v, want [queued inline]", order)
	}
}

func TestWriteInlineAfterACohortUsesTheWriter(t *testing.T) {
	j, _ := open(t, testOptions(t.TempDir()))
	// Pretend the last group released several writers: they are on their
	// way back, and one of them going inline would split the cohort.
	j.runMu.Lock()
	j.released = 4
	j.runMu.Unlock()
	inline, wait := writeInline(j, []Op{add(1, 1, "x")}, true)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if inline {
		t.Error("an inline write went ahead while a cohort of writers was due back")
	}
}

func TestWriteInlineMixedWithOtherWriters(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	const writers, each = 6, 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := newModel()
	for w := range writers {
		wg.Go(func() {
			last := -1
			for i := range each {
				id := uint64(w*each + i)
				ops := []Op{add(id, 1, fmt.Sprintf("w%d-%d", w, i))}
				var err error
				switch i % 3 {
				case 0:
					err = j.Write(ops, i%2 == 0)
				case 1:
					_, wait := writeInline(j, ops, true)
					err = wait()
				default:
					ch := make(chan error, 1)
					j.WriteAsync(ops, true, func(err error) { ch <- err })
					err = <-ch
				}
				if err != nil {
					t.Errorf("writer %d, write %d: %v", w, i, err)
					return
				}
				if i <= last {
					t.Errorf("writer %d out of order", w)
				}
				last = i
				mu.Lock()
				want.apply(ops)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	_, recs := reopen(t, j, o)
	// The writers ran concurrently, so the journal's order is not the
	// model's; compare by id.
	byID := func(a, b Record) int { return cmp.Compare(a.ID, b.ID) }
	wantRecs := want.records()
	slices.SortFunc(recs, byID)
	slices.SortFunc(wantRecs, byID)
	sameRecords(t, recs, wantRecs)
}

func TestWriteInlineAfterCloseFails(t *testing.T) {
	j, _ := open(t, testOptions(t.TempDir()))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	_, wait := writeInline(j, []Op{add(1, 1, "x")}, true)
	if err := wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteInline after Close = %v, want ErrClosed", err)
	}
}

func TestWriteInlineWhenFenced(t *testing.T) {
	j, _ := open(t, testOptions(t.TempDir()))
	j.Fence(nil)
	_, wait := writeInline(j, []Op{add(1, 1, "x")}, true)
	if err := wait(); !errors.Is(err, ErrFenced) {
		t.Fatalf("WriteInline after Fence = %v, want ErrFenced", err)
	}
}
