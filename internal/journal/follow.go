package journal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// Following a journal: a waiting node of a shared-store pair reads the live
// node's journal while it is being written, without a lock and without
// writing a byte, and keeps an index and the caller's state up to date, so
// that when it takes over, OpenFollowed replays only what it had not read
// yet. The rules that make what it reads trustworthy are in
// docs/journal-format.md, "Following a journal"; in short:
//
//   - a frame is applied only once it is known durable: a later frame of the
//     same file carries a sync watermark past its end, or a later file (not a
//     compaction output) holds a frame, which the writer starts only after
//     syncing the earlier file, or the file is a compaction output. Recovery
//     never cuts a durable frame, so nothing applied is taken back by a torn
//     tail being cut;
//   - files are read in sequence order, each to its end before the next;
//   - a file replaced under its name (compaction), a control file, or any
//     other surprise makes the follower start over; OpenFollowed checks the
//     whole directory again and falls back to a full replay when anything
//     does not match.

// FollowSink receives the changes a Follower reads, in journal order. Its
// state after a Follower's changes and OpenFollowed's tail is what Open
// would have delivered: the live records, each with its updates, in the
// order of their adds.
type FollowSink interface {
	// Add reports a new live record. rec.Data is a fresh copy the sink may
	// keep; rec.Updates is empty, updates come as Update calls. An add for
	// an ID that is live already comes after a Delete of it.
	Add(rec Record) error
	// Update reports an update of a live record. u.Data is valid only
	// during the call.
	Update(id uint64, u Update) error
	// Delete reports that a live record died.
	Delete(id uint64) error
	// Reset voids everything reported so far: the follower starts over
	// from the beginning of the journal.
	Reset()
}

// FollowOptions configures NewFollower.
type FollowOptions struct {
	Dir    string
	Prefix string     // file name prefix, "tandem" when empty
	FS     FS         // nil means OSFS; the follower only reads through it
	Sink   FollowSink // required
	Logger *slog.Logger
	// SweepEvery is how often Poll re-reads the header of every data file
	// to notice one replaced under its name (compaction); default 1 s.
	SweepEvery time.Duration
}

// FollowStats is a snapshot of a Follower.
type FollowStats struct {
	Files     int    // data files known, gone ones included
	Records   int    // live records
	LiveBytes int64  // encoded bytes of the live records and their updates
	Applied   uint64 // operations applied since the follower last started over
	Resets    uint64 // times it started over
	MaxEpoch  uint64 // highest epoch seen in a file header
	Broken    string // why it stopped following, if it did
}

// ErrFollowerBroken is returned by Poll once the follower found something
// it cannot follow (corruption, or a record its sink refused); Reset makes
// it start over.
var ErrFollowerBroken = errors.New("journal: follower stopped")

// errStopped ends a walk when Poll is asked to stop.
var errStopped = errors.New("journal: stopped")

// errUntrusted marks why OpenFollowed could not use a follower's state.
var errUntrusted = errors.New("journal: follower state not usable")

// Follower reads a journal that another process writes. Its methods are
// not safe for concurrent use, except Stats.
type Follower struct {
	opts FollowOptions
	log  *slog.Logger
	// idx holds the index and the files, as the journal it follows keeps
	// them; only its index fields are used.
	idx      *Journal
	lastData uint64 // highest seq of a file (not a compaction output) seen holding a frame
	readSeq  uint64 // highest seq read from: every file below it is done
	maxEpoch uint64
	broken   error
	used     bool // OpenFollowed took the state
	buf      []byte
	frames   []frameRef
	swept    time.Time
	applied  uint64
	resets   uint64

	statsMu sync.Mutex
	stats   FollowStats
}

type frameRef struct {
	off, n int64
}

