package journal

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// FuzzFollow runs a script of writes, deletes, compactions and follower
// polls against a journal of tiny files, with a write cut short (a torn
// frame) and the disk frozen at a point the script chooses, then takes
// over through the follower and, on a copy, with a full replay: both must
// fail alike or reach the same records and index.
func FuzzFollow(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 5, 3, 0, 5, 4, 4, 6, 5, 0, 1, 7, 5})
	f.Add([]byte{9, 0, 0, 0, 0, 5, 4, 4, 4, 6, 5, 0, 0, 0, 0, 0, 0, 5, 3, 3, 7, 7, 5})
	f.Add([]byte{40, 1, 17, 33, 49, 5, 65, 81, 6, 5, 4, 4, 4, 4, 6, 5, 2, 18, 34, 5, 3, 19})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) < 2 || len(script) > 400 {
			return
		}
		dir := t.TempDir()
		ffs := NewFaultFS(nil)
		o := Options{Dir: dir, FileSize: 1 << 10, Sync: script[0]&1 == 0, Epoch: 1, CompactMinFiles: 2, CompactPercentage: 50, FS: ffs}
		j, err := Open(o, func(Record) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		// The script's first byte picks the write cut short; from then on
		// the journal stops writing, as after a crash.
		ffs.Inject(Fault{Op: FaultWrite, Skip: int(script[0]) / 2, Count: 1, Short: true})
		fl, sink := newTestFollower(t, dir)
		var live []uint64
		next := uint64(0)
		for i, b := range script[1:] {
			var ops []Op
			switch b % 8 {
			case 0, 1, 2:
				next++
				ops = append(ops, add(next, 1, fmt.Sprintf("r%d %0*d", next, int(b/8)*4, 0)))
				if b&8 != 0 {
					ops = append(ops, upd(next, 2, "ref"))
				}
				live = append(live, next)
			case 3:
				if len(live) > 0 {
					ops = append(ops, upd(live[int(b)%len(live)], 3, fmt.Sprint(i)))
				}
			case 4:
				if len(live) > 0 {
					ops = append(ops, del(live[0]))
					live = live[1:]
				}
			case 5:
				if _, err := fl.Poll(nil); err != nil && !errors.Is(err, ErrFollowerBroken) {
					t.Fatal(err)
				}
			case 6:
				j.Compact()
			case 7:
				if len(live) > 1 {
					ops = append(ops, del(live[len(live)-1]))
					live = live[:len(live)-1]
				}
			}
			if len(ops) > 0 {
				j.Write(ops, b&16 == 0)
			}
		}
		j.Close()
		if script[len(script)-1]&1 == 0 {
			for range 50 {
				if n, _ := fl.Poll(nil); n == 0 {
					break
				}
			}
		}
		ref := copyDir(t, dir)
		fo := Options{Dir: dir, FileSize: 1 << 10, Sync: true, Epoch: 2, CompactMinFiles: -1}
		jf, res, ferr := OpenFollowed(fo, fl, func(r Record) error {
			sink.m.apply([]Op{{Kind: OpAdd, ID: r.ID, Type: r.Type, Data: r.Data}})
			for _, u := range r.Updates {
				sink.m.apply([]Op{{Kind: OpUpdate, ID: r.ID, Type: u.Type, Data: u.Data}})
			}
			return nil
		})
		ro := fo
		ro.Dir = ref
		var recs []Record
		jr, rerr := Open(ro, func(r Record) error { recs = append(recs, r); return nil })
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("takeover through the follower: %v (used %v, %s); full replay: %v", ferr, res.Used, res.Reason, rerr)
		}
		if ferr != nil {
			return
		}
		defer jf.Close()
		defer jr.Close()
		sameRecords(t, sink.m.records(), recs)
		sameIndex(t, jf, jr)
		os.RemoveAll(ref)
	})
}
