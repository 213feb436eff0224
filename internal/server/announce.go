package server

import (
	"context"
	"log/slog"
	"time"

	wire "tandem/internal/wire/stomp"
)

// announcer keeps a waiting node introduced to the live node: it dials the
// live's client port through the cluster connection's static connectors,
// sends a CONNECT with tandem-announce, and holds the connection open with
// heart-beats. It redials with back-off (1 s doubling to 10 s) whenever the
// connection drops or no live answers.
type announcer struct {
	urls     []string // tcp://host:port of the peers
	user     string
	password string
	nodeID   func() string
	selfURL  string
	name     string
	log      *slog.Logger
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
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer nc.Close()
	w := wire.NewWriter(nc)
	r := wire.NewReader(nc, wire.ReaderOptions{})
	h := wire.Headers{
		{Key: "accept-version", Value: "1.2"}, {Key: "host", Value: "tandem"},
		{Key: "heart-beat", Value: "1000,1000"},
		{Key: "tandem-announce", Value: "backup"}, {Key: "tandem-node-id", Value: a.nodeID()},
		{Key: "tandem-url", Value: a.selfURL}, {Key: "tandem-name", Value: a.name},
	}
	if a.user != "" {
		h = append(h, wire.Header{Key: "login", Value: a.user}, wire.Header{Key: "passcode", Value: a.password})
	}
	if w.WriteFrame(&wire.Frame{Command: wire.CmdConnect, Headers: h}) != nil || w.Flush() != nil {
		return false
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := r.ReadFrame()
	for err == nil && f.IsHeartBeat() {
		f, err = r.ReadFrame()
	}
	if err != nil {
		return false
	}
	if f.Command != wire.CmdConnected {
		a.log.Warn("the live node refused this node's announcement", "event", "ha_announce_refused", "peer", url,
			"reason", f.Headers.Value("message"))
		return false
	}
	a.log.Info("announced this node to the live", "event", "ha_announced", "live", url)
	r.SetVersion(wire.V12)
	w.SetVersion(wire.V12)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if w.WriteHeartBeat() != nil || w.Flush() != nil {
					nc.Close()
					return
				}
			}
		}
	}()
	for {
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.ReadFrame(); err != nil {
			nc.Close()
			<-done
			return true
		}
	}
}