// NewFollower returns a follower of the journal in opts.Dir. It reads
// nothing until Poll.
func NewFollower(opts FollowOptions) (*Follower, error) {
	if opts.Dir == "" || opts.Sink == nil {
		return nil, fmt.Errorf("%w: a follower needs Dir and Sink", ErrBadOptions)
	}
	if opts.Prefix == "" {
		opts.Prefix = "tandem"
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Second
	}
	fl := &Follower{opts: opts, log: opts.Logger}
	if fl.log == nil {
		fl.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fl.idx = fl.newIndex()
	return fl, nil
}

func (fl *Follower) newIndex() *Journal {
	return &Journal{
		opts:  Options{Dir: fl.opts.Dir, Prefix: fl.opts.Prefix},
		fs:    fl.opts.FS,
		log:   fl.log,
		files: make(map[uint64]*dataFile),
		recs:  make(map[uint64]entry),
		upds:  make(map[uint64][]updRef),
	}
}

// Stats returns a snapshot of the follower, as of the end of the last Poll.
func (fl *Follower) Stats() FollowStats {
	fl.statsMu.Lock()
	defer fl.statsMu.Unlock()
	return fl.stats
}

func (fl *Follower) publish() {
	s := FollowStats{Files: len(fl.idx.files), Records: len(fl.idx.recs), LiveBytes: fl.idx.liveBytes,
		Applied: fl.applied, Resets: fl.resets, MaxEpoch: fl.maxEpoch}
	if fl.broken != nil {
		s.Broken = fl.broken.Error()
	}
	fl.statsMu.Lock()
	fl.stats = s
	fl.statsMu.Unlock()
}

// Reset drops everything the follower knows and tells the sink so; the next
// Poll starts from the beginning of the journal.
func (fl *Follower) Reset() {
	fl.drop()
	fl.opts.Sink.Reset()
	fl.resets++
	fl.publish()
}

// drop forgets the state without telling the sink.
func (fl *Follower) drop() {
	for _, f := range fl.idx.files {
		if f.f != nil {
			f.f.Close()
		}
	}
	fl.idx = fl.newIndex()
	fl.buf, fl.frames = nil, nil
	fl.lastData, fl.readSeq, fl.maxEpoch = 0, 0, 0
	fl.broken, fl.used = nil, false
	fl.applied = 0
	fl.swept = time.Time{}
}

// restart is Reset for a reason worth a log line.
func (fl *Follower) restart(why string) {
	fl.log.Debug("journal follower: starting over", "dir", fl.opts.Dir, "prefix", fl.opts.Prefix, "reason", why)
	fl.Reset()
}

func (fl *Follower) fail(err error) error {
	fl.broken = fmt.Errorf("%w: %w", ErrFollowerBroken, err)
	fl.log.Warn("journal follower: stopped following; a takeover replays the whole journal", "dir", fl.opts.Dir,
		"prefix", fl.opts.Prefix, "err", err)
	return fl.broken
}

func (fl *Follower) path(name string) string { return fl.idx.path(name) }

// Poll reads what was written since the last call and applies what is known
// durable. It returns the number of operations applied. It stops early,
// between frames, when stop is closed. An error other than
// ErrFollowerBroken (the directory could not be read, say) leaves the state
// as it was; the next Poll tries again.
func (fl *Follower) Poll(stop <-chan struct{}) (int, error) {
	if fl.used {
		return 0, fmt.Errorf("%w: its state was taken over", ErrFollowerBroken)
	}
	if fl.broken != nil {
		return 0, fl.broken
	}
	before := fl.applied
	err := fl.poll(stop)
	fl.publish()
	return int(fl.applied - before), err
}

func (fl *Follower) poll(stop <-chan struct{}) error {
	names, err := fl.opts.FS.ReadDir(fl.opts.Dir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", fl.opts.Dir, err)
	}
	if slices.Contains(names, ctlName(fl.opts.Prefix)) {
		// A compaction is being committed: files are about to be
		// replaced under their names.
		if len(fl.idx.files) > 0 {
			fl.restart("a compaction is being committed")
		}
		return nil
	}
	present := make(map[uint64]string, len(names))
	for _, n := range names {
		if kind, seq := parseName(fl.opts.Prefix, n); kind == nameData {
			present[seq] = n
		}
	}
	sweep := time.Since(fl.swept) >= fl.opts.SweepEvery
	for seq, f := range fl.idx.files {
		if _, ok := present[seq]; !ok && !f.gone {
			// Reclaimed (removed or recycled under another name), or
			// replaced by compaction outputs: look at the others now.
			f.gone, sweep = true, true
		}
	}
	seqs := make([]uint64, 0, len(present))
	for s := range present {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		if restart, err := fl.look(seq, present[seq], sweep); err != nil || restart {
			return err
		}
	}
	if sweep {
		fl.swept = time.Now()
	}
	if err := fl.findLastData(); err != nil {
		return err
	}
	for _, f := range fl.idx.sorted() {
		if f.done {
			continue
		}
		select {
		case <-stop:
			return nil
		default:
		}
		if f.gone || f.compacted || f.seq < fl.lastData {
			if err := fl.readFinished(f, stop); err != nil || !f.done {
				return err
			}
			continue
		}
		return fl.readCurrent(f, stop)
	}
	fl.dropGone()
	return nil
}

// look reconciles one data file of the directory listing with what the
// follower knows. It reports whether the follower started over.
func (fl *Follower) look(seq uint64, name string, sweep bool) (bool, error) {
	known := fl.idx.files[seq]
	if known != nil && !known.gone && !sweep {
		return false, nil
	}
	f, h, size, err := openData(fl.opts.FS, fl.path(name), name, seq, os.O_RDONLY)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // gone since the listing; the next poll sees it so
		}
		if errors.Is(err, ErrCorrupt) && h.Seq > seq {
			// Recycled between the open and the header's read: the writer
			// renames a dead file away, then stamps it with a later
			// number, and the open descriptor follows the file. It is gone
			// under this name; the next poll sees it under its new one. (A
			// file that really held another number's header would stay so
			// and fail the takeover's check of every file.)
			return false, nil
		}
		if errors.Is(err, ErrCorrupt) {
			return false, fl.fail(err)
		}
		return false, err
	}
	if known != nil {
		f.Close()
		if known.gone || known.gen != h.Gen {
			fl.restart(fmt.Sprintf("%s was replaced (generation %d, now %d)", name, known.gen, h.Gen))
			return true, nil
		}
		return false, nil
	}
	df := &dataFile{seq: h.Seq, gen: h.Gen, epoch: h.Epoch, compacted: h.Compacted, name: name, f: f,
		size: size, end: headerSize, synced: headerSize}
	fl.maxEpoch = max(fl.maxEpoch, h.Epoch)
	if seq < fl.readSeq {
		// Behind what was read already: only an empty file is expected
		// there (one prepared while an oversized batch took a later
		// number). One with a frame means the journal was rewritten.
		has, err := fl.frameAtStart(df)
		if err != nil {
			f.Close()
			return false, err
		}
		if has {
			f.Close()
			fl.restart(fmt.Sprintf("%s appeared behind files already read, holding frames", name))
			return true, nil
		}
		df.done = true
	}
	fl.idx.addFile(df)
	return false, nil
}

