package journal

import "slices"

// dataFile is the in-memory state of one data file (including ready files).
type dataFile struct {
	seq, gen, epoch uint64
	compacted       bool
	name            string // base name
	f               File
	size            int64 // bytes allocated on disk
	end             int64 // end of the frames: where the next frame goes
	synced          int64 // every byte below this offset is known durable

	// Liveness accounting, see docs/journal-format.md "Liveness and reclaim".
	liveOps   int64            // adds and updates of live IDs held here
	liveBytes int64            // their encoded size
	kills     map[uint64]int32 // seq of another file -> deletes here that kill an add there

	ready      bool // empty, pre-allocated, waiting to become current
	busy       bool // being retired, or retirement failed: leave alone
	compacting bool // part of the range of a running compaction
}

func (f *dataFile) space() int64 { return f.size - f.end }
func (f *dataFile) used() int64  { return f.end - headerSize }

func (f *dataFile) addKill(seq uint64) {
	if f.kills == nil {
		f.kills = make(map[uint64]int32)
	}
	f.kills[seq]++
}

// entry locates the surviving add of a live record and holds its first group
// of live updates inline. Nearly every record has its updates in one file (a
// message's queue references are written in the same batch as the message),
// so the common record needs no entry in upds: 32 bytes, about 40-45 per live
// record with map overhead, instead of an entry in each of two maps and an
// allocation.
type entry struct {
	seq  uint64
	off  uint32
	size uint32
	// u is the record's first group of live updates; u.n == 0 means it has
	// none, and then it has none in upds either.
	u updRef
}

// updRef counts the live updates of one record stored in one file.
type updRef struct {
	seq   uint64
	bytes uint32
	n     uint32
}

// addUpdate records a live update of size bytes in file seq for the record of
// e, which the caller stores back into recs: groups after the first go to upds.
func (j *Journal) addUpdate(id uint64, e *entry, seq uint64, size uint32) {
	if e.u.n == 0 {
		e.u = updRef{seq: seq, bytes: size, n: 1}
		return
	}
	var refs []updRef
	if len(j.upds) > 0 {
		refs = j.upds[id]
	}
	if len(refs) == 0 && e.u.seq == seq {
		e.u.bytes += size
		e.u.n++
		return
	}
	if n := len(refs); n > 0 && refs[n-1].seq == seq {
		refs[n-1].bytes += size
		refs[n-1].n++
		return
	}
	j.upds[id] = append(refs, updRef{seq: seq, bytes: size, n: 1})
}

// eachUpdate calls fn with every group of live updates of the record of e.
func (j *Journal) eachUpdate(id uint64, e entry, fn func(updRef)) {
	if e.u.n == 0 {
		return
	}
	fn(e.u)
	if len(j.upds) > 0 {
		for _, r := range j.upds[id] {
			fn(r)
		}
	}
}

// dropUpdates forgets the groups of updates of the record of e held in files
// for which gone is true, and returns e to store back.
func (j *Journal) dropUpdates(id uint64, e entry, gone func(seq uint64) bool) entry {
	if e.u.n == 0 {
		return e
	}
	var refs []updRef
	if len(j.upds) > 0 {
		refs = j.upds[id]
	}
	if len(refs) == 0 {
		if gone(e.u.seq) {
			e.u = updRef{}
		}
		return e
	}
	keep := make([]updRef, 0, len(refs)+1)
	for _, r := range append([]updRef{e.u}, refs...) {
		if !gone(r.seq) {
			keep = append(keep, r)
		}
	}
	e.u = updRef{}
	if len(keep) > 0 {
		e.u, keep = keep[0], keep[1:]
	}
	if len(keep) == 0 {
		delete(j.upds, id)
	} else {
		j.upds[id] = keep
	}
	return e
}

// applyOp applies one operation written (or replayed) at offset off of file f.
// Callers hold idxMu when the compactor may be running.
func (j *Journal) applyOp(kind OpKind, id uint64, size uint32, f *dataFile, off uint32) {
	switch kind {
	case OpAdd:
		if e, ok := j.recs[id]; ok {
			j.kill(id, e, f)
		}
		j.recs[id] = entry{seq: f.seq, off: off, size: size}
		f.liveOps++
		f.liveBytes += int64(size)
		j.liveBytes += int64(size)
	case OpUpdate:
		e, ok := j.recs[id]
		if !ok {
			return
		}
		j.addUpdate(id, &e, f.seq, size)
		j.recs[id] = e
		f.liveOps++
		f.liveBytes += int64(size)
		j.liveBytes += int64(size)
	case OpDelete:
		if e, ok := j.recs[id]; ok {
			j.kill(id, e, f)
		}
	}
}

// kill drops live record id, whose add is e, because of a delete or a replacing
// add written to file killer.
func (j *Journal) kill(id uint64, e entry, killer *dataFile) {
	if af := j.files[e.seq]; af != nil {
		af.liveOps--
		af.liveBytes -= int64(e.size)
		if af != killer {
			// The delete must outlive the add it kills, or the add would come
			// back on replay.
			killer.addKill(e.seq)
		}
		if af.compacting && j.comp != nil {
			j.comp.noteKill(id, killer.seq)
		}
	}
	j.liveBytes -= int64(e.size)
	j.eachUpdate(id, e, func(r updRef) {
		if uf := j.files[r.seq]; uf != nil {
			uf.liveOps -= int64(r.n)
			uf.liveBytes -= int64(r.bytes)
		}
		j.liveBytes -= int64(r.bytes)
	})
	if e.u.n > 0 && len(j.upds) > 0 {
		delete(j.upds, id)
	}
	delete(j.recs, id)
}

// sorted returns the data files in sequence order.
func (j *Journal) sorted() []*dataFile {
	if j.orderDirty || len(j.order) != len(j.files) {
		j.order = j.order[:0]
		for _, f := range j.files {
			j.order = append(j.order, f)
		}
		slices.SortFunc(j.order, func(a, b *dataFile) int {
			switch {
			case a.seq < b.seq:
				return -1
			case a.seq > b.seq:
				return 1
			}
			return 0
		})
		j.orderDirty = false
	}
	return j.order
}

// retirable reports whether f holds nothing replay needs: no live operation, and
// no delete whose add is still on disk.
func (j *Journal) retirable(f *dataFile) bool {
	if f == j.cur || f.ready || f.busy || f.compacting || f.liveOps != 0 {
		return false
	}
	for seq := range f.kills {
		if seq == f.seq {
			continue
		}
		if _, ok := j.files[seq]; ok {
			return false
		}
		// The add's file is gone for good; forget the dependency.
		delete(f.kills, seq)
	}
	return true
}

// addFile registers a data file.
func (j *Journal) addFile(f *dataFile) {
	j.files[f.seq] = f
	j.orderDirty = true
	if !f.ready {
		j.dataFiles++
		j.usedBytes += f.used()
	}
}

// dropFile forgets a data file that is gone from disk.
func (j *Journal) dropFile(f *dataFile) {
	if j.files[f.seq] == f {
		delete(j.files, f.seq)
		j.orderDirty = true
	}
	if !f.ready {
		j.dataFiles--
		j.usedBytes -= f.used()
	}
}

// unready turns a ready file into an ordinary (empty) data file.
func (j *Journal) unready(f *dataFile) {
	if !f.ready {
		return
	}
	f.ready = false
	j.dataFiles++
	j.usedBytes += f.used()
	if i := slices.Index(j.ready, f); i >= 0 {
		j.ready = slices.Delete(j.ready, i, i+1)
	}
}
