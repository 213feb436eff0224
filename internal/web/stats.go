package web

import (
	"encoding/base64"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"tandem/internal/broker"
)

// rateTracker turns the queues' monotonic counters into enqueue and
// dequeue rates for the console and the API. It keeps, per queue, a base
// sample at least rateWindow old and the latest sample; a rate is the
// change since the base divided by the time since it. No goroutine: the
// samples advance as requests read them.
type rateTracker struct {
	now func() time.Time

	mu     sync.Mutex
	queues map[uint64]*queueSamples // by queue id, so a re-created queue starts afresh
}

// rateWindow is the shortest span a rate is measured over.
const rateWindow = 5 * time.Second

type sample struct {
	at           time.Time
	added, acked uint64
}

type queueSamples struct{ base, last sample }

func newRateTracker(now func() time.Time) *rateTracker {
	return &rateTracker{now: now, queues: map[uint64]*queueSamples{}}
}

// rates returns the queue's enqueue and dequeue rates in messages per
// second; 0 until two samples a measurable time apart exist.
func (t *rateTracker) rates(q broker.QueueInfo) (in, out float64) {
	cur := sample{at: t.now(), added: q.Stats.Added, acked: q.Stats.Acked}
	t.mu.Lock()
	defer t.mu.Unlock()
	qs, ok := t.queues[q.ID]
	if !ok {
		if len(t.queues) > 100000 { // a churn of temporary queues: start over
			clear(t.queues)
		}
		t.queues[q.ID] = &queueSamples{base: cur, last: cur}
		return 0, 0
	}
	if cur.at.Sub(qs.last.at) >= rateWindow {
		qs.base = qs.last
	}
	qs.last = cur
	dt := cur.at.Sub(qs.base.at).Seconds()
	if dt <= 0 || cur.added < qs.base.added || cur.acked < qs.base.acked {
		return 0, 0
	}
	return float64(cur.added-qs.base.added) / dt, float64(cur.acked-qs.base.acked) / dt
}

// diskUsage measures the journal directory's size, at most every
// diskCacheFor, because walking a large directory on every page view
// would cost more than the page.
type diskUsage struct {
	now func() time.Time

	mu    sync.Mutex
	dir   string
	at    time.Time
	bytes int64
	files int
}

const diskCacheFor = 10 * time.Second

// usage returns the bytes and regular files under dir (allocated sizes
// are not known portably; pre-allocated journal files count fully).
func (d *diskUsage) usage(dir string) (int64, int) {
	if dir == "" {
		return 0, 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if dir == d.dir && now.Sub(d.at) < diskCacheFor {
		return d.bytes, d.files
	}
	var bytes int64
	files := 0
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil // a file removed during the walk, or unreadable: skip it
		}
		if info, err := e.Info(); err == nil {
			bytes += info.Size()
			files++
		}
		return nil
	})
	d.dir, d.at, d.bytes, d.files = dir, now, bytes, files
	return bytes, files
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
