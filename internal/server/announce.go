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
	// minSilence is the shortest silence from the live that ends a
	// session (announceSilence unless a test sets it).
	minSilence time.Duration
	// onAnnounced, when set, learns where this node is announced ("" when
	// it no longer is), for the console's picture of the pair.
	onAnnounced func(url string)
}

// announceSilence is the shortest silence from the live after which a
// waiting node takes its announcement for lost and announces again. The
// live's heart-beats, as CONNECTED negotiates them, may stretch it.
const announceSilence = 5 * time.Second

// readTimeout is how long a session waits for a frame or heart-beat from
// the live: twice the interval the live said it sends heart-beats at (its
// CONNECTED heart-beat header), plus a second for the network, and never
// less than minSilence. A fixed 5 s against a live that beats every 10 s
// ended every session after 5 s, so the live logged "backup left" and
// "backup announced" every 6 s.
func (a *announcer) readTimeout(connectedHeartBeat string) time.Duration {
	floor := a.minSilence
	if floor == 0 {
		floor = announceSilence
	}
	sx, _, err := wire.ParseHeartBeat(connectedHeartBeat)
	if err != nil || sx <= 0 {
		return floor
	}
	return max(floor, 2*time.Duration(sx)*time.Millisecond+time.Second)
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
	silence := a.readTimeout(f.Headers.Value("heart-beat"))
	a.log.Info("announced this node to the live", "event", "ha_announced", "live", url)
	if a.onAnnounced != nil {
		a.onAnnounced(url)
		defer a.onAnnounced("")
	}
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
		_ = nc.SetReadDeadline(time.Now().Add(silence))
		if _, err := r.ReadFrame(); err != nil {
			nc.Close()
			<-done
			return true
		}
	}
}
