package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run. Counts and rates cover the measurement
// window (after the warm-up); the Total fields also count the warm-up and
// the drain. It is what `tandem perf --json` prints.
type Report struct {
	Broker          string   `json:"broker"`
	URL             string   `json:"url"`
	Destinations    []string `json:"destinations"`
	Producers       int      `json:"producers"`
	Consumers       int      `json:"consumers"`
	MessageSize     int      `json:"message_size"`
	Persistent      bool     `json:"persistent"`
	MaxPending      int      `json:"max_pending"`
	TxBatch         int      `json:"tx_batch"`
	Rate            float64  `json:"rate"`
	WarmupSeconds   float64  `json:"warmup_seconds"`
	MeasuredSeconds float64  `json:"measured_seconds"`

	Sent          int64   `json:"sent"`
	Confirmed     int64   `json:"confirmed"`
	Received      int64   `json:"received"`
	SentRate      float64 `json:"sent_per_second"`
	ConfirmedRate float64 `json:"confirmed_per_second"`
	ReceivedRate  float64 `json:"received_per_second"`

	TotalSent      int64 `json:"total_sent"`
	TotalConfirmed int64 `json:"total_confirmed"`
	TotalReceived  int64 `json:"total_received"`
	// Unconfirmed counts sends whose confirmation never came (non-zero
	// only when the drain time ran out).
	Unconfirmed int64 `json:"unconfirmed"`

	// SendToConfirm is nil when sends are not confirmed; EndToEnd is nil
	// when nothing was received in the window.
	SendToConfirm *Latency `json:"send_to_confirm,omitempty"`
	EndToEnd      *Latency `json:"end_to_end,omitempty"`
}

// report builds the counts of the Report from the window's snapshots.
func (r *runner) report(server string, begin, end counts, producers []*producer) *Report {
	cfg := r.cfg
	rep := &Report{
		Broker: server, URL: cfg.URL, Destinations: cfg.Destinations,
		Producers: cfg.Producers, Consumers: cfg.Consumers, MessageSize: cfg.MessageSize,
		Persistent: cfg.Persistent, MaxPending: cfg.MaxPending, TxBatch: cfg.TxBatch, Rate: cfg.Rate,
		WarmupSeconds: cfg.Warmup.Seconds(),
		Sent:          end.sent - begin.sent, Confirmed: end.confirmed - begin.confirmed, Received: end.received - begin.received,
		TotalSent: r.sent.Load(), TotalConfirmed: r.confirmed.Load(), TotalReceived: r.received.Load(),
	}
	if window := end.at - begin.at; window > 0 {
		rep.MeasuredSeconds = window.Seconds()
		rep.SentRate = float64(rep.Sent) / window.Seconds()
		rep.ConfirmedRate = float64(rep.Confirmed) / window.Seconds()
		rep.ReceivedRate = float64(rep.Received) / window.Seconds()
	}
	for _, p := range producers {
		if p.window != nil {
			rep.Unconfirmed += int64(p.unconfirmed())
		}
	}
	return rep
}

// WriteJSON writes the report as one indented JSON object.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report for a person: the load, the counts and
// rates, and the latency percentiles in milliseconds.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := "non-persistent"
	if rep.Persistent {
		mode = "persistent"
	}
	fmt.Fprintf(&b, "Load:     %d producers, %d consumers, %s %d-byte messages to %s\n",
		rep.Producers, rep.Consumers, mode, rep.MessageSize, describeDests(rep.Destinations))
	var how []string
	if rep.Persistent || rep.TxBatch > 0 {
		how = append(how, fmt.Sprintf("up to %d unconfirmed sends per producer", rep.MaxPending))
	} else {
		how = append(how, "sends not confirmed")
	}
	if rep.TxBatch > 0 {
		how = append(how, fmt.Sprintf("%d sends per transaction", rep.TxBatch))
	}
	if rep.Rate > 0 {
		how = append(how, fmt.Sprintf("fixed rate %g msg/s", rep.Rate))
	} else {
		how = append(how, "as fast as possible")
	}
	fmt.Fprintf(&b, "          %s\n", strings.Join(how, ", "))
	broker := rep.Broker
	if broker == "" {
		broker = "(no server header)"
	}
	fmt.Fprintf(&b, "Broker:   %s at %s\n", broker, rep.URL)
	fmt.Fprintf(&b, "Measured: %.1f s after a %.1f s warm-up\n\n", rep.MeasuredSeconds, rep.WarmupSeconds)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tmessages\tmsg/s\ttotal\t")
	row := func(name string, n int64, rate float64, total int64) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t\n", name, n, rate, total)
	}
	row("sent", rep.Sent, rep.SentRate, rep.TotalSent)
	if rep.Persistent || rep.TxBatch > 0 {
		row("confirmed", rep.Confirmed, rep.ConfirmedRate, rep.TotalConfirmed)
	}
	if rep.Consumers > 0 {
		row("received", rep.Received, rep.ReceivedRate, rep.TotalReceived)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "latency (ms)\tp50\tp90\tp99\tp99.9\tmax\tcount\t")
	lat := func(name string, l *Latency) {
		if l == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t0\t\n", name)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", name,
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), l.Count)
	}
	if rep.Persistent || rep.TxBatch > 0 {
		lat("send to confirm", rep.SendToConfirm)
	}
	if rep.Consumers > 0 {
		lat("end to end", rep.EndToEnd)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Unconfirmed > 0 {
		fmt.Fprintf(&b, "\n%d sends were never confirmed.\n", rep.Unconfirmed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ms formats milliseconds with three significant digits or more.
func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func describeDests(d []string) string {
	switch len(d) {
	case 0:
		return "nothing"
	case 1:
		return d[0]
	case 2, 3:
		return strings.Join(d, ", ")
	default:
		return fmt.Sprintf("%d destinations (%s … %s)", len(d), d[0], d[len(d)-1])
	}
}

// progress rewrites one status line on a terminal once a second.
type progress struct {
	w     io.Writer
	width int
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

// update shows the rates of the last interval.
func (p *progress) update(cur, prev counts, phase string) {
	if p.w == nil {
		return
	}
	secs := (cur.at - prev.at).Seconds()
	if secs <= 0 {
		return
	}
	line := fmt.Sprintf("%6s %-9s sent %8.0f/s  confirmed %8.0f/s  received %8.0f/s",
		cur.at.Truncate(time.Second), phase,
		float64(cur.sent-prev.sent)/secs, float64(cur.confirmed-prev.confirmed)/secs, float64(cur.received-prev.received)/secs)
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// done clears the status line so the report starts on a clean line.
func (p *progress) done() {
	if p.w == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
}