// frameAtStart reports whether f holds a good frame at its first offset.
func (fl *Follower) frameAtStart(f *dataFile) (bool, error) {
	if f.hasFrame {
		return true, nil
	}
	var hb [frameHeaderSize]byte
	n, err := f.f.ReadAt(hb[:], headerSize)
	if n < frameHeaderSize {
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("journal: read %s: %w", f.name, err)
		}
		return false, nil
	}
	if leUint64(hb[8:]) != f.gen {
		return false, nil
	}
	size := int64(leUint32(hb[4:]))
	if size < frameHeaderSize+opHeaderSize || headerSize+size > f.size {
		return false, nil
	}
	b := make([]byte, size)
	if n, err := f.f.ReadAt(b, headerSize); int64(n) < size {
		return false, fmt.Errorf("journal: read %s: %w", f.name, err)
	}
	if _, _, reason := checkFrameAt(b, headerSize, f.gen); reason != "" {
		return false, nil
	}
	f.hasFrame = true
	return true, nil
}

// findLastData moves lastData to the highest file, not a compaction output,
// that holds a frame: every file before it was synced whole before that
// frame was written, so it is finished and durable.
func (fl *Follower) findLastData() error {
	order := fl.idx.sorted()
	for i := len(order) - 1; i >= 0; i-- {
		f := order[i]
		if f.seq <= fl.lastData {
			return nil
		}
		if f.gone || f.compacted {
			continue
		}
		has, err := fl.frameAtStart(f)
		if err != nil {
			return err
		}
		if has {
			fl.lastData = f.seq
			return nil
		}
	}
	return nil
}

// readFinished applies every frame of a file the writer is done with, from
// where the follower stopped to the file's end, and marks it done. It stops
// between two frames when stop is closed, leaving the file not done.
func (fl *Follower) readFinished(f *dataFile, stop <-chan struct{}) error {
	data, err := fl.read(f, f.end, f.size-f.end)
	if err != nil {
		return err
	}
	w, err := walkRegion(data, f.end, f.end, f.gen, func(off int64, frame []byte) error {
		select {
		case <-stop:
			return errStopped
		default:
		}
		if err := fl.apply(fl.idx, f, off, frame); err != nil {
			return err
		}
		f.end, f.hasFrame = align8(off+int64(len(frame))), true
		fl.readSeq = max(fl.readSeq, f.seq)
		return nil
	})
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return fl.fail(err)
	}
	if w.end > headerSize {
		f.hasFrame = true
	}
	if !f.gone && w.problem != "" {
		// A bad frame or a gap in a file that is not the last with data:
		// Open refuses such a journal, and so does a takeover.
		_, verr := verdict(f.name, f.header(), false, w)
		return fl.fail(verr)
	}
	f.end, f.done = w.end, true
	fl.readSeq = max(fl.readSeq, f.seq)
	return nil
}

