package ha

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tandem/internal/lockfile"
)

// The helper process: the test binary re-executed with helperEnv set runs
// a node instead of the tests, so that a live node can be a real process
// and be killed with SIGKILL, or run as another user.
const (
	helperEnv     = "TANDEM_HA_HELPER" // "live" or "wait-error"
	helperDirEnv  = "TANDEM_HA_DIR"
	helperRoleEnv = "TANDEM_HA_ROLE"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(helperDirEnv), os.Getenv(helperRoleEnv)))
	}
	os.Exit(m.Run())
}

// runHelper is the child's main. In mode "live" it waits to become live,
// prints "live EPOCH", and stops gracefully when stdin closes. In mode
// "wait-error" it waits for a second, printing its log lines, and then
// prints how Wait ended.
func runHelper(mode, dir, role string) int {
	o := fastOptions(dir, Primary)
	if role == "backup" {
		o.Role = Backup
	}
	switch mode {
	case "live":
		l, err := Wait(context.Background(), o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		l.Monitor()
		fmt.Printf("live %d\n", l.Epoch())
		io.Copy(io.Discard, os.Stdin)
		if err := l.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		return 0
	case "wait-error":
		o.Logger = slog.New(slog.NewTextHandler(os.Stdout, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		l, err := Wait(ctx, o)
		if l != nil {
			fmt.Println("result: became live")
			return 0
		}
		fmt.Printf("result: %v\n", err)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// fastOptions returns options with the timings shortened for tests: a
// 50 ms lock check period and fast polls and retries.
func fastOptions(dir string, role Role) Options {
	return Options{
		Dir: dir, Role: role, Name: role.String(), LockCheckPeriod: 50 * time.Millisecond,
		pausedPoll: 10 * time.Millisecond, retryMin: 10 * time.Millisecond, retryMax: 50 * time.Millisecond,
	}
}

// node bundles what a test watches of one node: its options, with a log
// and state recorder attached.
type testNode struct {
	opts   Options
	log    *logRecorder
	states *stateRecorder
}

// newNode returns a node of role on dir with recorders attached.
func newNode(t *testing.T, dir string, role Role, name string) *testNode {
	t.Helper()
	n := &testNode{log: &logRecorder{t: t, name: name}, states: &stateRecorder{}}
	// Registered first, so it runs last: logging after the test has
	// ended would panic.
	t.Cleanup(func() {
		n.log.mu.Lock()
		n.log.done = true
		n.log.mu.Unlock()
	})
	n.opts = fastOptions(dir, role)
	n.opts.Name = name
	n.opts.Logger = slog.New(n.log)
	n.opts.OnState = n.states.add
	return n
}

// waitResult is what a Wait running in a goroutine returned.
type waitResult struct {
	live *Live
	err  error
	at   time.Time
}

// start runs Wait in a goroutine. The returned Live, if any, is stopped
// when the test ends.
func (n *testNode) start(t *testing.T, ctx context.Context) <-chan waitResult {
	t.Helper()
	res := make(chan waitResult, 1)
	go func() {
		l, err := Wait(ctx, n.opts)
		res <- waitResult{l, err, time.Now()}
	}()
	return res
}

// live runs Wait to completion and starts the monitor.
func (n *testNode) live(t *testing.T) *Live {
	t.Helper()
	l, err := Wait(context.Background(), n.opts)
	if err != nil {
		t.Fatalf("%s: Wait: %v", n.opts.Name, err)
	}
	t.Cleanup(func() { l.Stop() })
	l.Monitor()
	return l
}

// await returns the result of a Wait started with start, failing the test
// if it takes longer than limit.
func await(t *testing.T, res <-chan waitResult, limit time.Duration) waitResult {
	t.Helper()
	select {
	case r := <-res:
		if r.live != nil {
			t.Cleanup(func() { r.live.Stop() })
		}
		return r
	case <-time.After(limit):
		t.Fatalf("Wait did not return within %v", limit)
		return waitResult{}
	}
}

// awaitLive is await for a Wait that must succeed; it starts the monitor.
func awaitLive(t *testing.T, res <-chan waitResult, limit time.Duration) *Live {
	t.Helper()
	r := await(t, res, limit)
	if r.err != nil {
		t.Fatalf("Wait: %v", r.err)
	}
	r.live.Monitor()
	return r.live
}

// notReturned fails the test if a Wait started with start has returned.
func notReturned(t *testing.T, res <-chan waitResult, why string) {
	t.Helper()
	select {
	case r := <-res:
		t.Fatalf("Wait returned (live=%v, err=%v), but %s", r.live != nil, r.err, why)
	default:
	}
}

// stillWaiting fails the test if a Wait started with start returns within
// d: the way to show that a node keeps waiting.
func stillWaiting(t *testing.T, res <-chan waitResult, d time.Duration, why string) {
	t.Helper()
	select {
	case r := <-res:
		t.Fatalf("Wait returned (live=%v, err=%v), but %s", r.live != nil, r.err, why)
	case <-time.After(d):
	}
}

// openLock opens a lock on path, closed when the test ends.
func openLock(t *testing.T, path string) *lockfile.Lock {
	t.Helper()
	l, err := lockfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// eventually polls cond every millisecond until it holds or limit passes.
// It is the only way these tests wait for something to happen.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// crashForTest simulates the death of the live process: the monitor stops
// without fencing and the lock files close without anything written, which
// is what the kernel does to a killed process's descriptors.
func (l *Live) crashForTest() {
	if l.begin() {
		l.finish()
		l.st.close()
	}
}

// stateRecorder keeps every State a node reported.
type stateRecorder struct {
	mu     sync.Mutex
	states []State
}

func (r *stateRecorder) add(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

// current returns the last state reported.
func (r *stateRecorder) current() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return State{}
	}
	return r.states[len(r.states)-1]
}

// names returns the names of the states reported, in order.
func (r *stateRecorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.states {
		if len(out) == 0 || out[len(out)-1] != s.Name {
			out = append(out, s.Name)
		}
	}
	return out
}

// waitFor waits until the node's current state is name.
func (r *stateRecorder) waitFor(t *testing.T, name string) State {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.current().Name != name {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for state %s; states so far: %v", name, r.names())
		}
		time.Sleep(time.Millisecond)
	}
	return r.current()
}

// logRecorder is a slog.Handler that keeps every record and echoes it to
// the test log, so a failing test shows what the node said.
type logRecorder struct {
	t    *testing.T
	name string

	mu      sync.Mutex
	entries []logEntry
	done    bool // the test ended: keep recording, stop echoing
}

type logEntry struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	// Every node logger carries dir and role; the recorder does not need
	// them, and sharing h keeps one list of entries per node.
	return h
}

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	e := logEntry{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		e.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append(h.entries, e)
	if !h.done {
		h.t.Logf("%s: %s %s %v", h.name, r.Level, r.Message, e.attrs)
	}
	return nil
}

// find returns the entries with the given event attribute.
func (h *logRecorder) find(event string) []logEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logEntry
	for _, e := range h.entries {
		if e.attrs["event"] == event {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits until a line with the event was logged and returns the
// first.
func (h *logRecorder) waitEvent(t *testing.T, event string) logEntry {
	t.Helper()
	eventually(t, 5*time.Second, "a log line with event="+event, func() bool { return len(h.find(event)) > 0 })
	return h.find(event)[0]
}

// checkEvents fails the test if some line was logged without an event.
func (h *logRecorder) checkEvents(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if e.attrs["event"] == "" {
			t.Errorf("log line without an event attribute: %q", e.msg)
		}
	}
}

// child is a node running in a helper process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	epoch uint64
}

// startLiveChild starts a helper process that becomes live on dir and
// returns once it says so.
func startLiveChild(t *testing.T, dir string, role Role) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=live", helperDirEnv+"="+dir, helperRoleEnv+"="+role.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		f := strings.Fields(s)
		if len(f) != 2 || f[0] != "live" {
			t.Fatalf("helper process said %q instead of live EPOCH", s)
		}
		if c.epoch, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("helper process did not become live within 10s")
	}
	return c
}

// kill kills the child with SIGKILL and reaps it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// waitBlocked waits until some lock request on path is asleep in the
// kernel, shown in /proc/locks as a blocked request ("->") on its inode.
// Without it a test could release a lock before the waiter even asked, and
// prove nothing about waking.
func waitBlocked(t *testing.T, path string) {
	t.Helper()
	eventually(t, 5*time.Second, "a waiter blocks on "+filepath.Base(path), func() bool {
		return blockedRequests(t, path) > 0
	})
}

// blockedRequests counts the blocked lock requests on path's inode.
func blockedRequests(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ino := fmt.Sprintf(":%d", fi.Sys().(*syscall.Stat_t).Ino)
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Skipf("/proc/locks: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if slices.Contains(f, "->") && slices.ContainsFunc(f, func(s string) bool { return strings.HasSuffix(s, ino) }) {
			n++
		}
	}
	return n
}

// mustRecord reads the record of dir.
func mustRecord(t *testing.T, dir string) Record {
	t.Helper()
	rec, err := ReadRecord(dir)
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	return rec
}
