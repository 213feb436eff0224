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

// TestConsoleInChromium drives the web console of a live/backup pair in
// headless Chromium (e2e/browser/console.js, with puppeteer-core): log in,
// see the role, see a queue's depth change after a send, browse the message,
// purge the queue, and see the backup's console say backup. It saves a
// screenshot as e2e/artifacts/console.png. It skips when chromium or the
// npm package is missing, unless TANDEM_REQUIRE_BROWSER is set (.ci/run sets
// it after installing both).
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

	p := newPair(t, nil, nil)
	start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	mustTandem(t, cli("producer", "--message-count", "5", "--destination", "queue://orders", "--url", p.master.url())...)

	artifacts, err := filepath.Abs("artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifacts, "console.png")
	os.Remove(shot)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "console.js", p.master.webURL(), p.slave.webURL(), "admin", "admin",
		"orders", strconv.Itoa(5), shot)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "console ok") {
		t.Fatalf("console.js: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("console screenshot: %s", shot)
}
