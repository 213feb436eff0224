package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"tandem/internal/protocol/cluster"
)

// announcer keeps a waiting node introduced to the live node: it dials the
// live's client port through the cluster connection's static connectors
// and holds a cluster-protocol connection open (internal/protocol/cluster).
// It redials with back-off (1 s doubling to 10 s) whenever the connection
// drops or no live answers.
type announcer struct {
	urls  []string // tcp://host:port of the peers
	hello func() cluster.Hello
	log   *slog.Logger
}

func (a *announcer) run(ctx context.Context) {
	delay := time.Second
	for i := 0; ctx.Err() == nil; i++ {
		if len(a.urls) == 0 {
			return
		}
		url := a.urls[i%len(a.urls)]
		connected := a.session(ctx, url)
		if connected {
			delay = time.Second
		}
		if (i+1)%len(a.urls) != 0 && !connected {
			continue // try the next peer before backing off
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if !connected {
			delay = min(2*delay, 10*time.Second)
		}
	}
}

// session announces to one peer and returns once the connection ends. It
// reports whether the peer accepted the announcement.
func (a *announcer) session(ctx context.Context, url string) bool {
	nc, err := dialPeer(ctx, url, 2*time.Second)
	if err != nil {
		return false
	}
	h := a.hello()
	accepted, err := cluster.Announce(ctx, nc, h, func() {
		a.log.Info("announced this node to the live", "event", "ha_announced", "live", url)
	})
	switch {
	case accepted:
		a.log.Info("the live node stopped listing this node", "event", "ha_announce_ended", "live", url)
	case errors.Is(err, cluster.ErrRefused):
		a.log.Warn("the live node refused this node's announcement", "event", "ha_announce_refused", "peer", url, "reason", err.Error())
	}
	return accepted
}
