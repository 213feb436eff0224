package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondRunOnSameStoreRefused: a second `tandem run` on a store that a
// broker serves is refused before it reads the journal, with a message
// naming the holder and what to do, and the first broker's confirmed
// messages are all there afterwards, across a SIGKILL. Three ways to get
// there: the same instance started twice, another instance created with
// --data on the first one's data directory, and a standalone broker on a
// shared-store pair's directory. A corrupt file planted in the journal
// directory shows the order: a process that read the journal would fail
// on it instead.
func TestSecondRunOnSameStoreRefused(t *testing.T) {
	const count = 100
	for _, tc := range []struct {
		name   string
		first  func(t *testing.T) (instance, string) // the serving broker and its data directory
		second func(t *testing.T, first instance, data string) instance
		want   []string
	}{
		{
			name: "same instance",
			first: func(t *testing.T) (instance, string) {
				in := create(t, "b1")
				return in, filepath.Join(in.dir, "data")
			},
			second: func(t *testing.T, first instance, _ string) instance { return first },
			// The instance's pid file is what refuses it, before the store
			// lock: it names the process and how to stop it.
			want: []string{"is already running as process", "tandem stop"},
		},
		{
			name: "another instance with --data",
			first: func(t *testing.T) (instance, string) {
				in := create(t, "b1")
				return in, filepath.Join(in.dir, "data")
			},
			second: func(t *testing.T, _ instance, data string) instance {
				return create(t, "twin", "--data", data)
			},
			want: []string{"is in use by pid", "standalone broker b1", "give this one a store of its own"},
		},
		{
			name: "standalone on a shared-store pair's directory",
			first: func(t *testing.T) (instance, string) {
				p := newPair(t, nil, nil)
				return p.master, p.shared
			},
			second: func(t *testing.T, _ instance, data string) instance {
				return create(t, "lone", "--data", data)
			},
			want: []string{"shared store of a live/backup pair", "ha-policy shared-store"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, data := tc.first(t)
			b1 := start(t, first)
			waitListening(t, first.addr(), 30*time.Second)
			r := mustTandem(t, cli("producer", "--message-count", fmt.Sprint(count), "--url", first.url())...)
			if !strings.Contains(r.stdout, fmt.Sprintf("Produced: %d messages", count)) {
				t.Fatalf("producer printed:\n%s", r.stdout)
			}
			bait := filepath.Join(data, "journal", "tandem-data-0000000099.tj")
			if err := os.WriteFile(bait, []byte("not a journal file"), 0o644); err != nil {
				t.Fatal(err)
			}

			second := start(t, tc.second(t, first, data))
			code := second.exitCode(30 * time.Second)
			out := second.output()
			if code == 0 {
				t.Fatalf("the second broker exited 0:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the refusal does not say %q:\n%s", w, out)
				}
			}
			for _, bad := range []string{"corrupt", "broker is live", "broker_started", "acceptor listening"} {
				if strings.Contains(out, bad) {
					t.Errorf("the refused broker got as far as %q:\n%s", bad, out)
				}
			}
			if !b1.alive() || !listening(first.addr()) {
				t.Fatalf("the first broker stopped serving:\n%s", b1.output())
			}

			// Everything confirmed survives, even a SIGKILL of the first.
			os.Remove(bait)
			b1.kill()
			again := start(t, first)
			waitListening(t, first.addr(), 30*time.Second)
			r = mustTandem(t, cli("consumer", "--message-count", fmt.Sprint(count), "--url", first.url())...)
			if !strings.Contains(r.stdout, fmt.Sprintf("Consumed: %d messages", count)) {
				t.Fatalf("consumer after restart printed:\n%s\n%s", r.stdout, r.stderr)
			}
			again.stop()
			verify := mustTandem(t, "data", "verify", "--instance", first.dir)
			if !strings.Contains(verify.stdout, "OK") {
				t.Errorf("data verify after the refusal:\n%s", verify.stdout)
			}
		})
	}
}
