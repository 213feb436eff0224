package broker

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tandem/internal/largemsg"
	"tandem/internal/store"
	"tandem/internal/store/memstore"
)

// holdingStore is a memstore whose batches that delete a message record
// are held back, undecided, until the test releases them: the window
// between an acknowledgement and its becoming durable.
type holdingStore struct {
	*memstore.Store
	mu   sync.Mutex
	hold bool
	held []func(error)
}

func (h *holdingStore) Commit(b *store.Batch, sync bool, done func(error)) {
	h.mu.Lock()
	deletes := false
	for _, op := range b.Ops {
		deletes = deletes || op.Kind == store.OpDeleteMessage
	}
	if h.hold && deletes {
		h.held = append(h.held, func(err error) {
			if err != nil {
				done(err)
				return
			}
			h.Store.Commit(b, sync, done)
		})
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	h.Store.Commit(b, sync, done)
}

// release completes the held batches with err (nil: they become durable).
func (h *holdingStore) release(err error) int {
	h.mu.Lock()
	held := h.held
	h.held, h.hold = nil, false
	h.mu.Unlock()
	for _, f := range held {
		f(err)
	}
	return len(held)
}

func bodyExists(t *testing.T, b *Broker, dir string, id uint64) bool {
	t.Helper()
	b.deleter.flush()
	_, err := os.Stat(filepath.Join(dir, largemsg.BodyName(id)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestLargeBodyOutlivesAckUntilDurable: a large message's body is deleted
// only in the completion of the durable batch that deletes its record, so
// that a crash or a fence between the acknowledgement and its sync never
// leaves the message in the journal without its body; after a failed
// write the body stays.
func TestLargeBodyOutlivesAckUntilDurable(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outcome  error
		wantGone bool
	}{
		{"ack becomes durable", nil, true},
		{"ack write fails", errors.New("fdatasync: input/output error"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := &holdingStore{Store: memstore.New()}
			ls, err := largemsg.Open(largemsg.Options{Dir: dir, NewID: st.NewID})
			if err != nil {
				t.Fatal(err)
			}
			b, err := New(Options{Store: st, Large: ls})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			s := session(t, b, "")
			body := bytes.Repeat([]byte("large "), 30000)
			m := largeMsg(t, s, "q", body)
			id := m.Large().ID
			send(t, s, m)
			_, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
			d := k.wait(t, 1)[0]

			st.mu.Lock()
			st.hold = true
			st.mu.Unlock()
			acked := make(chan error, 1)
			d.Consumer.Ack(d.ID, nil, func(err error) { acked <- err })
			if !bodyExists(t, b, dir, id) {
				t.Fatal("the body was deleted before the acknowledgement that frees it was durable")
			}
			if n := st.release(tc.outcome); n != 1 {
				t.Fatalf("%d batches held, want the acknowledgement's", n)
			}
			if err := <-acked; !errors.Is(err, tc.outcome) {
				t.Fatalf("ack completed with %v, want %v", err, tc.outcome)
			}
			if gone := !bodyExists(t, b, dir, id); gone != tc.wantGone {
				t.Fatalf("body deleted: %v, want %v", gone, tc.wantGone)
			}
		})
	}
}

// TestOrphanBodiesCollectedWhilePaging: at start the broker deletes the
// bodies no message names, also while an address pages, and keeps those
// that page records still to be depaged name.
func TestOrphanBodiesCollectedWhilePaging(t *testing.T) {
	ldir, pdir := t.TempDir(), t.TempDir()
	st := memstore.New()
	opts := pagedOptions(t, pdir, 8<<10, FullPage)
	ls, err := largemsg.Open(largemsg.Options{Dir: ldir, NewID: st.NewID})
	if err != nil {
		t.Fatal(err)
	}
	opts.Large = ls
	b := startBroker(t, st, opts)
	s := session(t, b, "")
	small := 0
	for ; !addressInfo(b, "big").Paging; small++ {
		if small > 100 {
			t.Fatal("the address never started paging")
		}
		send(t, s, msg("big", body(small)))
	}
	body := bytes.Repeat([]byte("paged large "), 20000)
	m := largeMsg(t, s, "big", body)
	paged := m.Large().ID
	send(t, s, m)
	if err := os.WriteFile(filepath.Join(ldir, largemsg.BodyName(999999)), []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = restart(t, b, st, opts)
	if bodyExists(t, b, ldir, 999999) {
		t.Error("an orphan body survived a start while the address pages")
	}
	if !bodyExists(t, b, ldir, paged) {
		t.Fatal("the body of a paged large message was deleted at start")
	}
	s = session(t, b, "")
	// Auto-acknowledged: the body is read while the delivery is handed
	// over, as the STOMP adapter does.
	got := make(chan []byte, 1)
	reading := func(d Delivery) {
		if d.Message.Large() != nil {
			rc, err := s.OpenLargeBody(d.Message.Large())
			if err != nil {
				t.Errorf("open the paged large body after restart: %v", err)
				got <- nil
				return
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			got <- b
		}
	}
	if _, err := s.Subscribe(SubscribeOptions{Address: "big", AckMode: AckAuto, Deliver: reading}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, body) {
			t.Fatalf("paged large body is %d bytes after restart, want %d", len(b), len(body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the paged large message was not delivered after restart")
	}
}
