package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/journal"
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
