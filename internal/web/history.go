package web

import (
	"context"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// The console's charts show message rates and depths over the last
// minutes. The server samples the queues' counters at a fixed interval
// into ring buffers (no goroutine per queue, no disk), and /api/history
// hands the series to the page, which draws them.

// Sampling defaults: one sample every two seconds, fifteen minutes kept.
const (
	defaultSampleEvery = 2 * time.Second
	historyPoints      = 450
	// maxTrackedQueues bounds the per-queue series; queues beyond it get
	// no history (the broker totals still count them).
	maxTrackedQueues = 1000
	// sparklinePoints is how many recent depths a queue's sparkline shows.
	sparklinePoints = 60
)

// series is a ring of samples: the time, the rates in and out (messages
// per second) and the depth. A sample taken while the node was not live is
// a gap (NaN rates, depth -1).
type series struct {
	n     int // samples held
	next  int // where the next one goes
	times []int64
	in    []float32
	out   []float32
	depth []int32
}

func newSeries(capacity int) *series {
	return &series{times: make([]int64, capacity), in: make([]float32, capacity), out: make([]float32, capacity),
		depth: make([]int32, capacity)}
}

func (s *series) add(at time.Time, in, out float64, depth int) {
	i := s.next
	s.times[i], s.in[i], s.out[i] = at.UnixMilli(), float32(in), float32(out)
	s.depth[i] = int32(min(depth, math.MaxInt32))
	s.next = (i + 1) % len(s.times)
	s.n = min(s.n+1, len(s.times))
}

// gap records a sample without data.
func (s *series) gap(at time.Time) { s.add(at, math.NaN(), math.NaN(), -1) }

// last returns the index of the k-th most recent sample (k = 0 is the
// latest).
func (s *series) index(k int) int { return (s.next - 1 - k + 2*len(s.times)) % len(s.times) }

// HistoryJSON is the body of GET /api/history: samples oldest first, with
// null where the node was not serving.
type HistoryJSON struct {
	// Queue names the queue, "" for the broker's totals.
	Queue           string      `json:"queue,omitempty"`
	IntervalSeconds float64     `json:"intervalSeconds"`
	Times           []int64     `json:"times"` // unix milliseconds
	In              []jsonFloat `json:"in"`    // messages added per second
	Out             []jsonFloat `json:"out"`   // messages acknowledged per second
	Depth           []jsonFloat `json:"depth"`
}

// SparklinesJSON is the body of GET /api/history?view=sparklines: each
// tracked queue's recent depths, oldest first.
type SparklinesJSON struct {
	IntervalSeconds float64                `json:"intervalSeconds"`
	Queues          map[string][]jsonFloat `json:"queues"`
}

// jsonFloat is a number that encodes NaN (and a negative depth) as null.
type jsonFloat float64

// MarshalJSON writes the number with at most three decimals, or null.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(v*1000)/1000, 'f', -1, 64), nil
}

func (s *series) json(every time.Duration, queue string) HistoryJSON {
	h := HistoryJSON{Queue: queue, IntervalSeconds: every.Seconds(), Times: make([]int64, s.n),
		In: make([]jsonFloat, s.n), Out: make([]jsonFloat, s.n), Depth: make([]jsonFloat, s.n)}
	for k := 0; k < s.n; k++ {
		i, j := s.index(s.n-1-k), k
		h.Times[j], h.In[j], h.Out[j], h.Depth[j] = s.times[i], jsonFloat(s.in[i]), jsonFloat(s.out[i]), jsonFloat(s.depth[i])
	}
	return h
}

// queueHistory is one queue's series and the counters of its last sample.
type queueHistory struct {
	s            *series
	id           uint64 // a re-created queue of the same name starts afresh
	added, acked uint64
	seen         time.Time // when the counters were read
}

// history samples the broker's queues.
type history struct {
	every time.Duration

	mu     sync.Mutex
	total  *series
	queues map[string]*queueHistory
	last   time.Time
	// primed is set once a live sample was taken: the next has rates.
	primed bool
}

