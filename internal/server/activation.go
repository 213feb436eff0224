package server

import (
	"context"
	"path/filepath"
	"time"

	"tandem/internal/config"
	"tandem/internal/ha"
)

// activation is how a node of a pair becomes live and stays so: the lock
// files of a shared file system (internal/ha) or the lease row of a
// database (internal/ha/dblease). runHA drives either the same way.
type activation interface {
	// wait blocks until this node may serve, and returns its term.
	wait(ctx context.Context) (term, error)
	// where names the shared store for log lines.
	where() string
	// storeNodeID reads the store's node id for a waiting node's
	// announcement, or returns "".
	storeNodeID() string
	// rejoins reports whether a node that lost its term (or whose store
	// failed) goes back to waiting rather than exiting. A file lock is
	// lost only when something is badly wrong with the shared file system
	// (exit, and let a supervisor look); a lease is lost whenever the
	// database is away too long, which the pair rides out by itself.
	rejoins() bool
	// stepDown ends a term whose store failed, leaving the store to the
	// next node to activate.
	stepDown(t term) error
	// standbyReserve reports whether a waiting node faults in memory for
	// replaying a journal.
	standbyReserve() bool
}

// term is one activation: the node holds the lock or the lease until it
// stops, hands the store back or loses it. *ha.Live and *dblease.Live
// implement it.
type term interface {
	Epoch() uint64
	NodeID() string
	AcquiredAt() time.Time
	Monitor()
	Lost() <-chan struct{}
	Err() error
	FailbackRequested() <-chan struct{}
	HandBack() error
	Stop() error
}

// newActivation returns the activation the configuration asks for.
func (s *Server) newActivation() activation {
	if s.cfg.Database() {
		return s.databaseActivation()
	}
	opts := ha.Options{
		Dir: s.cfg.JournalDirectory, Role: ha.Backup, FailoverOnShutdown: s.cfg.HA.FailoverOnShutdown,
		AllowFailback: s.cfg.HA.AllowFailback, Name: s.cfg.Name, MaxEpochOnDisk: s.maxEpochOnDisk,
		Fence: s.fence, Logger: s.log, OnState: s.setHAState,
		LockCheckPeriod: s.cfg.HA.LockCheckPeriod, StallTimeout: s.cfg.HA.LockStallTimeout,
	}
	if s.cfg.HA.Mode == config.HAPrimary {
		opts.Role = ha.Primary
	}
	if s.cfg.BaseDir != "" {
		// The instance remembers the store it served, so a node whose
		// shared mount is missing refuses to start a new, local store.
		opts.NodeIDFile = filepath.Join(s.cfg.BaseDir, "data", "ha-node-id")
	}
	return fileActivation{opts: opts}
}

// fileActivation is shared-store HA on lock files (docs/ha.md, 1 to 9).
type fileActivation struct{ opts ha.Options }

func (f fileActivation) wait(ctx context.Context) (term, error) {
	l, err := ha.Wait(ctx, f.opts)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (f fileActivation) where() string { return f.opts.Dir }

func (f fileActivation) storeNodeID() string {
	rec, err := ha.ReadRecord(f.opts.Dir)
	if err != nil {
		return ""
	}
	return rec.NodeID
}

func (fileActivation) rejoins() bool         { return false }
func (fileActivation) stepDown(t term) error { return nil }
func (fileActivation) standbyReserve() bool  { return true }
