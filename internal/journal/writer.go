package journal

import (
	"fmt"
	"time"
)

// frameDesc remembers where a frame of the current group went, so its
// operations can be applied to the index once it is written.
type frameDesc struct {
	file   *dataFile
	off    int64
	lo, hi int // the requests of the group packed into this frame
}

// run is the writer goroutine. It takes every pending request at once and
// turns them into as few writes and syncs as it can (group commit). It owns
// the files and the index, sharing them only with a WriteInline caller that
// found the journal idle; runMu gives them to one at a time.
func (j *Journal) run() {
	defer j.wg.Done()
	defer close(j.exitedCh)
	j.runMu.Lock()
	j.maintain()
	j.publish()
	j.runMu.Unlock()
	for {
		var res *compactResult
		select {
		case <-j.kick:
		case <-j.maint.notify:
		case res = <-j.compRes:
		}
		if j.round(res) {
			return
		}
	}
}

// round is one wake-up of the writer goroutine: it finishes a compaction
// whose result arrived (res), then writes groups until nothing is pending.
// It reports whether the journal has shut down.
func (j *Journal) round(res *compactResult) bool {
	j.runMu.Lock()
	defer j.runMu.Unlock()
	if res != nil {
		j.finishCompaction(res)
	}
	for {
		if j.drainMaint() != nil {
			j.prepBackoff = true
		}
		if j.hasPending() {
			if j.opts.BufferTimeout > 0 {
				j.linger()
			} else {
				j.gather()
			}
		}
		reqs, exit := j.take()
		if exit {
			j.shutdown()
			return true
		}
		if len(reqs) > 0 {
			j.process(reqs)
			clear(reqs)
			j.spare = reqs[:0]
		}
		// Maintenance runs after every group, not only when the queue
		// runs dry, so that sustained load cannot starve reclaim.
		j.maintain()
		j.publish()
		if len(reqs) == 0 {
			return false
		}
	}
}

func (j *Journal) hasPending() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending) > 0 && !j.closing
}

// linger gives other writers BufferTimeout to join the batch being gathered.
func (j *Journal) linger() {
	if j.timer == nil {
		j.timer = time.NewTimer(j.opts.BufferTimeout)
	} else {
		j.timer.Reset(j.opts.BufferTimeout)
	}
	<-j.timer.C
}

// gather waits, briefly, for the writers that the last sync released to
// submit again, so that they share the next sync instead of splitting into
// two cohorts that alternate between syncs at half the rate each. The
// target is every writer released by the last sync plus every writer that
// was already waiting then. The wait is bounded by twice the time released
// writers have recently taken to come back (a moving average, learnt only
// from rounds where they did), at least half a sync and at most 2 ms, so a
// writer that goes quiet costs little. A lone writer never waits: it is its
// own target the moment it submits.
func (j *Journal) gather() {
	target, released := j.released+j.waitingAtRelease, j.releasedAt
	window := max(2*j.returnAvg, j.lastSyncDur/2)
	j.released, j.waitingAtRelease, j.lastSyncDur = 0, 0, 0
	if target <= 1 || window < 20*time.Microsecond {
		return
	}
	window = min(window, 2*time.Millisecond)
	deadline := released.Add(window)
	for {
		j.mu.Lock()
		n := len(j.pending)
		j.mu.Unlock()
		if n >= target {
			back := time.Since(released)
			if j.returnAvg == 0 {
				j.returnAvg = back
			} else {
				j.returnAvg = (7*j.returnAvg + back) / 8
			}
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		if j.gatherTimer == nil {
			j.gatherTimer = time.NewTimer(left)
		} else {
			j.gatherTimer.Reset(left)
		}
		select {
		case <-j.kick:
			if !j.gatherTimer.Stop() {
				<-j.gatherTimer.C
			}
		case <-j.gatherTimer.C:
			return
		}
	}
}

// take swaps out the pending requests. exit is true when the journal is closing
// and nothing is pending; the submission side then stops queueing (exited).
func (j *Journal) take() (reqs []*request, exit bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.pending) == 0 {
		if j.closing {
			j.exited = true
			return nil, true
		}
		return nil, false
	}
	reqs = j.pending
	j.pending = j.spare
	j.spare = nil
	return reqs, false
}

