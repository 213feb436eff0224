package server

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/journal"
	"tandem/internal/store/filestore"
)

// standbyReserveMin is the journal size below which a waiting node reserves
// nothing: replaying less takes a few tens of milliseconds anyway.
const standbyReserveMin = 64 << 20

// standbyReserveEvery is how often a waiting node looks at the journal's
// size on disk to grow or shrink its reserve.
const standbyReserveEvery = time.Second

// keepReserve grows r, while ctx lasts, toward the memory the node will need
// to replay the shared journal when it takes over (see journal.Reserve and
// docs/ha.md, "Warm standby memory"). It returns when ctx ends.
func (s *Server) keepReserve(ctx context.Context, r *journal.Reserve) {
	limit := s.standbyReserveLimit()
	if limit <= 0 {
		return
	}
	t := time.NewTicker(standbyReserveEvery)
	defer t.Stop()
	logged := false
	for {
		want := journalDataBytes(s.cfg.JournalDirectory) - int64(max(2, s.cfg.JournalMinFiles))*s.cfg.JournalFileSize
		if want < standbyReserveMin {
			want = 0
		}
		// The reserve holds a share of heap on top of the payload bytes.
		for want > 0 && journal.ReserveFor(want) > limit {
			want -= want / 8
		}
		if !r.Resize(want, ctx.Done()) {
			return
		}
		if got := r.Bytes(); got > 0 && !logged {
			s.log.Info("reserving memory for a fast takeover while waiting (ha-policy standby-reserve)",
				"event", "ha_standby_reserve", "bytes", got, "limit", limit)
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// standbyReserveLimit is the most the reserve may hold under the
// configuration, or 0 when it is off.
func (s *Server) standbyReserveLimit() int64 {
	ha := s.cfg.HA
	switch {
	case ha.Mode == config.HANone || ha.StandbyReserveOff || !s.cfg.PersistenceEnabled:
		return 0
	case ha.StandbyReserve > 0:
		return ha.StandbyReserve
	}
	if mem := physicalMemory(); mem > 0 {
		return mem / 4
	}
	return 1 << 30
}

// journalDataBytes is the size on disk of the message journal's data files,
// an upper bound of the payload bytes a replay of it copies.
func journalDataBytes(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "tandem-data-") || !strings.HasSuffix(e.Name(), ".tj") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// How often a waiting node reads the live's journal: soon again while it
// finds something new, so that it keeps up with a busy live, and otherwise
// every followIdle.
const (
	followBusy = 2 * time.Millisecond
	followIdle = 50 * time.Millisecond
	// followRetry is how long a follower that stopped (it met something
	// it could not follow) waits before it starts over.
	followRetry = 10 * time.Second
	// followProgressEvery is how often, at most, a caught-up follower
	// logs its progress (at debug level).
	followProgressEvery = time.Second
)

// followedBytesPerRecord is what a followed record costs beyond its bytes
// in the journal: the decoded message, its queue references and the two
// indexes that find it. It makes the follower's memory comparable with the
// standby-reserve limit.
const followedBytesPerRecord = 256

// standby is what a waiting node prepared for taking over.
type standby struct {
	reserve  *journal.Reserve
	follower *filestore.Follower
	// epoch is the epoch of the live whose journal follower holds; 0 when
	// it holds nothing usable.
	epoch uint64
}

// followerFor returns the follower a takeover with the given new epoch
// may use, or nil. The follower's state is that of epoch st.epoch's
// journal; the activation that took over from that live has the next
// epoch, and any other means another node was live in between, whose
// recovery may have changed what the follower read.
func (st standby) followerFor(epoch uint64) *filestore.Follower {
	if st.follower == nil || st.epoch == 0 || epoch != st.epoch+1 {
		return nil
	}
	return st.follower
}

// keepStandby prepares a waiting node for taking over, until ctx ends: it
// follows the live's journal (docs/ha.md, "Following the live's journal"),
// so that a takeover replays only its tail; without a follower, or once the
// followed state outgrows the standby-reserve limit, it grows r instead
// (keepReserve).
func (s *Server) keepStandby(ctx context.Context, r *journal.Reserve, fol *filestore.Follower) standby {
	st := standby{reserve: r}
	limit := s.standbyReserveLimit()
	if limit <= 0 {
		return st
	}
	if fol == nil {
		s.keepReserve(ctx, r)
		return st
	}
	st.follower = fol
	live := func(rec ha.Record, err error) bool {
		return err == nil && (rec.State == ha.StoreLive || rec.State == ha.StoreFailingBack)
	}
	var brokenSince, progressAt time.Time
	logged := false
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return st
		case <-t.C:
		}
		t.Reset(followIdle)
		// The follower holds the journal of one live, identified by its
		// epoch: a store with no live, or another live, starts it over.
		// An activation during a poll is caught at the takeover, which
		// uses the follower only if its own epoch is the followed one
		// plus one: another activation in between (whose recovery may
		// have cut torn tails or finished a compaction) makes it at least
		// plus two.
		rec, err := ha.ReadRecord(s.cfg.JournalDirectory)
		if hs := s.HAState(); hs != nil && hs.Name == ha.StateActivating {
			// This node holds the lock and is writing its own epoch:
			// what the follower holds is what the takeover needs, and
			// the record no longer names the live it followed.
			continue
		}
		if !live(rec, err) {
			if st.epoch != 0 {
				fol.Reset()
				st.epoch = 0
			}
			continue
		}
		if rec.Epoch != st.epoch {
			if st.epoch != 0 {
				fol.Reset()
			}
			st.epoch = rec.Epoch
		}
		n, err := fol.Poll(ctx.Done())
		if ctx.Err() != nil {
			return st
		}
		switch {
		case errors.Is(err, journal.ErrFollowerBroken):
			if brokenSince.IsZero() {
				brokenSince = time.Now()
			} else if time.Since(brokenSince) > followRetry {
				fol.Reset()
				brokenSince = time.Time{}
			}
		case err != nil:
			s.log.Debug("reading the live's journal failed; trying again", "event", "ha_follow_error", "err", err)
		default:
			brokenSince = time.Time{}
		}
		fs := fol.Stats()
		if use := fs.Messages.LiveBytes + int64(fs.Messages.Records)*followedBytesPerRecord; use > limit {
			s.log.Warn("the live's journal holds more than standby-reserve allows a waiting node to keep; no longer following it (a takeover replays the whole journal)",
				"event", "ha_follow_stopped", "bytes", use, "limit", limit)
			fol.Reset()
			st.follower, st.epoch = nil, 0
			s.keepReserve(ctx, r)
			return st
		}
		if !logged && fs.Messages.Records > 0 {
			s.log.Info("following the live's journal while waiting, so that a takeover replays only its tail",
				"event", "ha_following", "epoch", st.epoch, "records", fs.Messages.Records)
			logged = true
		}
		if n > 0 {
			t.Reset(followBusy)
		} else if time.Since(progressAt) >= followProgressEvery {
			// Caught up with what the live has made durable.
			progressAt = time.Now()
			s.log.Debug("caught up with the live's journal", "event", "ha_follow_progress", "epoch", st.epoch,
				"records", fs.Messages.Records, "applied", fs.Messages.Applied, "restarts", fs.Messages.Resets,
				"broken", fs.Messages.Broken)
		}
	}
}

// newFollower returns a follower of the store's journals for a waiting
// node, or nil when the store is not a pair's file store.
func (s *Server) newFollower() *filestore.Follower {
	if !s.cfg.PersistenceEnabled || s.cfg.Database() || s.cfg.HA.Mode == config.HANone {
		return nil
	}
	f, err := filestore.NewFollower(filestore.FollowOptions{JournalDir: s.cfg.JournalDirectory,
		BindingsDir: s.cfg.BindingsDirectory, Logger: s.log})
	if err != nil {
		s.log.Warn("cannot follow the live's journal", "err", err)
		return nil
	}
	return f
}

// verifyFollower is set (TANDEM_VERIFY_FOLLOWER=1) by tests and for
// diagnosis: a followed takeover is then checked against a full replay of
// a copy of the journals, and refused when they differ.
func verifyFollower() bool { return os.Getenv("TANDEM_VERIFY_FOLLOWER") == "1" }
