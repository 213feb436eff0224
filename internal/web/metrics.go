package web

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tandem/internal/journal"
)

// The metric descriptions. Names follow Prometheus conventions: a unit
// suffix, _total for counters. docs/management.md lists them for users.
var (
	queueLabels = []string{"queue", "address", "routing_type"}

	descInfo = prometheus.NewDesc("tandem_info", "Constant 1, labelled with the broker's name, version and the store's node id.",
		[]string{"name", "version", "node_id"}, nil)
	descQueueAdded = prometheus.NewDesc("tandem_queue_messages_added_total",
		"Messages added to the queue since this node became live.", queueLabels, nil)
	descQueueAcked = prometheus.NewDesc("tandem_queue_messages_acknowledged_total",
		"Messages acknowledged (consumed) from the queue since this node became live.", queueLabels, nil)
	descQueueExpired = prometheus.NewDesc("tandem_queue_messages_expired_total",
		"Messages that expired in the queue since this node became live.", queueLabels, nil)
	descQueueKilled = prometheus.NewDesc("tandem_queue_messages_killed_total",
		"Messages moved from the queue to its dead-letter address since this node became live.", queueLabels, nil)
	descQueueDepth = prometheus.NewDesc("tandem_queue_messages",
		"Messages in the queue: waiting, scheduled and being delivered.", queueLabels, nil)
	descQueueScheduled = prometheus.NewDesc("tandem_queue_scheduled_messages",
		"Messages in the queue waiting for their scheduled delivery time.", queueLabels, nil)
	descQueueDelivering = prometheus.NewDesc("tandem_queue_delivering_messages",
		"Messages delivered to consumers and not yet acknowledged (in flight).", queueLabels, nil)
	descQueueConsumers = prometheus.NewDesc("tandem_queue_consumers",
		"Consumers attached to the queue.", queueLabels, nil)
	descAddresses   = prometheus.NewDesc("tandem_addresses", "Addresses that exist.", nil, nil)
	descConnections = prometheus.NewDesc("tandem_connections",
		"Open client connections by protocol.", []string{"protocol"}, nil)

	descJournalBytes = prometheus.NewDesc("tandem_journal_written_bytes_total",
		"Bytes the message journal wrote for record batches since this node became live.", nil, nil)
	descJournalWrites = prometheus.NewDesc("tandem_journal_writes_total",
		"write(2) calls of the message journal since this node became live.", nil, nil)
	descJournalBatches = prometheus.NewDesc("tandem_journal_batches_total",
		"Record batches the message journal wrote since this node became live.", nil, nil)
	descJournalSyncs = prometheus.NewDesc("tandem_journal_syncs_total",
		"fdatasync calls of the message journal's data files since this node became live.", nil, nil)
	descJournalSyncSeconds = prometheus.NewDesc("tandem_journal_sync_duration_seconds",
		"How long the message journal's group-commit fdatasync calls took.", nil, nil)
	descJournalFiles = prometheus.NewDesc("tandem_journal_files",
		"Data files of the message journal, the current one included.", nil, nil)
	descJournalReady = prometheus.NewDesc("tandem_journal_ready_files",
		"Empty pre-allocated files of the message journal waiting to become current.", nil, nil)
	descJournalLive = prometheus.NewDesc("tandem_journal_live_bytes",
		"Encoded bytes of live records in the message journal.", nil, nil)
	descJournalUsed = prometheus.NewDesc("tandem_journal_used_bytes",
		"Bytes of frames in the message journal's data files (what compaction shrinks).", nil, nil)
	descJournalCompactions = prometheus.NewDesc("tandem_journal_compactions_total",
		"Compactions of the message journal since this node became live.", nil, nil)

	descHALive = prometheus.NewDesc("tandem_ha_live",
		"1 while this node is live and serving clients, 0 while it is a backup.", nil, nil)
	descHARole = prometheus.NewDesc("tandem_ha_role",
		"Constant 1, labelled with the node's current role (live or backup) and HA state.", []string{"role", "state"}, nil)
	descHAEpoch = prometheus.NewDesc("tandem_ha_epoch",
		"The fencing epoch of the shared store: this node's while live, the store record's otherwise.", nil, nil)
	descHAFailovers = prometheus.NewDesc("tandem_ha_activations_total",
		"Times this process became live; on a backup, the failovers it served.", nil, nil)
)

