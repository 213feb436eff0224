package journal

import (
	"fmt"
	"os"
	"sync"
)

// This file holds the life cycle of data files: preparing ready files (new or
// recycled), removing dead ones, and the background goroutine that does that
// I/O so the writer only stalls for it when it has no ready file left.

// createFile prepares a new ready file: created under a .tmp name, filled with
// zeros, stamped with a header, synced, then renamed into place.
func (j *Journal) createFile(seq, gen uint64, size int64) (*dataFile, error) {
	tmp := j.path(tmpName(j.opts.Prefix, seq))
	var f File
	err := j.mutate(func() error {
		var err error
		f, err = j.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("journal: create %s: %w", tmp, err)
	}
	df, err := j.stamp(f, tmp, seq, gen, size, true)
	if err != nil {
		f.Close()
		_ = j.mutate(func() error { return j.fs.Remove(tmp) })
		return nil, err
	}
	return df, nil
}

// recycleFile turns a dead data file into a ready file with a new identity. The
// first rename takes it out of the journal; only the header is rewritten, the old
// frames stay but carry an older generation, so they can never be replayed.
func (j *Journal) recycleFile(old *dataFile, seq, gen uint64) (*dataFile, error) {
	tmp := j.path(tmpName(j.opts.Prefix, seq))
	if err := j.mutate(func() error { return j.fs.Rename(j.path(old.name), tmp) }); err != nil {
		return nil, fmt.Errorf("journal: recycle %s: %w", old.name, err)
	}
	// The rename must be durable before the new header is: a crash in between
	// must not leave the old name with the new header.
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return nil, fmt.Errorf("journal: recycle %s: sync dir: %w", old.name, err)
	}
	return j.stamp(old.f, tmp, seq, gen, old.size, false)
}

// stamp writes the header of a file being prepared under the name tmp (after
// zero-filling it to size when fill is set), syncs it and renames it into place.
func (j *Journal) stamp(f File, tmp string, seq, gen uint64, size int64, fill bool) (*dataFile, error) {
	if fill {
		if err := j.mutate(func() error { return f.Truncate(size) }); err != nil {
			return nil, fmt.Errorf("journal: size %s: %w", tmp, err)
		}
		if err := j.zeroRange(f, 0, size); err != nil {
			return nil, fmt.Errorf("journal: fill %s: %w", tmp, err)
		}
	}
	h := FileHeader{Seq: seq, Gen: gen, Epoch: j.opts.Epoch}
	var hb [headerSize]byte
	encodeHeader(hb[:], h)
	if err := j.mutate(func() error { _, err := f.WriteAt(hb[:], 0); return err }); err != nil {
		return nil, fmt.Errorf("journal: write header of %s: %w", tmp, err)
	}
	if err := f.Datasync(); err != nil {
		return nil, fmt.Errorf("journal: sync %s: %w", tmp, err)
	}
	name := dataName(j.opts.Prefix, seq)
	if err := j.mutate(func() error { return j.fs.Rename(tmp, j.path(name)) }); err != nil {
		return nil, fmt.Errorf("journal: rename %s: %w", tmp, err)
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return nil, fmt.Errorf("journal: sync dir after creating %s: %w", name, err)
	}
	return &dataFile{
		seq: seq, gen: gen, epoch: j.opts.Epoch, name: name, f: f,
		size: size, end: headerSize, synced: headerSize, ready: true,
	}, nil
}

// zeroRange overwrites [from, to) of f with zeros, one bounded write at a time so
// that Fence never waits long for the I/O lock.
func (j *Journal) zeroRange(f File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(j.zero)), to-off)
		if err := j.mutate(func() error { _, err := f.WriteAt(j.zero[:n], off); return err }); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// removeFile deletes a dead data file and makes that durable.
func (j *Journal) removeFile(f *dataFile) error {
	if err := j.mutate(func() error { return j.fs.Remove(j.path(f.name)) }); err != nil {
		return fmt.Errorf("journal: remove %s: %w", f.name, err)
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return fmt.Errorf("journal: sync dir after removing %s: %w", f.name, err)
	}
	f.f.Close()
	return nil
}

type jobKind uint8

const (
	jobCreate jobKind = iota + 1
	jobRecycle
	jobRemove
)

type job struct {
	kind     jobKind
	file     *dataFile // recycle, remove
	seq, gen uint64    // create, recycle: the new identity
	size     int64     // create
}

type jobResult struct {
	job
	ready *dataFile // create, recycle
	err   error
}

// maintainer runs file jobs in order on its own goroutine. Queues are unbounded
// slices so that neither side ever blocks on the other.
type maintainer struct {
	mu        sync.Mutex
	jobs      []job
	results   []jobResult
	stopped   bool
	wake      chan struct{} // to the maintainer
	notify    chan struct{} // to the writer: results are waiting
	inflight  int           // writer-owned: jobs queued and not yet drained
	preparing int           // writer-owned: create and recycle jobs among them
}

