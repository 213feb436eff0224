package procstat

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Field layout as proc(5) documents it; utime 1234 and stime 56 ticks.
	const tail = " S 1 1 1 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 40 0 12 1000 200 18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 17 1 0 0 0 0 0\n"
	tests := []struct {
		name    string
		in      string
		want    CPU
		wantErr bool
	}{
		{"plain name", "4242 (beam.smp)" + tail, CPU{User: 12340 * time.Millisecond, System: 560 * time.Millisecond}, false},
		{"name with spaces and parentheses", "7 (a) b (c) d)" + tail, CPU{User: 12340 * time.Millisecond, System: 560 * time.Millisecond}, false},
		{"zero times", "9 (java) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0", CPU{}, false},
		{"truncated", "4242 (beam.smp) S 1 1 1 0 -1 4194560 100 0 0 0 1234", CPU{}, true},
		{"no name", "4242 beam.smp S 1 1 1 0 -1 4194560 100 0 0 0 1234 56", CPU{}, true},
		{"not a number", "4242 (x) S 1 1 1 0 -1 4194560 100 0 0 0 12a4 56 0", CPU{}, true},
		{"empty", "", CPU{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("ParseStat = %+v, %v; want ErrFormat", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestCPUArithmetic(t *testing.T) {
	a := CPU{User: 3 * time.Second, System: time.Second}
	b := CPU{User: 5 * time.Second, System: 1500 * time.Millisecond}
	if d := b.Sub(a); d.User != 2*time.Second || d.System != 500*time.Millisecond || d.Total() != 2500*time.Millisecond {
		t.Fatalf("Sub = %+v (total %v)", d, d.Total())
	}
}

func TestParseRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"status", "Name:\tjava\nVmPeak:\t  999 kB\nVmRSS:\t  131072 kB\nRssAnon:\t 1 kB\n", 128 << 20, false},
		{"zombie", "Name:\tjava\nState:\tZ (zombie)\n", 0, true},
		{"bad unit", "VmRSS:\t 12 MB\n", 0, true},
		{"bad number", "VmRSS:\t 1x2 kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRSS([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("ParseRSS = %d, %v; want ErrFormat", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRSS = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// TestReadOwnProcess reads this process's own files: its CPU time grows
// while it computes, and its resident memory is not zero.
func TestReadOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	before, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		after, err := ReadCPU(Self)
		if err != nil {
			t.Fatal(err)
		}
		if after.Total() > before.Total() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v for 10 s of computing (%d)", after.Total(), x)
		}
	}
	rss, err := ReadRSS(Self)
	if err != nil || rss <= 0 {
		t.Fatalf("ReadRSS = %d, %v", rss, err)
	}
	if _, err := ReadCPU(1 << 30); err == nil {
		t.Fatalf("ReadCPU of a pid that cannot exist succeeded")
	}
}
