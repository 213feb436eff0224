package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"tandem/internal/protocol"
	"tandem/internal/protocol/cluster"
)

// errNodeMismatch refuses an announcement from a node of another store.
var errNodeMismatch = errors.New("node id mismatch: this node waits on another store")

// topology is what the live node knows of its pair: its own identity and
// the waiting nodes that announced themselves over the cluster protocol.
// Every adapter renders it for its clients (docs/ha.md, 4).
type topology struct {
	log         *slog.Logger
	clusterUser string

	mu      sync.Mutex
	nodeID  string
	epoch   uint64
	live    protocol.Node
	backups []backupNode
	nextID  int
}

type backupNode struct {
	id   int
	node protocol.Node
}

// activate records the identity of a new activation; an empty nodeID
// records that this node is no longer live.
func (t *topology) activate(nodeID string, epoch uint64, live protocol.Node) {
	t.mu.Lock()
	t.nodeID, t.epoch, t.live = nodeID, epoch, live
	t.backups = nil
	t.mu.Unlock()
}

// snapshot returns the topology as adapters see it.
func (t *topology) snapshot() protocol.Topology {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := protocol.Topology{NodeID: t.nodeID, Epoch: t.epoch, Live: t.live}
	for _, b := range t.backups {
		out.Backups = append(out.Backups, b.node)
	}
	return out
}

// Backups returns one URL per announced waiting node, for the console.
func (t *topology) Backups() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.backups))
	for _, b := range t.backups {
		if len(b.node.Endpoints) > 0 {
			out = append(out, b.node.Endpoints[0].URL)
		}
	}
	return out
}

// register lists a waiting node for as long as its cluster connection
// lasts (cluster.Register).
func (t *topology) register(h cluster.Hello, id protocol.Identity) (func(), error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nodeID == "" {
		return nil, errors.New("this node is not live")
	}
	if h.NodeID != t.nodeID {
		return nil, fmt.Errorf("%w (announced %q, live %q)", errNodeMismatch, h.NodeID, t.nodeID)
	}
	if t.clusterUser != "" && id.User != t.clusterUser {
		return nil, fmt.Errorf("announcement refused: user %q is not the cluster user", id.User)
	}
	if len(h.Endpoints) == 0 || h.Endpoints[0].URL == "" {
		return nil, errors.New("announcement refused: the node gave no endpoint URL (set its cluster connection's connector-ref)")
	}
	t.nextID++
	id2 := t.nextID
	t.backups = append(t.backups, backupNode{id: id2, node: protocol.Node{Name: h.Name, Endpoints: h.Endpoints}})
	t.log.Info("backup announced", "event", "ha_backup_announced", "backup", h.Name, "url", h.Endpoints[0].URL)
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, b := range t.backups {
			if b.id == id2 {
				t.backups = append(t.backups[:i], t.backups[i+1:]...)
				t.log.Info("backup left", "event", "ha_backup_left", "backup", h.Name, "url", h.Endpoints[0].URL)
				return
			}
		}
	}, nil
}
