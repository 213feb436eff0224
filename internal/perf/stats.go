package perf

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The histograms record microseconds from 1 µs to one hour with three
// significant digits: a value is stored within 0.1% of what was measured,
// whatever its magnitude, in a fixed ~200 KiB per histogram.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// newHistogram returns an empty latency histogram.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// record adds one latency to h, clamped into the histogram's range so that
// a latency below a microsecond counts as one and an absurd one (a clock
// going backwards cannot happen with the monotonic clock, but an hour-long
// stall can) still counts.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	us = min(max(us, histLowest), histHighest)
	_ = h.RecordValue(us) // cannot fail: us is within range
}

// Latency summarises one histogram, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize reads the percentiles the report shows off h. It returns nil
// for an empty histogram, so a report says "nothing measured" rather than
// zero latency.
func summarize(h *hdrhistogram.Histogram) *Latency {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// merge adds every histogram of parts into one new histogram.
func merge(parts []*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	all := newHistogram()
	for _, p := range parts {
		if p != nil {
			all.Merge(p)
		}
	}
	return all
}

// schedule hands out the due times of a fixed-rate sender: the n-th
// message is due at start + n·interval, whether or not the sender kept up.
// Measuring latency from these times, not from the moment a late sender
// finally sent, is what keeps a stall from hiding (coordinated omission).
// An interval of zero means no schedule: every message is due when asked.
type schedule struct {
	start    time.Duration
	interval time.Duration
	n        int64
}

// next returns the due time of the next message, given the current time
// now (both on the run's monotonic clock), and how long the sender must
// wait before sending it (zero when it is already due or late).
func (s *schedule) next(now time.Duration) (due, wait time.Duration) {
	if s.interval <= 0 {
		return now, 0
	}
	due = s.start + time.Duration(s.n)*s.interval
	s.n++
	if due > now {
		return due, due - now
	}
	return due, 0
}

// newSchedule spreads producers evenly over the first interval, so that
// the total load is smooth rather than arriving in bursts of one message
// per producer.
func newSchedule(rate float64, producers, index int, start time.Duration) schedule {
	if rate <= 0 {
		return schedule{}
	}
	interval := time.Duration(float64(time.Second) * float64(producers) / rate)
	interval = max(interval, 1)
	offset := interval * time.Duration(index) / time.Duration(producers)
	return schedule{start: start + offset, interval: interval}
}
