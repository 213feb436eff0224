package journal

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Open opens or creates the journal in opts.Dir and recovers it: it finishes or
// abandons an interrupted compaction, cuts a torn tail, and refuses with an error
// wrapping ErrCorrupt (naming file and offset) on corruption anywhere else. It
// then calls load once for every live record, in increasing order of the position
// of its surviving add, with its updates in write order. Record.Data and the
// updates' Data are fresh slices the caller may keep (small ones share larger
// allocations). If load returns an error, Open stops and returns it.
func Open(opts Options, load func(rec Record) error) (*Journal, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	j := newJournal(o)
	if err := j.recover(load); err != nil {
		for _, f := range j.files {
			f.f.Close()
		}
		return nil, err
	}
	j.start()
	return j, nil
}

// newJournal returns a journal for normalized options, with an empty index
// and no files, not yet started.
func newJournal(o Options) *Journal {
	return &Journal{
		opts:     o,
		fs:       o.FS,
		log:      o.Logger,
		target:   max(1, o.MinFiles-1),
		kick:     make(chan struct{}, 1),
		exitedCh: make(chan struct{}),
		failedCh: make(chan struct{}),
		files:    make(map[uint64]*dataFile),
		recs:     make(map[uint64]entry),
		upds:     make(map[uint64][]updRef),
		maint:    newMaintainer(),
		compRes:  make(chan *compactResult, 1),
		zero:     make([]byte, min(1<<20, o.FileSize)),
		nextSeq:  1,
		nextGen:  1,
	}
}

// start publishes the recovered state and starts the writer and the
// maintainer.
func (j *Journal) start() {
	j.publish()
	j.wg.Add(2)
	go j.runMaintainer(j.maint)
	go j.run()
}