// process handles one batch of requests: the writes as one group, then the
// control requests, which thereby come after the writes queued before them.
func (j *Journal) process(reqs []*request) {
	// Pick out the control requests first: once group completes a write
	// request, its submitter may already be reusing it.
	j.ctl = j.ctl[:0]
	for _, r := range reqs {
		if r.kind != reqWrite {
			j.ctl = append(j.ctl, r)
		}
	}
	j.group(reqs)
	for _, r := range j.ctl {
		switch r.kind {
		case reqSettle:
			j.settleNow()
			j.publish()
			j.complete(r, nil)
		case reqCompact:
			j.compactNow(r)
		}
	}
}

// group writes all write requests among reqs: packed into frames (one per
// write(2)), then one fdatasync if any of them is durable, then completions in
// submission order.
func (j *Journal) group(reqs []*request) {
	blocked := j.blockedErr()
	j.frames = j.frames[:0]
	j.buf = j.buf[:0]
	failAt := len(reqs)
	var failErr error
	open, lo, count := false, 0, 0
	for i, r := range reqs {
		if r.kind != reqWrite {
			continue
		}
		if r.reject == nil && blocked != nil {
			r.reject = blocked
		}
		if r.reject != nil {
			r.skip = true
			continue
		}
		size, err := batchSize(r.ops)
		if err != nil {
			r.err, r.skip = err, true
			continue
		}
		if size == 0 {
			continue
		}
		if open && align8(int64(len(j.buf))+size) > j.cur.space() {
			if err := j.flushFrame(lo, i, count); err != nil {
				failAt, failErr = lo, err
				break
			}
			open = false
		}
		if !open {
			if need := frameHeaderSize + size; align8(need) > j.cur.space() {
				if err := j.rollover(need); err != nil {
					failAt, failErr = i, err
					break
				}
			}
			j.buf = append(j.buf[:0], make([]byte, frameHeaderSize)...)
			open, lo, count = true, i, 0
		}
		for k := range r.ops {
			j.buf = appendOp(j.buf, &r.ops[k])
		}
		count += len(r.ops)
	}
	if open && failErr == nil {
		if err := j.flushFrame(lo, len(reqs), count); err != nil {
			failAt, failErr = lo, err
		}
	}

	if len(j.frames) > 0 {
		j.idxMu.Lock()
		for _, fd := range j.frames {
			j.applyFrame(fd, reqs)
		}
		j.idxMu.Unlock()
	}

	// Requests before the first durable one need no sync; complete them first
	// so that done callbacks stay in submission order.
	firstDurable := len(reqs)
	for i := 0; i < failAt; i++ {
		if r := reqs[i]; r.kind == reqWrite && !r.skip && r.durable {
			firstDurable = i
			break
		}
	}
	j.finish(reqs[:firstDurable], 0, failAt, failErr, nil)
	var syncErr error
	if firstDurable < len(reqs) && j.opts.Sync && j.cur.synced < j.cur.end {
		began := time.Now()
		syncErr = j.syncCurrent()
		j.lastSyncDur = time.Since(began)
		j.syncHist.observe(j.lastSyncDur)
		j.released = 0
		for _, r := range reqs[firstDurable:] {
			if r.kind == reqWrite && r.durable {
				j.released++
			}
		}
		j.mu.Lock()
		j.waitingAtRelease = len(j.pending)
		j.mu.Unlock()
		j.releasedAt = time.Now()
	}
	j.finish(reqs[firstDurable:], firstDurable, failAt, failErr, syncErr)
}

// finish completes the write requests reqs, which start at index base of their
// group. Outcomes are decided and published to Stats before anyone hears back.
func (j *Journal) finish(reqs []*request, base, failAt int, failErr, syncErr error) {
	// Held until the last callback returns: see Fence.
	j.confirmMu.Lock()
	defer j.confirmMu.Unlock()
	fenced := j.fenced.Load()
	for k, r := range reqs {
		if r.kind != reqWrite {
			continue
		}
		switch {
		case r.reject != nil:
			r.err = r.reject
		case r.err != nil:
		case base+k >= failAt:
			r.err = failErr
		case syncErr != nil:
			r.err = syncErr
		case fenced:
			// Fenced while this batch was in flight: never confirm it.
			r.err = j.blockedErr()
		default:
			j.counters.Batches++
		}
	}
	j.publish()
	for _, r := range reqs {
		if r.kind == reqWrite {
			j.complete(r, r.err)
		}
	}
}

