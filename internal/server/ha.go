package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/journal"
	"tandem/internal/protocol"
	"tandem/internal/protocol/cluster"
	"tandem/internal/store"
	"tandem/internal/store/filestore"
)

// runHA runs a node of a shared-store pair: wait for the live lock, serve
// while holding it, and go back to waiting after handing the store back to
// a returning primary.
func (s *Server) runHA(ctx context.Context) error {
	if !s.cfg.PersistenceEnabled {
		return errors.New("ha-policy shared-store needs persistence-enabled: true (the journal is the shared store)")
	}
	act := s.newActivation()
	role := "primary"
	if s.cfg.HA.Mode == config.HABackup {
		role = "backup"
	}
	if !s.cfg.Database() {
		if err := refuseForeignHolder(s.cfg.JournalDirectory); err != nil {
			return err
		}
	}
	ann := s.newAnnouncer(act)
	for {
		annCtx, stopAnnouncing := context.WithCancel(ctx)
		if ann != nil {
			go ann.run(annCtx)
		}
		// While it waits, the node follows the live's journal, or faults
		// in memory for the replay that taking over starts with
		// (standby-reserve).
		reserve := journal.NewReserve()
		// Following stops between two frames when the lock comes, and a
		// block being faulted in is dropped, not waited for.
		standbyCtx, stopStandby := context.WithCancel(ctx)
		prepared := make(chan standby, 1)
		if act.standbyReserve() {
			go func() { prepared <- s.keepStandby(standbyCtx, reserve, s.newFollower()) }()
		} else {
			prepared <- standby{reserve: reserve}
		}
		live, err := act.wait(ctx)
		stopAnnouncing()
		stopStandby()
		st := <-prepared
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting: nothing to release
			}
			return fmt.Errorf("shared store %s: %w", act.where(), err)
		}
		s.topo.activate(live.NodeID(), live.Epoch(), s.selfNode())
		granted := live.AcquiredAt()
		if err := s.lockStoreForActivation(ctx); err != nil {
			return errors.Join(err, live.Stop())
		}
		if err := s.startServing(live.Epoch(), st.reserve, st.followerFor(live.Epoch())); err != nil {
			if act.rejoins() && (errors.Is(err, store.ErrFenced) || lost(live)) {
				// Another node took over while this one loaded the store.
				s.log.Error("lost the store while starting to serve it; waiting to become live again", "event", "ha_fenced", "err", err)
				s.topo.activate("", 0, protocol.Node{})
				live.Stop()
				continue
			}
			return errors.Join(err, live.Stop())
		}
		s.log.Info(fmt.Sprintf("became live on %s (epoch %d, node id %s); serving clients %v after taking the lock",
			act.where(), live.Epoch(), live.NodeID(), time.Since(granted).Round(time.Millisecond)),
			"event", "ha_live", "role", role, "epoch", live.Epoch())
		s.web.activations.Add(1)
		live.Monitor()
		select {
		case <-ctx.Done():
			err := s.stopWithTimeout()
			return errors.Join(err, live.Stop())
		case <-live.Lost():
			if act.rejoins() {
				s.log.Error("lost the lease: stopped writing and closed the clients; waiting to become live again", "event", "ha_fenced", "err", live.Err())
				s.stopWithTimeout()
				s.topo.activate("", 0, protocol.Node{})
				live.Stop()
				continue
			}
			s.log.Error("lost the shared store: stopped writing, closing clients and exiting", "event", "ha_fenced", "err", live.Err())
			s.stopWithTimeout()
			return fmt.Errorf("%w: %v", ErrLockLost, live.Err())
		case err := <-s.databaseFailures():
			// The database holds what was committed; step down so that the
			// next node to activate (the backup, or this one again)
			// replays it.
			s.log.Error("the store failed: stepping down and waiting to become live again", "event", "ha_step_down", "err", err)
			s.fence(err)
			s.stopWithTimeout()
			s.topo.activate("", 0, protocol.Node{})
			if serr := act.stepDown(live); serr != nil {
				s.log.Warn("could not release the lease; it expires by itself", "err", serr)
			}
			continue
		case err := <-s.serveErr:
			if errors.Is(err, ErrJournalFailed) {
				// As after a crash: the record stays live and the exit
				// releases the lock, so the backup takes over and replays.
				return errors.Join(err, s.stopWithTimeout())
			}
			return errors.Join(err, s.stopWithTimeout(), live.Stop())
		case <-s.web.force:
			// Force-failover: close the broker and the journal cleanly but
			// skip live.Stop, which would write "paused" and keep the backup
			// waiting. The record still says live, so the backup takes over
			// the moment this process exits and the kernel drops its locks,
			// exactly as after a crash but with nothing left unsynced.
			s.log.Warn("force-failover: stopping so that the backup takes over", "event", "ha_forced_failover", "epoch", live.Epoch())
			return errors.Join(ErrForcedFailover, s.stopWithTimeout())
		case <-live.FailbackRequested():
			s.log.Info("the primary is back: handing the store back (allow-failback)", "event", "ha_failback")
			if err := s.stopWithTimeout(); err != nil {
				s.log.Warn("stopping for failback", "err", err)
			}
			s.topo.activate("", 0, protocol.Node{})
			if err := live.HandBack(); err != nil {
				return fmt.Errorf("hand the store back to the primary: %w", err)
			}
		}
	}
}