func (j *Journal) recover(load func(Record) error) error {
	// Whatever replay leaves of the reserve is garbage once it ends.
	j.opts.Reserve.freeHeap()
	defer j.opts.Reserve.close()
	dir := j.opts.Dir
	if err := j.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("journal: create directory %s: %w", dir, err)
	}
	names, err := j.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", dir, err)
	}
	if names, err = j.finishControl(names); err != nil {
		return err
	}
	if err := j.removeLeftovers(names); err != nil {
		return err
	}
	files, err := j.openFiles(names)
	if err != nil {
		return err
	}

	// Pass 0: find where each file's data ends, tell torn tails from
	// corruption, and count operations so the index can be sized up front
	// (growing a map of a million entries costs more than reading files twice).
	walks := make([]walkResult, len(files))
	views := make([]replayView, len(files))
	defer func() {
		for _, v := range views {
			v.release()
		}
	}()
	var buf []byte
	counts := make([]opCounts, len(files))
	mapped := true
	for i, f := range files {
		views[i] = openView(f)
		mapped = mapped && views[i].mapped != nil
	}
	walk := func(i int, data []byte) {
		f := files[i]
		walks[i], _ = walkFrames(data, f.gen, func(_ int64, frame []byte) error {
			counts[i].add(frame)
			return nil
		})
		f.end = walks[i].end
	}
	if mapped && len(files) > 1 {
		// Every file is mapped, so the walks (CRC checks, most of this
		// pass) share nothing and run on all cores.
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range min(runtime.GOMAXPROCS(0), len(files)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
					walk(i, views[i].mapped[:files[i].size])
				}
			}()
		}
		wg.Wait()
	} else {
		for i, f := range files {
			var data []byte
			if data, buf, err = views[i].read(f, f.size, buf); err != nil {
				return fmt.Errorf("journal: read %s: %w", f.name, err)
			}
			walk(i, data)
		}
	}
	var adds, updates, deletes int
	var payload int64 // bytes of all adds' and updates' payloads
	for _, c := range counts {
		adds, updates, deletes, payload = adds+c.adds, updates+c.updates, deletes+c.deletes, payload+c.payload
	}
	j.replayedOps = adds + updates + deletes
	tail := -1
	for i := range walks {
		if walks[i].hasData() {
			tail = i
		}
	}
	for i, f := range files {
		torn, err := verdict(f.name, f.header(), i == tail, walks[i])
		if err != nil {
			return err
		}
		if torn {
			j.log.Warn("journal: cutting a torn write at the end of the journal",
				"file", f.name, "offset", f.end, "reason", walks[i].problem)
			if err := j.zeroRange(f.f, f.end, f.size); err != nil {
				return fmt.Errorf("journal: cut torn tail of %s at offset %d: %w", f.name, f.end, err)
			}
		}
	}

	// Replay copies the live payloads into fresh memory, whose page faults
	// cost more than the copying. For a large journal, fault the first blocks
	// in on another goroutine while pass 1, which uses one core, runs.
	var pre *prefaulter
	reserved := j.opts.Reserve.slabBytes()
	if adds > 0 {
		est := payload / int64(adds) * int64(max(0, adds-deletes))
		pre = startPrefault(est - reserved)
	}
	defer pre.stop()

	// Pass 1: rebuild the index and the per-file accounting.
	live := max(0, adds-deletes)
	j.recs = make(map[uint64]entry, live)
	j.upds = make(map[uint64][]updRef)
	// The common record is an add followed closely, in the same batch, by its
	// updates. The latest add's entry is held back from the map while its
	// updates arrive, so such a record costs one lookup and one insert.
	var pend struct {
		id   uint64
		e    entry
		held bool
	}
	release := func() {
		if pend.held {
			j.recs[pend.id] = pend.e
			j.maxAdd = max(j.maxAdd, pend.id)
			pend.held = false
		}
	}
	for i, f := range files {
		j.files[f.seq] = f
		if f.end <= headerSize {
			continue
		}
		var data []byte
		if data, buf, err = views[i].read(f, f.end, buf); err != nil {
			return fmt.Errorf("journal: read %s: %w", f.name, err)
		}
		for off := int64(headerSize); off < f.end; {
			frame := data[off : off+int64(leUint32(data[off+4:]))]
			for p := frameHeaderSize; p < len(frame); {
				v, np := nextOp(frame, p)
				pos := uint32(off) + uint32(p)
				p = np
				switch {
				case v.Kind == OpUpdate && pend.held && pend.id == v.ID:
					j.addUpdate(v.ID, &pend.e, f.seq, v.Size)
				case v.Kind == OpAdd:
					release()
					if v.ID <= j.maxAdd && j.has(v.ID) {
						j.applyOp(v.Kind, v.ID, v.Size, f, pos)
						continue
					}
					pend.id, pend.e, pend.held = v.ID, entry{seq: f.seq, off: pos, size: v.Size}, true
				default:
					release()
					j.applyOp(v.Kind, v.ID, v.Size, f, pos)
					continue
				}
				f.liveOps++
				f.liveBytes += int64(v.Size)
				j.liveBytes += int64(v.Size)
			}
			off = align8(off + int64(len(frame)))
		}
	}
	release()
	if tail >= 0 {
		// What we just read may only be in the page cache. It has to be durable
		// before anything is written after it, here or in a newer file.
		f := files[tail]
		if err := f.f.Datasync(); err != nil {
			return fmt.Errorf("journal: sync %s: %w", f.name, err)
		}
		f.synced = f.end
	}

	if j.opts.Indexed != nil {
		j.opts.Indexed(len(j.recs))
	}
	pre.limit(j.liveBytes - reserved)
	if err := j.deliver(files, views, load, pre); err != nil {
		return err
	}
	return j.setupCurrent(files, tail)
}

func (f *dataFile) header() FileHeader {
	return FileHeader{Version: formatVersion, Seq: f.seq, Gen: f.gen, Epoch: f.epoch, Compacted: f.compacted}
}