func newMaintainer() *maintainer {
	return &maintainer{wake: make(chan struct{}, 1), notify: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (m *maintainer) push(jb job) {
	m.mu.Lock()
	m.jobs = append(m.jobs, jb)
	m.mu.Unlock()
	m.inflight++
	if jb.kind != jobRemove {
		m.preparing++
	}
	signal(m.wake)
}

func (m *maintainer) take() []jobResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.results
	m.results = nil
	return r
}

// run executes jobs until stopped; after stop, queued jobs are answered with
// ErrClosed without being run.
func (j *Journal) runMaintainer(m *maintainer) {
	defer j.wg.Done()
	for {
		m.mu.Lock()
		if len(m.jobs) == 0 {
			stopped := m.stopped
			m.mu.Unlock()
			if stopped {
				return
			}
			<-m.wake
			continue
		}
		jb := m.jobs[0]
		m.jobs = m.jobs[1:]
		stopped := m.stopped
		m.mu.Unlock()

		res := jobResult{job: jb}
		switch {
		case stopped:
			res.err = ErrClosed
		case jb.kind == jobCreate:
			res.ready, res.err = j.createFile(jb.seq, jb.gen, jb.size)
		case jb.kind == jobRecycle:
			res.ready, res.err = j.recycleFile(jb.file, jb.seq, jb.gen)
		case jb.kind == jobRemove:
			res.err = j.removeFile(jb.file)
		}
		m.mu.Lock()
		m.results = append(m.results, res)
		m.mu.Unlock()
		signal(m.notify)
	}
}

func (m *maintainer) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	signal(m.wake)
}

// drainMaint applies finished jobs to the writer's state. It returns the error
// of the last failed create or recycle, which a writer waiting for a ready file
// reports.
func (j *Journal) drainMaint() error {
	var prepErr error
	for _, res := range j.maint.take() {
		j.maint.inflight--
		if res.kind != jobRemove {
			j.maint.preparing--
		}
		if res.err != nil {
			// The file stays busy: it is left alone until the next Open, which
			// sorts out whatever state the failed job left behind.
			if res.kind != jobCreate {
				j.log.Warn("journal: retiring a data file failed; it stays until the next open",
					"file", res.file.name, "err", res.err)
			} else if res.err != ErrClosed {
				j.log.Warn("journal: preparing a data file failed", "err", res.err)
			}
			if res.kind != jobRemove {
				prepErr = res.err
				// Do not retry in a loop; the next rollover that needs a
				// file asks again.
				j.prepBackoff = true
			}
			continue
		}
		if res.file != nil {
			j.dropFile(res.file)
			j.counters.ReclaimedFiles++
		}
		if res.ready != nil {
			if j.cur != nil && res.ready.seq < j.cur.seq {
				// An oversized batch got a file numbered after this one.
				res.ready.ready = false
			}
			j.addFile(res.ready)
			if res.ready.ready {
				j.ready = append(j.ready, res.ready)
			}
		}
	}
	return prepErr
}

// maintain queues the file work the writer's state calls for: retiring dead
// files (recycled while ready files are wanted, removed otherwise), topping up
// ready files, and starting a compaction when the thresholds say so.
func (j *Journal) maintain() {
	if j.blockedErr() != nil {
		return
	}
	for _, f := range j.sorted() {
		if !j.retirable(f) {
			continue
		}
		f.busy = true
		// Recycling beats creating (no zero-filling), so a dead file is kept
		// as one spare beyond the ready target; further ones are removed.
		if len(j.ready)+j.maint.preparing < j.target+1 && f.size == j.opts.FileSize {
			j.maint.push(job{kind: jobRecycle, file: f, seq: j.nextSeq, gen: j.nextGen})
			j.nextSeq++
			j.nextGen++
		} else {
			j.maint.push(job{kind: jobRemove, file: f})
		}
	}
	for !j.prepBackoff && len(j.ready)+j.maint.preparing < j.target {
		j.pushCreate()
	}
	j.maybeCompact()
}

func (j *Journal) pushCreate() {
	j.maint.push(job{kind: jobCreate, seq: j.nextSeq, gen: j.nextGen, size: j.opts.FileSize})
	j.nextSeq++
	j.nextGen++
}

// settleNow waits for all file jobs and any compaction to finish and reclaim to
// reach a fixed point. It runs on the writer goroutine.
func (j *Journal) settleNow() {
	for {
		if j.drainMaint() != nil {
			j.prepBackoff = true
		}
		j.maintain()
		if j.maint.inflight == 0 && j.comp == nil {
			return
		}
		select {
		case <-j.maint.notify:
		case res := <-j.compRes:
			j.finishCompaction(res)
		}
	}
}
