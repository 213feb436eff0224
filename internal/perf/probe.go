package perf

import (
	"context"
	"fmt"
	"time"
)

// probeInterval is the pause between two connection attempts of WaitReady:
// short enough that a start-up or failover time is read to within a few
// milliseconds, long enough not to load a broker that is starting.
const probeInterval = 5 * time.Millisecond

// WaitReady tries to open a STOMP connection to url until one succeeds,
// the way a client waiting for a broker would, and returns the moment the
// broker answered CONNECTED. It is how bench/compare times start-up and
// failover: the broker counts as ready when a client can use it, not when
// its port opens. It gives up after timeout with the last error.
func WaitReady(ctx context.Context, url, user, password string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := dial(ctx, url, user, password, time.Second)
		if err == nil {
			at := time.Now()
			c.close(time.Second)
			return at, nil
		}
		t := time.NewTimer(probeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, fmt.Errorf("%s not ready within %v: %w", url, timeout, err)
		case <-t.C:
		}
	}
}
