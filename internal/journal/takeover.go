package journal

import (
	"errors"
	"fmt"
	"slices"
)

// Followed says how OpenFollowed opened a journal.
type Followed struct {
	// Used is true when the follower's state was used and only the tail,
	// what it had not applied, was replayed.
	Used bool
	// Reason says why the follower's state was not used, when it was not.
	Reason string
	// TailOps and TailBytes count the operations and frame bytes replayed
	// at open: the tail, or the whole journal when the follower was not
	// used.
	TailOps   int
	TailBytes int64
	// Records is the number of live records after open.
	Records int
}

// OpenFollowed opens the journal as Open does, for a process that has
// followed it with fl while another process wrote it and now owns it (its
// epoch is in opts). When fl's state checks out against the directory, only
// what fl had not applied is replayed, and reported to fl's sink; load is
// not called. Otherwise fl's sink is Reset and the journal is opened by
// Open, which calls load for every live record: the result is the same
// either way. fl may be nil. fl cannot be used after this call.
func OpenFollowed(opts Options, fl *Follower, load func(rec Record) error) (*Journal, Followed, error) {
	if fl == nil {
		return openCounted(opts, load, "no follower")
	}
	o, err := opts.normalize()
	if err != nil {
		return nil, Followed{}, err
	}
	j, res, err := fl.takeover(o)
	if err == nil {
		return j, res, nil
	}
	if !errors.Is(err, errUntrusted) {
		fl.drop()
		fl.used = true
		return nil, res, err
	}
	var ue *untrustedError
	reason := err.Error()
	if errors.As(err, &ue) {
		reason = ue.why
	}
	fl.log.Info("journal: replaying the whole journal at takeover", "dir", o.Dir, "prefix", o.Prefix, "reason", reason)
	fl.drop()
	fl.opts.Sink.Reset()
	fl.used = true
	return openCounted(opts, load, reason)
}

// openCounted is Open, reporting what it replayed as the tail.
func openCounted(opts Options, load func(rec Record) error, reason string) (*Journal, Followed, error) {
	j, err := Open(opts, load)
	if err != nil {
		return nil, Followed{Reason: reason}, err
	}
	st := j.Stats()
	return j, Followed{Reason: reason, Records: st.Records, TailOps: j.replayedOps, TailBytes: st.BytesUsed}, nil
}

// untrustedError says why a follower's state cannot be used.
type untrustedError struct{ why string }

func (e *untrustedError) Error() string { return errUntrusted.Error() + ": " + e.why }

func (e *untrustedError) Is(target error) bool { return target == errUntrusted }

// untrusted returns an error saying why the follower's state cannot be used.
func untrusted(format string, args ...any) error {
	return &untrustedError{why: fmt.Sprintf(format, args...)}
}

