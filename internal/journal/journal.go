package journal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the journal. They are wrapped with context; test with errors.Is.
var (
	// ErrCorrupt means the files on disk do not check out somewhere a torn write
	// cannot explain. The message names the file and byte offset.
	ErrCorrupt = errors.New("journal: corrupt")
	// ErrClosed is returned by writes submitted after Close.
	ErrClosed = errors.New("journal: closed")
	// ErrFenced is the error Fence uses when it is given nil.
	ErrFenced = errors.New("journal: fenced")
	// ErrFailed means an earlier write or sync failed, so the journal stopped
	// writing; reopen it to recover.
	ErrFailed = errors.New("journal: stopped after an I/O error")
	// ErrInvalidOp is returned for an operation with an unknown kind.
	ErrInvalidOp = errors.New("journal: invalid operation")
	// ErrTooLarge is returned for a batch whose encoding exceeds MaxBatchSize.
	ErrTooLarge = errors.New("journal: batch too large")
	// ErrBadOptions is returned by Open for options that cannot work.
	ErrBadOptions = errors.New("journal: bad options")
)

// OpKind is the kind of an operation.
type OpKind uint8

// The operation kinds. Their values are part of the on-disk format.
const (
	OpAdd    OpKind = 1 // creates record ID (live from now on); replaces it if already live
	OpUpdate OpKind = 2 // appends an update to a live record ID (ignored on replay if the ID is not live)
	OpDelete OpKind = 3 // kills record ID and all its updates
)