func newHistory(every time.Duration) *history {
	return &history{every: every, total: newSeries(historyPoints), queues: map[string]*queueHistory{}}
}

// sample takes one sample of b's queues at now; b nil records a gap.
func (h *history) sample(now time.Time, b Broker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = now
	if b == nil {
		h.primed = false
		h.total.gap(now)
		for _, q := range h.queues {
			q.s.gap(now)
		}
		return
	}
	primed := h.primed
	h.primed = true
	in, out := math.NaN(), math.NaN() // no rate until two samples are taken
	if primed {
		in, out = 0, 0
	}
	depth := 0
	for _, q := range b.Queues() {
		depth += q.Messages
		qh, ok := h.queues[q.Name]
		if !ok || qh.id != q.ID {
			if !ok && len(h.queues) >= maxTrackedQueues {
				continue
			}
			qh = &queueHistory{s: newSeries(historyPoints), id: q.ID, added: q.Stats.Added, acked: q.Stats.Acked, seen: now}
			h.queues[q.Name] = qh
		}
		// Rates are over the time since the counters were last read (a gap
		// in between included); a queue's first sample has none. Counters
		// restart when the node becomes live again: a drop is a new start,
		// not a negative rate.
		qin, qout := math.NaN(), math.NaN()
		if dt := now.Sub(qh.seen).Seconds(); dt > 0 && q.Stats.Added >= qh.added && q.Stats.Acked >= qh.acked {
			qin, qout = float64(q.Stats.Added-qh.added)/dt, float64(q.Stats.Acked-qh.acked)/dt
		}
		qh.added, qh.acked, qh.seen = q.Stats.Added, q.Stats.Acked, now
		qh.s.add(now, qin, qout, q.Messages)
		if !math.IsNaN(qin) && primed {
			in, out = in+qin, out+qout
		}
	}
	h.total.add(now, in, out, depth)
	for name, qh := range h.queues {
		if now.Sub(qh.seen) > time.Duration(historyPoints)*h.every {
			delete(h.queues, name) // gone for longer than the charts reach back
		}
	}
}

// run samples every h.every until ctx ends.
func (h *history) run(ctx context.Context, node Node, now func() time.Time) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	h.sample(now(), node.Broker())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.sample(now(), node.Broker())
		}
	}
}

// broker returns the broker's totals.
func (h *history) broker() HistoryJSON {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total.json(h.every, "")
}

// queue returns one queue's series, or false when it has none.
func (h *history) queue(name string) (HistoryJSON, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	qh, ok := h.queues[name]
	if !ok {
		return HistoryJSON{}, false
	}
	return qh.s.json(h.every, name), true
}

// sparklines returns each tracked queue's last depths.
func (h *history) sparklines() SparklinesJSON {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := SparklinesJSON{IntervalSeconds: h.every.Seconds(), Queues: make(map[string][]jsonFloat, len(h.queues))}
	names := make([]string, 0, len(h.queues))
	for name := range h.queues {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := h.queues[name].s
		n := min(s.n, sparklinePoints)
		d := make([]jsonFloat, n)
		for k := 0; k < n; k++ {
			d[k] = jsonFloat(s.depth[s.index(n-1-k)])
		}
		out.Queues[name] = d
	}
	return out
}

// apiHistory serves GET /api/history: the broker's totals, one queue's
// series with ?queue=NAME, or every queue's recent depths with
// ?view=sparklines.
func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request, _ principal) {
	q := r.URL.Query()
	switch {
	case q.Get("view") == "sparklines":
		writeJSON(w, http.StatusOK, s.history.sparklines())
	case q.Has("queue"):
		h, ok := s.history.queue(q.Get("queue"))
		if !ok {
			writeError(w, http.StatusNotFound, "no history for queue "+strconv.Quote(q.Get("queue"))+
				": it does not exist, was created in the last seconds, or is beyond the first "+strconv.Itoa(maxTrackedQueues)+" queues tracked")
			return
		}
		writeJSON(w, http.StatusOK, h)
	default:
		writeJSON(w, http.StatusOK, s.history.broker())
	}
}
