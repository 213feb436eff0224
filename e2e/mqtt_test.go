package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The MQTT end-to-end tests drive real third-party clients (Debian's
// mosquitto-clients and python3-paho-mqtt, the Go eclipse/paho.mqtt.golang
// module, the npm mqtt package in Chromium) against the real binary. A
// missing client skips its test, unless TANDEM_REQUIRE_MQTT is set (as
// .ci/run does after installing them), where it fails.

// requireMQTT skips or fails the test when probe reports what is missing.
func requireMQTT(t *testing.T, what string, probe func() error) {
	t.Helper()
	if err := probe(); err != nil {
		if os.Getenv("TANDEM_REQUIRE_MQTT") != "" {
			t.Fatalf("%s is required (TANDEM_REQUIRE_MQTT) but not usable: %v", what, err)
		}
		t.Skipf("%s not usable (%v); .ci/run installs it", what, err)
	}
}

func requireMosquitto(t *testing.T) {
	t.Helper()
	requireMQTT(t, "mosquitto-clients", func() error {
		for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
			if _, err := exec.LookPath(tool); err != nil {
				return err
			}
		}
		return nil
	})
}

// debianPython is Debian's python, which has the Debian modules
// (python3-paho-mqtt); the python3 on PATH may be another one.
const debianPython = "/usr/bin/python3"

func requirePaho(t *testing.T) {
	t.Helper()
	requireMQTT(t, "python3-paho-mqtt", func() error {
		return exec.Command(debianPython, "-c", "import paho.mqtt.client").Run()
	})
}

// mqttPort is the instance's client port, where MQTT is served.
func (i instance) mqttPort() string { return fmt.Sprint(61616 + i.offset) }