// String returns the lower-case name of the kind.
func (k OpKind) String() string {
	switch k {
	case OpAdd:
		return "add"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Op is one operation of a batch.
type Op struct {
	Kind OpKind
	ID   uint64
	Type uint8  // caller's record type, opaque to the journal (unused for OpDelete)
	Data []byte // opaque payload (unused for OpDelete)
}

// Update is one update of a live record, as delivered on load.
type Update struct {
	Type uint8
	Data []byte
}

// Record is a live record as delivered on load.
type Record struct {
	ID      uint64
	Type    uint8
	Data    []byte
	Updates []Update // in write order
}

// Options configures Open. The zero value of every field but Dir means its default.
type Options struct {
	Dir           string        // created if missing
	Prefix        string        // file name prefix (default "tandem"); data files are <prefix>-<seq>.tj
	FileSize      int64         // size of each pre-allocated file (default 10 MiB)
	MinFiles      int           // MinFiles-1 (at least 1) empty files kept ready ahead of the current one, plus one recycled spare (default 2)
	Sync          bool          // fdatasync durable writes; when false they return after write(2)
	BufferTimeout time.Duration // extra time the writer may wait to gather a bigger batch (default 0)
	// BufferedWrites writes frames through the page cache even where the
	// file system supports direct I/O (see DirectFS).
	BufferedWrites bool
	Epoch          uint64 // fencing epoch stamped into the header of every file this process creates

	// CompactMinFiles is the number of data files below which compaction is not
	// considered (default 10); negative disables automatic compaction.
	CompactMinFiles int
	// CompactPercentage: compact when live bytes are below this percentage of used
	// bytes (default 30); negative disables automatic compaction.
	CompactPercentage int

	FS     FS           // file system; nil means OSFS
	Logger *slog.Logger // nil discards

	// Reserve, when set, holds memory faulted in before Open for the
	// payloads replay copies (see Reserve). Open empties it.
	Reserve *Reserve

	// Indexed, when set, is called by Open once replay has indexed the
	// journal and before the first call of load, with the number of live
	// records load is about to be called for (so the caller can size what it
	// builds from them).
	Indexed func(live int)
}

func (o Options) normalize() (Options, error) {
	if o.Dir == "" {
		return o, fmt.Errorf("%w: Dir is empty", ErrBadOptions)
	}
	if o.Prefix == "" {
		o.Prefix = "tandem"
	}
	if strings.ContainsAny(o.Prefix, `/\`) || o.Prefix == "." || o.Prefix == ".." {
		return o, fmt.Errorf("%w: Prefix %q must be a plain file name", ErrBadOptions, o.Prefix)
	}
	if o.FileSize == 0 {
		o.FileSize = 10 << 20
	}
	if o.FileSize < minFileSize || o.FileSize > maxFileSize {
		return o, fmt.Errorf("%w: FileSize %d outside [%d, %d]", ErrBadOptions, o.FileSize, minFileSize, int64(maxFileSize))
	}
	o.FileSize = align8(o.FileSize)
	if o.MinFiles <= 0 {
		o.MinFiles = 2
	}
	if o.BufferTimeout < 0 {
		o.BufferTimeout = 0
	}
	if o.CompactMinFiles == 0 {
		o.CompactMinFiles = 10
	}
	if o.CompactPercentage == 0 {
		o.CompactPercentage = 30
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o, nil
}

// Stats is a snapshot of the journal's counters.
type Stats struct {
	Files          int    // data files, the current one included
	ReadyFiles     int    // empty pre-allocated files waiting to become current
	BytesUsed      int64  // bytes of frames in data files (what compaction can shrink)
	BytesLive      int64  // encoded bytes of live records and their updates
	Records        int    // live records
	Batches        uint64 // batches written since Open
	Writes         uint64 // write(2) calls for batches since Open
	Syncs          uint64 // fdatasync calls of data files since Open
	BytesWritten   uint64 // bytes written for batches since Open
	Compactions    uint64 // compactions committed since Open
	ReclaimedFiles uint64 // data files recycled or removed since Open
}

// Journal is an open journal. Its methods are safe for concurrent use.
type Journal struct {
	opts   Options
	fs     FS
	log    *slog.Logger
	target int // ready files to keep ahead of the current one

	// Submission side.
	mu      sync.Mutex
	pending []*request
	closing bool
	exited  bool
	kick    chan struct{}

	// Group-commit pacing, owned by the writer goroutine (see gather).
	released         int
	waitingAtRelease int
	lastSyncDur      time.Duration
	releasedAt       time.Time
	returnAvg        time.Duration
	gatherTimer      *time.Timer
	exitedCh         chan struct{}
	lateMu           sync.Mutex // serializes done callbacks run after the writer exited
	reqPool          sync.Pool
	closeErr         error

	// ioMu is held around every call that changes the disk, so that once Fence
	// returns nothing more is written.
	ioMu     sync.Mutex
	fenceErr error // guarded by ioMu
	fenced   atomic.Bool
	// confirmMu is held while the outcomes of written batches are decided
	// and reported, so that Fence can wait for a confirmation in progress:
	// a batch is confirmed before Fence returns, or not at all.
	confirmMu sync.Mutex

	// runMu is held by whoever does the writer's work: the writer goroutine
	// for each round of its loop, or a WriteInline caller that found the
	// journal idle. Everything below marked writer-owned is guarded by it.
	runMu  sync.Mutex
	inline []*request // WriteInline's one-request group

	// Writer-owned state; Open fills it in before the writer starts.
	files       map[uint64]*dataFile
	order       []*dataFile
	orderDirty  bool
	cur         *dataFile
	ready       []*dataFile
	nextSeq     uint64
	nextGen     uint64
	failErr     error
	failedCh    chan struct{} // closed when failErr is set
	buf         []byte
	frames      []frameDesc
	spare       []*request
	ctl         []*request
	timer       *time.Timer
	maint       *maintainer
	comp        *compaction
	compRes     chan *compactResult
	compTried   uint64 // current-file seq at the last automatic compaction attempt
	prepBackoff bool   // preparing a file failed; wait for a rollover before retrying
	dataFiles   int
	usedBytes   int64
	liveBytes   int64
	counters    Stats
	syncHist    syncHistogram // fdatasync latencies of group commits (stats.go)

	// idxMu guards recs and upds: the writer changes them under Lock, the
	// compactor reads them under RLock.
	idxMu sync.RWMutex
	recs  map[uint64]entry
	upds  map[uint64][]updRef
	// maxAdd is at least every id in recs, so that an add of a higher id,
	// the usual case since ids grow, skips the lookup for an add it
	// replaces: one map access per record instead of two, and the index
	// of a deep journal is too big for the caches.
	maxAdd uint64

	maxEpoch    uint64
	replayedOps int    // operations read by Open's replay
	zero        []byte // read-only block of zeros for pre-allocation and repair
	direct      directTail

	statsMu sync.Mutex
	stats   Stats

	wg sync.WaitGroup

	// afterCopy, when set by a test before compaction starts, runs on the
	// compactor goroutine once the live records are copied and before the
	// writer commits them.
	afterCopy func()
}

// reqKind distinguishes batches from control requests that travel the same queue
// so that they are ordered with the writes before them.
type reqKind uint8

const (
	reqWrite reqKind = iota
	reqSettle
	reqCompact
)

type request struct {
	kind    reqKind
	ops     []Op
	durable bool
	done    func(error)
	ch      chan error
	reject  error // set at submission: the request must fail with this
	err     error // set by the writer when the batch itself is invalid
	skip    bool  // not written (invalid or rejected)
}

func (j *Journal) path(name string) string { return filepath.Join(j.opts.Dir, name) }

// MaxEpoch returns the highest epoch found in any file header at Open time.
func (j *Journal) MaxEpoch() uint64 { return j.maxEpoch }

// Stats returns a snapshot of the journal's counters.
func (j *Journal) Stats() Stats {
	j.statsMu.Lock()
	defer j.statsMu.Unlock()
	return j.stats
}

// Write appends ops as one atomic batch: after a crash either all of them are
// replayed or none. If durable is true and Options.Sync is set, Write returns
// only after an fdatasync covering the batch; concurrent writes share one write
// and one fdatasync (group commit). The journal does not retain ops after Write
// returns.
func (j *Journal) Write(ops []Op, durable bool) error {
	r := j.getReq()
	r.kind, r.ops, r.durable = reqWrite, ops, durable
	j.submit(r)
	err := <-r.ch
	j.putReq(r)
	return err
}

// WriteAsync is Write without blocking: done is called from the writer goroutine,
// never concurrently and in submission order, once the batch is durable (or
// written, for a non-durable batch) or has failed. done must not block; in
// particular it must not call Write, Sync, Compact or Close, which wait for the
// writer goroutine it runs on. ops and
// their Data must stay unchanged until done is called; the journal does not
// retain them afterwards. Once the journal is closed, done is called with
// ErrClosed before WriteAsync returns.
func (j *Journal) WriteAsync(ops []Op, durable bool, done func(error)) {
	r := j.getReq()
	r.kind, r.ops, r.durable, r.done = reqWrite, ops, durable, done
	j.submit(r)
}

// WriteInline is WriteAsync for a caller that has nothing to do but wait
// for done: when the journal is idle (no batch being written or waiting,
// and the last group confirmed at most one batch), the caller's goroutine
// writes and syncs the batch itself and done runs before WriteInline
// returns. That saves the hand-off to the writer goroutine and back, which
// on a machine whose idle cores sleep is a good part of a lone producer's
// round trip. When the journal is busy the batch joins the next group as
// with WriteAsync, since there it shares a sync with others. done has
// WriteAsync's constraints, and the caller must hold no lock that done
// takes.
func (j *Journal) WriteInline(ops []Op, durable bool, done func(error)) {
	if !j.runMu.TryLock() {
		j.WriteAsync(ops, durable, done)
		return
	}
	j.mu.Lock()
	idle := len(j.pending) == 0 && !j.closing && !j.exited
	j.mu.Unlock()
	// Without a ready file a rollover would wait for the maintainer's
	// notification, which the writer goroutine may have taken meanwhile;
	// leave that wait to the writer goroutine.
	if !idle || j.released+j.waitingAtRelease > 1 || j.opts.BufferTimeout > 0 || len(j.ready) == 0 {
		j.runMu.Unlock()
		j.WriteAsync(ops, durable, done)
		return
	}
	if j.drainMaint() != nil {
		j.prepBackoff = true
	}
	r := j.getReq()
	r.kind, r.ops, r.durable, r.done = reqWrite, ops, durable, done
	j.inline = append(j.inline[:0], r)
	j.process(j.inline)
	j.inline[0] = nil
	j.maintain()
	j.publish()
	j.runMu.Unlock()
	// Batches submitted meanwhile found the writer goroutine asleep or
	// waiting for runMu; make sure it looks.
	if j.hasPending() {
		j.wake()
	}
}

// Sync makes everything written so far durable.
func (j *Journal) Sync() error { return j.Write(nil, true) }

// Compact compacts every data file older than the current one now, whatever the
// thresholds say, and waits for it to finish. It returns nil when there is
// nothing to compact.
func (j *Journal) Compact() error { return j.control(reqCompact) }

// settle waits until every pending file retirement and preparation has finished
// and reclaim has nothing left to do. Tests use it to observe a quiet journal.
func (j *Journal) settle() error { return j.control(reqSettle) }

func (j *Journal) control(kind reqKind) error {
	r := j.getReq()
	r.kind = kind
	j.submit(r)
	err := <-r.ch
	j.putReq(r)
	return err
}

// Fence makes every later Write and WriteAsync fail with err (ErrFenced when err
// is nil) and stops all writing: once Fence returns, the journal changes nothing
// on disk any more, not even through compaction or reclaim. Batches not yet
// written fail with err; batches whose sync had not completed fail too, even if
// their bytes reached the disk, because a fenced process must not confirm them.
// Fence waits for a write(2) and for a run of done callbacks in progress, so
// no batch is confirmed after it returns; it must therefore not be called
// from a done callback.
func (j *Journal) Fence(err error) {
	if err == nil {
		err = ErrFenced
	}
	j.ioMu.Lock()
	if j.fenceErr == nil {
		j.fenceErr = err
		j.fenced.Store(true)
	}
	j.ioMu.Unlock()
	// A writer that decided its batches' outcomes before the flag was set
	// may be running their callbacks: let it finish.
	j.confirmMu.Lock()
	//lint:ignore SA2001 the lock is taken only to wait for its holder
	j.confirmMu.Unlock()
	j.wake()
}

// Close flushes and syncs pending work, stops the background work and closes
// the files. Writes submitted after Close fail with ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	already := j.closing
	j.closing = true
	j.mu.Unlock()
	j.wake()
	<-j.exitedCh
	j.wg.Wait()
	if already {
		return nil
	}
	return j.closeErr
}

func (j *Journal) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *Journal) getReq() *request {
	if r, ok := j.reqPool.Get().(*request); ok {
		return r
	}
	return &request{ch: make(chan error, 1)}
}

func (j *Journal) putReq(r *request) {
	*r = request{ch: r.ch}
	j.reqPool.Put(r)
}

func (j *Journal) submit(r *request) {
	j.mu.Lock()
	if j.exited {
		j.mu.Unlock()
		j.lateMu.Lock()
		defer j.lateMu.Unlock()
		j.complete(r, ErrClosed)
		return
	}
	if j.closing {
		r.reject = ErrClosed
	}
	j.pending = append(j.pending, r)
	j.mu.Unlock()
	j.wake()
}

// complete reports the outcome of r to its submitter and recycles r when the
// submitter will not.
func (j *Journal) complete(r *request, err error) {
	if r.done != nil {
		done := r.done
		j.putReq(r)
		done(err)
		return
	}
	r.ch <- err
}

// Failed is closed when the journal stops writing after an I/O error
// (ErrFailed): from then on every write fails, and only reopening the
// journal, which replays it, recovers. It is never closed for a journal
// that is closed normally or fenced.
func (j *Journal) Failed() <-chan struct{} { return j.failedCh }

// Failure returns the error that stopped the journal; it may be read once
// Failed is closed (the close orders the write before the read).
func (j *Journal) Failure() error {
	select {
	case <-j.failedCh:
		return j.failErr
	default:
		return nil
	}
}

// Exited is closed when the journal's writer has stopped, after Close.
func (j *Journal) Exited() <-chan struct{} { return j.exitedCh }

// blockedErr returns the error every new write must fail with, if any.
func (j *Journal) blockedErr() error {
	if j.fenced.Load() {
		j.ioMu.Lock()
		defer j.ioMu.Unlock()
		return j.fenceErr
	}
	return j.failErr
}

// fail makes the journal stop writing for good after an I/O error.
func (j *Journal) fail(err error) error {
	if j.failErr == nil {
		j.failErr = fmt.Errorf("%w: %w", ErrFailed, err)
		if j.failedCh != nil {
			close(j.failedCh)
		}
		j.log.Error("journal stopped writing after an I/O error; reopen it to recover", "dir", j.opts.Dir, "err", err)
	}
	return j.failErr
}

// mutate runs fn, a call that changes the disk, unless the journal is fenced.
func (j *Journal) mutate(fn func() error) error {
	j.ioMu.Lock()
	defer j.ioMu.Unlock()
	if j.fenceErr != nil {
		return j.fenceErr
	}
	return fn()
}

func (j *Journal) publish() {
	s := j.counters
	s.Files = j.dataFiles
	s.ReadyFiles = len(j.ready)
	s.BytesUsed = j.usedBytes
	s.BytesLive = j.liveBytes
	s.Records = len(j.recs)
	j.statsMu.Lock()
	j.stats = s
	j.statsMu.Unlock()
}
