package diskfault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"tandem/internal/protocol"
	"testing"
	"time"

	"tandem/client"
	"tandem/internal/broker"
	"tandem/internal/journal"
	"tandem/internal/listener"
	stompproto "tandem/internal/protocol/stomp"
	"tandem/internal/store/filestore"
)

type anyone struct{}

func (anyone) Authenticate(string, string, string) (protocol.Identity, error) {
	return protocol.Identity{User: "test"}, nil
}

// rig is a broker serving STOMP on a journal in dir, through fs.
type rig struct {
	t      *testing.T
	fs     *faultyFS
	failed chan error // the store's OnFailure report
	st     *filestore.Store
	b      *broker.Broker
	ln     *listener.Listener
	url    string
}

const queue = "queue://orders"

// bodySize makes a few dozen messages fill a journal file, so that new
// files are prepared often.
const bodySize = 2048

func open(t *testing.T, dir string, fs *faultyFS) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := filestore.Open(filestore.Options{
		JournalDir: filepath.Join(dir, "journal"), BindingsDir: filepath.Join(dir, "bindings"),
		FileSize: 64 << 10, MinFiles: 2, Sync: true, FS: fs, Logger: log,
	})
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	b, err := broker.New(broker.Options{Store: st, SyncDurable: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("recover the broker: %v", err)
	}
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := stompproto.NewServer(stompproto.Options{Env: protocol.Env{Broker: b, Auth: anyone{}, Logger: log}})
	ln := listener.New(nl, listener.Options{Protocols: []listener.Protocol{srv}, Logger: log})
	go ln.Serve()
	r := &rig{t: t, fs: fs, st: st, b: b, ln: ln, url: "tcp://" + nl.Addr().String(), failed: make(chan error, 1)}
	st.OnFailure(func(err error) { r.failed <- err })
	t.Cleanup(r.crash)
	return r
}

// crash stops the rig as a killed process would: the disk is frozen first,
// so nothing the shutdown does reaches it.
func (r *rig) crash() {
	if r.b == nil {
		return
	}
	r.fs.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.ln.Close(ctx)
	r.b.Close()
	r.st.Close()
	r.b = nil
}