// lost reports whether a term was lost.
func lost(t term) bool {
	select {
	case <-t.Lost():
		return true
	default:
		return false
	}
}

// fence stops all writing to the store at once, the journals, the page
// files and the large-message files together (or the database store), and
// returns once nothing more can be written or confirmed; the lock monitor
// calls it the moment it finds the store taken by another node.
func (s *Server) fence(cause error) {
	if f := s.fencePoint.Load(); f != nil {
		f.Fence(cause)
	}
	if st := s.db.store.Load(); st != nil {
		st.Fence(cause)
	}
}

// maxEpochOnDisk reads the fencing epochs in the journal file headers.
func (s *Server) maxEpochOnDisk() (uint64, error) {
	a, err := journal.MaxEpoch(s.cfg.JournalDirectory, filestore.MessagesPrefix)
	if err != nil {
		return 0, err
	}
	b, err := journal.MaxEpoch(s.cfg.BindingsDirectory, filestore.BindingsPrefix)
	if err != nil {
		return 0, err
	}
	return max(a, b), nil
}

func (s *Server) setHAState(st ha.State) {
	s.haState.Store(&st)
	s.web.recordHA(st)
}

// HAState returns the node's current HA state, or nil for a standalone
// broker.
func (s *Server) HAState() *ha.State { return s.haState.Load() }

// ownURL is this node's client URL as its peers reach it: the connector its
// cluster connection names.
func (s *Server) ownURL() string {
	for _, cc := range s.cfg.ClusterConnections {
		if u := s.connectorURL(cc.ConnectorRef); u != "" {
			return u
		}
	}
	return ""
}

func (s *Server) connectorURL(name string) string {
	for _, c := range s.cfg.Connectors {
		if c.Name == name {
			return c.URL
		}
	}
	return ""
}

// newAnnouncer builds the announcer of a waiting node from its cluster
// connection, or returns nil when none is configured.
func (s *Server) newAnnouncer(act activation) *announcer {
	for _, cc := range s.cfg.ClusterConnections {
		var peers []string
		for _, name := range cc.StaticConnectors {
			if u := s.connectorURL(name); u != "" {
				peers = append(peers, u)
			}
		}
		if len(peers) == 0 {
			continue
		}
		self := s.connectorURL(cc.ConnectorRef)
		user, password := cc.User, cc.Password
		return &announcer{urls: peers, log: s.log, onAnnounced: s.web.setAnnounced, hello: func() cluster.Hello {
			h := cluster.Hello{Name: s.cfg.Name, User: user, Password: password, NodeID: act.storeNodeID()}
			if self != "" {
				h.Endpoints = []protocol.Endpoint{{URL: self, Protocols: s.protocolsAt(self)}}
			}
			return h
		}}
	}
	return nil
}