// takeover opens the journal from the follower's state: it checks that
// every file the follower read is still there as it was, replays what was
// written after the follower's position, and then recovers as Open does.
// It returns an error wrapping errUntrusted, before changing anything on
// disk but leftovers Open would remove too, when the state does not check
// out.
func (fl *Follower) takeover(o Options) (j *Journal, res Followed, err error) {
	switch {
	case fl.used:
		return nil, res, untrusted("the follower's state was used already")
	case fl.broken != nil:
		return nil, res, untrusted("%v", fl.broken)
	case o.Dir != fl.opts.Dir || o.Prefix != fl.opts.Prefix:
		return nil, res, untrusted("the follower read %s/%s, not %s/%s", fl.opts.Dir, fl.opts.Prefix, o.Dir, o.Prefix)
	case len(fl.idx.files) == 0:
		return nil, res, untrusted("the follower had read nothing")
	}
	o.Reserve.close()
	j = newJournal(o)
	names, err := j.fs.ReadDir(o.Dir)
	if err != nil {
		return nil, res, untrusted("list %s: %v", o.Dir, err)
	}
	if slices.Contains(names, ctlName(o.Prefix)) {
		return nil, res, untrusted("a compaction was being committed")
	}
	if err := j.removeLeftovers(names); err != nil {
		return nil, res, untrusted("%v", err)
	}
	files, err := j.openFiles(names)
	if err != nil {
		return nil, res, untrusted("%v", err)
	}
	defer func() {
		if err != nil {
			for _, f := range files {
				f.f.Close()
			}
		}
	}()

	// Match the directory with what the follower read. Each file it knows
	// must be there with the same generation (a file's generation is new
	// every time it is created, recycled or rewritten), and keeps the
	// accounting the follower built for it.
	known := fl.idx.files
	here := make(map[uint64]bool, len(files))
	for _, f := range files {
		here[f.seq] = true
		k := known[f.seq]
		if k == nil {
			if f.epoch > fl.maxEpoch {
				return nil, res, untrusted("%s was stamped by epoch %d, after the one followed (%d)", f.name, f.epoch, fl.maxEpoch)
			}
			continue
		}
		if k.gone || k.gen != f.gen {
			return nil, res, untrusted("%s was replaced since the follower read it", f.name)
		}
		f.end, f.liveOps, f.liveBytes, f.kills = k.end, k.liveOps, k.liveBytes, k.kills
		f.done, f.hasFrame = k.done, k.hasFrame
	}
	j.recs, j.upds, j.liveBytes, j.maxAdd = fl.idx.recs, fl.idx.upds, fl.idx.liveBytes, fl.idx.maxAdd
	var gone []*dataFile
	for seq, k := range known {
		if !here[seq] {
			gone = append(gone, k)
			j.files[seq] = k
		}
	}
	for _, f := range files {
		j.files[f.seq] = f
	}

	// Walk each file from where the follower stopped, applying the tail in
	// journal order, and decide on torn tails and corruption as Open does.
	walks := make([]walkResult, len(files))
	starts := make([]int64, len(files))
	var buf []byte
	for i, f := range files {
		start := f.end
		starts[i] = start
		var data []byte
		var release func()
		if v := openView(f); v.mapped != nil {
			data, release = v.mapped[start:f.size], v.release
		} else {
			if int64(cap(buf)) < f.size-start {
				buf = make([]byte, f.size-start)
			}
			n, rerr := f.f.ReadAt(buf[:f.size-start], start)
			if int64(n) < f.size-start {
				return nil, res, untrusted("read %s: %v", f.name, rerr)
			}
			data = buf[:f.size-start]
		}
		walks[i], err = walkRegion(data, start, start, f.gen, func(off int64, frame []byte) error {
			res.TailOps += int(leUint32(frame[20:]))
			res.TailBytes += int64(len(frame))
			return fl.apply(j, f, off, frame)
		})
		if release != nil {
			release()
		}
		if err != nil {
			return nil, res, untrusted("%v", err)
		}
		if walks[i].end > start && (f.done || f.seq < fl.readSeq) {
			return nil, res, untrusted("%s holds frames after the point the follower had finished it at", f.name)
		}
	}
	tail := -1
	for i := range walks {
		if walks[i].hasData() {
			tail = i
		}
	}
	var torn []int
	for i, f := range files {
		t, verr := verdict(f.name, f.header(), i == tail, walks[i])
		if verr != nil {
			// Open reports the corruption; it is not the follower's to.
			return nil, res, untrusted("%v", verr)
		}
		if t {
			torn = append(torn, i)
		}
	}

	// A file gone from the directory must have left nothing live, nor
	// deletes of adds that are still on disk: otherwise a full replay,
	// which does not see it, would differ.
	for _, g := range gone {
		if g.liveOps != 0 {
			return nil, res, untrusted("%s is gone but held %d live operations in the follower's state", g.name, g.liveOps)
		}
		for s := range g.kills {
			if here[s] {
				return nil, res, untrusted("%s is gone but held deletes of records added in a file still there", g.name)
			}
		}
	}
	for _, g := range gone {
		delete(j.files, g.seq)
		if g.f != nil {
			g.f.Close()
		}
	}
	for i, f := range files {
		for s := range f.kills {
			if !here[s] {
				delete(f.kills, s)
			}
		}
		f.end = walks[i].end
	}
	for seq, k := range known {
		if here[seq] && k.f != nil {
			k.f.Close()
		}
	}
	fl.idx = fl.newIndex()
	fl.used = true
	fl.buf, fl.frames = nil, nil

	// From here on the journal is this process's: recover as Open does.
	for _, i := range torn {
		f := files[i]
		j.log.Warn("journal: cutting a torn write at the end of the journal",
			"file", f.name, "offset", f.end, "reason", walks[i].problem)
		if err = j.zeroRange(f.f, f.end, f.size); err != nil {
			return nil, res, fmt.Errorf("journal: cut torn tail of %s at offset %d: %w", f.name, f.end, err)
		}
	}
	if tail >= 0 {
		f := files[tail]
		if err = f.f.Datasync(); err != nil {
			return nil, res, fmt.Errorf("journal: sync %s: %w", f.name, err)
		}
		f.synced = f.end
	}
	if err = j.setupCurrent(files, tail); err != nil {
		return nil, res, err
	}
	res.Used, res.Records = true, len(j.recs)
	j.start()
	return j, res, nil
}