func (r *rig) dial(ctx context.Context) *client.Conn {
	r.t.Helper()
	c, err := client.Dial(ctx, r.url)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

func body(n int) []byte {
	key := fmt.Sprintf("m-%d ", n)
	return []byte(key + strings.Repeat("x", bodySize-len(key)))
}

func key(b []byte) string { k, _, _ := strings.Cut(string(b), " "); return k }

// sends counts what a producer tried and what the broker confirmed.
type sends struct {
	next      int
	confirmed []string
	attempted []string
	errs      []error
}

// send sends one message and records the outcome.
func (s *sends) send(ctx context.Context, c *client.Conn) error {
	b := body(s.next)
	s.next++
	s.attempted = append(s.attempted, key(b))
	err := c.Send(ctx, queue, b)
	if err == nil {
		s.confirmed = append(s.confirmed, key(b))
	} else {
		s.errs = append(s.errs, err)
	}
	return err
}

// receiveAll subscribes and receives until want messages came or the
// queue stays quiet; it does not acknowledge, so the messages stay stored.
func receiveAll(t *testing.T, ctx context.Context, c *client.Conn, want int) []string {
	t.Helper()
	sub, err := c.Subscribe(ctx, queue, client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(-1))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	var got []string
	for len(got) < want {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := sub.Receive(rctx)
		cancel()
		if err != nil {
			break
		}
		got = append(got, key(m.Body))
	}
	return got
}

// recovered reopens dir on a healthy disk and returns the keys of the
// messages waiting on the queue, in order.
func recovered(t *testing.T, dir string) []string {
	t.Helper()
	r := open(t, dir, &faultyFS{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := r.dial(ctx).Browse(ctx, queue)
	if err != nil {
		t.Fatalf("browse after recovery: %v", err)
	}
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = key(m.Body)
	}
	return keys
}

// checkRecovery asserts that every confirmed send survived exactly once,
// in order, and that nothing appeared that was never sent.
func checkRecovery(t *testing.T, got []string, s *sends) {
	t.Helper()
	seen := map[string]int{}
	for _, k := range got {
		seen[k]++
	}
	for _, k := range s.confirmed {
		if seen[k] != 1 {
			t.Errorf("confirmed %s found %d times after recovery", k, seen[k])
		}
	}
	for k, n := range seen {
		if !slices.Contains(s.attempted, k) {
			t.Errorf("recovered %s, which was never sent", k)
		}
		if n > 1 {
			t.Errorf("recovered %s %d times", k, n)
		}
	}
	var order []string
	for _, k := range got {
		if slices.Contains(s.confirmed, k) {
			order = append(order, k)
		}
	}
	if !slices.Equal(order, s.confirmed) {
		t.Errorf("confirmed messages recovered out of order:\n got %v\nwant %v", order, s.confirmed)
	}
}

// TestDiskFaults injects each fault after a healthy start and checks the
// broker's answer, the consumers, the recovery of the disk where it can
// recover, and the journal after a crash in that state.
func TestDiskFaults(t *testing.T) {
	enospc, eio := syscall.ENOSPC, syscall.EIO
	tests := []struct {
		name string
		rule func(op journal.FaultOp, path string) (error, bool)
		// headline is what the ERROR's message header must say, mention
		// what its body must hold.
		headline, mention string
		// recovers: the broker accepts sends again once the fault is gone,
		// without a restart. Otherwise the journal stops writing for good
		// (it cannot know what reached the disk) until it is reopened.
		recovers bool
	}{
		{"full disk when a new journal file is prepared", func(op journal.FaultOp, path string) (error, bool) {
			if (op == journal.FaultWrite || op == journal.FaultTruncate || op == journal.FaultCreate) && isPreparing(path) {
				return enospc, false
			}
			return nil, false
		}, "the broker's disk is full", "no space left on device", true},
		{"write error in a journal file", func(op journal.FaultOp, path string) (error, bool) {
			if op == journal.FaultWrite && isData(path) {
				return eio, false
			}
			return nil, false
		}, "cannot write to its disk (input/output error)", "input/output error", false},
		{"short write on a full disk", func(op journal.FaultOp, path string) (error, bool) {
			if op == journal.FaultWrite && isData(path) {
				return enospc, true
			}
			return nil, false
		}, "the broker's disk is full", "no space left on device", false},
		{"fsync error", func(op journal.FaultOp, path string) (error, bool) {
			if op == journal.FaultSync && isData(path) {
				return eio, false
			}
			return nil, false
		}, "cannot write to its disk (input/output error)", "input/output error", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultyFS{}
			r := open(t, dir, fs)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			prod := r.dial(ctx)
			var s sends
			for i := 0; i < 10; i++ {
				if err := s.send(ctx, prod); err != nil {
					t.Fatalf("healthy send %d: %v", i, err)
				}
			}

			// The fault: keep sending until the broker refuses.
			fs.set(tc.rule)
			var refusal error
			for i := 0; i < 300 && refusal == nil; i++ {
				refusal = s.send(ctx, prod)
			}
			// The one-line message says what is wrong; the body has the detail.
			var be *client.BrokerError
			if !errors.As(refusal, &be) || !strings.Contains(be.Message, tc.headline) || !strings.Contains(be.Body, tc.mention) {
				t.Fatalf("after the fault (fired %d times) the send got %v; want a broker ERROR saying %q with %q in its body",
					fs.firedCount(), refusal, tc.headline, tc.mention)
			}
			// The refusal may end the producer's connection; a new one
			// must be refused too while the fault lasts.
			prod = r.dial(ctx)
			if err := s.send(ctx, prod); err == nil {
				t.Fatal("a send was confirmed while the disk was still failing")
			}

			// Consumers are still served every confirmed message.
			cons := r.dial(ctx)
			if got := receiveAll(t, ctx, cons, len(s.confirmed)); !containsAll(got, s.confirmed) {
				t.Fatalf("during the fault the consumer got %d of %d confirmed messages", len(got), len(s.confirmed))
			}
			cons.Close()

			fs.set(nil)
			if tc.recovers {
				// Space came back: sends succeed again without a restart.
				deadline := time.Now().Add(10 * time.Second)
				for {
					prod = r.dial(ctx)
					if err := s.send(ctx, prod); err == nil {
						break
					} else if time.Now().After(deadline) {
						t.Fatalf("sends still refused 10 s after the disk recovered: %v", err)
					}
					time.Sleep(100 * time.Millisecond)
				}
				for i := 0; i < 20; i++ {
					if err := s.send(ctx, prod); err != nil {
						t.Fatalf("send %d after the disk recovered: %v", i, err)
					}
				}
				select {
				case err := <-r.failed:
					t.Fatalf("a full disk while preparing files was reported as a journal failure: %v", err)
				default:
				}
			} else {
				if err := s.send(ctx, r.dial(ctx)); err == nil || !strings.Contains(err.Error(), "stopped after an I/O error") {
					t.Fatalf("after a fatal I/O error a send got %v; want the journal's stopped error", err)
				}
				// The store reports the failure, which makes the server
				// stop (and a shared-store backup take over).
				select {
				case err := <-r.failed:
					if !strings.Contains(err.Error(), tc.mention) {
						t.Fatalf("OnFailure reported %v; want it to mention %q", err, tc.mention)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the store did not report the journal's failure")
				}
			}

			// Crash in this state, then recover on a healthy disk.
			r.crash()
			checkRecovery(t, recovered(t, dir), &s)
			t.Logf("%d sent, %d confirmed, %d refused; %d faults fired", len(s.attempted), len(s.confirmed), len(s.errs), fs.firedCount())
		})
	}
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}