// readCurrent applies the frames of the file the writer may still be
// appending to, as far as they are known durable: up to the highest sync
// watermark of the good frames after them.
func (fl *Follower) readCurrent(f *dataFile, stop <-chan struct{}) error {
	base := f.end
	buf := fl.buf[:0]
	// Read little at first: most polls find one group commit's frames, or
	// none, before the zeros of the unwritten part of the file.
	chunk := int64(4 << 10)
	ensure := func(upto int64) (bool, error) {
		have := base + int64(len(buf))
		if upto <= have {
			return true, nil
		}
		if upto > f.size {
			return false, nil
		}
		want := min(f.size, max(upto, have+chunk)) - have
		chunk = min(2*chunk, 1<<20)
		buf = slices.Grow(buf, int(want))
		n, err := f.f.ReadAt(buf[len(buf):len(buf)+int(want)], have)
		buf = buf[:len(buf)+n]
		if n < int(want) && err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("journal: read %s: %w", f.name, err)
		}
		return upto <= base+int64(len(buf)), nil
	}
	frames := fl.frames[:0]
	var watermark int64
	for off := base; ; {
		ok, err := ensure(off + frameHeaderSize)
		if err != nil || !ok {
			fl.buf = buf
			if err != nil {
				return err
			}
			break
		}
		h := buf[off-base:]
		if leUint64(h[8:]) != f.gen {
			break
		}
		n := int64(leUint32(h[4:]))
		if n < frameHeaderSize+opHeaderSize {
			break
		}
		if ok, err := ensure(off + n); err != nil || !ok {
			fl.buf = buf
			if err != nil {
				return err
			}
			break
		}
		n, synced, reason := checkFrameAt(buf[off-base:], off, f.gen)
		if reason != "" {
			break // being written, or torn: wait
		}
		frames = append(frames, frameRef{off: off, n: n})
		watermark = max(watermark, int64(synced))
		off = align8(off + n)
	}
	fl.buf, fl.frames = buf, frames
	for _, fr := range frames {
		if fr.off+fr.n > watermark {
			break
		}
		select {
		case <-stop:
			return nil
		default:
		}
		if err := fl.apply(fl.idx, f, fr.off, buf[fr.off-base:fr.off-base+fr.n]); err != nil {
			return fl.fail(err)
		}
		f.end, f.hasFrame = align8(fr.off+fr.n), true
		fl.readSeq = max(fl.readSeq, f.seq)
	}
	return nil
}

// read returns n bytes of f from off, in the follower's buffer.
func (fl *Follower) read(f *dataFile, off, n int64) ([]byte, error) {
	if int64(cap(fl.buf)) < n {
		fl.buf = make([]byte, n)
	}
	b := fl.buf[:n]
	got, err := f.f.ReadAt(b, off)
	if int64(got) < n && err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("journal: read %s: %w", f.name, err)
	}
	return b[:got], nil
}

// apply applies the operations of one good frame at offset off of file f
// to the index of j and reports them to the sink.
func (fl *Follower) apply(j *Journal, f *dataFile, off int64, frame []byte) error {
	sink := fl.opts.Sink
	for p := frameHeaderSize; p < len(frame); {
		v, np := nextOp(frame, p)
		pos := uint32(off) + uint32(p)
		p = np
		_, live := j.recs[v.ID]
		j.applyOp(v.Kind, v.ID, v.Size, f, pos)
		fl.applied++
		var err error
		switch v.Kind {
		case OpAdd:
			if live {
				err = sink.Delete(v.ID)
			}
			if err == nil {
				var data []byte
				if len(v.Data) > 0 {
					data = slices.Clone(v.Data)
				}
				err = sink.Add(Record{ID: v.ID, Type: v.Type, Data: data})
			}
		case OpUpdate:
			if live {
				err = sink.Update(v.ID, Update{Type: v.Type, Data: v.Data})
			}
		case OpDelete:
			if live {
				err = sink.Delete(v.ID)
			}
		}
		if err != nil {
			return fmt.Errorf("record %d in %s at offset %d: %w", v.ID, f.name, pos, err)
		}
	}
	return nil
}

// dropGone forgets files that are gone from the directory and no longer
// hold anything live, nor deletes of adds in files still there: a full
// replay, which does not see them, reaches the same state without them.
func (fl *Follower) dropGone() {
	for seq, f := range fl.idx.files {
		if !f.gone || !f.done || f.liveOps != 0 || fl.killsPresent(f) {
			continue
		}
		if f.f != nil {
			f.f.Close()
		}
		delete(fl.idx.files, seq)
		fl.idx.orderDirty = true
	}
}

// killsPresent reports whether f holds deletes of adds in files that are
// still in the directory.
func (fl *Follower) killsPresent(f *dataFile) bool {
	for s := range f.kills {
		if g := fl.idx.files[s]; g != nil && !g.gone && s != f.seq {
			return true
		}
	}
	return false
}
