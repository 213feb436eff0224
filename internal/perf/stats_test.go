package perf

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

func TestSummarizeReadsPercentilesWithinTheHistogramPrecision(t *testing.T) {
	h := newHistogram()
	// 1 ms, 2 ms, ... 1000 ms: each percentile is known exactly.
	for i := 1; i <= 1000; i++ {
		record(h, time.Duration(i)*time.Millisecond)
	}
	l := summarize(h)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 500}, {"p90", l.P90, 900}, {"p99", l.P99, 990},
		{"p99.9", l.P999, 999}, {"max", l.Max, 1000}, {"mean", l.Mean, 500.5},
	}
	for _, tt := range tests {
		if !near(tt.got, tt.want, 0.001) {
			t.Errorf("%s = %.3f ms, want %.0f within 0.1%%", tt.name, tt.got, tt.want)
		}
	}
	if l.Count != 1000 {
		t.Errorf("count = %d", l.Count)
	}
}

func TestSummarizeOfNothingIsNil(t *testing.T) {
	if l := summarize(newHistogram()); l != nil {
		t.Errorf("empty histogram summarised as %+v", l)
	}
	if l := summarize(nil); l != nil {
		t.Errorf("nil histogram summarised as %+v", l)
	}
}

func TestRecordClampsIntoRange(t *testing.T) {
	h := newHistogram()
	record(h, 10*time.Nanosecond)
	record(h, -time.Second)
	record(h, 3*time.Hour)
	if h.TotalCount() != 3 {
		t.Fatalf("recorded %d of 3 values", h.TotalCount())
	}
	if h.Min() != 1 {
		t.Errorf("min = %d µs, want 1", h.Min())
	}
	if !h.ValuesAreEquivalent(h.Max(), histHighest) {
		t.Errorf("max = %d µs, want the top of the range", h.Max())
	}
}

func TestMergeAddsEveryPart(t *testing.T) {
	a, b := newHistogram(), newHistogram()
	for range 10 {
		record(a, time.Millisecond)
	}
	for range 30 {
		record(b, 9*time.Millisecond)
	}
	all := merge([]*hdrhistogram.Histogram{a, nil, b})
	if all.TotalCount() != 40 || summarize(all).P50 < 8.9 {
		t.Errorf("merged count %d p50 %.2f, want 40 and 9 ms", all.TotalCount(), summarize(all).P50)
	}
}

func TestScheduleKeepsTheRateWhateverTheSenderDoes(t *testing.T) {
	// 4 producers sharing 1000 msg/s: each sends every 4 ms, offset by 1 ms.
	s := newSchedule(1000, 4, 2, 10*time.Millisecond)
	if s.interval != 4*time.Millisecond || s.start != 12*time.Millisecond {
		t.Fatalf("schedule = %+v, want every 4ms from 12ms", s)
	}
	steps := []struct {
		now, wantDue, wantWait time.Duration
	}{
		{0, 12 * time.Millisecond, 12 * time.Millisecond},                    // early: wait for the slot
		{12 * time.Millisecond, 16 * time.Millisecond, 4 * time.Millisecond}, // on time
		{50 * time.Millisecond, 20 * time.Millisecond, 0},                    // late: due time stays in the past
		{50 * time.Millisecond, 24 * time.Millisecond, 0},                    // and the backlog keeps its slots
	}
	for i, st := range steps {
		due, wait := s.next(st.now)
		if due != st.wantDue || wait != st.wantWait {
			t.Errorf("step %d: next(%v) = %v, %v; want %v, %v", i, st.now, due, wait, st.wantDue, st.wantWait)
		}
	}
	free := newSchedule(0, 4, 2, 0)
	if due, wait := free.next(7 * time.Millisecond); due != 7*time.Millisecond || wait != 0 {
		t.Errorf("unscheduled next = %v, %v; want now and no wait", due, wait)
	}
}

