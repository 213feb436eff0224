package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/client"
)

func TestCreateRunProduceBrowseConsume(t *testing.T) {
	in := create(t, "b1")
	for _, f := range []string{"bin/tandem", "etc/broker.yaml", "etc/users.yaml", "data", "log"} {
		if _, err := os.Stat(filepath.Join(in.dir, f)); err != nil {
			t.Fatalf("create did not make %s: %v", f, err)
		}
	}
	users, _ := os.ReadFile(filepath.Join(in.dir, "etc/users.yaml"))
	if strings.Contains(string(users), "password: admin") {
		t.Fatal("users.yaml holds the password in clear")
	}
	if r := tandem(t, "create", in.dir, "--user", "a", "--password", "b"); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("create over an instance: exit %d, stderr %q", r.code, r.stderr)
	}

	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	auth := []string{"--user", "admin", "--password", "admin", "--url", in.url()}

	r := mustTandem(t, append([]string{"producer", "--verbose", "--message-count", "100"}, auth...)...)
	if !strings.Contains(r.stdout, "Produced: 100 messages") || strings.Count(r.stdout, "Sent: test message:") != 100 {
		t.Fatalf("producer printed:\n%s", r.stdout)
	}
	r = mustTandem(t, append([]string{"browser"}, auth...)...)
	if !strings.Contains(r.stdout, "Browsed: 100 messages") {
		t.Fatalf("browse printed:\n%s", r.stdout)
	}
	r = mustTandem(t, append([]string{"consumer", "--verbose", "--message-count", "100"}, auth...)...)
	if !strings.Contains(r.stdout, "Consumed: 100 messages") || !strings.Contains(r.stdout, "Received test message: 99") {
		t.Fatalf("consumer printed:\n%s", r.stdout)
	}
	r = mustTandem(t, append([]string{"consumer", "--receive-timeout", "200"}, auth...)...)
	if !strings.Contains(r.stdout, "Consumed: 0 messages") {
		t.Fatalf("second consumer printed:\n%s", r.stdout)
	}
	p.stop()
	if !strings.Contains(p.output(), "broker stopped") {
		t.Fatalf("no clean stop in the log:\n%s", p.output())
	}
	logFile, err := os.ReadFile(filepath.Join(in.dir, "log", "tandem.log"))
	if err != nil || !strings.Contains(string(logFile), "broker is live") {
		t.Fatalf("instance log file: %v\n%s", err, logFile)
	}
}

func TestPersistentMessagesSurviveRestart(t *testing.T) {
	in := create(t, "b1")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	auth := []string{"--user", "admin", "--password", "admin", "--url", in.url(), "--destination", "queue://kept"}
	mustTandem(t, append([]string{"producer", "--message-count", "50"}, auth...)...)
	mustTandem(t, append([]string{"producer", "--message-count", "7", "--non-persistent"}, auth...)...)
	p.stop()
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	r := mustTandem(t, append([]string{"consumer", "--message-count", "100", "--receive-timeout", "500"}, auth...)...)
	if !strings.Contains(r.stdout, "Consumed: 50 messages") {
		t.Fatalf("after restart the consumer printed:\n%s", r.stdout)
	}
}

func TestClientErrorsAreOneLine(t *testing.T) {
	in := create(t, "b1", "--require-login")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	r := tandem(t, "producer", "--user", "admin", "--password", "wrong", "--url", in.url(), "--message-count", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "login failed") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Fatalf("bad password: exit %d, stderr %q", r.code, r.stderr)
	}
	r = tandem(t, "consumer", "--url", "tcp://127.0.0.1:1", "--message-count", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "tcp://127.0.0.1:1") {
		t.Fatalf("nothing listening: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBadConfigurationNamesFileAndLine(t *testing.T) {
	in := create(t, "b1")
	path := filepath.Join(in.dir, "etc", "broker.yaml")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mustTandem(t, "run", "--instance", in.dir, "--config-check")
	bad := string(orig) + "\nno-such-key: 1\njournal-file-size: lots\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := tandem(t, "run", "--instance", in.dir, "--config-check")
	lines := strings.Count(string(orig), "\n")
	for _, want := range []string{fmt.Sprintf("broker.yaml:%d:", lines+2), fmt.Sprintf("broker.yaml:%d:", lines+3)} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("bad config: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
}

// TestConfirmedSendsSurviveSIGKILL streams persistent sends, kills the
// broker with SIGKILL in the middle, restarts it, and checks that every send
// the broker confirmed is consumed exactly once and that nothing that was
// never sent appears.
func TestConfirmedSendsSurviveSIGKILL(t *testing.T) {
	in := create(t, "b1")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const producers = 4
	var (
		mu        sync.Mutex
		confirmed = map[string]bool{}
		attempted = map[string]bool{}
		wg        sync.WaitGroup
	)
	killAt := make(chan struct{})
	var killOnce sync.Once
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				body := fmt.Sprintf("p%d-%d", w, i)
				mu.Lock()
				attempted[body] = true
				mu.Unlock()
				if err := c.Send(ctx, "queue://crash", []byte(body)); err != nil {
					return // the broker died under us
				}
				mu.Lock()
				confirmed[body] = true
				n := len(confirmed)
				mu.Unlock()
				if n == 400 {
					killOnce.Do(func() { close(killAt) })
				}
			}
		}(w)
	}
	select {
	case <-killAt:
	case <-time.After(time.Minute):
		t.Fatal("producers did not reach 400 confirmed sends")
	}
	p.kill()
	wg.Wait()

	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	c, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, "queue://crash", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := sub.Receive(rctx)
		rcancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[string(m.Body)]++
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for body := range confirmed {
		if got[body] != 1 {
			t.Errorf("confirmed send %s consumed %d times", body, got[body])
		}
	}
	for body, n := range got {
		if !attempted[body] {
			t.Errorf("consumed %s, which was never sent", body)
		}
		if n > 1 {
			t.Errorf("consumed %s %d times", body, n)
		}
	}
	t.Logf("confirmed %d sends before SIGKILL; consumed %d after restart (%d in flight at the kill)",
		len(confirmed), len(got), len(got)-len(confirmed))
}