// flushFrame seals the frame in j.buf, holding requests [lo, hi), and writes it
// at the end of the current file.
func (j *Journal) flushFrame(lo, hi, count int) error {
	f := j.cur
	j.buf = sealFrame(j.buf, f.gen, uint32(f.synced), uint32(count))
	off := f.end
	j.ioMu.Lock()
	if err := j.fenceErr; err != nil {
		j.ioMu.Unlock()
		return err
	}
	err := j.writeFrame(f, j.buf, off)
	j.ioMu.Unlock()
	if err != nil {
		return j.fail(fmt.Errorf("write %s at offset %d: %w", f.name, off, err))
	}
	n := int64(len(j.buf))
	f.end += n
	j.usedBytes += n
	j.counters.Writes++
	j.counters.BytesWritten += uint64(n)
	j.frames = append(j.frames, frameDesc{file: f, off: off, lo: lo, hi: hi})
	j.buf = j.buf[:0]
	return nil
}

// applyFrame applies the operations of a written frame to the index.
func (j *Journal) applyFrame(fd frameDesc, reqs []*request) {
	pos := fd.off + frameHeaderSize
	for _, r := range reqs[fd.lo:fd.hi] {
		if r.kind != reqWrite || r.skip {
			continue
		}
		for k := range r.ops {
			op := &r.ops[k]
			size := opSize(op)
			j.applyOp(op.Kind, op.ID, uint32(size), fd.file, uint32(pos))
			pos += size
		}
	}
}

// syncCurrent fdatasyncs the current file and advances its watermark.
func (j *Journal) syncCurrent() error {
	return j.syncFile(j.cur)
}

func (j *Journal) syncFile(f *dataFile) error {
	if j.failErr != nil {
		// Never retry a failed fdatasync: the kernel may have dropped the
		// dirty pages and a second call can report success for lost data.
		return j.failErr
	}
	end := f.end
	if err := f.f.Datasync(); err != nil {
		return j.fail(fmt.Errorf("fdatasync %s: %w", f.name, err))
	}
	j.counters.Syncs++
	f.synced = end
	return nil
}

// rollover makes a file with room for a frame of need bytes current. The old
// current file is synced first, whatever Options.Sync says, so an unsynced
// window never spans two files.
func (j *Journal) rollover(need int64) error {
	old := j.cur
	if old.synced < old.end {
		if err := j.syncFile(old); err != nil {
			return err
		}
	}
	var next *dataFile
	if align8(need) > j.opts.FileSize-headerSize {
		// A batch larger than a file gets a file of its own, numbered after
		// every ready file; those are then behind the current file and retire.
		seq, gen := j.nextSeq, j.nextGen
		j.nextSeq++
		j.nextGen++
		f, err := j.createFile(seq, gen, headerSize+align8(need))
		if err != nil {
			return err
		}
		for len(j.ready) > 0 {
			j.unready(j.ready[0])
		}
		f.ready = false
		j.addFile(f)
		next = f
	} else {
		f, err := j.takeReady()
		if err != nil {
			return err
		}
		next = f
	}
	j.cur = next
	j.closeDirect()
	return nil
}

// takeReady returns the next ready file, waiting for the maintainer to prepare
// one if none is ready.
func (j *Journal) takeReady() (*dataFile, error) {
	j.prepBackoff = false
	for len(j.ready) == 0 {
		if err := j.blockedErr(); err != nil {
			return nil, err
		}
		if j.maint.preparing == 0 {
			j.pushCreate()
		}
		<-j.maint.notify
		if err := j.drainMaint(); err != nil && len(j.ready) == 0 && j.maint.preparing == 0 {
			return nil, err
		}
	}
	f := j.ready[0]
	j.ready = j.ready[1:]
	j.unreadyCurrent(f)
	return f, nil
}

// unreadyCurrent counts a ready file that becomes current as a data file.
func (j *Journal) unreadyCurrent(f *dataFile) {
	f.ready = false
	j.dataFiles++
	j.usedBytes += f.used()
}

// shutdown runs on the writer goroutine once Close was called and every request
// is done: final sync, then the background goroutines stop and files close.
func (j *Journal) shutdown() {
	var errs []error
	if j.blockedErr() == nil && j.cur != nil && j.cur.synced < j.cur.end {
		if err := j.syncCurrent(); err != nil {
			errs = append(errs, err)
		}
	}
	if c := j.comp; c != nil {
		c.cancel.Store(true)
		j.finishCompaction(<-j.compRes)
	}
	j.maint.stop()
	for j.maint.inflight > 0 {
		<-j.maint.notify
		j.drainMaint()
	}
	j.closeDirect()
	for _, f := range j.files {
		if err := f.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("journal: close %s: %w", f.name, err))
		}
	}
	j.publish()
	if len(errs) > 0 {
		j.closeErr = errs[0]
	}
}
