package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressDelay is how long a run goes before its progress bar appears, so
// short runs print nothing but their result.
const progressDelay = time.Second

// progressEvery is how often the bar is redrawn.
const progressEvery = 200 * time.Millisecond

// progress draws a progress bar with the rate on one line of a terminal,
// rewriting it in place, for the long runs of producer and consumer. It is
// nil (and every method a no-op) when the output is not a terminal, so piped
// and redirected runs print only their result lines.
type progress struct {
	w     io.Writer
	verb  string // "Produced", "Consumed"
	total int64  // 0 when unknown
	start time.Time
	done  atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
	drawn bool // the line holds a bar to clear; owned by the drawing goroutine
}

// startProgress starts a bar on w for a run of total messages, or returns nil
// when w is not a terminal.
func startProgress(w io.Writer, verb string, total int) *progress {
	if !isTerminal(w) {
		return nil
	}
	p := newProgress(w, verb, total)
	p.wg.Add(1)
	go p.run()
	return p
}

func newProgress(w io.Writer, verb string, total int) *progress {
	return &progress{w: w, verb: verb, total: int64(total), start: time.Now(), stop: make(chan struct{})}
}

// add counts n more messages.
func (p *progress) add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

// finish stops the bar and clears its line, so the result line the command
// prints next starts on a clean line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
}

func (p *progress) run() {
	defer p.wg.Done()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			if p.drawn {
				fmt.Fprint(p.w, "\r\033[K")
			}
			return
		case now := <-t.C:
			if now.Sub(p.start) < progressDelay {
				continue
			}
			fmt.Fprint(p.w, "\r"+p.line(now)+"\033[K")
			p.drawn = true
		}
	}
}

// line renders the bar at now: "[#####-----] 5000/10000  50%  2500 msg/s".
func (p *progress) line(now time.Time) string {
	const width = 30
	done := p.done.Load()
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(done) / secs
	}
	if p.total <= 0 {
		return fmt.Sprintf("%s %d messages  %.0f msg/s", p.verb, done, rate)
	}
	frac := min(float64(done)/float64(p.total), 1)
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	eta := ""
	if rate > 0 && done < p.total {
		left := time.Duration(float64(p.total-done) / rate * float64(time.Second))
		eta = fmt.Sprintf("  %s left", left.Round(time.Second))
	}
	return fmt.Sprintf("[%s] %d/%d %3.0f%%  %.0f msg/s%s", bar, done, p.total, frac*100, rate, eta)
}