// setMQTT replaces a key of the instance's mqtt section of broker.yaml.
func (i instance) setMQTT(t *testing.T, key, value string) {
	t.Helper()
	path := filepath.Join(i.dir, "etc", "broker.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	found := false
	inMQTT := false
	for n, l := range lines {
		switch {
		case l == "mqtt:":
			inMQTT = true
		case inMQTT && strings.HasPrefix(l, "  "+key+":"):
			lines[n] = "  " + key + ": " + value
			found = true
		case !strings.HasPrefix(l, " "):
			inMQTT = false
		}
	}
	if !found {
		t.Fatalf("no mqtt.%s in %s", key, path)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// queueExists asks the management API whether a queue exists.
func queueExists(t *testing.T, in instance, name string) bool {
	t.Helper()
	status, body := httpGet(t, in.webURL()+"/api/queues/"+url.PathEscape(name), true)
	switch status {
	case 200:
		return true
	case 404:
		return false
	}
	t.Fatalf("GET /api/queues/%s: %d %s", name, status, body)
	return false
}

// waitUntil polls cond until it holds or fails the test.
func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mosq runs a mosquitto tool to completion (within 30 s) against in.
func mosq(t *testing.T, in instance, tool string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append([]string{"-h", "127.0.0.1", "-p", in.mqttPort()}, args...)
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		// mosquitto_sub -W exits 27 when its timeout ends it.
		if ee, ok := err.(*exec.ExitError); !ok || !(tool == "mosquitto_sub" && ee.ExitCode() == 27) {
			t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
		}
	}
	return string(out)
}

// bgProc is a client running in the background whose output lines are
// collected.
type bgProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

// startBG starts a client; it is killed when the test ends. Its output
// is line-buffered (stdbuf), so that lines arrive as they are printed.
func startBG(t *testing.T, name string, args ...string) *bgProc {
	t.Helper()
	cmd := exec.Command(name, args...)
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		cmd = exec.Command(sb, append([]string{"-oL", "-eL", name}, args...)...)
	}
	p := &bgProc{t: t, cmd: cmd, done: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *bgProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits for an output line containing s and returns it.
func (p *bgProc) waitLine(s string, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.lines {
			if strings.Contains(l, s) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("no output line with %q within %v; output:\n%s", s, within, p.output())
	return ""
}

// matching returns the output lines that start with prefix.
func (p *bgProc) matching(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// wait waits for the process to exit.
func (p *bgProc) wait(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("still running after %v; output:\n%s", within, p.output())
	}
}

// mosqSubBG starts mosquitto_sub in debug mode (to see its SUBACK) with
// each message printed as "MSG <format>", and waits for the SUBACK.
func mosqSubBG(t *testing.T, in instance, format string, args ...string) *bgProc {
	t.Helper()
	args = append([]string{"-h", "127.0.0.1", "-p", in.mqttPort(), "-d", "-F", "MSG " + format}, args...)
	p := startBG(t, "mosquitto_sub", args...)
	p.waitLine("received SUBACK", 10*time.Second)
	return p
}

// TestMosquittoClients runs mosquitto_pub and mosquitto_sub, in MQTT 5 and
// 3.1.1, through wildcard delivery at every QoS with user properties,
// retained messages and their clearing, a persistent session collecting
// while its client is away, a will after SIGKILL, and session expiry.
func TestMosquittoClients(t *testing.T) {
	requireMosquitto(t)
	in := create(t, "mosquitto")
	// 3.1.1 sessions expire after 2 s here, to see a default session
	// expiry at work; MQTT 5 clients set their own.
	in.setMQTT(t, "default-session-expiry", "2")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)

	for _, v := range []string{"5", "mqttv311"} {
		t.Run(v, func(t *testing.T) {
			id := func(s string) string { return s + "-" + v }
			top := func(s string) string { return v + "/" + s }

			t.Run("wildcard delivery at QoS 0, 1 and 2 with user properties", func(t *testing.T) {
				sub := mosqSubBG(t, in, "%t|%q|%p|%P", "-V", v, "-q", "2", "-t", top("sensors/+/temp"), "-C", "3", "-i", id("wsub"))
				for q := 0; q <= 2; q++ {
					args := []string{"-V", v, "-q", fmt.Sprint(q), "-t", top("sensors/kitchen/temp"), "-m", fmt.Sprintf("21.%d", q)}
					if v == "5" {
						args = append(args, "-D", "publish", "user-property", "unit", "celsius", "-D", "publish", "user-property", "qos", fmt.Sprint(q))
					}
					mosq(t, in, "mosquitto_pub", args...)
				}
				mosq(t, in, "mosquitto_pub", "-V", v, "-t", top("sensors/kitchen/humidity"), "-m", "no")
				sub.wait(20 * time.Second)
				got := sub.matching("MSG ")
				if len(got) != 3 {
					t.Fatalf("got %q", got)
				}
				for q, line := range got {
					want := fmt.Sprintf("MSG %s|%d|21.%d|", top("sensors/kitchen/temp"), q, q)
					if v == "5" {
						want += fmt.Sprintf("unit:celsius qos:%d", q)
					}
					if strings.TrimSpace(line) != want {
						t.Errorf("line %d: %q, want %q", q, line, want)
					}
				}
			})

			t.Run("retained message and its clearing", func(t *testing.T) {
				mosq(t, in, "mosquitto_pub", "-V", v, "-q", "1", "-r", "-t", top("status/door"), "-m", "open")
				out := mosq(t, in, "mosquitto_sub", "-V", v, "-t", top("status/#"), "-C", "1", "-W", "10", "-F", "MSG %t|%r|%p")
				if !strings.Contains(out, "MSG "+top("status/door")+"|1|open") {
					t.Fatalf("late subscriber got %q, want the retained message with RETAIN set", out)
				}
				mosq(t, in, "mosquitto_pub", "-V", v, "-q", "1", "-r", "-t", top("status/door"), "-n")
				out = mosq(t, in, "mosquitto_sub", "-V", v, "-t", top("status/#"), "-W", "2", "-F", "MSG %t|%r|%p")
				if strings.Contains(out, "MSG") {
					t.Fatalf("after clearing, a subscriber got %q", out)
				}
			})

			t.Run("persistent session receives what was published while away", func(t *testing.T) {
				session := []string{"-V", v, "-c", "-i", id("away"), "-q", "1", "-t", top("away/#")}
				if v == "5" {
					session = append(session, "-x", "300")
				}
				mosq(t, in, "mosquitto_sub", append(session, "-E")...)
				mosq(t, in, "mosquitto_pub", "-V", v, "-q", "1", "-t", top("away/1"), "-m", "while-away")
				out := mosq(t, in, "mosquitto_sub", append(session, "-C", "1", "-W", "10", "-F", "MSG %t|%p")...)
				if !strings.Contains(out, "MSG "+top("away/1")+"|while-away") {
					t.Fatalf("the returning session got %q", out)
				}
			})

			t.Run("will after SIGKILL", func(t *testing.T) {
				watch := mosqSubBG(t, in, "%t|%p", "-V", v, "-q", "1", "-t", top("wills/#"), "-C", "1")
				doomed := startBG(t, "mosquitto_sub", "-h", "127.0.0.1", "-p", in.mqttPort(), "-d", "-V", v, "-i", id("doomed"),
					"-t", top("nothing"), "--will-topic", top("wills/doomed"), "--will-payload", "doomed is gone", "--will-qos", "1")
				doomed.waitLine("received SUBACK", 10*time.Second)
				if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				watch.wait(20 * time.Second)
				if got := watch.matching("MSG "); len(got) != 1 || got[0] != "MSG "+top("wills/doomed")+"|doomed is gone" {
					t.Fatalf("got %q", got)
				}
				// A clean disconnect publishes no will.
				quiet := mosqSubBG(t, in, "%t|%p", "-V", v, "-q", "1", "-t", top("wills/#"), "-W", "3")
				mosq(t, in, "mosquitto_pub", "-V", v, "-t", top("other"), "-m", "x", "--will-topic", top("wills/clean"), "--will-payload", "no")
				quiet.wait(10 * time.Second)
				if got := quiet.matching("MSG "); len(got) != 0 {
					t.Fatalf("a clean disconnect published a will: %q", got)
				}
			})

			t.Run("session expiry removes the session", func(t *testing.T) {
				session := []string{"-V", v, "-c", "-i", id("expiring"), "-q", "1", "-t", top("exp/#")}
				if v == "5" {
					session = append(session, "-x", "2")
				}
				mosq(t, in, "mosquitto_sub", append(session, "-E")...)
				queue := id("expiring") + "." + strings.ReplaceAll(top("exp/#"), "/", ".")
				if !queueExists(t, in, queue) {
					t.Fatalf("no subscription queue %s after the session disconnected", queue)
				}
				waitUntil(t, "the session to expire", 20*time.Second, func() bool { return !queueExists(t, in, queue) })
				mosq(t, in, "mosquitto_pub", "-V", v, "-q", "1", "-t", top("exp/1"), "-m", "after-expiry")
				out := mosq(t, in, "mosquitto_sub", append(session, "-W", "2", "-F", "MSG %t|%p")...)
				if strings.Contains(out, "MSG") {
					t.Fatalf("an expired session received %q", out)
				}
			})
		})
	}
}
