package journal

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]Op
	}{
		{"empty", nil},
		{"one add", [][]Op{{add(1, 7, "hello")}}},
		{"add update", [][]Op{{add(1, 7, "a")}, {upd(1, 8, "b")}, {upd(1, 9, "c")}}},
		{"add delete", [][]Op{{add(1, 7, "a")}, {del(1)}}},
		{"delete kills updates", [][]Op{{add(1, 7, "a"), upd(1, 8, "b")}, {del(1)}, {add(2, 1, "x")}}},
		{"update of unknown id ignored", [][]Op{{upd(5, 1, "ghost")}, {add(6, 1, "real")}}},
		{"delete of unknown id ignored", [][]Op{{del(5)}, {add(6, 1, "real")}}},
		{"id reuse", [][]Op{{add(1, 1, "first"), upd(1, 2, "u1")}, {del(1)}, {add(1, 3, "second")}, {upd(1, 4, "u2")}}},
		{"replacing add", [][]Op{{add(1, 1, "first"), upd(1, 2, "u1")}, {add(2, 1, "two")}, {add(1, 3, "again")}}},
		{"order of first appearance", [][]Op{{add(3, 1, "c")}, {add(1, 1, "a")}, {add(2, 1, "b"), upd(3, 1, "late")}}},
		{"empty payloads", [][]Op{{add(1, 0, ""), upd(1, 0, "")}}},
		{"many files", func() [][]Op {
			var b [][]Op
			for i := range 200 {
				b = append(b, []Op{add(uint64(i), uint8(i), fmt.Sprintf("payload-%03d-%s", i, make([]byte, 40)))})
				if i%3 == 0 {
					b = append(b, []Op{upd(uint64(i), 1, "u")})
				}
				if i%5 == 0 {
					b = append(b, []Op{del(uint64(i / 2))})
				}
			}
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t.TempDir())
			j, recs := open(t, o)
			sameRecords(t, recs, nil)
			m := newModel()
			for _, b := range tt.batches {
				mustWrite(t, j, m, b...)
			}
			j, recs = reopen(t, j, o)
			sameRecords(t, recs, m.records())
			// A second generation of writes after recovery replays too.
			mustWrite(t, j, m, add(1000, 1, "after"), upd(1000, 2, "reopen"))
			_, recs = reopen(t, j, o)
			sameRecords(t, recs, m.records())
		})
	}
}

func TestConcurrentWriters(t *testing.T) {
	o := testOptions(t.TempDir())
	o.FileSize = 64 << 10
	j, _ := open(t, o)
	const writers, per = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				id := uint64(w*per + i)
				if err := j.Write([]Op{add(id, 1, fmt.Sprint(id))}, i%2 == 0); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				if i%4 == 3 {
					if err := j.Write([]Op{del(id - 1)}, true); err != nil {
						t.Errorf("Write: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	st := j.Stats()
	if st.Syncs == 0 || st.Batches != writers*per+writers*per/4 {
		t.Fatalf("stats = %+v", st)
	}
	_, recs := reopen(t, j, o)
	if want := writers * per * 3 / 4; len(recs) != want {
		t.Fatalf("got %d records, want %d", len(recs), want)
	}
}

func TestWriteAsyncOrder(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	const n = 500
	var (
		mu  sync.Mutex
		got []int
		wg  sync.WaitGroup
	)
	wg.Add(n)
	for i := range n {
		j.WriteAsync([]Op{add(uint64(i), 1, "x")}, i%3 == 0, func(err error) {
			if err != nil {
				t.Errorf("done(%d): %v", i, err)
			}
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	for i, v := range got {
		if v != i {
			t.Fatalf("done called out of order at %d: %v", i, got[max(0, i-3):i+1])
		}
	}
}

func TestInvalidBatches(t *testing.T) {
	j, _ := open(t, testOptions(t.TempDir()))
	if err := j.Write([]Op{{Kind: 9, ID: 1}}, true); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("bad kind: %v", err)
	}
	// The journal keeps working after a rejected batch.
	if err := j.Write([]Op{add(1, 1, "ok")}, true); err != nil {
		t.Fatal(err)
	}
	if err := j.Write(nil, true); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func TestBatchLargerThanFile(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	m := newModel()
	big := string(make([]byte, 3*o.FileSize))
	mustWrite(t, j, m, add(1, 1, "small"))
	mustWrite(t, j, m, add(2, 2, big), upd(1, 3, big))
	mustWrite(t, j, m, add(3, 3, "after"))
	_, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
}

func TestClosed(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Write([]Op{add(1, 1, "x")}, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	done := make(chan error, 1)
	j.WriteAsync([]Op{add(1, 1, "x")}, true, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteAsync after Close: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestFence(t *testing.T) {
	o := testOptions(t.TempDir())
	j, _ := open(t, o)
	m := newModel()
	mustWrite(t, j, m, add(1, 1, "before"))
	lost := errors.New("lock lost")
	j.Fence(lost)
	if err := j.Write([]Op{add(2, 1, "after")}, true); !errors.Is(err, lost) {
		t.Fatalf("Write after Fence: %v", err)
	}
	if err := j.Compact(); !errors.Is(err, lost) {
		t.Fatalf("Compact after Fence: %v", err)
	}
	_, recs := reopen(t, j, o)
	sameRecords(t, recs, m.records())
}

func TestMaxEpoch(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.Epoch = 5
	j, _ := open(t, o)
	mustWrite(t, j, nil, add(1, 1, "x"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	o.Epoch = 3
	j, recs := open(t, o)
	if j.MaxEpoch() != 5 || len(recs) != 1 {
		t.Fatalf("MaxEpoch = %d, %d records", j.MaxEpoch(), len(recs))
	}
	mustWrite(t, j, nil, add(2, 1, "y"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// Files written by epoch 3 carry epoch 3; the epoch-5 file stays.
	epochs := map[uint64]bool{}
	if err := Scan(dir, "", func(e ScanEntry) error {
		if e.Kind == ScanFile {
			epochs[e.Header.Epoch] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !epochs[3] || !epochs[5] {
		t.Fatalf("epochs on disk: %v", epochs)
	}
	// The offline reader used before activation agrees.
	if e, err := MaxEpoch(dir, ""); err != nil || e != 5 {
		t.Fatalf("MaxEpoch(dir) = %d, %v", e, err)
	}
	if e, err := MaxEpoch(filepath.Join(dir, "missing"), ""); err != nil || e != 0 {
		t.Fatalf("MaxEpoch(missing) = %d, %v", e, err)
	}
}
