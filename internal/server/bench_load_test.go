package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"tandem/internal/perf"
)

// loadHelperEnv carries a load's perf.Config, as JSON, to the helper
// process that BenchmarkLoad starts.
const loadHelperEnv = "TANDEM_BENCH_LOAD"

// BenchmarkLoad runs the loads of bench/compare-openwire against a broker
// in this process, with the load generator (`tandem perf`'s engine) in a
// child process, so that everything this process spends is the broker's:
// cpu-µs/msg is the broker's CPU time per message received, allocs/op and
// B/op the broker's allocations per message, and -cpuprofile and
// -memprofile profile the broker alone. b.N is the number of messages
// (run it with, say, -benchtime 200000x).
//
//	b: 8 producers, 4 consumers, persistent 1 KiB messages, 64 unconfirmed
//	   sends per producer, with fdatasync (BENCH_NOSYNC=1 turns it off)
//	c: the same, non-persistent
//
// Consumers acknowledge each message with a prefetch of 1000: over
// OpenWire with a standard ack (a JMS AUTO_ACKNOWLEDGE session's), over
// STOMP with ack:client-individual.
func BenchmarkLoad(b *testing.B) {
	for _, load := range []string{"b", "c"} {
		for _, proto := range []string{perf.ProtocolOpenWire, perf.ProtocolSTOMP} {
			b.Run(load+"/"+proto, func(b *testing.B) { benchLoad(b, load, proto) })
		}
	}
}

func benchLoad(b *testing.B, load, proto string) {
	_, url := startServer(b)
	cfg := perf.Config{Protocol: proto, URL: url, Destinations: []string{"queue://bench-" + load},
		Producers: 8, Consumers: 4, MessageSize: 1024, Persistent: load == "b", MaxPending: 64,
		Ack: perf.AckAuto, Prefetch: 1000, MessageCount: int64(b.N), Drain: time.Minute, IdleEnd: 200 * time.Millisecond}
	if proto == perf.ProtocolSTOMP {
		cfg.Ack = perf.AckClientIndividual
	}
	if load == "c" {
		cfg.MaxPending = 1 // tandem perf's default; non-persistent sends are not confirmed
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), loadHelperEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0, gen0 := time.Now(), selfCPU(b), childCPU(b)
	out, err := cmd.Output()
	cpu, wall, gen := selfCPU(b)-cpu0, time.Since(start), childCPU(b)-gen0
	b.StopTimer()
	if err != nil {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	var rep perf.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		b.Fatalf("load generator's report: %v\n%s", err, out)
	}
	if rep.TotalReceived != int64(b.N) {
		b.Fatalf("sent %d, received %d of %d", rep.TotalSent, rep.TotalReceived, b.N)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(rep.ReceivedRate, "msgs/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(gen.Microseconds())/float64(b.N), "gen-cpu-µs/msg")
}

// childCPU is the CPU time of the child processes waited for: after the
// load generator exits, its CPU time is in it, so gen-cpu-µs/msg is the
// load generator's CPU per message, which shares the machine's processors
// with the broker in bench/compare-openwire.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfCPU is the CPU time this process has used: the broker's, since the
// load generator runs in a child process not yet waited for.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoadHelper is BenchmarkLoad's load generator; it does nothing unless
// started by it.
func TestLoadHelper(t *testing.T) {
	js := os.Getenv(loadHelperEnv)
	if js == "" {
		t.Skip("the load generator of BenchmarkLoad, which starts it")
	}
	var cfg perf.Config
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatal(err)
	}
	// TANDEM_BENCH_GENPROF names a file for a CPU profile of the load
	// generator alone (the benchmark's -cpuprofile is the broker's).
	if path := os.Getenv("TANDEM_BENCH_GENPROF"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	rep, err := perf.Run(context.Background(), cfg)
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "%s", out)
	os.Exit(0)
}
