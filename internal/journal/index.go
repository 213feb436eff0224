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

	// Kept by a Follower (follow.go) only.
	done     bool // read to its end, and the writer is done with it
	gone     bool // no longer in the directory
	hasFrame bool // holds a good frame at its first offset
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
// so the common record needs no entry in upds: 24 bytes, 33 per live record
// in the map when it is full and 66 just after it doubled, instead of an
// entry in each of two maps and an allocation. The index is a large part of
// what a queued message costs the heap, so every byte of entry counts.
type entry struct {
	seq  uint64
	off  uint32
	size uint32
	u    inlineUpds
}

// inlineUpds packs a record's first group of live updates into 8 bytes: the
// group's file as its distance from the file of the record's add, the number
// of updates and their encoded bytes. A first group that does not fit (in a
// file before the add's, which only compaction produces, or more than 65,535
// files after it) goes to upds, and n is then allInUpds; n == 0 means the
// record has no live updates at all, in upds either.
type inlineUpds struct {
	dseq  uint16
	n     uint16
	bytes uint32
}

// allInUpds marks a record whose groups of updates are all in upds.
const allInUpds = 1<<16 - 1

// updRef counts the live updates of one record stored in one file.
type updRef struct {
	seq   uint64
	bytes uint32
	n     uint32
}

// inline returns e's inline group of updates, if it has one.
func (e *entry) inline() (updRef, bool) {
	if e.u.n == 0 || e.u.n == allInUpds {
		return updRef{}, false
	}
	return updRef{seq: e.seq + uint64(e.u.dseq), bytes: e.u.bytes, n: uint32(e.u.n)}, true
}

// setInline makes r e's inline group if it fits, and reports whether it did.
func (e *entry) setInline(r updRef) bool {
	if r.seq < e.seq || r.seq-e.seq > 1<<16-1 || r.n >= allInUpds {
		return false
	}
	e.u = inlineUpds{dseq: uint16(r.seq - e.seq), n: uint16(r.n), bytes: r.bytes}
	return true
}

// inlineCount is the number of updates in e's inline group.
func (e *entry) inlineCount() uint32 {
	if e.u.n == allInUpds {
		return 0
	}
	return uint32(e.u.n)
}

// addUpdate records a live update of size bytes in file seq for the record of
// e, which the caller stores back into recs: groups after the first, and a
// first one that does not fit inline, go to upds.
func (j *Journal) addUpdate(id uint64, e *entry, seq uint64, size uint32) {
	if e.u.n == 0 {
		if !e.setInline(updRef{seq: seq, bytes: size, n: 1}) {
			e.u = inlineUpds{n: allInUpds}
			j.upds[id] = []updRef{{seq: seq, bytes: size, n: 1}}
		}
		return
	}
	var refs []updRef
	if len(j.upds) > 0 {
		refs = j.upds[id]
	}
	if len(refs) == 0 {
		if in, ok := e.inline(); ok && in.seq == seq && e.u.n+1 < allInUpds {
			e.u.bytes += size
			e.u.n++
			return
		}
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
	if in, ok := e.inline(); ok {
		fn(in)
	}
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
	in, hasIn := e.inline()
	if len(refs) == 0 {
		if hasIn && gone(in.seq) {
			e.u = inlineUpds{}
		}
		return e
	}
	keep := make([]updRef, 0, len(refs)+1)
	if hasIn && !gone(in.seq) {
		keep = append(keep, in)
	}
	for _, r := range refs {
		if !gone(r.seq) {
			keep = append(keep, r)
		}
	}
	return j.storeUpdates(id, e, keep)
}

// storeUpdates makes groups, in order, the update groups of the record of e:
// the first inline if it fits, the rest in upds. It returns e to store back.
func (j *Journal) storeUpdates(id uint64, e entry, groups []updRef) entry {
	e.u = inlineUpds{}
	if len(groups) > 0 {
		if e.setInline(groups[0]) {
			groups = groups[1:]
		} else {
			e.u.n = allInUpds
		}
	}
	if len(groups) == 0 {
		delete(j.upds, id)
	} else {
		j.upds[id] = groups
	}
	return e
}

// rebase moves the add of the record of e to file seq (compaction), keeping
// its groups of updates, whose inline one is relative to the add's file.
func (j *Journal) rebase(id uint64, e entry, seq uint64) entry {
	in, ok := e.inline()
	e.seq = seq
	if !ok || e.setInline(in) {
		return e
	}
	var rest []updRef
	if len(j.upds) > 0 {
		rest = j.upds[id]
	}
	return j.storeUpdates(id, e, append([]updRef{in}, rest...))
}

// has reports whether record id is live in the index.
func (j *Journal) has(id uint64) bool {
	_, ok := j.recs[id]
	return ok
}

// applyOp applies one operation written (or replayed) at offset off of file f.
// Callers hold idxMu when the compactor may be running.
func (j *Journal) applyOp(kind OpKind, id uint64, size uint32, f *dataFile, off uint32) {
	switch kind {
	case OpAdd:
		if id > j.maxAdd {
			j.maxAdd = id
		} else if e, ok := j.recs[id]; ok {
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
