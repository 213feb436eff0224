package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name  string
		total int
		done  int
		after time.Duration
		want  []string
	}{
		{"half way", 10000, 5000, 2 * time.Second,
			[]string{"[###############---------------]", "5000/10000", " 50%", "2500 msg/s", "2s left"}},
		{"complete", 100, 100, time.Second, []string{"[##############################]", "100/100", "100%", "100 msg/s"}},
		{"over the total (redeliveries)", 10, 12, time.Second, []string{"[##############################]", "12/10", "100%"}},
		{"unknown total", 0, 42, 2 * time.Second, []string{"Consumed 42 messages", "21 msg/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgress(&bytes.Buffer{}, "Consumed", tt.total)
			p.add(tt.done)
			got := p.line(p.start.Add(tt.after))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("line %q lacks %q", got, w)
				}
			}
			if tt.done >= tt.total && strings.Contains(got, "left") {
				t.Errorf("line %q estimates time left for a finished run", got)
			}
		})
	}
}

func TestProgressStaysQuietWhenPiped(t *testing.T) {
	var out bytes.Buffer
	p := startProgress(&out, "Produced", 100)
	if p != nil {
		t.Fatal("startProgress drew a bar on a writer that is not a terminal")
	}
	// A nil bar is what a piped run gets; its methods must be safe.
	p.add(1)
	p.finish()
	if out.Len() != 0 {
		t.Fatalf("piped output got %q", out.String())
	}
}

// lockedBuffer is a bytes.Buffer safe to read while the bar writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressClearsItsLine(t *testing.T) {
	var out lockedBuffer
	p := newProgress(&out, "Produced", 10)
	p.start = time.Now().Add(-2 * progressDelay) // as if the run were long
	p.add(4)
	p.wg.Add(1)
	go p.run()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "4/10") {
		if time.Now().After(deadline) {
			p.finish()
			t.Fatalf("no bar drawn within 10s; output %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.finish()
	if s := out.String(); !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("output %q does not end by clearing the line", s)
	}
}
