package server

import (
	"context"
	"os"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/journal"
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
