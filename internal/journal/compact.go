package journal

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
)

// Compaction rewrites the live records of every data file older than the current
// one into as few new files as possible; see "Compaction" in
// docs/journal-format.md for the steps and why each is crash-safe. The copying
// runs on its own goroutine; the writer only starts it and commits it.

var (
	errCompactionCancelled = errors.New("journal: compaction cancelled")
	errCompactionNoRoom    = errors.New("journal: compaction output would not be smaller")
	errControlUncertain    = errors.New("journal: compaction commit state unknown")
)

// compactChunk bounds output frames and the compactor's write buffer.
const compactChunk = 1 << 20

// compaction is the writer's view of a running compaction.
type compaction struct {
	files   []*dataFile // the range, in sequence order
	gens    []uint64    // one reserved generation per possible output file
	cancel  atomic.Bool
	kills   map[uint64]uint64 // record ID -> seq of the file whose delete killed it during the run
	waiters []*request
}

// noteKill records, for a record of the range killed while the compactor runs,
// which file holds the kill: if the compactor copied the record, that file must
// outlive the copy.
func (c *compaction) noteKill(id, killer uint64) {
	if _, ok := c.kills[id]; !ok {
		c.kills[id] = killer
	}
}

// move records where the compactor copied an add.
type move struct {
	id     uint64
	oldSeq uint64
	oldOff uint32
	newOff uint32
	size   uint32
	out    int32
}

// umove records where the compactor copied an update.
type umove struct {
	id   uint64
	size uint32
	out  int32
}

type compactResult struct {
	c      *compaction
	outs   []*dataFile
	moves  []move
	umoves []umove
	err    error
}

// maybeCompact starts a compaction when the thresholds of Options call for one.
// It tries at most once per current file, so garbage that sits mostly in the
// current file does not make it spin.
func (j *Journal) maybeCompact() {
	o := j.opts
	if j.comp != nil || o.CompactMinFiles < 0 || o.CompactPercentage < 0 || j.cur == nil || j.cur.seq == j.compTried {
		return
	}
	if j.dataFiles < o.CompactMinFiles || j.usedBytes == 0 || j.liveBytes*100 >= j.usedBytes*int64(o.CompactPercentage) {
		return
	}
	j.compTried = j.cur.seq
	j.startCompaction(false)
}

// compactNow serves Compact: it waits for pending retirements, then starts a
// compaction whatever the thresholds say, and completes r when it is done.
func (j *Journal) compactNow(r *request) {
	if err := j.blockedErr(); err != nil {
		j.complete(r, err)
		return
	}
	j.settleNow()
	if j.comp == nil && !j.startCompaction(true) {
		j.publish()
		j.complete(r, j.blockedErr())
		return
	}
	j.comp.waiters = append(j.comp.waiters, r)
}

func (j *Journal) startCompaction(force bool) bool {
	if j.comp != nil || j.blockedErr() != nil {
		return false
	}
	var rng []*dataFile
	var live, used int64
	for _, f := range j.sorted() {
		if f.seq >= j.cur.seq {
			break
		}
		if f.busy {
			// A file on its way out must be gone before deletes that point
			// into it may be dropped.
			return false
		}
		rng = append(rng, f)
		live += f.liveBytes
		used += f.used()
	}
	if len(rng) == 0 || used == 0 {
		return false
	}
	if !force {
		per := j.opts.FileSize - headerSize
		if need := (live + live/8 + per - 1) / per; need >= int64(len(rng)) {
			return false
		}
	}
	c := &compaction{files: rng, kills: make(map[uint64]uint64)}
	for _, f := range rng {
		f.compacting = true
		c.gens = append(c.gens, j.nextGen)
		j.nextGen++
	}
	j.comp = c
	j.log.Debug("journal: compaction started", "files", len(rng), "live", live, "used", used)
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		j.compRes <- j.compact(c)
	}()
	return true
}

