package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of a run. Counts and rates cover the measurement
// window (after the warm-up); the Total fields also count the warm-up and
// the drain. It is what `tandem perf --json` prints.
type Report struct {
	Broker   string `json:"broker"`
	URL      string `json:"url"`
	Protocol string `json:"protocol"`
	// QoS and CleanSession are an MQTT run's QoS and its consumers'
	// sessions.
	QoS             int      `json:"qos,omitempty"`
	CleanSession    bool     `json:"clean_session,omitempty"`
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

	// Ack, Prefetch and AckEvery are how consumers acknowledged;
	// TotalAcks counts the ACK frames they sent over the whole run.
	Ack       string `json:"ack"`
	Prefetch  int    `json:"prefetch,omitempty"`
	AckEvery  int    `json:"ack_every,omitempty"`
	TotalAcks int64  `json:"total_acks"`
	// SetupSeconds is the time to open every connection and make every
	// subscription, before the first send.
	SetupSeconds float64 `json:"setup_seconds"`

	// CPUMessages is what the CPU figures are divided by: the messages
	// received in the window, or, without consumers, confirmed (sent, for
	// sends that are not confirmed).
	CPUMessages int64 `json:"cpu_messages"`
	// BrokerPID is the process whose CPU time was measured; the
	// Broker CPU fields are its user + system time over the window, and
	// that time in microseconds per message. BrokerCPUError says why they
	// are missing when the process could not be read.
	BrokerPID            int     `json:"broker_pid,omitempty"`
	BrokerCPUSeconds     float64 `json:"broker_cpu_seconds,omitempty"`
	BrokerCPUUserSeconds float64 `json:"broker_cpu_user_seconds,omitempty"`
	BrokerCPUPerMessage  float64 `json:"broker_cpu_us_per_message,omitempty"`
	BrokerCPUError       string  `json:"broker_cpu_error,omitempty"`
	// ClientCPUSeconds and ClientCPUPerMessage are the load generator's
	// own CPU time over the window.
	ClientCPUSeconds    float64 `json:"client_cpu_seconds,omitempty"`
	ClientCPUPerMessage float64 `json:"client_cpu_us_per_message,omitempty"`
}

