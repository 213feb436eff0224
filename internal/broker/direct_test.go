package broker

import (
	"path/filepath"
	"testing"
	"time"

	"tandem/internal/message"
	"tandem/internal/store/filestore"
)

// TestSendDirectOnAnIdleStoreCompletesBeforeReturning checks, against the
// real file store, that SendDirect writes a durable message on the caller
// when nothing else is being written, and that the message is then queued
// like any other, across a restart too.
func TestSendDirectOnAnIdleStoreCompletesBeforeReturning(t *testing.T) {
	dir := t.TempDir()
	opts := filestore.Options{JournalDir: filepath.Join(dir, "journal"), BindingsDir: filepath.Join(dir, "bindings"),
		FileSize: 1 << 20, MinFiles: 2, Sync: true}
	var st *filestore.Store
	start := func() *Broker {
		t.Helper()
		var err error
		st, err = filestore.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(Options{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		st := st
		t.Cleanup(func() { b.Close(); st.Close() })
		return b
	}
	b := start()
	s := session(t, b, "")
	send(t, s, msg("q", "first")) // creates the queue and its bindings
	const n = 5
	direct := 0
	results := make(chan error, n)
	for range n {
		// Give the store's background work (file preparation) a moment to
		// settle, as an idle broker between a lone producer's sends has.
		time.Sleep(20 * time.Millisecond)
		ran := false
		s.SendDirect(msg("q", "direct"), nil, func(err error) { ran = true; results <- err })
		if ran {
			direct++
		}
	}
	for range n {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if direct == 0 {
		t.Fatal("no SendDirect on an idle store completed before it returned")
	}
	b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b = start()
	items, err := session(t, b, "").Browse("q", message.Anycast, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1+n {
		t.Fatalf("browsed %d messages after a restart, want %d", len(items), 1+n)
	}
}
