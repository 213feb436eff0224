package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package installs the browser;
// CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// consolePages are the screenshots console.js takes, one per page.
var consolePages = []string{"login", "overview-live", "queues", "queue", "purge-confirm", "queue-busy", "addresses",
	"consumers", "connections", "overview-backup", "queues-backup", "overview-narrow"}

// TestConsoleInChromium drives the web console of a live/backup pair in
// headless Chromium (e2e/browser/console.js, with puppeteer-core) while
// messages flow: log in, see the role, see the overview's charts drawn
// from live data and the pair with the live and the waiting backup, see a
// queue's depth change after a send, browse the message, purge, and see
// the backup's console and its picture of the pair. It saves a screenshot
// of each page in $TANDEM_SCREENSHOTS (default e2e/artifacts/console). It
// skips when chromium or the npm package is missing, unless
// TANDEM_REQUIRE_BROWSER is set (.ci/run sets it after installing both).
func TestConsoleInChromium(t *testing.T) {
	missing := ""
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = "chromium (apt-get install chromium)"
	} else if _, err := os.Stat("browser/node_modules/puppeteer-core"); err != nil {
		missing = "puppeteer-core (cd e2e/browser && npm install)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	}
	if missing != "" {
		if os.Getenv("TANDEM_REQUIRE_BROWSER") != "" {
			t.Fatalf("the browser test needs %s", missing)
		}
		t.Skipf("needs %s", missing)
	}

	// Login required, so that the console's login page is what a visitor
	// meets (an anonymous broker lets callers on this machine in without).
	secured := []string{"--require-login", "--cluster-user", "admin", "--cluster-password", "admin"}
	p := newPair(t, secured, secured)
	master := start(t, p.master)
	announcedAt := time.Now()
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "5", "--destination", "queue://orders", "--url", p.master.url())...)

	// Traffic for the charts: a producer and a slower consumer on another
	// queue, for the length of the test.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		cli("producer", "--message-count", "100000", "--sleep", "20", "--destination", "queue://traffic", "--silent", "--url", p.master.url()),
		cli("consumer", "--message-count", "100000", "--sleep", "35", "--receive-timeout", "-1", "--destination", "queue://traffic",
			"--silent", "--url", p.master.url()),
	} {
		bg := exec.CommandContext(ctx, binary, args...)
		if err := bg.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bg.Process.Kill(); bg.Wait() })
	}

	shots := os.Getenv("TANDEM_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join("artifacts", "console")
	}
	shots, err := filepath.Abs(shots)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range consolePages {
		os.Remove(filepath.Join(shots, name+".png"))
	}
	cmd := exec.CommandContext(ctx, "node", "console.js", p.master.webURL(), p.slave.webURL(), "admin", "admin",
		"orders", strconv.Itoa(5), shots)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "console ok") {
		t.Fatalf("console.js: %v\n%s", err, out)
	}
	for _, name := range consolePages {
		path := filepath.Join(shots, name+".png")
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("no screenshot of %s at %s: %v", name, path, err)
		}
	}
	t.Logf("console screenshots in %s\n%s", shots, out)
	// The backup stays announced for the whole test, which outlasts the
	// live's heart-beat: it used to leave and come back every 6 s.
	if n := strings.Count(master.output(), "backup announced"); n != 1 || strings.Contains(master.output(), "backup left") {
		t.Errorf("the live logged %d announcements (and left: %v) in %v, want one", n,
			strings.Contains(master.output(), "backup left"), time.Since(announcedAt).Round(time.Second))
	}
}
