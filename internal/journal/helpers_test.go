package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// model is the reference semantics of the journal: what Open must deliver after
// a given sequence of batches.
type model struct {
	next int
	recs map[uint64]*modelRec
}

type modelRec struct {
	order int
	rec   Record
}

func newModel() *model { return &model{recs: make(map[uint64]*modelRec)} }

func (m *model) apply(ops []Op) {
	for _, op := range ops {
		switch op.Kind {
		case OpAdd:
			m.next++
			m.recs[op.ID] = &modelRec{order: m.next, rec: Record{ID: op.ID, Type: op.Type, Data: slices.Clone(op.Data)}}
		case OpUpdate:
			if r, ok := m.recs[op.ID]; ok {
				r.rec.Updates = append(r.rec.Updates, Update{Type: op.Type, Data: slices.Clone(op.Data)})
			}
		case OpDelete:
			delete(m.recs, op.ID)
		}
	}
}

func (m *model) clone() *model {
	c := newModel()
	c.next = m.next
	for id, r := range m.recs {
		cr := *r
		cr.rec.Updates = slices.Clone(r.rec.Updates)
		c.recs[id] = &cr
	}
	return c
}

// records returns the live records in the order Open delivers them.
func (m *model) records() []Record {
	rs := make([]*modelRec, 0, len(m.recs))
	for _, r := range m.recs {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *modelRec) int { return a.order - b.order })
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = r.rec
	}
	return out
}

func recordString(r Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d:%s", r.ID, r.Type, short(r.Data))
	for _, u := range r.Updates {
		fmt.Fprintf(&b, " +%d:%s", u.Type, short(u.Data))
	}
	return b.String()
}

func short(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%q...(%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func equalRecords(got, want []Record) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) || len(g.Updates) != len(w.Updates) {
			return false
		}
		for k := range g.Updates {
			if g.Updates[k].Type != w.Updates[k].Type || !bytes.Equal(g.Updates[k].Data, w.Updates[k].Data) {
				return false
			}
		}
	}
	return true
}

func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d\n got: %v\nwant: %v", len(got), len(want), summary(got), summary(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		ok := g.ID == w.ID && g.Type == w.Type && bytes.Equal(g.Data, w.Data) && len(g.Updates) == len(w.Updates)
		for k := 0; ok && k < len(g.Updates); k++ {
			ok = g.Updates[k].Type == w.Updates[k].Type && bytes.Equal(g.Updates[k].Data, w.Updates[k].Data)
		}
		if !ok {
			t.Fatalf("record %d: got %s, want %s", i, recordString(g), recordString(w))
		}
	}
}

func summary(rs []Record) string {
	if len(rs) > 20 {
		return fmt.Sprintf("%d records, first %s, last %s", len(rs), recordString(rs[0]), recordString(rs[len(rs)-1]))
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = recordString(r)
	}
	return strings.Join(parts, ", ")
}

// testOptions returns small-file options for dir.
func testOptions(dir string) Options {
	return Options{Dir: dir, FileSize: 4 << 10, Sync: true, Epoch: 1, CompactMinFiles: -1}
}

// open opens a journal and returns it with the records it delivered.
func open(t *testing.T, o Options) (*Journal, []Record) {
	t.Helper()
	var recs []Record
	j, err := Open(o, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j, recs
}

// reopen closes j and opens the same directory again.
func reopen(t *testing.T, j *Journal, o Options) (*Journal, []Record) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkAccounting(t, j)
	return open(t, o)
}

func mustWrite(t *testing.T, j *Journal, m *model, ops ...Op) {
	t.Helper()
	if err := j.Write(ops, true); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if m != nil {
		m.apply(ops)
	}
}

func add(id uint64, typ uint8, data string) Op {
	return Op{Kind: OpAdd, ID: id, Type: typ, Data: []byte(data)}
}

func upd(id uint64, typ uint8, data string) Op {
	return Op{Kind: OpUpdate, ID: id, Type: typ, Data: []byte(data)}
}

func del(id uint64) Op { return Op{Kind: OpDelete, ID: id} }

// dataFiles lists the .tj files of the default prefix in dir.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "tandem-*.tj"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func settle(t *testing.T, j *Journal) {
	t.Helper()
	if err := j.settle(); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// checkAccounting recomputes the liveness accounting of a closed journal from
// its index and compares it with what the writer maintained incrementally.
func checkAccounting(t *testing.T, j *Journal) {
	t.Helper()
	ops := map[uint64]int64{}
	bytes := map[uint64]int64{}
	var total int64
	for id, e := range j.recs {
		if j.files[e.seq] == nil {
			t.Fatalf("record %d points at missing file %d", id, e.seq)
		}
		ops[e.seq]++
		bytes[e.seq] += int64(e.size)
		total += int64(e.size)
		j.eachUpdate(id, e, func(r updRef) {
			ops[r.seq] += int64(r.n)
			bytes[r.seq] += int64(r.bytes)
			total += int64(r.bytes)
		})
	}
	for id, refs := range j.upds {
		e, ok := j.recs[id]
		if !ok {
			t.Fatalf("updates of dead record %d still indexed", id)
		}
		if e.u.n == 0 || len(refs) == 0 {
			t.Fatalf("record %d: overflow updates %v without a first group %+v", id, refs, e.u)
		}
	}
	var data int
	var used int64
	for seq, f := range j.files {
		if f.liveOps != ops[seq] || f.liveBytes != bytes[seq] {
			t.Fatalf("file %d: accounted %d ops/%d bytes, index says %d/%d", seq, f.liveOps, f.liveBytes, ops[seq], bytes[seq])
		}
		if !f.ready {
			data++
			used += f.used()
		}
	}
	if j.liveBytes != total || j.dataFiles != data || j.usedBytes != used {
		t.Fatalf("totals: live %d/%d, files %d/%d, used %d/%d", j.liveBytes, total, j.dataFiles, data, j.usedBytes, used)
	}
}
