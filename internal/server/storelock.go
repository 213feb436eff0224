package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/storelock"
)

// ErrSharedStore is wrapped by the error of a standalone broker pointed at
// the store of a shared-store pair.
var ErrSharedStore = errors.New("the store belongs to a live/backup pair")

// storeDirs are the directories of the store, each of which gets a lock.
func (s *Server) storeDirs() []string {
	return []string{s.cfg.JournalDirectory, s.cfg.BindingsDirectory, s.cfg.PagingDirectory, s.cfg.LargeMessagesDirectory}
}

// lockStoreLocked takes the store lock (internal/storelock) unless it is
// held already: before anything of the store is read, a standalone broker
// and the live node of a pair alike. A standalone broker also refuses a
// shared-store pair's directory. It requires s.mu.
func (s *Server) lockStoreLocked() error {
	// A database store is held by its lease (internal/ha/dblease), not by
	// files.
	if s.storeLock != nil || !s.cfg.PersistenceEnabled || s.cfg.Database() {
		return nil
	}
	role := storelock.RoleLive
	if s.cfg.HA.Mode == config.HANone {
		role = "standalone broker"
		if err := refuseSharedStore(s.cfg.JournalDirectory); err != nil {
			return err
		}
	}
	l, err := storelock.Acquire(s.storeDirs(), storelock.Self(s.cfg.BaseDir, s.cfg.Name, role))
	if err != nil {
		return fmt.Errorf("cannot lock the store: %w", err)
	}
	s.storeLock = l
	return nil
}

// releaseStoreLocked releases the store lock, once the store is closed. It
// requires s.mu.
func (s *Server) releaseStoreLocked() {
	if s.storeLock != nil {
		if err := s.storeLock.Release(); err != nil {
			s.log.Warn("releasing the store lock failed", "err", err)
		}
		s.storeLock = nil
	}
}

// refuseSharedStore refuses dir when a shared-store pair keeps its state
// file there: a standalone broker writing into the pair's journal corrupts
// it for both nodes, whether or not one of them runs right now.
func refuseSharedStore(dir string) error {
	rec, err := ha.ReadRecord(dir)
	switch {
	case errors.Is(err, ha.ErrNoRecord):
		return nil
	case errors.Is(err, ha.ErrDamaged):
		return fmt.Errorf("%w: %s holds a shared-store state file (server.lock), damaged (%v); a standalone broker must not open a pair's store: set ha-policy shared-store in etc/broker.yaml to run this instance as a node of the pair, or give it a store of its own", ErrSharedStore, dir, err)
	case err != nil:
		return fmt.Errorf("read the shared-store state file in %s: %w", dir, err)
	}
	return fmt.Errorf("%w: %s is the shared store of a live/backup pair (node id %s, state %s, epoch %d, last written by %s); a standalone broker must not open it: set ha-policy shared-store (primary or backup) in etc/broker.yaml to run this instance as a node of that pair, or give it a store of its own (tandem create --data DIR)",
		ErrSharedStore, dir, rec.NodeID, rec.State, rec.Epoch, rec.Who())
}

// refuseForeignHolder refuses to join a pair on a store that a process
// other than a live node holds (a standalone broker, a data tool): the
// pair's state file must not be written into a store someone else serves.
// The live node of the pair holding it is what a waiting node expects.
func refuseForeignHolder(dir string) error {
	h, held, err := storelock.InUse(dir)
	if err != nil || !held || h.Role == storelock.RoleLive {
		return err
	}
	return fmt.Errorf("the store in %s is in use by %s, which is not the live node of a shared-store pair; stop it first, or give this pair a store of its own", dir, h)
}

// lockStoreForActivation takes the store lock for a node that has just
// taken live.lock. A live node still holding the store lock is on its way
// out: it lost live.lock (a replaced lock file, an NFS lease that lapsed)
// and fences itself within its lock-stall-timeout, then releases the store;
// the new live waits for that, up to twice the stall timeout, rather than
// give up the activation. Any other holder is refused at once.
func (s *Server) lockStoreForActivation(ctx context.Context) error {
	stall := s.cfg.HA.LockStallTimeout
	if stall == 0 {
		stall = ha.DefaultStallTimeout
	}
	deadline := time.Now().Add(2 * stall)
	for logged := false; ; logged = true {
		s.mu.Lock()
		err := s.lockStoreLocked()
		s.mu.Unlock()
		var iu *storelock.InUseError
		if err == nil || !errors.As(err, &iu) || iu.Holder.Role != storelock.RoleLive || time.Now().After(deadline) {
			return err
		}
		if !logged {
			s.log.Warn("the previous live node still holds the store; waiting for it to fence itself and let go",
				"event", "ha_store_held", "holder", iu.Holder.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