// finishControl completes a compaction whose control file made it to disk: the
// outputs replace the old files. Every step is idempotent, so a crash in here is
// handled by the next Open doing it again.
func (j *Journal) finishControl(names []string) ([]string, error) {
	prefix := j.opts.Prefix
	ctl := ctlName(prefix)
	if !slices.Contains(names, ctl) {
		return names, nil
	}
	b, err := readSmallFile(j.fs, j.path(ctl))
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", ctl, err)
	}
	oldSeqs, newSeqs, reason := decodeControl(b)
	if reason != "" {
		return nil, corruptf(ctl, 0, "%s", reason)
	}
	for _, s := range newSeqs {
		if slices.Contains(names, cmpName(prefix, s)) {
			if err := j.fs.Rename(j.path(cmpName(prefix, s)), j.path(dataName(prefix, s))); err != nil {
				return nil, fmt.Errorf("journal: finish compaction: %w", err)
			}
		}
	}
	for _, s := range oldSeqs {
		if !slices.Contains(newSeqs, s) && slices.Contains(names, dataName(prefix, s)) {
			if err := j.fs.Remove(j.path(dataName(prefix, s))); err != nil {
				return nil, fmt.Errorf("journal: finish compaction: %w", err)
			}
		}
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return nil, fmt.Errorf("journal: finish compaction: %w", err)
	}
	if err := j.fs.Remove(j.path(ctl)); err != nil {
		return nil, fmt.Errorf("journal: finish compaction: %w", err)
	}
	if err := j.fs.SyncDir(j.opts.Dir); err != nil {
		return nil, fmt.Errorf("journal: finish compaction: %w", err)
	}
	j.log.Info("journal: finished an interrupted compaction", "files", len(oldSeqs), "outputs", len(newSeqs))
	names, err = j.fs.ReadDir(j.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("journal: list %s: %w", j.opts.Dir, err)
	}
	return names, nil
}

// removeLeftovers deletes files of unfinished work: files being prepared,
// uncommitted compaction outputs and half-written control files.
func (j *Journal) removeLeftovers(names []string) error {
	removed := false
	for _, n := range names {
		switch kind, _ := parseName(j.opts.Prefix, n); kind {
		case nameTmp, nameCmp, nameCtlTmp:
			if err := j.fs.Remove(j.path(n)); err != nil {
				return fmt.Errorf("journal: remove leftover: %w", err)
			}
			removed = true
		}
	}
	if removed {
		if err := j.fs.SyncDir(j.opts.Dir); err != nil {
			return fmt.Errorf("journal: sync %s: %w", j.opts.Dir, err)
		}
	}
	return nil
}

