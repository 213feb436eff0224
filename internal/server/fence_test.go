package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/message"
	"tandem/internal/store"
)

// pagingServer starts a standalone broker whose address "paged" pages
// beyond 4 KiB.
func pagingServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	if err := cfg.ResolvePaths(dir); err != nil {
		t.Fatal(err)
	}
	cfg.Acceptors = []config.Acceptor{{Name: "test", URL: "tcp://127.0.0.1:0"}}
	cfg.SecuritySettings = nil // no permissions to check
	limit, policy := int64(4<<10), config.PolicyPage
	cfg.AddressSettings = append(cfg.AddressSettings, config.AddressSetting{Match: "paged", MaxSizeBytes: &limit, AddressFullPolicy: &policy})
	s := New(cfg, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stopWithTimeout() })
	return s, dir
}

func sendWait(t *testing.T, sess *broker.Session, m *message.Message) error {
	t.Helper()
	ch := make(chan error, 1)
	sess.Send(m, nil, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("a send was never confirmed nor refused")
		return nil
	}
}

func fileSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out[p] = fi.Size()
		}
		return nil
	})
	return out
}

// TestFenceStopsEveryStore: the server's fence (what the lock monitor
// calls) stops the journals, the page files and the large-message files
// together: after it, a send to a paging address is refused, not
// confirmed, no large body can be created, and the data directories do
// not change.
func TestFenceStopsEveryStore(t *testing.T) {
	s, dir := pagingServer(t)
	sess, err := s.Broker().NewSession(broker.SessionInfo{User: "test"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("p", 1000))
	for i := 0; ; i++ {
		m := &message.Message{Address: "paged", RoutingType: message.Anycast, Durable: true, Body: body}
		if err := sendWait(t, sess, m); err != nil {
			t.Fatal(err)
		}
		if isPaging(s.Broker(), "paged") && i > 10 {
			break
		}
		if i > 1000 {
			t.Fatal("the address never started paging")
		}
	}
	s.fence(errors.New("lock lost"))
	before := fileSizes(t, dir)
	if len(before) < 3 {
		t.Fatalf("the data directories hold only %v", before)
	}

	for _, tc := range []struct {
		name string
		addr string
	}{
		{"paged send", "paged"},
		{"journal send", "plain"},
	} {
		m := &message.Message{Address: tc.addr, RoutingType: message.Anycast, Durable: true, Body: body}
		if err := sendWait(t, sess, m); !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s after the fence = %v, want ErrFenced", tc.name, err)
		}
	}
	if _, err := sess.CreateLargeBody(); !errors.Is(err, store.ErrFenced) {
		t.Errorf("CreateLargeBody after the fence = %v, want ErrFenced", err)
	}
	after := fileSizes(t, dir)
	for p, n := range after {
		if strings.Contains(p, string(filepath.Separator)+"log"+string(filepath.Separator)) {
			continue
		}
		if m, ok := before[p]; !ok || m != n {
			t.Errorf("%s changed after the fence: %d bytes, was %d (present: %v)", p, n, m, ok)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Stop(ctx)
}

func isPaging(b *broker.Broker, name string) bool {
	for _, ai := range b.Addresses() {
		if ai.Name == name {
			return ai.Paging
		}
	}
	return false
}
