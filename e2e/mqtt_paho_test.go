package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// paho runs e2e/mqtt/paho_check.py to completion and fails the test unless
// its last line says OK.
func paho(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, debianPython, append([]string{"mqtt/paho_check.py"}, args...)...).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || !strings.HasPrefix(lines[len(lines)-1], "OK") {
		t.Fatalf("paho_check.py %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return lines[len(lines)-1]
}

// TestPahoPython runs python3-paho-mqtt's MQTT 5 features against the
// binary: topic aliases, subscription identifiers, $share load sharing,
// and transport="websockets" on the client port and the HTTP port.
func TestPahoPython(t *testing.T) {
	requirePaho(t)
	in := create(t, "paho")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	port := in.mqttPort()
	for _, mode := range []string{"aliases", "subids", "share"} {
		t.Run(mode, func(t *testing.T) { t.Log(paho(t, mode, "127.0.0.1", port)) })
	}
	t.Run("websockets on the client port", func(t *testing.T) { paho(t, "ws", "127.0.0.1", port, "/mqtt") })
	t.Run("websockets on the HTTP port", func(t *testing.T) {
		paho(t, "ws", "127.0.0.1", fmt.Sprint(8161+in.offset), "/mqtt")
	})
}

// TestPahoQoS2ExactlyOnceAcrossFailover publishes QoS 2 messages with
// paho-mqtt to the live of a shared-store pair, SIGKILLs the live halfway,
// and lets publisher and subscriber (both persistent 3.1.1 sessions)
// continue on the backup: every message the publisher saw PUBCOMP for
// reaches the subscriber's application exactly once.
func TestPahoQoS2ExactlyOnceAcrossFailover(t *testing.T) {
	requirePaho(t)
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)

	const count = 150
	args := func(mode string) []string {
		return []string{"mqtt/paho_check.py", mode, "127.0.0.1", p.master.mqttPort(), p.slave.mqttPort(), fmt.Sprint(count)}
	}
	sub := startBG(t, debianPython, args("qos2-sub")...)
	sub.waitLine("SUBSCRIBED", 20*time.Second)
	pub := startBG(t, debianPython, args("qos2-pub")...)
	pub.waitLine(fmt.Sprintf("COMPLETED msg-%04d", count/3), 60*time.Second)
	if err := master.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-master.done
	slave.waitLog("broker is live", 30*time.Second)
	pub.waitLine("DONE", 120*time.Second)
	done := sub.waitLine("DONE", 120*time.Second)
	if !strings.Contains(done, "dups=0") {
		t.Fatalf("the subscriber saw duplicates: %s", done)
	}
	got := map[string]int{}
	for _, l := range sub.matching("GOT ") {
		got[strings.TrimPrefix(l, "GOT ")]++
	}
	completed := pub.matching("COMPLETED ")
	if len(completed) != count {
		t.Fatalf("%d messages completed, want %d", len(completed), count)
	}
	for _, l := range completed {
		m := strings.TrimPrefix(l, "COMPLETED ")
		if got[m] != 1 {
			t.Errorf("%s, PUBCOMP'd, reached the subscriber %d times", m, got[m])
		}
	}
	if !strings.Contains(strings.Join(pub.matching("CONNECTED"), "\n"), "port="+p.slave.mqttPort()) ||
		!strings.Contains(strings.Join(sub.matching("CONNECTED"), "\n"), "port="+p.slave.mqttPort()) {
		t.Fatalf("a client did not move to the backup:\n%s\n%s", pub.matching("CONNECTED"), sub.matching("CONNECTED"))
	}
	t.Logf("%d messages exactly once across the failover; publisher %v, subscriber %v", count,
		pub.matching("CONNECTED"), sub.matching("CONNECTED"))
}