// compact is the compactor goroutine's work: copy what is live into .cmp files.
func (j *Journal) compact(c *compaction) *compactResult {
	res := &compactResult{c: c}
	w := &outWriter{j: j, c: c, frameAt: -1}
	local := make(map[uint64]struct{}) // IDs whose add was copied and not deleted since, within the range
	var (
		buf  []byte
		live []bool
		err  error
	)
	for _, f := range c.files {
		if c.cancel.Load() || j.fenced.Load() {
			err = errCompactionCancelled
			break
		}
		if buf, err = readAll(f.f, f.end, buf); err != nil {
			err = fmt.Errorf("journal: compaction: read %s: %w", f.name, err)
			break
		}
		for off := int64(headerSize); off < f.end && err == nil; {
			n, _, reason := checkFrame(buf, off, f.gen)
			if reason != "" {
				err = corruptf(f.name, off, "%s (found by compaction)", reason)
				break
			}
			frame := buf[off : off+n]
			// Liveness is decided under the read lock, the copying happens
			// without it so the writer never waits on compaction I/O.
			live = live[:0]
			j.idxMu.RLock()
			for p := frameHeaderSize; p < len(frame); {
				v, np := nextOp(frame, p)
				if v.Kind == OpAdd {
					e, ok := j.recs[v.ID]
					live = append(live, ok && e.seq == f.seq && e.off == uint32(off)+uint32(p))
				}
				p = np
			}
			j.idxMu.RUnlock()
			k := 0
			for p := frameHeaderSize; p < len(frame) && err == nil; {
				v, np := nextOp(frame, p)
				pos := uint32(off) + uint32(p)
				p = np
				switch v.Kind {
				case OpAdd:
					k++
					if !live[k-1] {
						delete(local, v.ID)
						continue
					}
					local[v.ID] = struct{}{}
					var out int32
					var noff uint32
					if out, noff, err = w.add(v); err == nil {
						res.moves = append(res.moves, move{id: v.ID, oldSeq: f.seq, oldOff: pos, newOff: noff, size: v.Size, out: out})
					}
				case OpUpdate:
					if _, ok := local[v.ID]; !ok {
						continue
					}
					var out int32
					if out, _, err = w.add(v); err == nil {
						res.umoves = append(res.umoves, umove{id: v.ID, size: v.Size, out: out})
					}
				case OpDelete:
					delete(local, v.ID)
				}
			}
			off = align8(off + n)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = w.finish()
	}
	if err == nil && j.afterCopy != nil {
		j.afterCopy()
	}
	res.outs, res.err = w.outs, err
	return res
}

// outWriter lays out compaction output files.
type outWriter struct {
	j       *Journal
	c       *compaction
	outs    []*dataFile
	cur     *dataFile
	limit   int64  // capacity of cur
	buf     []byte // bytes of cur not yet written; buf[0] goes to file offset base
	base    int64
	frameAt int // index in buf of the open frame's header, -1 when none
	count   uint32
}

func (w *outWriter) pos() int64 { return w.base + int64(len(w.buf)) }

// add appends one operation and returns the output index and offset it got.
func (w *outWriter) add(v opView) (int32, uint32, error) {
	size := int64(v.Size)
	if w.frameAt >= 0 && (w.pos()+size > w.limit || int64(len(w.buf)-w.frameAt)+size > compactChunk) {
		w.closeFrame()
		if len(w.buf) >= compactChunk {
			if err := w.flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	if w.frameAt < 0 {
		need := frameHeaderSize + size
		if w.cur == nil || w.pos()+need > w.limit {
			if err := w.next(need); err != nil {
				return 0, 0, err
			}
		}
		w.frameAt = len(w.buf)
		w.buf = append(w.buf, make([]byte, frameHeaderSize)...)
		w.count = 0
	}
	off := uint32(w.pos())
	w.buf = appendOp(w.buf, &Op{Kind: v.Kind, ID: v.ID, Type: v.Type, Data: v.Data})
	w.count++
	return int32(len(w.outs) - 1), off, nil
}

func (w *outWriter) closeFrame() {
	if w.frameAt < 0 {
		return
	}
	sealed := sealFrame(w.buf[w.frameAt:], w.cur.gen, headerSize, w.count)
	w.buf = append(w.buf[:w.frameAt], sealed...)
	w.frameAt = -1
}

func (w *outWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	j := w.j
	err := j.mutate(func() error { _, err := w.cur.f.WriteAt(w.buf, w.base); return err })
	if err != nil {
		return fmt.Errorf("journal: compaction: write %s: %w", cmpName(j.opts.Prefix, w.cur.seq), err)
	}
	w.base += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// next starts the next output file, numbered after the next file of the range.
func (w *outWriter) next(need int64) error {
	if w.cur != nil {
		if err := w.finishFile(); err != nil {
			return err
		}
	}
	if w.c.cancel.Load() || w.j.fenced.Load() {
		return errCompactionCancelled
	}
	i := len(w.outs)
	if i >= len(w.c.files) {
		return errCompactionNoRoom
	}
	j := w.j
	seq, gen := w.c.files[i].seq, w.c.gens[i]
	path := j.path(cmpName(j.opts.Prefix, seq))
	var f File
	err := j.mutate(func() error {
		var err error
		f, err = j.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		return err
	})
	if err != nil {
		return fmt.Errorf("journal: compaction: %w", err)
	}
	w.cur = &dataFile{
		seq: seq, gen: gen, epoch: j.opts.Epoch, compacted: true,
		name: dataName(j.opts.Prefix, seq), f: f, end: headerSize, synced: headerSize,
	}
	w.outs = append(w.outs, w.cur)
	w.limit = max(j.opts.FileSize, headerSize+align8(need))
	w.base = 0
	w.buf = append(w.buf[:0], make([]byte, headerSize)...)
	encodeHeader(w.buf, FileHeader{Seq: seq, Gen: gen, Epoch: j.opts.Epoch, Compacted: true})
	return nil
}

func (w *outWriter) finishFile() error {
	w.closeFrame()
	if err := w.flush(); err != nil {
		return err
	}
	w.cur.end, w.cur.size, w.cur.synced = w.base, w.base, w.base
	if err := w.cur.f.Datasync(); err != nil {
		return fmt.Errorf("journal: compaction: sync %s: %w", cmpName(w.j.opts.Prefix, w.cur.seq), err)
	}
	return nil
}

func (w *outWriter) finish() error {
	if w.cur == nil {
		return nil
	}
	if err := w.finishFile(); err != nil {
		return err
	}
	if err := w.j.fs.SyncDir(w.j.opts.Dir); err != nil {
		return fmt.Errorf("journal: compaction: sync dir: %w", err)
	}
	return nil
}

// finishCompaction runs on the writer when the compactor is done: it commits
// the result or throws it away, then answers Compact callers.
func (j *Journal) finishCompaction(res *compactResult) {
	c := res.c
	j.comp = nil
	for _, f := range c.files {
		f.compacting = false
	}
	err := res.err
	if err == nil {
		err = j.blockedErr()
	}
	if err == nil {
		err = j.commitCompaction(res)
	} else {
		j.abortCompaction(res, err)
	}
	if errors.Is(err, errCompactionNoRoom) {
		err = nil
	}
	j.publish()
	for _, r := range c.waiters {
		j.complete(r, err)
	}
}

func (j *Journal) abortCompaction(res *compactResult, err error) {
	for _, o := range res.outs {
		o.f.Close()
		path := j.path(cmpName(j.opts.Prefix, o.seq))
		_ = j.mutate(func() error { return j.fs.Remove(path) })
	}
	switch {
	case errors.Is(err, errCompactionCancelled), errors.Is(err, errCompactionNoRoom):
		j.log.Debug("journal: compaction abandoned", "reason", err)
	default:
		j.log.Warn("journal: compaction failed; the old files stay in charge", "err", err)
	}
}

// commitCompaction makes the outputs authoritative on disk (control file first,
// see the format doc), then moves the index over to them.
func (j *Journal) commitCompaction(res *compactResult) error {
	c, prefix := res.c, j.opts.Prefix
	var oldSeqs, newSeqs []uint64
	for _, f := range c.files {
		oldSeqs = append(oldSeqs, f.seq)
	}
	for _, o := range res.outs {
		newSeqs = append(newSeqs, o.seq)
	}
	if err := j.writeControl(oldSeqs, newSeqs); err != nil {
		if errors.Is(err, errControlUncertain) {
			// Leave everything as is: the next Open decides.
			return j.fail(err)
		}
		j.abortCompaction(res, err)
		return err
	}
	// Past the commit point. A failure from here on stops the journal; the next
	// Open finishes the job from the control file.
	for _, o := range res.outs {
		from, to := j.path(cmpName(prefix, o.seq)), j.path(o.name)
		if err := j.mutate(func() error { return j.fs.Rename(from, to) }); err != nil {
			return j.fail(fmt.Errorf("compaction commit: %w", err))
		}
	}
	for _, s := range oldSeqs {
		if slices.Contains(newSeqs, s) {
			continue
		}
		p := j.path(dataName(prefix, s))
		if err := j.mutate(func() error { return j.fs.Remove(p) }); err != nil {
			return j.fail(fmt.Errorf("compaction commit: %w", err))
		}
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return j.fail(fmt.Errorf("compaction commit: %w", err))
	}
	if err := j.mutate(func() error { return j.fs.Remove(j.path(ctlName(prefix))) }); err != nil {
		return j.fail(fmt.Errorf("compaction commit: %w", err))
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return j.fail(fmt.Errorf("compaction commit: %w", err))
	}
	j.reconcile(res, oldSeqs)
	j.counters.Compactions++
	j.log.Info("journal: compacted", "files", len(oldSeqs), "into", len(newSeqs), "records", len(res.moves))
	return nil
}

// reconcile moves the index from the old files to the outputs. Records killed
// while the compactor ran were copied anyway; the files holding their kills are
// made to depend on the copies.
func (j *Journal) reconcile(res *compactResult, oldSeqs []uint64) {
	c := res.c
	j.idxMu.Lock()
	defer j.idxMu.Unlock()
	inRange := make(map[uint64]bool, len(oldSeqs))
	for _, f := range c.files {
		inRange[f.seq] = true
		f.f.Close()
		delete(j.files, f.seq)
		j.liveBytes -= f.liveBytes
	}
	for _, f := range j.files {
		for s := range f.kills {
			if inRange[s] {
				delete(f.kills, s)
			}
		}
	}
	isOut := make(map[uint64]bool, len(res.outs))
	for _, o := range res.outs {
		j.files[o.seq] = o
		isOut[o.seq] = true
	}
	for _, m := range res.moves {
		o := res.outs[m.out]
		e, ok := j.recs[m.id]
		if ok && e.seq == m.oldSeq && e.off == m.oldOff {
			e = j.dropUpdates(m.id, e, func(seq uint64) bool { return inRange[seq] })
			e = j.rebase(m.id, e, o.seq)
			e.off, e.size = m.newOff, m.size
			j.recs[m.id] = e
			o.liveOps++
			o.liveBytes += int64(m.size)
			j.liveBytes += int64(m.size)
			continue
		}
		if d, ok := c.kills[m.id]; ok && j.files[d] != nil {
			j.files[d].addKill(o.seq)
		} else {
			j.log.Error("journal: internal error: compacted record was killed but its kill is unknown", "id", m.id)
		}
	}
	for _, u := range res.umoves {
		e, ok := j.recs[u.id]
		if !ok || !isOut[e.seq] {
			continue
		}
		o := res.outs[u.out]
		j.addUpdate(u.id, &e, o.seq, u.size)
		j.recs[u.id] = e
		o.liveOps++
		o.liveBytes += int64(u.size)
		j.liveBytes += int64(u.size)
	}
	j.recount()
}

// writeControl writes the compaction control file: the commit point.
func (j *Journal) writeControl(oldSeqs, newSeqs []uint64) error {
	b := encodeControl(oldSeqs, newSeqs)
	tmp, final := j.path(ctlTmpName(j.opts.Prefix)), j.path(ctlName(j.opts.Prefix))
	var f File
	err := j.mutate(func() error {
		var err error
		if f, err = j.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return err
		}
		_, err = f.WriteAt(b, 0)
		return err
	})
	if err == nil {
		err = f.Datasync()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = j.mutate(func() error { return j.fs.Rename(tmp, final) })
	}
	if err != nil {
		_ = j.mutate(func() error { return j.fs.Remove(tmp) })
		return fmt.Errorf("journal: compaction control file: %w", err)
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return fmt.Errorf("%w: sync dir after writing %s: %w", errControlUncertain, final, err)
	}
	return nil
}
