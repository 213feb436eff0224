package e2e

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The operator's first steps (issue 15): the default broker, users changed
// while it runs, large messages, the demo, the Artemis flags and the lines
// scripts read.

// startIn runs tandem with args in dir, as a user in a shell would.
func startIn(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("log of tandem %v in %s:\n%s", args, dir, p.output())
		}
	})
	return p
}

// tandemIn runs the CLI to completion in dir.
func tandemIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("tandem %v: %v", args, err)
	}
	return r
}

// TestDefaultRunOperatorCommands runs the README's embedded default broker
// (tandem run, no instance) and uses the operator commands on it without
// credentials, as documented; a second run of it is refused, and tandem
// stop stops it.
func TestDefaultRunOperatorCommands(t *testing.T) {
	dir := t.TempDir()
	off := freePortOffset(t)
	b := startIn(t, dir, "run", "--port-offset", fmt.Sprint(off))
	addr := fmt.Sprintf("127.0.0.1:%d", 61616+off)
	waitListening(t, addr, 20*time.Second)
	url := fmt.Sprintf("tcp://localhost:%d", 61616+off)

	r := mustTandem(t, "producer", "--message-count", "3", "--url", url)
	if !strings.Contains(r.stdout, "Successfully connected to "+url+" (tandem/tandem)\n") || !strings.Contains(r.stdout, "Produced: 3 messages") {
		t.Fatalf("producer printed:\n%s", r.stdout)
	}
	r = mustTandem(t, "queue", "stat", "--url", url)
	if !regexp.MustCompile(`\|TEST +\|TEST +\|0 +\|3 +\|3 +\|`).MatchString(r.stdout) {
		t.Fatalf("queue stat without credentials printed:\n%s%s", r.stdout, r.stderr)
	}
	r = mustTandem(t, "node", "status", "--url", url)
	if !strings.Contains(r.stdout, "|live ") {
		t.Fatalf("node status without credentials printed:\n%s", r.stdout)
	}
	// Management from this machine works anonymously; the console too.
	if status, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/queues", 8161+off), false); status != 200 || !strings.Contains(body, `data-queue="TEST"`) {
		t.Fatalf("the console on the default broker answered %d", status)
	}

	again := tandemIn(t, dir, "run", "--port-offset", fmt.Sprint(off+1))
	if again.code == 0 || !strings.Contains(again.stderr, "broker tandem is already running as process") || !strings.Contains(again.stderr, "tandem stop") {
		t.Fatalf("a second run of the same broker: exit %d\n%s", again.code, again.stderr)
	}
	r = tandemIn(t, dir, "stop")
	if r.code != 0 || !strings.Contains(r.stdout, "Broker tandem stopped") {
		t.Fatalf("tandem stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code := b.exitCode(5 * time.Second); code != 0 {
		t.Fatalf("the broker exited with %d after tandem stop", code)
	}
	if r = tandemIn(t, dir, "stop"); r.code == 0 || !strings.Contains(r.stderr, "broker tandem is not running") {
		t.Fatalf("tandem stop with nothing running: exit %d\n%s", r.code, r.stderr)
	}
}

