package journal

import (
	"fmt"
	"testing"
	"unsafe"
)

// groups returns the update groups of record id, in order, as a string.
func groups(j *Journal, id uint64, e entry) string {
	var out []string
	j.eachUpdate(id, e, func(r updRef) { out = append(out, fmt.Sprintf("%d:%dx%d", r.seq, r.n, r.bytes)) })
	return fmt.Sprint(out)
}

func TestEntryIsTwentyFourBytes(t *testing.T) {
	// The index holds one entry per live record; its size is most of the
	// journal's share of a queued message's heap.
	if got := unsafe.Sizeof(entry{}); got != 24 {
		t.Fatalf("entry is %d bytes, want 24", got)
	}
}

func TestUpdateGroupsThatDoNotFitInline(t *testing.T) {
	tests := []struct {
		name  string
		add   uint64   // file of the record's add
		files []uint64 // file of each update, in order
		want  string
		spill bool // the first group lives in upds
	}{
		{"same file", 5, []uint64{5, 5, 5}, "[5:3x30]", false},
		{"a later file", 5, []uint64{5, 9, 9}, "[5:1x10 9:2x20]", false},
		{"first group far ahead", 5, []uint64{5 + 1<<16, 5 + 1<<16}, fmt.Sprintf("[%d:2x20]", 5+1<<16), true},
		{"first group just within reach", 5, []uint64{5 + 1<<16 - 1}, fmt.Sprintf("[%d:1x10]", 5+1<<16-1), false},
		{"first group before the add", 9, []uint64{5, 9}, "[5:1x10 9:1x10]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &Journal{upds: map[uint64][]updRef{}}
			e := entry{seq: tt.add}
			for _, f := range tt.files {
				j.addUpdate(1, &e, f, 10)
			}
			if got := groups(j, 1, e); got != tt.want {
				t.Errorf("groups %s, want %s", got, tt.want)
			}
			if spilled := e.u.n == allInUpds; spilled != tt.spill {
				t.Errorf("first group in upds: %v, want %v", spilled, tt.spill)
			}
			// Dropping every group leaves nothing behind, in either place.
			e = j.dropUpdates(1, e, func(uint64) bool { return true })
			if e.u.n != 0 || len(j.upds) != 0 {
				t.Errorf("after dropping everything: inline %+v, upds %v", e.u, j.upds)
			}
		})
	}
}

func TestInlineGroupCountOverflowsIntoUpds(t *testing.T) {
	j := &Journal{upds: map[uint64][]updRef{}}
	e := entry{seq: 3}
	const n = 70000
	for range n {
		j.addUpdate(7, &e, 3, 2)
	}
	var count, bytes uint32
	j.eachUpdate(7, e, func(r updRef) {
		if r.seq != 3 {
			t.Errorf("group in file %d", r.seq)
		}
		count += r.n
		bytes += r.bytes
	})
	if count != n || bytes != 2*n {
		t.Fatalf("%d updates of %d bytes counted, want %d of %d", count, bytes, n, 2*n)
	}
}

func TestRebaseKeepsUpdateGroups(t *testing.T) {
	j := &Journal{upds: map[uint64][]updRef{}}
	e := entry{seq: 5}
	j.addUpdate(1, &e, 7, 10)
	j.addUpdate(1, &e, 8, 10)
	// Compaction moves the add to file 20: the groups in 7 and 8 now lie
	// before it and cannot be inline.
	e = j.rebase(1, e, 20)
	if got := groups(j, 1, e); got != "[7:1x10 8:1x10]" {
		t.Fatalf("after moving the add to 20: groups %s", got)
	}
	// Moving it to 6 brings nothing back inline, and loses nothing.
	e = j.rebase(1, e, 6)
	if got := groups(j, 1, e); got != "[7:1x10 8:1x10]" {
		t.Fatalf("after moving the add to 6: groups %s", got)
	}
	e = j.dropUpdates(1, e, func(seq uint64) bool { return seq == 7 })
	if got := groups(j, 1, e); got != "[8:1x10]" {
		t.Fatalf("after dropping file 7: groups %s", got)
	}
	if e.u.n == allInUpds || len(j.upds) != 0 {
		t.Errorf("a lone group after the add should be inline: %+v, upds %v", e.u, j.upds)
	}
}
