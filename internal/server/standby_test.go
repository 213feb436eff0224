package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/journal"
	"tandem/internal/message"
	"tandem/internal/store"
	"tandem/internal/store/filestore"
)

// sparseJournal makes n data files of size bytes in dir without writing
// them, plus a file that is not a data file, and returns dir.
func sparseJournal(t *testing.T, n int, size int64) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("tandem-data-%010d.tj", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := os.WriteFile(filepath.Join(dir, "server.lock"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestJournalDataBytes(t *testing.T) {
	dir := sparseJournal(t, 3, 10<<20)
	if got, want := journalDataBytes(dir), int64(30<<20); got != want {
		t.Fatalf("journalDataBytes = %d, want %d (data files only)", got, want)
	}
	if got := journalDataBytes(filepath.Join(dir, "missing")); got != 0 {
		t.Fatalf("journalDataBytes of a missing directory = %d, want 0", got)
	}
}

func TestStandbyReserve(t *testing.T) {
	const fileSize = 10 << 20
	tests := []struct {
		name       string
		files      int
		ha         config.HAPolicy
		wantSome   bool
		wantAtMost int64
	}{
		{"grows toward the journal, within the cap", 20, config.HAPolicy{Mode: config.HABackup, StandbyReserve: 96 << 20}, true, 96 << 20},
		{"off", 20, config.HAPolicy{Mode: config.HABackup, StandbyReserveOff: true}, false, 0},
		{"small journal", 4, config.HAPolicy{Mode: config.HABackup}, false, 0},
		{"standalone broker", 20, config.HAPolicy{Mode: config.HANone}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{PersistenceEnabled: true, JournalDirectory: sparseJournal(t, tt.files, fileSize),
				JournalFileSize: fileSize, JournalMinFiles: 2, HA: tt.ha}
			s := New(cfg, nil)
			r := journal.NewReserve()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); s.keepReserve(ctx, r) }()
			deadline := time.Now().Add(10 * time.Second)
			if tt.wantSome {
				for r.Bytes() == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				// Give it the time of a first resize to do the wrong thing.
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			<-done
			got := r.Bytes()
			if tt.wantSome && got == 0 {
				t.Fatal("the waiting node reserved nothing")
			}
			if got > tt.wantAtMost {
				t.Fatalf("reserved %d bytes, want at most %d", got, tt.wantAtMost)
			}
		})
	}
}

// TestKeepStandbyFollowsTheLive runs a live store under a real live lock and
// a waiting node's standby loop beside it: the loop follows the live's
// journal, binds the follower to the live's epoch (usable by a takeover with
// the next epoch only), and drops it when the live stops without failover.
func TestKeepStandbyFollowsTheLive(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{PersistenceEnabled: true, JournalDirectory: filepath.Join(dir, "journal"),
		BindingsDirectory: filepath.Join(dir, "bindings"), JournalFileSize: 1 << 20, JournalMinFiles: 2,
		HA: config.HAPolicy{Mode: config.HABackup, StandbyReserve: 1 << 30}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	live, err := ha.Wait(ctx, ha.Options{Dir: cfg.JournalDirectory, Role: ha.Primary, Name: "live"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := filestore.Open(filestore.Options{JournalDir: cfg.JournalDirectory, BindingsDir: cfg.BindingsDirectory,
		FileSize: 1 << 20, MinFiles: 2, Sync: true, Epoch: live.Epoch()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Load()
	const n = 200
	var b store.Batch
	b.AddQueue(store.Queue{ID: st.NewID(), Name: "q", Address: "q", RoutingType: message.Anycast, MaxConsumers: -1})
	for range n {
		m := &message.Message{ID: st.NewID(), Address: "q", Durable: true, Body: []byte("hello")}
		b.AddMessage(m)
		b.AddRef(m.ID, b.Ops[0].ID)
	}
	done := make(chan error, 1)
	st.Commit(&b, true, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A second write shows the first durable to the follower.
	b = store.Batch{}
	b.AddDuplicateID(store.DuplicateID{RecordID: st.NewID(), Address: "q", ID: "x"})
	st.Commit(&b, true, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	s := New(cfg, nil)
	fol := s.newFollower()
	if fol == nil {
		t.Fatal("no follower for a shared-store backup")
	}
	standbyCtx, stopStandby := context.WithCancel(ctx)
	prepared := make(chan standby, 1)
	go func() { prepared <- s.keepStandby(standbyCtx, journal.NewReserve(), fol) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: follower %+v", what, fol.Stats())
			}
		}
	}
	waitFor("following the live", func() bool { return fol.Stats().Messages.Records >= n })

	// The live stops without failover: the store is paused, and what the
	// follower held is of no use to a later takeover.
	if err := live.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor("dropping the state of a stopped live", func() bool { return fol.Stats().Messages.Records == 0 })
	stopStandby()
	got := <-prepared
	if got.followerFor(live.Epoch()+1) != nil {
		t.Fatalf("a follower of a paused store would be used by the next activation (epoch %d)", got.epoch)
	}
}

func TestFollowerForEpoch(t *testing.T) {
	fol := &filestore.Follower{}
	tests := []struct {
		name   string
		st     standby
		epoch  uint64
		usable bool
	}{
		{"the next epoch", standby{follower: fol, epoch: 4}, 5, true},
		{"another activation in between", standby{follower: fol, epoch: 4}, 6, false},
		{"an older epoch", standby{follower: fol, epoch: 4}, 4, false},
		{"nothing followed", standby{follower: fol}, 1, false},
		{"no follower", standby{epoch: 4}, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.followerFor(tt.epoch) != nil; got != tt.usable {
				t.Fatalf("followerFor(%d) usable = %v, want %v", tt.epoch, got, tt.usable)
			}
		})
	}
}