// httpAs makes a request with basic credentials (none when user is "")
// and returns the status.
func httpAs(t *testing.T, c *http.Client, method, url, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually polls check until it returns "" (done) or the deadline,
// then fails with what check said last.
func eventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUserChangesReachEveryPort changes a user's password and then removes
// the user with tandem user while the broker runs: within the users file's
// reload period (2 s; the test allows 10) the old password is refused by
// STOMP and by HTTP, the user's console session ends, and the removed user
// can do nothing, not even on a connection opened before.
func TestUserChangesReachEveryPort(t *testing.T) {
	in := create(t, "users", "--require-login")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api := in.webURL() + "/api/queues"
	hc := &http.Client{Timeout: 5 * time.Second}

	mustTandem(t, "user", "add", "--instance", in.dir, "--user", "alice", "--password", "old-pw", "--role", "amq,manage")
	waitLogin(t, ctx, in, "alice", "old-pw", true)
	eventually(t, 10*time.Second, func() string {
		if s := httpAs(t, hc, "GET", api, "alice", "old-pw"); s != 200 {
			return fmt.Sprintf("HTTP with alice's password answers %d", s)
		}
		return ""
	})
	// A console session and a STOMP connection opened before the change.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(in.webURL()+"/login", url.Values{"user": {"alice"}, "password": {"old-pw"}, "next": {"/queues"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login: %v %v", resp, err)
	}
	resp.Body.Close()
	session := func() int {
		resp, err := browser.Get(in.webURL() + "/queues")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := session(); s != 200 {
		t.Fatalf("the console session answers %d", s)
	}

	mustTandem(t, "user", "passwd", "--instance", in.dir, "--user", "alice", "--password", "new-pw")
	changed := time.Now()
	waitLogin(t, ctx, in, "alice", "old-pw", false)
	eventually(t, 10*time.Second, func() string {
		if s := httpAs(t, hc, "GET", api, "alice", "old-pw"); s != http.StatusUnauthorized {
			return fmt.Sprintf("HTTP with the old password answers %d", s)
		}
		if s := session(); s != http.StatusSeeOther {
			return fmt.Sprintf("the console session opened with the old password answers %d", s)
		}
		return ""
	})
	t.Logf("the old password was refused by STOMP, HTTP and the console %v after tandem user passwd", time.Since(changed).Round(time.Millisecond))
	waitLogin(t, ctx, in, "alice", "new-pw", true)
	if s := httpAs(t, hc, "GET", api, "alice", "new-pw"); s != 200 {
		t.Fatalf("HTTP with the new password answers %d", s)
	}

	early, err := dialAs(t, ctx, in, "alice", "new-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := early.Send(ctx, "queue://alice.before", []byte("allowed")); err != nil {
		t.Fatalf("alice's send before the removal: %v", err)
	}
	mustTandem(t, "user", "rm", "--instance", in.dir, "--user", "alice")
	waitLogin(t, ctx, in, "alice", "new-pw", false)
	eventually(t, 10*time.Second, func() string {
		if s := httpAs(t, hc, "GET", api, "alice", "new-pw"); s != http.StatusUnauthorized {
			return fmt.Sprintf("HTTP as the removed user answers %d", s)
		}
		return ""
	})
	err = early.Send(ctx, "queue://alice.after", []byte("refused"))
	if err == nil || !strings.Contains(err.Error(), "may not send") {
		t.Fatalf("a send on the removed user's open connection: %v; want a refusal", err)
	}
	for _, q := range []string{"alice.after"} {
		if bodies := browseBodies(t, ctx, in, "queue://"+q); len(bodies) != 0 {
			t.Fatalf("the removed user's send reached %s: %v", q, bodies)
		}
	}
}

// TestLargeMessageAboveMaxFrameSize sends a message bigger than the
// broker's max-frame-size: it is taken as a large message (streamed to a
// file), shows its size and the start of its body in the API, and is
// delivered whole to tandem's consumer: never accepted and then
// undeliverable.
func TestLargeMessageAboveMaxFrameSize(t *testing.T) {
	in := create(t, "bigframes")
	path := filepath.Join(in.dir, "etc", "broker.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.Replace(string(b), "max-frame-size: 100MiB", "max-frame-size: 1MiB", 1)
	yml = strings.Replace(yml, "max-header-size: 64KiB", "max-header-size: 16KiB", 1)
	if yml == string(b) {
		t.Fatal("broker.yaml has no max-frame-size to lower")
	}
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	const size = 3 << 20
	mustTandem(t, cli("producer", "--message-count", "1", "--message-size", fmt.Sprint(size), "--destination", "queue://big", "--url", in.url())...)

	status, body := httpGet(t, in.webURL()+"/api/queues/big/messages", true)
	var msgs []struct {
		BodySize      int64  `json:"bodySize"`
		Large         bool   `json:"large"`
		Body          string `json:"body"`
		BodyTruncated bool   `json:"bodyTruncated"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &msgs) != nil || len(msgs) != 1 {
		t.Fatalf("browse through the API: %d %.300s", status, body)
	}
	if m := msgs[0]; m.BodySize != size || !m.Large || !m.BodyTruncated || !strings.HasPrefix(m.Body, "XXXX") {
		t.Fatalf("the large message in the API: size %d, large %v, truncated %v, body %.20q", m.BodySize, m.Large, m.BodyTruncated, m.Body)
	}
	r := mustTandem(t, cli("consumer", "--verbose", "--message-count", "1", "--destination", "queue://big", "--url", in.url())...)
	if !strings.Contains(r.stdout, "Consumed: 1 messages") || !strings.Contains(r.stdout, fmt.Sprintf("(%d bytes)", size)) {
		t.Fatalf("consumer printed:\n%s%s", r.stdout, r.stderr)
	}
}

// TestArtemisCLIFlags runs the producer and consumer with the Artemis flags
// issue 15 asked for: --protocol stomp, --silent, --text-size,
// --commit-interval (and --txt-size), --break-on-null, and a durable topic
// subscription with --durable --clientID that keeps messages while the
// consumer is away.
func TestArtemisCLIFlags(t *testing.T) {
	in := create(t, "flags")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	u := in.url()

	r := mustTandem(t, cli("producer", "--protocol", "stomp", "--silent", "--text-size", "200", "--commit-interval", "4",
		"--message-count", "10", "--destination", "queue://flags", "--url", u)...)
	if r.stdout != "Produced: 10 messages\n" || r.stderr != "" {
		t.Fatalf("a --silent producer printed:\n%q\n%q", r.stdout, r.stderr)
	}
	r = mustTandem(t, cli("consumer", "--verbose", "--commit-interval", "3", "--message-count", "4", "--destination", "queue://flags", "--url", u)...)
	if !strings.Contains(r.stdout, "Consumed: 4 messages") || !strings.Contains(r.stdout, "Committed 3 acknowledgements") ||
		!strings.Contains(r.stdout, "Received test message: 0 xxx") {
		t.Fatalf("consumer --commit-interval printed:\n%s", r.stdout)
	}
	// --txt-size is Artemis' old name of --commit-interval; it says so.
	r = mustTandem(t, cli("consumer", "--txt-size", "2", "--message-count", "6", "--destination", "queue://flags", "--url", u)...)
	if !strings.Contains(r.stdout, "Consumed: 6 messages") || !strings.Contains(r.stderr, "--txt-size is deprecated") {
		t.Fatalf("consumer --txt-size printed:\n%s%s", r.stdout, r.stderr)
	}
	// Empty now: --break-on-null (tandem's default) stops at the timeout;
	// --break-on-null=false waits for --message-count, as Artemis does.
	r = mustTandem(t, cli("consumer", "--break-on-null", "--receive-timeout", "300", "--destination", "queue://flags", "--url", u)...)
	if !strings.Contains(r.stdout, "Consumed: 0 messages") {
		t.Fatalf("consumer --break-on-null printed:\n%s", r.stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waiting := exec.CommandContext(ctx, binary, cli("consumer", "--break-on-null=false", "--receive-timeout", "200", "--message-count", "1",
		"--destination", "queue://late", "--url", u)...)
	var wout bytes.Buffer
	waiting.Stdout = &wout
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // five receive timeouts pass without a message
	mustTandem(t, cli("producer", "--message-count", "1", "--destination", "queue://late", "--url", u)...)
	if err := waiting.Wait(); err != nil || !strings.Contains(wout.String(), "Consumed: 1 messages") {
		t.Fatalf("consumer --break-on-null=false: %v\n%s", err, wout.String())
	}

	// A durable subscription keeps the topic's messages while away.
	durable := cli("consumer", "--durable", "--clientID", "reader-1", "--receive-timeout", "500", "--destination", "topic://news", "--url", u)
	r = mustTandem(t, durable...)
	if !strings.Contains(r.stdout, "Durable subscription tandem-consumer of client reader-1 on topic://news") {
		t.Fatalf("durable consumer printed:\n%s", r.stdout)
	}
	mustTandem(t, cli("producer", "--message-count", "3", "--destination", "topic://news", "--url", u)...)
	if r = mustTandem(t, durable...); !strings.Contains(r.stdout, "Consumed: 3 messages") {
		t.Fatalf("the durable subscription did not keep the messages sent while away:\n%s", r.stdout)
	}
	// Flags tandem does not take are named, with what to do.
	for _, tc := range []struct{ args []string }{
		{[]string{"producer", "--protocol", "core"}},
		{[]string{"producer", "--data", "export.xml"}},
		{[]string{"consumer", "--mesage-count", "1"}},
	} {
		if r := tandem(t, tc.args...); r.code == 0 || !strings.Contains(r.stderr, "tandem: ") {
			t.Fatalf("tandem %v: exit %d %s", tc.args, r.code, r.stderr)
		}
	}
}

// TestMessagesScriptsRead checks the lines a script or a person acting on
// them reads: which broker answered, no "failing over" from a connection
// that cannot fail over, a refused send that says why once.
func TestMessagesScriptsRead(t *testing.T) {
	in := securedBroker(t)
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)

	// The reader may not send: the refusal, once, and no talk of failing
	// over on a plain URL.
	r := tandem(t, "producer", "--user", "reader", "--password", "r-pass", "--message-count", "1", "--destination", "queue://orders.eu", "--url", in.url())
	if r.code == 0 || !strings.Contains(r.stderr, `user "reader" may not send on "orders.eu"`) || strings.Contains(r.stderr, "failing over") ||
		strings.Contains(r.stderr, "reconnecting") || strings.Count(r.stderr, "may not send") != 1 {
		t.Fatalf("a refused send on a plain URL printed:\n%s", r.stderr)
	}
	// On a failover URL the client reconnects after the broker closed the
	// connection; it says the broker refused, not that the broker failed.
	r = tandem(t, "producer", "--user", "reader", "--password", "r-pass", "--message-count", "1", "--destination", "queue://orders.eu",
		"--url", "failover:("+in.url()+")?maxReconnectAttempts=2")
	if r.code == 0 || strings.Contains(r.stderr, "failing over") || !strings.Contains(r.stderr, "may not send") {
		t.Fatalf("a refused send on a failover URL printed:\n%s", r.stderr)
	}
	// A wrong password: "login failed" once.
	r = tandem(t, "browse", "--user", "admin", "--password", "nope", "--url", in.url())
	if r.code == 0 || strings.Count(r.stderr, "login failed") != 1 {
		t.Fatalf("a wrong password printed:\n%s", r.stderr)
	}
	// Which broker answered, on stdout, as ActiveMQ Classic prints it.
	r = mustTandem(t, cli("browse", "--url", "failover:(tcp://localhost:1,"+in.url()+")?randomize=false")...)
	if !strings.HasPrefix(r.stdout, "Successfully connected to "+in.url()+" (tandem/secured)\n") {
		t.Fatalf("browse printed:\n%s", r.stdout)
	}
	// An option the client does not know is named, with the likely one.
	r = mustTandem(t, cli("browse", "--url", in.url()+"?maxReconectAttempts=1")...)
	if !strings.Contains(r.stderr, `URL option "maxReconectAttempts" has no effect`) || !strings.Contains(r.stderr, `did you mean "maxReconnectAttempts"?`) {
		t.Fatalf("an unknown URL option printed:\n%s", r.stderr)
	}
}

// TestPairPictureFollowsTakeoverAndFailback checks the picture of the pair
// the console draws from /api/node across lab A's takeover and failback:
// the slave reports the takeover, the master the failback, and each shows
// the other node.
func TestPairPictureFollowsTakeoverAndFailback(t *testing.T) {
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("announced this node to the live", 20*time.Second)

	type node struct {
		Role, State  string
		Epoch        uint64
		Pair         []struct{ Name, Role, State string }
		LastTakeover *struct{ Text string }
		LastFailback *struct{ Text string }
	}
	// The instances allow anonymous clients and their consoles listen on
	// loopback: this machine reads them without credentials.
	read := func(in instance) node {
		t.Helper()
		status, body := httpGet(t, in.webURL()+"/api/node", false)
		var n node
		if status != 200 || json.Unmarshal([]byte(body), &n) != nil {
			t.Fatalf("%s/api/node: %d %s", in.webURL(), status, body)
		}
		return n
	}
	pairOf := func(n node) string {
		var s []string
		for _, x := range n.Pair {
			s = append(s, x.Name+":"+x.Role+":"+x.State)
		}
		return strings.Join(s, " ")
	}
	if got := pairOf(read(p.master)); got != "master:live:live slave:backup:waiting" {
		t.Fatalf("the master's pair: %s", got)
	}
	if got := pairOf(read(p.slave)); got != "master:live:live slave:backup:waiting" {
		t.Fatalf("the slave's pair: %s", got)
	}

	master.kill()
	waitListening(t, p.slave.addr(), 20*time.Second)
	eventually(t, 10*time.Second, func() string {
		n := read(p.slave)
		if n.Role != "live" || n.LastTakeover == nil || !strings.HasPrefix(n.LastTakeover.Text, "took over from master") {
			return fmt.Sprintf("the slave after the kill: %+v", n)
		}
		return ""
	})
	start(t, p.master)
	waitListening(t, p.master.addr(), 30*time.Second)
	eventually(t, 20*time.Second, func() string {
		m, s := read(p.master), read(p.slave)
		switch {
		case m.LastFailback == nil || !strings.HasPrefix(m.LastFailback.Text, "took the store back from slave"):
			return fmt.Sprintf("the master after failback: %+v", m)
		case s.LastFailback == nil || !strings.Contains(s.LastFailback.Text, "handing the store back"):
			return fmt.Sprintf("the slave after failback: %+v", s)
		case pairOf(m) != "master:live:live slave:backup:waiting":
			return "the master's pair after failback: " + pairOf(m)
		}
		return ""
	})
}

// TestClassicPairWiresItsPeer is lab B with two primaries on one store
// (ActiveMQ Classic's way), created at port offsets N and N+1 without
// --static-cluster: the waiting node finds the live one port down and
// announces itself, says in words that it waits for the live to stop, and
// the browse after the kill says which broker answered.
func TestClassicPairWiresItsPeer(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "shared")
	off := freePortOffset(t)
	a := createAt(t, filepath.Join(root, "amqA"), off, "--shared-store", "--data", shared)
	b := createAt(t, filepath.Join(root, "amqB"), off+1, "--shared-store", "--data", shared)
	first := start(t, a)
	waitListening(t, a.addr(), 20*time.Second)
	second := start(t, b)
	second.waitLog("primaries do not hand over, so this node waits for the live lock until that node stops", 20*time.Second)
	first.waitLog("backup announced", 20*time.Second)

	url := "failover:(" + b.url() + "," + a.url() + ")?randomize=false"
	mustTandem(t, cli("producer", "--message-count", "1", "--destination", "test", "--url", url)...)
	before := mustTandem(t, cli("browse", "--destination", "test", "--url", url)...)
	if !strings.Contains(before.stdout, "Successfully connected to "+a.url()+" (tandem/amqA)") {
		t.Fatalf("browse before the kill printed:\n%s", before.stdout)
	}
	first.kill()
	waitListening(t, b.addr(), 20*time.Second)
	after := mustTandem(t, cli("browse", "--destination", "test", "--url", url)...)
	if !strings.Contains(after.stdout, "Successfully connected to "+b.url()+" (tandem/amqB)") || !strings.Contains(after.stdout, "Browsed: 1 messages") {
		t.Fatalf("browse after the kill printed:\n%s", after.stdout)
	}
}

// demoProcesses lists the running brokers a demo started in dir: the
// processes whose command line names an instance under dir/brokers (the
// demo's own names only dir).
func demoProcesses(dir string) []string {
	dir = filepath.Join(dir, "brokers") + string(filepath.Separator)
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie, already dead
		}
		out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}

// TestDemoFailoverPortOffset runs tandem demo failover on chosen ports; its
// port check binds what the brokers bind, so a listener on another
// address of this machine is found; and however the demo ends (its output
// pipe closed, or SIGKILL) no broker is left running.
func TestDemoFailoverPortOffset(t *testing.T) {
	off := freePortOffset(t)
	r := mustTandem(t, "demo", "failover", "--port-offset", fmt.Sprint(off), "--message-count", "20")
	if !strings.Contains(r.stdout, fmt.Sprintf("master is live on tcp://localhost:%d", 61616+off)) || !strings.Contains(r.stdout, "Done: no message lost") {
		t.Fatalf("demo printed:\n%s", r.stdout)
	}

	t.Run("a listener elsewhere", func(t *testing.T) {
		// A listener on this machine's network address: a probe of
		// 127.0.0.1 does not see it, but the slave's 0.0.0.0 cannot bind.
		ip := nonLoopbackIPv4(t)
		off := freePortOffset(t)
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, 61617+off))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		defer ln.Close()
		if probe, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 61617+off)); err == nil {
			probe.Close() // the old probe would have passed
		}
		r := tandem(t, "demo", "failover", "--port-offset", fmt.Sprint(off))
		if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("slave cannot listen: 0.0.0.0:%d is in use", 61617+off)) {
			t.Fatalf("demo beside a listener on [::]:%d: exit %d\n%s%s", 61617+off, r.code, r.stdout, r.stderr)
		}
	})

	t.Run("output pipe closed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "demo")
		cmd := exec.Command(binary, "demo", "failover", "--port-offset", fmt.Sprint(freePortOffset(t)), "--dir", dir, "--message-count", "3000")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		waitDemoBrokers(t, dir)
		out.Close() // as `tandem demo failover | head -1` does
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("the demo ran on after its output closed (first line %q)", line)
		}
		eventually(t, 10*time.Second, func() string {
			if left := demoProcesses(dir); len(left) > 0 {
				return fmt.Sprintf("brokers left after the demo's output closed: %v", left)
			}
			return ""
		})
	})

	t.Run("SIGKILL", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "demo")
		cmd := exec.Command(binary, "demo", "failover", "--port-offset", fmt.Sprint(freePortOffset(t)), "--dir", dir, "--message-count", "3000")
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitDemoBrokers(t, dir)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		eventually(t, 10*time.Second, func() string {
			if left := demoProcesses(dir); len(left) > 0 {
				return fmt.Sprintf("brokers left after the demo was killed: %v", left)
			}
			return ""
		})
	})
}

// waitDemoBrokers waits until a demo in dir runs at least one broker.
func waitDemoBrokers(t *testing.T, dir string) {
	t.Helper()
	eventually(t, 30*time.Second, func() string {
		if len(demoProcesses(dir)) == 0 {
			return "the demo started no broker in " + dir
		}
		return ""
	})
}

// nonLoopbackIPv4 returns an IPv4 address of this machine other than
// loopback, or skips the test.
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no IPv4 address but loopback")
	return ""
}

// TestBinaryIsStatic checks the README's claim: built with CGO_ENABLED=0,
// as the end-to-end tests build it, the binary needs no dynamic loader
// (no PT_INTERP program header) and no shared library.
func TestBinaryIsStatic(t *testing.T) {
	if os.Getenv("TANDEM_E2E_RACE") != "" {
		t.Skip("the race detector needs cgo, so this binary is linked dynamically")
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Skipf("not an ELF binary here: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries: %v", libs)
	}
}
