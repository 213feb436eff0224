package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the tandem binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tandem")
	args := []string{"build", "-o", binary}
	if os.Getenv("TANDEM_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/tandem")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if os.Getenv("TANDEM_E2E_RACE") == "" {
		// The binary as the README builds it: static, no cgo (the race
		// detector needs cgo).
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tandem:", err)
		os.Exit(1)
	}
	// Every followed takeover in these tests is checked against a full
	// replay of the journal it found (docs/ha.md, "Following the live's
	// journal"); TANDEM_VERIFY_FOLLOWER=0 turns that off.
	if os.Getenv("TANDEM_VERIFY_FOLLOWER") == "" {
		os.Setenv("TANDEM_VERIFY_FOLLOWER", "1")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var portMu sync.Mutex

// freePortOffset finds a port offset whose client port (61616 + offset) is
// free right now. Offsets put ports above the kernel's ephemeral range, so
// an outgoing connection never takes one between the check and its use.
func freePortOffset(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 200; i++ {
		off := 100 + rand.IntN(3800)
		ok := true
		// Check the offset and the next one, so pairs can use off and off+1.
		for _, p := range []int{61616 + off, 8161 + off, 61617 + off, 8162 + off} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset found")
	return 0
}

// result is what a finished CLI command printed.
type result struct {
	stdout, stderr string
	code           int
}

// tandem runs the CLI to completion.
func tandem(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
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

// mustTandem runs the CLI and fails the test unless it exits 0.
func mustTandem(t *testing.T, args ...string) result {
	t.Helper()
	r := tandem(t, args...)
	if r.code != 0 {
		t.Fatalf("tandem %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// instance is a broker instance directory created with tandem create.
type instance struct {
	dir    string
	offset int
}

func (i instance) url() string { return fmt.Sprintf("tcp://localhost:%d", 61616+i.offset) }
func (i instance) addr() string {
	return fmt.Sprintf("127.0.0.1:%d", 61616+i.offset)
}

// create makes an instance with admin/admin and anonymous access on a free
// port offset; extra flags are passed through.
func create(t *testing.T, name string, extra ...string) instance {
	t.Helper()
	return createAt(t, filepath.Join(t.TempDir(), name), freePortOffset(t), extra...)
}

// createAt makes an instance in dir at a given port offset.
func createAt(t *testing.T, dir string, off int, extra ...string) instance {
	t.Helper()
	name := filepath.Base(dir)
	args := []string{"create", dir, "--name", name, "--user", "admin", "--password", "admin", "--port-offset", fmt.Sprint(off)}
	if !slices.Contains(extra, "--require-login") {
		args = append(args, "--allow-anonymous")
	}
	args = append(args, extra...)
	mustTandem(t, args...)
	return instance{dir: dir, offset: off}
}

// proc is a running broker process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
	err  error
}

// start runs an instance's bin/tandem run.
func start(t *testing.T, in instance) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(in.dir, "bin", "tandem"), "run")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
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
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = cmd.Wait()
		// Everything the process wrote is in the log once it is done:
		// its end of the pipe closed with it.
		<-read
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", in.dir, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// freeze sends SIGSTOP and waits until every thread of the process has
// stopped: the signal is delivered to each thread as it next runs, so on a
// loaded machine the process may go on for a moment after kill(2) returns,
// and a test that acts on "the frozen live" must not race that moment.
func (p *proc) freeze() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatal(err)
	}
	tasks := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if allStopped(tasks) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("process %d did not stop within 10 s of SIGSTOP", p.cmd.Process.Pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every thread listed under dir (a
// /proc/PID/task directory) is in the stopped state.
func allStopped(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return false
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses
		// and may itself contain them.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// exitCode waits up to within for the process to exit and returns its
// exit status.
func (p *proc) exitCode(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		p.t.Fatalf("broker still running after %v:\n%s", within, p.output())
		return 0
	}
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to 15 s for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("broker exited with %v after SIGTERM:\n%s", p.err, p.output())
		}
	case <-time.After(15 * time.Second):
		p.t.Fatalf("broker did not stop within 15 s of SIGTERM:\n%s", p.output())
	}
}

// waitLog waits until the broker's output contains s.
func (p *proc) waitLog(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(p.output(), s) {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("broker exited (%v) before logging %q:\n%s", p.err, s, p.output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.t.Fatalf("broker did not log %q within %v:\n%s", s, within, p.output())
}

// waitClosed waits until addr refuses connections.
func waitClosed(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepting connections after %v", addr, within)
}

// listening reports whether addr accepts a connection right now.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s not listening within %v", addr, within)
}