// collector reads the broker's snapshots at scrape time, so the hot path
// pays nothing for metrics beyond the counters it keeps anyway.
type collector struct{ s *Server }

// Describe sends every description the collector may emit.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descQueueAdded, descQueueAcked, descQueueExpired, descQueueKilled,
		descQueueDepth, descQueueScheduled, descQueueDelivering, descQueueConsumers, descAddresses, descConnections,
		descJournalBytes, descJournalWrites, descJournalBatches, descJournalSyncs, descJournalSyncSeconds,
		descJournalFiles, descJournalReady, descJournalLive, descJournalUsed, descJournalCompactions,
		descHALive, descHARole, descHAEpoch, descHAFailovers} {
		ch <- d
	}
}

// Collect emits the current values.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.opts.Node.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descInfo, 1, st.Name, st.Version, st.NodeID)
	live := 0.0
	if c.s.ready(st) {
		live = 1
	}
	gauge(descHALive, live)
	gauge(descHARole, 1, st.Role, st.State)
	gauge(descHAEpoch, float64(st.Epoch))
	counter(descHAFailovers, st.Activations)
	if st.Journal != nil {
		collectJournal(ch, st.Journal, st.SyncLatency)
	}
	b := c.s.opts.Node.Broker()
	if b == nil {
		return
	}
	for _, q := range b.Queues() {
		l := []string{q.Name, q.Address, q.RoutingType.String()}
		counter(descQueueAdded, q.Stats.Added, l...)
		counter(descQueueAcked, q.Stats.Acked, l...)
		counter(descQueueExpired, q.Stats.Expired, l...)
		counter(descQueueKilled, q.Stats.Killed, l...)
		gauge(descQueueDepth, float64(q.Messages), l...)
		gauge(descQueueScheduled, float64(q.Scheduled), l...)
		gauge(descQueueDelivering, float64(q.Delivering), l...)
		gauge(descQueueConsumers, float64(q.Consumers), l...)
	}
	gauge(descAddresses, float64(len(b.Addresses())))
	perProtocol := map[string]int{}
	for _, cn := range b.Connections() {
		perProtocol[cn.Protocol]++
	}
	for p, n := range perProtocol {
		gauge(descConnections, float64(n), p)
	}
}

func collectJournal(ch chan<- prometheus.Metric, js *journal.Stats, sl *journal.SyncLatency) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descJournalBytes, js.BytesWritten)
	counter(descJournalWrites, js.Writes)
	counter(descJournalBatches, js.Batches)
	counter(descJournalSyncs, js.Syncs)
	counter(descJournalCompactions, js.Compactions)
	gauge(descJournalFiles, float64(js.Files))
	gauge(descJournalReady, float64(js.ReadyFiles))
	gauge(descJournalLive, float64(js.BytesLive))
	gauge(descJournalUsed, float64(js.BytesUsed))
	if sl != nil && len(sl.Counts) == len(journal.SyncBuckets) {
		buckets := make(map[float64]uint64, len(sl.Counts))
		for i, n := range sl.Counts {
			buckets[journal.SyncBuckets[i].Seconds()] = n
		}
		ch <- prometheus.MustNewConstHistogram(descJournalSyncSeconds, sl.Count, sl.Sum.Seconds(), buckets)
	}
}

// metricsHandler builds /metrics on a registry of its own (no global
// state, so two servers in one test process do not collide), with the Go
// runtime and process collectors beside tandem's.
func (s *Server) metricsHandler() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collector{s},
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}), nil
}

// slogPrinter adapts promhttp's error log to the server's logger.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) {
	p.s.log.Warn("metrics: "+fmt.Sprint(v...), "event", "metrics_error")
}
