package server

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	stompproto "tandem/internal/protocol/stomp"
	wire "tandem/internal/wire/stomp"
)

// errNodeMismatch refuses an announcement from a node of another store.
var errNodeMismatch = errors.New("node id mismatch: this node waits on another store")

// topology is what the live node knows of its pair: its own identity and
// the waiting nodes that announced themselves. It feeds the CONNECTED
// headers that let failover clients find the backups (docs/ha.md, 4).
type topology struct {
	log         *slog.Logger
	clusterUser string

	mu      sync.Mutex
	nodeID  string
	epoch   uint64
	liveURL string
	backups []backupNode
}

type backupNode struct {
	id    int
	url   string
	name  string
	since time.Time
}

// activate records the identity of a new activation.
func (t *topology) activate(nodeID string, epoch uint64, liveURL string) {
	t.mu.Lock()
	t.nodeID, t.epoch, t.liveURL = nodeID, epoch, liveURL
	t.backups = nil
	t.mu.Unlock()
}

// headers are the topology headers of every CONNECTED frame.
func (t *topology) headers() wire.Headers {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nodeID == "" {
		return nil
	}
	h := wire.Headers{
		{Key: "tandem-node-id", Value: t.nodeID},
		{Key: "tandem-epoch", Value: strconv.FormatUint(t.epoch, 10)},
	}
	if t.liveURL != "" {
		h = append(h, wire.Header{Key: "tandem-live", Value: t.liveURL})
	}
	if len(t.backups) > 0 {
		urls := make([]string, 0, len(t.backups))
		seen := map[string]bool{}
		for _, b := range t.backups {
			if !seen[b.url] {
				seen[b.url] = true
				urls = append(urls, b.url)
			}
		}
		h = append(h, wire.Header{Key: "tandem-backups", Value: strings.Join(urls, ",")})
	}
	return h
}

// Backups returns the URLs of the announced waiting nodes.
func (t *topology) Backups() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.backups))
	for i, b := range t.backups {
		out[i] = b.url
	}
	return out
}

// backupNodes returns the announced waiting nodes, one per URL (a node
// that reconnected is listed once, with its latest announcement).
func (t *topology) backupNodes() []backupNode {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []backupNode
	seen := map[string]int{}
	for _, b := range t.backups {
		if i, ok := seen[b.url]; ok {
			out[i] = b
			continue
		}
		seen[b.url] = len(out)
		out = append(out, b)
	}
	return out
}

var nextBackupID struct {
	sync.Mutex
	n int
}

// announce registers a waiting node for as long as its connection lasts.
func (t *topology) announce(a stompproto.Announcement) (func(), error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nodeID == "" {
		return nil, errors.New("this node is not live")
	}
	if a.NodeID != t.nodeID {
		return nil, fmt.Errorf("%w (announced %q, live %q)", errNodeMismatch, a.NodeID, t.nodeID)
	}
	if t.clusterUser != "" && a.User != t.clusterUser {
		return nil, fmt.Errorf("announcement refused: user %q is not the cluster user", a.User)
	}
	if a.URL == "" {
		return nil, errors.New("announcement refused: tandem-url is missing")
	}
	nextBackupID.Lock()
	nextBackupID.n++
	id := nextBackupID.n
	nextBackupID.Unlock()
	t.backups = append(t.backups, backupNode{id: id, url: a.URL, name: a.Name, since: time.Now()})
	t.log.Info("backup announced", "event", "ha_backup_announced", "backup", a.Name, "url", a.URL)
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, b := range t.backups {
			if b.id == id {
				t.backups = append(t.backups[:i], t.backups[i+1:]...)
				t.log.Info("backup left", "event", "ha_backup_left", "backup", a.Name, "url", a.URL)
				return
			}
		}
	}, nil
}