func TestValidateNamesEveryBadSetting(t *testing.T) {
	good := Config{URL: "tcp://localhost:61616", Destinations: []string{"queue://T"}, Producers: 1, Consumers: 1,
		MessageSize: 10, Persistent: true, MaxPending: 1, Duration: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad URL", func(c *Config) { c.URL = "http://x" }, `--url "http://x"`},
		{"failover URL is fine, bad one is not", func(c *Config) { c.URL = "failover:(tcp://a:1,tcp://b)?randomize=maybe" }, "--url"},
		{"no destination", func(c *Config) { c.Destinations = nil }, "at least one --destination"},
		{"bad destination", func(c *Config) { c.Destinations = []string{"queue://"} }, `--destination "queue://"`},
		{"negative producers", func(c *Config) { c.Producers = -1 }, "--producers -1"},
		{"nobody", func(c *Config) { c.Producers, c.Consumers = 0, 0 }, "nothing to measure"},
		{"negative size", func(c *Config) { c.MessageSize = -5 }, "--message-size -5"},
		{"no window", func(c *Config) { c.MaxPending = 0 }, "--max-pending 0: must be at least 1"},
		{"window below tx", func(c *Config) { c.TxBatch, c.MaxPending = 10, 5 }, "--max-pending 5 is below --tx 10"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "--rate -1"},
		{"endless", func(c *Config) { c.Duration = 0 }, "would never end"},
		{"consumers only by count", func(c *Config) { c.Producers, c.Duration, c.MessageCount = 0, 0, 5 }, "--duration is needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrBadConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSpreadGivesEveryDestinationAnOwner(t *testing.T) {
	dests := ExpandDestinations("queue://Q", 5)
	if dests[0] != "queue://Q.0" || dests[4] != "queue://Q.4" || len(ExpandDestinations("queue://Q", 1)) != 1 {
		t.Fatalf("ExpandDestinations = %v", dests)
	}
	seen := map[string]int{}
	for i := range 2 {
		for _, d := range spread(dests, i, 2) {
			seen[d]++
		}
	}
	if len(seen) != 5 {
		t.Errorf("two members cover %v, want all 5 destinations once", seen)
	}
	if got := spread(dests, 7, 8); len(got) != 1 || got[0] != "queue://Q.2" {
		t.Errorf("member 7 of 8 got %v, want queue://Q.2", got)
	}
}

func sampleReport() *Report {
	return &Report{
		Broker: "tandem/b1", URL: "tcp://localhost:61616", Destinations: []string{"queue://TEST"},
		Producers: 8, Consumers: 4, MessageSize: 1024, Persistent: true, MaxPending: 64,
		WarmupSeconds: 2, MeasuredSeconds: 10,
		Sent: 100000, Confirmed: 99990, Received: 99000, SentRate: 10000, ConfirmedRate: 9999, ReceivedRate: 9900,
		TotalSent: 120000, TotalConfirmed: 120000, TotalReceived: 120000,
		SendToConfirm: &Latency{Count: 100000, P50: 1.234, P90: 5.5, P99: 12.26, P999: 150, Max: 1234.6},
		EndToEnd:      &Latency{Count: 99000, P50: 0.5, P90: 1, P99: 2, P999: 3, Max: 4},
	}
}

func TestWriteTextShowsRatesAndPercentiles(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"8 producers, 4 consumers, persistent 1024-byte messages to queue://TEST",
		"up to 64 unconfirmed sends per producer, as fast as possible",
		"tandem/b1 at tcp://localhost:61616",
		"10.0 s after a 2.0 s warm-up",
		"p50", "p99.9",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = f
		}
	}
	if got := strings.Join(lines["confirmed"], " "); got != "confirmed 99990 9999 120000" {
		t.Errorf("confirmed row = %q", got)
	}
	if got := strings.Join(lines["send"], " "); got != "send to confirm 1.23 5.50 12.3 150 1235 100000" {
		t.Errorf("latency row = %q", got)
	}
	np := sampleReport()
	np.Persistent, np.SendToConfirm = false, nil
	b.Reset()
	_ = np.WriteText(&b)
	if strings.Contains(b.String(), "confirm") && !strings.Contains(b.String(), "sends not confirmed") {
		t.Errorf("non-persistent report shows confirmations:\n%s", b.String())
	}
}

func TestWriteJSONRoundTrips(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	lat, _ := m["send_to_confirm"].(map[string]any)
	if m["confirmed_per_second"] != 9999.0 || lat["p99_9_ms"] != 150.0 || lat["p50_ms"] != 1.234 {
		t.Errorf("JSON fields wrong:\n%s", b.String())
	}
}
