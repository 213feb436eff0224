package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// perfReport is the part of `tandem perf --json` the tests check.
type perfReport struct {
	Broker          string  `json:"broker"`
	MeasuredSeconds float64 `json:"measured_seconds"`
	Sent            int64   `json:"sent"`
	Confirmed       int64   `json:"confirmed"`
	SentRate        float64 `json:"sent_per_second"`
	ConfirmedRate   float64 `json:"confirmed_per_second"`
	ReceivedRate    float64 `json:"received_per_second"`
	TotalSent       int64   `json:"total_sent"`
	TotalConfirmed  int64   `json:"total_confirmed"`
	TotalReceived   int64   `json:"total_received"`
	Unconfirmed     int64   `json:"unconfirmed"`
	SendToConfirm   *struct {
		Count int64   `json:"count"`
		P50   float64 `json:"p50_ms"`
		P99   float64 `json:"p99_ms"`
		Max   float64 `json:"max_ms"`
	} `json:"send_to_confirm"`
	EndToEnd *struct {
		Count int64   `json:"count"`
		P50   float64 `json:"p50_ms"`
	} `json:"end_to_end"`
}

// TestPerfAgainstTheRealBroker runs `tandem perf --duration 2s` against a
// real broker process: every persistent send is confirmed and received,
// and the JSON report is consistent with itself.
func TestPerfAgainstTheRealBroker(t *testing.T) {
	in := create(t, "perf")
	p := start(t, in)
	waitListening(t, in.addr(), 20*time.Second)

	began := time.Now()
	r := mustTandem(t, "perf", "--url", in.url(), "--duration", "2s", "--warmup", "500ms",
		"--producers", "2", "--consumers", "2", "--max-pending", "8", "--message-size", "512", "--json",
		"queue://perf.e2e")
	took := time.Since(began)
	var rep perfReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("perf --json printed no JSON: %v\n%s", err, r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("piped run wrote to stderr (a progress line belongs on a terminal only): %q", r.stderr)
	}
	if !strings.HasPrefix(rep.Broker, "tandem") {
		t.Errorf("broker = %q, want tandem's server header", rep.Broker)
	}
	if rep.MeasuredSeconds < 1.9 || rep.MeasuredSeconds > 2.5 || took > 30*time.Second {
		t.Errorf("measured %.2f s (run took %v), want about 2 s", rep.MeasuredSeconds, took)
	}
	if rep.Sent == 0 || rep.SentRate <= 0 || rep.ConfirmedRate <= 0 || rep.ReceivedRate <= 0 {
		t.Errorf("nothing measured: %+v", rep)
	}
	if rep.TotalConfirmed != rep.TotalSent || rep.TotalReceived != rep.TotalSent || rep.Unconfirmed != 0 {
		t.Errorf("sent %d, confirmed %d, received %d, unconfirmed %d: want every send confirmed and received",
			rep.TotalSent, rep.TotalConfirmed, rep.TotalReceived, rep.Unconfirmed)
	}
	if c := rep.SendToConfirm; c == nil || c.Count == 0 || c.P50 <= 0 || c.P50 > c.P99 || c.P99 > c.Max {
		t.Errorf("send-to-confirm latency %+v is not a distribution", c)
	}
	if e := rep.EndToEnd; e == nil || e.Count == 0 {
		t.Errorf("end-to-end latency %+v: nothing received in the window", e)
	}
	if !p.alive() {
		t.Fatalf("broker died under perf:\n%s", p.output())
	}

	// The text report and the start-up probe work on the same broker.
	txt := mustTandem(t, "perf", "--url", in.url(), "--message-count", "200", "--non-persistent", "--warmup", "0")
	for _, want := range []string{"non-persistent 1024-byte messages to queue://TEST", "sent", "received", "end to end"} {
		if !strings.Contains(txt.stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.stdout)
		}
	}
	if r := mustTandem(t, "perf", "ready", "--url", in.url(), "--timeout", "5s"); strings.TrimSpace(r.stdout) == "" {
		t.Errorf("perf ready printed nothing")
	}
}

func TestPerfRefusesBadFlagsClearly(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--max-pending", "0"}, "--max-pending 0: must be at least 1"},
		{[]string{"--tx", "10", "--max-pending", "4"}, "--max-pending 4 is below --tx 10"},
		{[]string{"--persistent", "--non-persistent"}, "contradict each other"},
		{[]string{"--duration", "soon"}, "not a duration"},
		{[]string{"--url", "http://localhost"}, "--url"},
		{[]string{"--url", "tcp://127.0.0.1:1", "--duration", "1s"}, "cannot connect"},
	}
	for _, tt := range tests {
		r := tandem(t, append([]string{"perf"}, tt.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("tandem perf %s: exit %d, stderr %q; want a failure saying %q",
				strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}
