package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
)

// TestHistorySamplesRatesAndDepth drives the sampler by hand against a
// real broker: rates are the counters' change over the interval, a node
// that is not serving leaves a gap (null), and a counter that restarts
// (a new activation) is a new start, not a negative rate.
func TestHistorySamplesRatesAndDepth(t *testing.T) {
	node, b := liveNode(t)
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Node: node, Auth: fakeAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.history
	t0 := time.Unix(1_700_000_000, 0)
	h.sample(t0, b)
	send(t, b, "orders", 10, "x")
	h.sample(t0.Add(2*time.Second), b) // 10 added in 2 s: 5/s
	h.sample(t0.Add(4*time.Second), nil)
	send(t, b, "orders", 4, "x")
	h.sample(t0.Add(6*time.Second), b) // the queue: 4 more since its last sample, over 4 s

	ts := httptestServer(t, s)
	// Decoded with pointers, so that null (a gap) stays visible.
	var got struct {
		IntervalSeconds float64
		Times           []int64
		In, Depth       []*float64
	}
	mustCall(t, ts, "GET", "/api/history", "admin:secret", "", 200, &got)
	if len(got.Times) != 4 || got.IntervalSeconds != 2 {
		t.Fatalf("history has %d samples every %v s", len(got.Times), got.IntervalSeconds)
	}
	show := func(v []*float64) string {
		var out []string
		for _, f := range v {
			if f == nil {
				out = append(out, "null")
			} else {
				out = append(out, fmt.Sprint(*f))
			}
		}
		return strings.Join(out, " ")
	}
	// The first sample has a depth but no rate yet, nor has the first
	// after a gap.
	if in, depth := show(got.In), show(got.Depth); in != "null 5 null null" || depth != "0 10 null 14" {
		t.Fatalf("in = %s, depth = %s; want null 5 null null and 0 10 null 14", in, depth)
	}
	var q HistoryJSON
	mustCall(t, ts, "GET", "/api/history?queue=orders", "admin:secret", "", 200, &q)
	if q.Queue != "orders" || len(q.Depth) != 4 || float64(q.In[3]) != 1 {
		t.Fatalf("queue history = %+v; want 4 samples, the last 4 messages over 4 s", q)
	}
	if status, body := call(t, ts, "GET", "/api/history?queue=nope", "admin:secret", ""); status != 404 || !strings.Contains(body, "no history for queue") {
		t.Fatalf("unknown queue: %d %s", status, body)
	}
	var sp SparklinesJSON
	mustCall(t, ts, "GET", "/api/history?view=sparklines", "admin:secret", "", 200, &sp)
	if d := sp.Queues["orders"]; len(d) != 4 || float64(d[3]) != 14 {
		t.Fatalf("sparkline of orders = %v", d)
	}
	if status, _ := call(t, ts, "GET", "/api/history", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("anonymous history: %d", status)
	}
}

// TestHistoryKeepsAWindow checks the ring: only the last historyPoints
// samples stay, oldest first.
func TestHistoryKeepsAWindow(t *testing.T) {
	s := newSeries(5)
	t0 := time.Unix(0, 0)
	for i := range 8 {
		s.add(t0.Add(time.Duration(i)*time.Second), float64(i), 0, i)
	}
	j := s.json(time.Second, "")
	if len(j.Times) != 5 || j.Times[0] != 3000 || float64(j.Depth[4]) != 7 {
		t.Fatalf("ring = %v %v", j.Times, j.Depth)
	}
}

// httptestServer serves s on a test HTTP server.
func httptestServer(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}
