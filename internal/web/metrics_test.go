package web

import (
	"net/http"
	"strings"
	"testing"

	"tandem/internal/broker"
)

// metricLine finds the sample line of a metric with the given labels in a
// Prometheus text exposition, or "".
func metricLine(text, name, labels string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+labels+" ") || (labels == "" && strings.HasPrefix(line, name+" ")) {
			return line
		}
	}
	return ""
}

func TestMetricsReportWhatTheBrokerDid(t *testing.T) {
	node, b := liveNode(t)
	ts := serve(t, node)
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
		t.Fatal(err)
	}
	send(t, b, "orders", 5, "x")
	sess, err := b.NewSession(broker.SessionInfo{User: "bob", Protocol: "stomp", RemoteAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Subscribe(broker.SubscribeOptions{Address: "orders", AckMode: broker.AckIndividual, Window: 2,
		Deliver: func(broker.Delivery) {}}); err != nil {
		t.Fatal(err)
	}

	// /metrics is open, as Prometheus scrapers expect.
	status, text := call(t, ts, "GET", "/metrics", "", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	q := `{address="orders",queue="orders",routing_type="ANYCAST"}`
	tests := []struct{ name, labels, want string }{
		{"tandem_queue_messages_added_total", q, "5"},
		{"tandem_queue_messages", q, "5"},
		{"tandem_queue_delivering_messages", q, "2"},
		{"tandem_queue_consumers", q, "1"},
		{"tandem_queue_messages_acknowledged_total", q, "0"},
		{"tandem_queue_messages_expired_total", q, "0"},
		{"tandem_queue_messages_killed_total", q, "0"},
		{"tandem_connections", `{protocol="stomp"}`, "1"},
		{"tandem_ha_live", "", "1"},
		{"tandem_ha_epoch", "", "7"},
		{"tandem_ha_activations_total", "", "1"},
		{"tandem_ha_role", `{role="live",state="live"}`, "1"},
		{"tandem_journal_syncs_total", "", "5"},
		{"tandem_journal_written_bytes_total", "", "4096"},
		{"tandem_journal_files", "", "2"},
		{"tandem_journal_compactions_total", "", "1"},
		{"tandem_journal_sync_duration_seconds_count", "", "5"},
		{"tandem_journal_sync_duration_seconds_bucket", `{le="0.0016"}`, "5"},
		{"tandem_journal_sync_duration_seconds_bucket", `{le="0.0008"}`, "0"},
		{"tandem_info", `{name="master",node_id="node-1",version="test"}`, "1"},
	}
	for _, tc := range tests {
		line := metricLine(text, tc.name, tc.labels)
		if line == "" {
			t.Errorf("%s%s missing from /metrics", tc.name, tc.labels)
			continue
		}
		if got := line[strings.LastIndexByte(line, ' ')+1:]; got != tc.want {
			t.Errorf("%s = %s, want %s", tc.name+tc.labels, got, tc.want)
		}
	}
	for _, runtime := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if metricLine(text, runtime, "") == "" {
			t.Errorf("%s missing: the Go runtime and process collectors are not registered", runtime)
		}
	}
}

func TestMetricsOnBackup(t *testing.T) {
	ts := serve(t, backupNode(t))
	_, text := call(t, ts, "GET", "/metrics", "", "")
	if line := metricLine(text, "tandem_ha_live", ""); line != "tandem_ha_live 0" {
		t.Fatalf("tandem_ha_live on a backup = %q, want 0", line)
	}
	if line := metricLine(text, "tandem_ha_role", `{role="backup",state="waiting"}`); line == "" {
		t.Fatalf("tandem_ha_role for the waiting backup missing:\n%s", text)
	}
	if strings.Contains(text, "tandem_queue_") {
		t.Fatal("a backup reports queue metrics it cannot know")
	}
}
