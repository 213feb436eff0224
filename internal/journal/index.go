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

// entry locates the surviving add of a live record. Keeping it to 16 bytes keeps
// the index near 30-40 bytes per live record including map overhead.
type entry struct {
	seq  uint64
	off  uint32
	size uint32
}

// updRef counts the live updates of one record stored in one file.
type updRef struct {
	seq   uint64
	bytes uint32
	n     uint32
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
		if _, ok := j.recs[id]; !ok {
			return
		}
		refs := j.upds[id]
		if n := len(refs); n > 0 && refs[n-1].seq == f.seq {
			refs[n-1].bytes += size
			refs[n-1].n++
		} else {
			j.upds[id] = append(refs, updRef{seq: f.seq, bytes: size, n: 1})
		}
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
	if len(j.upds) > 0 {
		if refs, ok := j.upds[id]; ok {
			for _, r := range refs {
				if uf := j.files[r.seq]; uf != nil {
					uf.liveOps -= int64(r.n)
					uf.liveBytes -= int64(r.bytes)
				}
				j.liveBytes -= int64(r.bytes)
			}
			delete(j.upds, id)
		}
	}
	delete(j.recs, id)
}

// liveUpdates returns the number of live updates of id.
func (j *Journal) liveUpdates(id uint64) int {
	n := 0
	for _, r := range j.upds[id] {
		n += int(r.n)
	}
	return n
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