// report builds the counts of the Report from the window's snapshots.
func (r *runner) report(server string, begin, end counts, producers []loadProducer) *Report {
	cfg := r.cfg
	rep := &Report{
		Broker: server, URL: cfg.URL, Protocol: cfg.Protocol, Destinations: cfg.Destinations,
		Producers: cfg.Producers, Consumers: cfg.Consumers, MessageSize: cfg.MessageSize,
		Persistent: cfg.Persistent, MaxPending: cfg.MaxPending, TxBatch: cfg.TxBatch, Rate: cfg.Rate,
		WarmupSeconds: cfg.Warmup.Seconds(),
		Sent:          end.sent - begin.sent, Confirmed: end.confirmed - begin.confirmed, Received: end.received - begin.received,
		TotalSent: r.sent.Load(), TotalConfirmed: r.confirmed.Load(), TotalReceived: r.received.Load(),
		Ack: string(cfg.Ack), Prefetch: cfg.Prefetch,
	}
	if cfg.Ack == AckClient {
		rep.AckEvery = max(cfg.AckEvery, 1)
	}
	if cfg.Protocol == ProtocolMQTT {
		rep.QoS, rep.CleanSession = int(cfg.mqttQoS()), cfg.MQTTCleanSession
		rep.Ack, rep.Prefetch = "", 0
	}
	if window := end.at - begin.at; window > 0 {
		rep.MeasuredSeconds = window.Seconds()
		rep.SentRate = float64(rep.Sent) / window.Seconds()
		rep.ConfirmedRate = float64(rep.Confirmed) / window.Seconds()
		rep.ReceivedRate = float64(rep.Received) / window.Seconds()
	}
	for _, p := range producers {
		rep.Unconfirmed += int64(p.unconfirmed())
	}
	r.cpuReport(rep, begin.cpu, end.cpu)
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
	if rep.Protocol == ProtocolMQTT {
		mode = fmt.Sprintf("MQTT QoS %d", rep.QoS)
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
	if rep.Consumers > 0 {
		fmt.Fprintf(&b, "          consumers acknowledge %s\n", describeAck(rep))
	}
	broker := rep.Broker
	if broker == "" {
		broker = "(no server header)"
	}
	fmt.Fprintf(&b, "Broker:   %s at %s (%s)\n", broker, rep.URL, strings.ToUpper(rep.Protocol))
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
	if rep.BrokerPID > 0 || rep.ClientCPUSeconds > 0 {
		b.WriteString("\n")
	}
	if rep.BrokerPID > 0 {
		if rep.BrokerCPUError != "" {
			fmt.Fprintf(&b, "Broker CPU: not measured: %s\n", rep.BrokerCPUError)
		} else {
			fmt.Fprintf(&b, "Broker CPU: %.2f s in the window (process %d, user + system), %s per message\n",
				rep.BrokerCPUSeconds, rep.BrokerPID, usPerMsg(rep.BrokerCPUPerMessage, rep.CPUMessages))
		}
	}
	if rep.ClientCPUSeconds > 0 {
		fmt.Fprintf(&b, "Load generator CPU: %.2f s in the window, %s per message\n",
			rep.ClientCPUSeconds, usPerMsg(rep.ClientCPUPerMessage, rep.CPUMessages))
	}
	if rep.Unconfirmed > 0 {
		fmt.Fprintf(&b, "\n%d sends were never confirmed.\n", rep.Unconfirmed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeAck says how the consumers acknowledged.
func describeAck(rep *Report) string {
	if rep.Protocol == ProtocolOpenWire {
		return describeOpenWireAck(rep)
	}
	if rep.Protocol == ProtocolMQTT {
		s := fmt.Sprintf("each message as MQTT QoS %d requires", rep.QoS)
		if rep.QoS == 0 {
			s = "nothing (MQTT QoS 0)"
		}
		session := "persistent sessions (Clean Session 0)"
		if rep.CleanSession {
			session = "clean sessions"
		}
		return fmt.Sprintf("%s, on %s; %d acknowledgements sent", s, session, rep.TotalAcks)
	}
	var s string
	switch AckMode(rep.Ack) {
	case AckClient:
		s = "with client ACKs"
		if rep.AckEvery > 1 {
			s += fmt.Sprintf(", each covering %d messages", rep.AckEvery)
		}
	case AckClientIndividual:
		s = "each message with its own ACK (client-individual)"
	default:
		s = "automatically (ack:auto, the broker's doing)"
	}
	if rep.Prefetch > 0 {
		s += fmt.Sprintf(", prefetch %d", rep.Prefetch)
	}
	if AckMode(rep.Ack).acks() {
		s += fmt.Sprintf("; %d ACK frames sent", rep.TotalAcks)
	}
	return s
}

// describeOpenWireAck says how OpenWire consumers acknowledged: they always
// do, as JMS consumers.
func describeOpenWireAck(rep *Report) string {
	var s string
	switch AckMode(rep.Ack) {
	case AckClient:
		s = "with standard acks"
		if rep.AckEvery > 1 {
			s += fmt.Sprintf(", each covering %d messages", rep.AckEvery)
		}
	case AckClientIndividual:
		s = "each message with an individual ack"
	default:
		s = "each message with a standard ack, as a JMS AUTO_ACKNOWLEDGE session"
	}
	prefetch := rep.Prefetch
	if prefetch <= 0 {
		prefetch = 1000
	}
	return s + fmt.Sprintf(", prefetch %d; %d acks sent", prefetch, rep.TotalAcks)
}

// usPerMsg formats a CPU time per message, or says why there is none.
func usPerMsg(us float64, msgs int64) string {
	if msgs <= 0 {
		return "- (no message in the window)"
	}
	return fmt.Sprintf("%.1f µs", us)
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
