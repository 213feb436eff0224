package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebSocketPagesInChromium opens, in headless Chromium, a page that
// uses @stomp/stompjs and mqtt (npm packages, served from node_modules by
// this test: nothing from a CDN) to send and receive through tandem over
// WebSocket, on the client port and on the HTTP port, and from MQTT to
// STOMP; a WebSocket without a subprotocol is refused, and the same page
// served from an origin tandem does not allow is refused too.
// It skips when chromium or the npm packages are missing, unless
// TANDEM_REQUIRE_BROWSER or TANDEM_REQUIRE_MQTT is set.
func TestWebSocketPagesInChromium(t *testing.T) {
	missing := ""
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = "chromium (apt-get install chromium)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	}
	for _, pkg := range []string{"puppeteer-core", "mqtt/dist/mqtt.min.js", "@stomp/stompjs/bundles/stomp.umd.min.js"} {
		if _, err := os.Stat(filepath.Join("browser", "node_modules", pkg)); err != nil && missing == "" {
			missing = pkg + " (cd e2e/browser && npm install)"
		}
	}
	if missing != "" {
		if os.Getenv("TANDEM_REQUIRE_BROWSER") != "" || os.Getenv("TANDEM_REQUIRE_MQTT") != "" {
			t.Fatalf("the WebSocket browser test needs %s", missing)
		}
		t.Skipf("needs %s", missing)
	}

	page := servePage(t)
	foreign := servePage(t)
	in := create(t, "browser-ws")
	// The page's origin may open WebSockets; the foreign one may not.
	f, err := os.OpenFile(filepath.Join(in.dir, "etc", "broker.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\nwebsocket-allowed-origins:\n  - %q\n", page)
	f.Close()
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)

	q := url.Values{"client": {in.addr()}, "http": {fmt.Sprintf("127.0.0.1:%d", 8161+in.offset)},
		"user": {"admin"}, "password": {"admin"}}
	main := "http://" + page + "/?" + q.Encode()
	q.Set("mode", "foreign")
	other := "http://" + foreign + "/?" + q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "websocket.js", main, other)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "websocket ok") {
		t.Fatalf("websocket.js: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// servePage serves e2e/browser/websocket.html and the two client bundles
// on a free port of 127.0.0.1, returning host:port.
func servePage(t *testing.T) string {
	t.Helper()
	files := map[string]string{
		"/":                 "browser/websocket.html",
		"/mqtt.min.js":      "browser/node_modules/mqtt/dist/mqtt.min.js",
		"/stomp.umd.min.js": "browser/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js",
	}
	mux := http.NewServeMux()
	for path, file := range files {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, file)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