// openFiles opens the data files, checks their headers and returns them in
// sequence order.
func (j *Journal) openFiles(names []string) ([]*dataFile, error) {
	var files []*dataFile
	closeAll := func() {
		for _, f := range files {
			f.f.Close()
		}
	}
	for _, n := range names {
		kind, seq := parseName(j.opts.Prefix, n)
		if kind != nameData {
			continue
		}
		f, h, size, err := openData(j.fs, j.path(n), n, seq, os.O_RDWR)
		if err != nil {
			closeAll()
			return nil, err
		}
		files = append(files, &dataFile{
			seq: h.Seq, gen: h.Gen, epoch: h.Epoch, compacted: h.Compacted,
			name: n, f: f, size: size, end: headerSize, synced: headerSize,
		})
		j.maxEpoch = max(j.maxEpoch, h.Epoch)
		j.nextSeq = max(j.nextSeq, h.Seq+1)
		j.nextGen = max(j.nextGen, h.Gen+1)
	}
	slices.SortFunc(files, func(a, b *dataFile) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	return files, nil
}

// openData opens one data file and validates its header against its name.
func openData(fs FS, path, name string, seq uint64, flag int) (File, FileHeader, int64, error) {
	f, err := fs.OpenFile(path, flag, 0)
	if err != nil {
		return nil, FileHeader{}, 0, fmt.Errorf("journal: open %s: %w", name, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, FileHeader{}, 0, fmt.Errorf("journal: stat %s: %w", name, err)
	}
	var hb [headerSize]byte
	n, _ := f.ReadAt(hb[:], 0)
	h, reason := decodeHeader(hb[:n])
	if reason == "" && h.Seq != seq {
		reason = fmt.Sprintf("header has sequence number %d, the name says %d", h.Seq, seq)
	}
	if reason != "" {
		f.Close()
		return nil, h, 0, corruptf(name, 0, "%s", reason)
	}
	return f, h, size, nil
}

func readSmallFile(fs FS, path string) ([]byte, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > 64<<20 {
		return nil, fmt.Errorf("%s: %d bytes is too large for a control file", path, size)
	}
	return readAll(f, size, nil)
}

// restampEmpty gives an empty file of an older epoch this process's epoch and
// a new generation, in place. Unlike recycling, no rename is needed: the file
// holds no frames of an earlier life, and its 64-byte header is rewritten by
// one write within one sector, so a crash leaves either the old header or
// the new one, both describing an empty file.
func (j *Journal) restampEmpty(f *dataFile) error {
	gen := j.nextGen
	var hb [headerSize]byte
	encodeHeader(hb[:], FileHeader{Seq: f.seq, Gen: gen, Epoch: j.opts.Epoch})
	if err := j.mutate(func() error { _, err := f.f.WriteAt(hb[:], 0); return err }); err != nil {
		return fmt.Errorf("journal: re-stamp %s: %w", f.name, err)
	}
	if err := f.f.Datasync(); err != nil {
		return fmt.Errorf("journal: sync re-stamped %s: %w", f.name, err)
	}
	j.nextGen++
	f.gen, f.epoch, f.ready = gen, j.opts.Epoch, false
	return nil
}

// setupCurrent picks the file new writes go to: the tail file if this process
// stamped it, else the first empty file this process stamped, else a new one.
// Other empty files are left to reclaim.
func (j *Journal) setupCurrent(files []*dataFile, tail int) error {
	var cur *dataFile
	if tail >= 0 {
		t := files[tail]
		if t.epoch == j.opts.Epoch && !t.compacted && t.space() >= frameHeaderSize+opHeaderSize+frameAlign {
			cur = t
		}
	}
	for _, f := range files[tail+1:] {
		mine := f.epoch == j.opts.Epoch && !f.compacted && f.size == j.opts.FileSize
		switch {
		case !mine:
		case cur == nil:
			cur = f
		case f.seq > cur.seq:
			f.ready = true
			j.ready = append(j.ready, f)
		}
	}
	if cur == nil {
		// A new epoch (an HA takeover) cannot append to the old epoch's
		// files, but an empty pre-allocated one of them only needs a new
		// header: re-stamping it costs one small write and a sync, where a
		// new file costs zero-filling FileSize bytes on the takeover path.
		for _, f := range files[tail+1:] {
			if f.ready || f.compacted || f.size != j.opts.FileSize || f.end != headerSize {
				continue
			}
			if err := j.restampEmpty(f); err != nil {
				j.log.Warn("journal: could not re-stamp an empty file; creating a new one", "file", f.name, "err", err)
				break
			}
			cur = f
			break
		}
	}
	if cur == nil {
		f, err := j.createFile(j.nextSeq, j.nextGen, j.opts.FileSize)
		if err != nil {
			return err
		}
		j.nextSeq++
		j.nextGen++
		f.ready = false
		j.files[f.seq] = f
		cur = f
	}
	j.cur = cur
	j.recount()
	return nil
}

// recount recomputes the file totals from the files.
func (j *Journal) recount() {
	j.dataFiles, j.usedBytes = 0, 0
	for _, f := range j.files {
		if !f.ready {
			j.dataFiles++
			j.usedBytes += f.used()
		}
	}
	j.orderDirty = true
}

// pendingRec is a live record found on replay that still waits for updates
// stored further on.
type pendingRec struct {
	rec  Record
	left int
}

// liveAdds returns, per file, the offsets of the surviving adds in increasing
// order, each with the number of live updates of its record in the low 32 bits.
// Walking the index once in memory order and sorting beats a random index
// lookup per add on replay.
func (j *Journal) liveAdds() map[uint64][]uint64 {
	lists := make(map[uint64][]uint64, len(j.files))
	for _, e := range j.recs {
		lists[e.seq] = append(lists[e.seq], uint64(e.off)<<32|uint64(e.inlineCount()))
	}
	var tmp []uint64
	for _, l := range lists {
		tmp = sortHigh32(l, tmp)
	}
	for id, refs := range j.upds {
		e := j.recs[id]
		l := lists[e.seq]
		i, _ := slices.BinarySearch(l, uint64(e.off)<<32)
		for _, r := range refs {
			l[i] += uint64(r.n)
		}
	}
	return lists
}

// sortHigh32 sorts keys by their high 32 bits with an LSD radix sort (a byte at
// a time, only as many bytes as the largest key needs), which on a million keys
// is several times faster than a comparison sort. tmp is scratch space, returned
// for reuse.
func sortHigh32(keys, tmp []uint64) []uint64 {
	var top uint64
	for _, k := range keys {
		top = max(top, k>>32)
	}
	if cap(tmp) < len(keys) {
		tmp = make([]uint64, len(keys))
	}
	tmp = tmp[:len(keys)]
	src, dst := keys, tmp
	for shift := uint(32); shift < 64 && top>>(shift-32) != 0; shift += 8 {
		var count [257]int
		for _, k := range src {
			count[(k>>shift)&0xff+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, k := range src {
			b := (k >> shift) & 0xff
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	if len(keys) > 0 && &src[0] != &keys[0] {
		copy(keys, src)
	}
	return tmp
}

// deliver is replay's second pass: it reads the files again and hands each live
// record to load, in order of its surviving add, once all its updates are in.
func (j *Journal) deliver(files []*dataFile, views []replayView, load func(Record) error, pre *prefaulter) error {
	var (
		buf     []byte
		q       []pendingRec
		head    int
		waiting = make(map[uint64]int) // id -> index in q
		mem     = slab{pre: pre, res: j.opts.Reserve}
		err     error
		live    = j.liveAdds()
	)
	flush := func() error {
		for head < len(q) && q[head].left == 0 {
			if err := load(q[head].rec); err != nil {
				return err
			}
			q[head] = pendingRec{}
			head++
		}
		if head == len(q) {
			q, head = q[:0], 0
		} else if head > 1024 && head > len(q)/2 {
			n := copy(q, q[head:])
			clear(q[n:])
			q = q[:n]
			for id, i := range waiting {
				waiting[id] = i - head
			}
			head = 0
		}
		return nil
	}
	for i, f := range files {
		if f.end <= headerSize {
			continue
		}
		adds := live[f.seq]
		delete(live, f.seq)
		var data []byte
		if data, buf, err = views[i].read(f, f.end, buf); err != nil {
			return fmt.Errorf("journal: read %s: %w", f.name, err)
		}
		for off := int64(headerSize); off < f.end; {
			frame := data[off : off+int64(leUint32(data[off+4:]))]
			for p := frameHeaderSize; p < len(frame); {
				v, np := nextOp(frame, p)
				pos := uint32(off) + uint32(p)
				p = np
				switch v.Kind {
				case OpAdd:
					if len(adds) == 0 || uint32(adds[0]>>32) != pos {
						continue
					}
					n := int(uint32(adds[0]))
					adds = adds[1:]
					rec := Record{ID: v.ID, Type: v.Type, Data: mem.copy(v.Data)}
					if n == 0 && head == len(q) {
						if err := load(rec); err != nil {
							return err
						}
						continue
					}
					if n > 0 {
						rec.Updates = make([]Update, 0, n)
						waiting[v.ID] = len(q)
					}
					q = append(q, pendingRec{rec: rec, left: n})
				case OpUpdate:
					i, ok := waiting[v.ID]
					if !ok {
						continue
					}
					pr := &q[i]
					pr.rec.Updates = append(pr.rec.Updates, Update{Type: v.Type, Data: mem.copy(v.Data)})
					if pr.left--; pr.left == 0 {
						delete(waiting, v.ID)
						if i == head {
							if err := flush(); err != nil {
								return err
							}
						}
					}
				}
			}
			off = align8(off + int64(len(frame)))
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if head != len(q) {
		return fmt.Errorf("journal: internal error: %d records still wait for updates after replay", len(q)-head)
	}
	return nil
}

// Slab blocks start small, so a small journal costs little memory, and
// double up to slabBlock. Replay of a large journal copies hundreds of
// megabytes into fresh memory, where the cost is the page faults of first
// touch rather than the copy; the large blocks are backed by huge pages where
// the kernel allows (see hugeBlock) and prefaulted on another goroutine.
const (
	slabFirst    = 64 << 10
	slabBlock    = 32 << 20
	slabPrefault = 4 << 20
)

// slab hands out copies of small payloads carved from shared blocks, so replay
// does not make one allocation per record. Once blocks are large, the next one
// is allocated and its pages touched on another goroutine while the current one
// fills, so the page faults of fresh memory run beside the copying instead of in
// its way.
type slab struct {
	block []byte
	size  int
	next  chan []byte
	pre   *prefaulter // blocks faulted in ahead of replay, if any
	res   *Reserve    // blocks faulted in before Open, taken first
}

func (s *slab) copy(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > 4<<10 {
		return slices.Clone(b)
	}
	if cap(s.block)-len(s.block) < len(b) {
		s.block = s.take()
	}
	start := len(s.block)
	s.block = append(s.block, b...)
	return s.block[start:len(s.block):len(s.block)]
}

// take returns the next block: twice the size of the last, up to slabBlock.
func (s *slab) take() []byte {
	if b := s.res.take(); b != nil {
		s.size = slabBlock
		return b
	}
	if s.pre != nil {
		if b, ok := <-s.pre.blocks; ok {
			s.size = slabBlock
			return b
		}
		s.pre = nil
	}
	s.size = min(max(2*s.size, slabFirst), slabBlock)
	if s.size < slabPrefault {
		return make([]byte, 0, s.size)
	}
	var b []byte
	if s.next != nil && cap(s.next) == 1 {
		b = <-s.next
	}
	if cap(b) < s.size {
		b = hugeBlock(s.size)
	}
	next := make(chan []byte, 1)
	s.next = next
	size := min(2*s.size, slabBlock)
	go func() { next <- touchedBlock(size) }()
	return b
}

// prefaultMin is the smallest estimate of live payload bytes for which
// replay faults memory in ahead of time.
const prefaultMin = 2 * slabBlock

// prefaulter allocates slab blocks and touches their pages on a goroutine of
// its own, up to a budget of bytes that can be lowered while it runs.
type prefaulter struct {
	blocks chan []byte
	want   atomic.Int64
	quit   atomic.Bool
}

// startPrefault starts faulting in blocks for about est bytes of payload, or
// returns nil (a valid, idle prefaulter) when est is too small to bother.
func startPrefault(est int64) *prefaulter {
	if est < prefaultMin {
		return nil
	}
	p := &prefaulter{blocks: make(chan []byte, est/slabBlock+1)}
	p.want.Store(est)
	go func() {
		defer close(p.blocks)
		for made := int64(0); made < p.want.Load() && !p.quit.Load(); made += slabBlock {
			p.blocks <- touchedBlock(slabBlock)
		}
	}()
	return p
}

// limit lowers the budget to the live payload bytes, once they are known.
func (p *prefaulter) limit(n int64) {
	if p != nil {
		p.want.Store(n)
	}
}

// stop ends the goroutine early; blocks it made are left to the collector.
func (p *prefaulter) stop() {
	if p != nil {
		p.quit.Store(true)
	}
}

// replayView is how replay reads one file: through a read-only mapping of it
// when there is one, otherwise by copying it into a reused buffer.
type replayView struct {
	mapped []byte
	unmap  func()
}

// openView maps f for replay when the file system allows it.
func openView(f *dataFile) replayView {
	if b, unmap, ok := mapForReplay(f.f, f.size); ok {
		return replayView{mapped: b, unmap: unmap}
	}
	return replayView{}
}

// read returns the first n bytes of f, and buf for reuse.
func (v replayView) read(f *dataFile, n int64, buf []byte) (data, rbuf []byte, err error) {
	if v.mapped != nil && n <= int64(len(v.mapped)) {
		return v.mapped[:n], buf, nil
	}
	buf, err = readAll(f.f, n, buf)
	return buf, buf, err
}

func (v replayView) release() {
	if v.unmap != nil {
		v.unmap()
	}
}

// opCounts counts the operations of a file's frames in replay's first pass.
type opCounts struct {
	adds, updates, deletes int
	payload                int64 // bytes of the adds' and updates' payloads
}

func (c *opCounts) add(frame []byte) {
	for p := frameHeaderSize; p < len(frame); {
		switch OpKind(frame[p]) {
		case OpAdd:
			c.adds++
			c.payload += int64(leUint32(frame[p+2:]))
		case OpUpdate:
			c.updates++
			c.payload += int64(leUint32(frame[p+2:]))
		case OpDelete:
			c.deletes++
		}
		p += opHeaderSize + int(leUint32(frame[p+2:]))
	}
}
