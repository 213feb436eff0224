package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/client"
)

// AMQP 1.0 against the real binary: Qpid Proton (Debian's
// python3-qpid-proton) and rhea (npm, e2e/amqp) scenarios, go-amqp across
// a failover, and messages crossing between AMQP and STOMP. A missing
// third-party client skips its test unless TANDEM_REQUIRE_AMQP is set, as
// .ci/run does after installing them, where it fails.

// requireAMQPClient skips (or, in CI, fails) when a client is missing.
func requireAMQPClient(t *testing.T, name string, probe *exec.Cmd) {
	t.Helper()
	if out, err := probe.CombinedOutput(); err != nil {
		if os.Getenv("TANDEM_REQUIRE_AMQP") != "" {
			t.Fatalf("%s is required (TANDEM_REQUIRE_AMQP) but not usable: %v\n%s", name, err, out)
		}
		t.Skipf("%s not installed (%v); .ci/run installs it", name, err)
	}
}

func requireProton(t *testing.T) {
	t.Helper()
	requireAMQPClient(t, "python3-qpid-proton", exec.Command("/usr/bin/python3", "-c", "import proton"))
}

func requireRhea(t *testing.T) {
	t.Helper()
	requireAMQPClient(t, "rhea (npm install in e2e/amqp)", exec.Command("node", "-e", "require('./amqp/node_modules/rhea')"))
}

// amqpAddr is the host:port of an instance's acceptor.
func (i instance) amqpAddr() string { return i.addr() }

// runScenario runs one client scenario and checks it printed "OK name".
func runScenario(t *testing.T, name string, cmd ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK "+name) {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
	}
}

func proton(t *testing.T, scenario string, addr string, args ...string) {
	t.Helper()
	runScenario(t, scenario, append([]string{"/usr/bin/python3", "amqp/proton_scenarios.py", scenario, addr}, args...)...)
}

func TestProtonScenarios(t *testing.T) {
	requireProton(t)
	in := create(t, "proton")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	for _, s := range []string{"sasl", "request-reply", "selector", "transactions", "browse", "outcomes", "large", "delay-ttl"} {
		t.Run(s, func(t *testing.T) { proton(t, s, in.amqpAddr()) })
	}
}

// TestProtonDurableSubscriptionSurvivesSIGKILL makes a durable
// subscription with a fixed container id, detaches, publishes, kills the
// broker with SIGKILL, restarts it, resumes the subscription (every
// message is there) and closes it, which unsubscribes.
func TestProtonDurableSubscriptionSurvivesSIGKILL(t *testing.T) {
	requireProton(t)
	in := create(t, "proton-durable")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	proton(t, "durable-create", in.amqpAddr(), "prices")
	func() {
		c := dialAMQP(t, in.amqpAddr(), nil)
		defer c.Close()
		s, err := c.NewSession(amqpCtx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		snd, err := s.NewSender(amqpCtx(t), "prices", &goamqp.SenderOptions{TargetCapabilities: []string{"topic"}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			m := &goamqp.Message{Value: fmt.Sprintf("durable-%d", i), Header: &goamqp.MessageHeader{Durable: true}}
			if err := snd.Send(amqpCtx(t), m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}()
	p.kill()
	p = start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	proton(t, "durable-resume", in.amqpAddr(), "prices", "3")
	r := mustTandem(t, cli("queue", "stat", "--url", in.url())...)
	if strings.Contains(r.stdout, "durable-client.mysub") {
		t.Fatalf("the subscription survived its close:\n%s", r.stdout)
	}
	_ = p
}

func TestRheaScenarios(t *testing.T) {
	requireRhea(t)
	in := create(t, "rhea")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	host, port, _ := net.SplitHostPort(in.amqpAddr())
	for _, s := range []string{"basic", "durable", "drain"} {
		t.Run(s, func(t *testing.T) { runScenario(t, s, "node", "amqp/rhea_scenarios.js", s, host, port) })
	}
}

// TestRheaFailover gives rhea only the live's address: it learns the
// backup from the failover-server-list of the live's open, sends, and once
// the live is killed with SIGKILL reconnects to the backup, sends more and
// receives all ten messages, each once.
func TestRheaFailover(t *testing.T) {
	requireRhea(t)
	p := newPair(t, nil, nil)
	master := startAnnounced(t, p)
	host, port, _ := net.SplitHostPort(p.master.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "amqp/rhea_scenarios.js", "failover", host, port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, "LEARNED "):
			if !strings.Contains(line, fmt.Sprint(61616+p.slave.offset)) {
				t.Errorf("the failover list %q lacks the backup's port %d", line, 61616+p.slave.offset)
			}
		case line == "PHASE1" && !killed:
			killed = true
			master.kill()
		}
	}
	err = cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "OK failover") {
		t.Fatalf("rhea failover: %v\n%s", err, out.String())
	}
}

func amqpCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialAMQP(t *testing.T, addr string, opts *goamqp.ConnOptions) *goamqp.Conn {
	t.Helper()
	if opts == nil {
		opts = &goamqp.ConnOptions{}
	}
	if opts.SASLType == nil {
		opts.SASLType = goamqp.SASLTypePlain("admin", "admin")
	}
	c, err := goamqp.Dial(amqpCtx(t), "amqp://"+addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failoverList reads the failover-server-list of a connection's open.
func failoverList(c *goamqp.Conn) []string {
	var out []string
	list, _ := c.Properties()["failover-server-list"].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, fmt.Sprintf("%v:%v", m["network-host"], m["port"]))
		}
	}
	return out
}

// TestAMQPConfirmedSendsAcrossFailover sends durable messages, each
// confirmed (unsettled, accepted), from go-amqp to the live of a pair,
// kills the live with SIGKILL midway, and goes on with the backup it
// learnt from the live's open. Every accepted message is then consumed
// from the backup exactly once. A send that failed with the live is sent
// again with the same duplicate id, so a copy the live stored before it
// died is not stored twice.
func TestAMQPConfirmedSendsAcrossFailover(t *testing.T) {
	p := newPair(t, nil, nil)
	master := startAnnounced(t, p)
	c := dialAMQP(t, p.master.addr(), nil)
	backups := failoverList(c)
	if len(backups) == 0 {
		t.Fatalf("the live's open has no failover-server-list: %v", c.Properties())
	}
	sender := func(c *goamqp.Conn) (*goamqp.Sender, error) {
		s, err := c.NewSession(amqpCtx(t), nil)
		if err != nil {
			return nil, err
		}
		return s.NewSender(amqpCtx(t), "fo-confirmed", nil)
	}
	snd, err := sender(c)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	accepted := map[string]bool{}
	reconnects := 0
	var once sync.Once
	for i := 0; i < n; i++ {
		if i == n/2 {
			once.Do(func() { go master.kill() })
		}
		id := fmt.Sprintf("m-%03d", i)
		for attempt := 0; ; attempt++ {
			m := goamqp.NewMessage([]byte(id))
			m.Header = &goamqp.MessageHeader{Durable: true}
			m.ApplicationProperties = map[string]any{"_AMQ_DUPL_ID": id}
			err := snd.Send(amqpCtx(t), m, nil)
			if err == nil {
				accepted[id] = true
				break
			}
			var ae *goamqp.Error
			if errors.As(err, &ae) && ae.Condition != goamqp.ErrCondConnectionForced {
				t.Fatalf("send %s refused: %v", id, err)
			}
			if attempt > 100 {
				t.Fatalf("send %s: %v", id, err)
			}
			// The connection broke: go to a backup from the live's list.
			reconnects++
			c.Close()
			c, snd = nil, nil
			deadline := time.Now().Add(30 * time.Second)
			for c == nil && time.Now().Before(deadline) {
				for _, b := range backups {
					if cc, err := goamqp.Dial(amqpCtx(t), "amqp://"+b, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("admin", "admin")}); err == nil {
						if s, err := sender(cc); err == nil {
							c, snd = cc, s
							break
						}
						cc.Close()
					}
				}
				if c == nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
			if c == nil {
				t.Fatalf("no backup of %v took over within 30 s", backups)
			}
		}
	}
	c.Close()
	if reconnects == 0 {
		t.Fatal("no send failed: the live was not killed while sending")
	}
	t.Logf("%d sends retried on the backup", reconnects)
	rc := dialAMQP(t, p.slave.addr(), nil)
	defer rc.Close()
	s, err := rc.NewSession(amqpCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(amqpCtx(t), "fo-confirmed", &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := rcv.Receive(ctx, nil)
		cancel()
		if err != nil {
			break
		}
		seen[string(m.GetData())]++
		_ = rcv.AcceptMessage(amqpCtx(t), m)
	}
	for id := range accepted {
		if seen[id] != 1 {
			t.Errorf("accepted message %s consumed %d times", id, seen[id])
		}
	}
	for id, k := range seen {
		if k > 1 {
			t.Errorf("message %s consumed %d times", id, k)
		}
	}
	if len(accepted) != n {
		t.Fatalf("%d of %d sends accepted", len(accepted), n)
	}
}

// stompRaw is a bare STOMP connection, for a SEND without content-length
// (a text body), which the Go client never sends.
type stompRaw struct {
	nc net.Conn
	r  *bufio.Reader
}

func dialStompRaw(t *testing.T, addr string) *stompRaw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	s := &stompRaw{nc: nc, r: bufio.NewReader(nc)}
	s.write(t, "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:admin\npasscode:admin\n\n\x00")
	if f := s.read(t); !strings.HasPrefix(f, "CONNECTED") {
		t.Fatalf("STOMP connect: %q", f)
	}
	return s
}

func (s *stompRaw) write(t *testing.T, f string) {
	t.Helper()
	if _, err := io.WriteString(s.nc, f); err != nil {
		t.Fatal(err)
	}
}

func (s *stompRaw) read(t *testing.T) string {
	t.Helper()
	_ = s.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := s.r.ReadString(0)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimLeft(f, "\r\n")
}

// TestCrossProtocolAMQPAndSTOMP sends text, bytes and properties from
// AMQP to STOMP and from STOMP to AMQP (docs/protocols.md).
func TestCrossProtocolAMQPAndSTOMP(t *testing.T) {
	in := create(t, "cross")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx := amqpCtx(t)
	ac := dialAMQP(t, in.amqpAddr(), nil)
	defer ac.Close()
	as, err := ac.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	// AMQP → STOMP.
	snd, err := as.NewSender(ctx, "to-stomp", nil)
	if err != nil {
		t.Fatal(err)
	}
	text := &goamqp.Message{Value: "héllo from AMQP", ApplicationProperties: map[string]any{"color": "red", "n": int32(42), "ok": true},
		Properties: &goamqp.MessageProperties{Subject: ptrTo("kind-a"), CorrelationID: "corr-1"}}
	bin := goamqp.NewMessage([]byte{0, 1, 2, 0xff})
	bin.ApplicationProperties = map[string]any{"f": 1.5}
	for _, m := range []*goamqp.Message{text, bin} {
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sub, err := sc.Subscribe(ctx, "queue://to-stomp", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != "héllo from AMQP" || m.Header("color") != "red" || m.Header("n") != "42" || m.Header("ok") != "true" ||
		m.Header("type") != "kind-a" || m.Header("correlation-id") != "corr-1" {
		t.Errorf("STOMP got text %q headers %v", m.Body, m.Headers)
	}
	_ = m.Ack(ctx)
	m, err = sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != "\x00\x01\x02\xff" || m.Header("content-length") != "4" || m.Header("f") != "1.5" {
		t.Errorf("STOMP got bytes %q headers %v", m.Body, m.Headers)
	}
	_ = m.Ack(ctx)

	// STOMP → AMQP: without content-length the body is text, with it
	// bytes; headers become application-properties.
	raw := dialStompRaw(t, in.addr())
	raw.write(t, "SEND\ndestination:/queue/to-amqp\ncolor:blue\ncorrelation-id:c2\nreceipt:1\n\nplain text\x00")
	raw.read(t)
	raw.write(t, "SEND\ndestination:/queue/to-amqp\ncontent-length:3\nsize:3\nreceipt:2\n\n\x01\x00\x02\x00")
	raw.read(t)
	rcv, err := as.NewReceiver(ctx, "to-amqp", nil)
	if err != nil {
		t.Fatal(err)
	}
	am, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if am.Value != "plain text" || am.ApplicationProperties["color"] != "blue" ||
		am.Properties == nil || am.Properties.CorrelationID != "c2" {
		t.Errorf("AMQP got value %#v data %q props %v properties %+v", am.Value, am.GetData(), am.ApplicationProperties, am.Properties)
	}
	_ = rcv.AcceptMessage(ctx, am)
	am, err = rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(am.GetData()) != "\x01\x00\x02" || am.ApplicationProperties["size"] != "3" {
		t.Errorf("AMQP got data %q value %#v props %v", am.GetData(), am.Value, am.ApplicationProperties)
	}
	_ = rcv.AcceptMessage(ctx, am)
}

func ptrTo[T any](v T) *T { return &v }

// TestCLIWithAMQP runs the messaging commands with --protocol amqp:
// producer and consumer (with a send window and transactions), browse,
// and a durable subscription that keeps messages while its consumer is
// away; messages sent over AMQP are consumed over STOMP and back.
func TestCLIWithAMQP(t *testing.T) {
	in := create(t, "cli-amqp")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	amqp := func(args ...string) result {
		t.Helper()
		return mustTandem(t, append(cli(args...), "--protocol", "amqp", "--url", in.url())...)
	}
	expect := func(r result, want string) {
		t.Helper()
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("want %q in:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
		}
	}
	expect(amqp("producer", "--message-count", "20", "--max-pending", "8", "--destination", "queue://cli-a"), "Produced: 20 messages")
	expect(amqp("browse", "--destination", "queue://cli-a"), "Browsed: 20 messages")
	expect(amqp("consumer", "--message-count", "20", "--commit-interval", "5", "--destination", "queue://cli-a"), "Consumed: 20 messages")
	expect(amqp("producer", "--message-count", "6", "--commit-interval", "3", "--text-size", "50", "--destination", "queue://cli-b"), "Produced: 6 messages")
	// Across protocols: the AMQP producer's messages, consumed over STOMP.
	expect(mustTandem(t, cli("consumer", "--message-count", "6", "--destination", "queue://cli-b", "--url", in.url())...), "Consumed: 6 messages")
	expect(mustTandem(t, cli("producer", "--message-count", "4", "--destination", "queue://cli-c", "--url", in.url())...), "Produced: 4 messages")
	expect(amqp("consumer", "--message-count", "4", "--destination", "queue://cli-c"), "Consumed: 4 messages")
	// A durable subscription: made, left, filled, resumed.
	amqp("consumer", "--clientID", "reader", "--durable", "--message-count", "1", "--receive-timeout", "300", "--destination", "topic://cli-news")
	expect(amqp("producer", "--message-count", "3", "--destination", "topic://cli-news"), "Produced: 3 messages")
	expect(amqp("consumer", "--clientID", "reader", "--durable", "--message-count", "3", "--destination", "topic://cli-news"), "Consumed: 3 messages")
}

// TestPerfWithAMQP runs tandem perf --protocol amqp against the binary:
// every message sent is confirmed and received.
func TestPerfWithAMQP(t *testing.T) {
	in := create(t, "perf-amqp")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	r := mustTandem(t, "perf", "--protocol", "amqp", "--url", in.url(), "--user", "admin", "--password", "admin",
		"--message-count", "500", "--max-pending", "8", "--producers", "2", "--consumers", "2",
		"--ack", "client-individual", "--json")
	var rep struct {
		Protocol       string `json:"protocol"`
		TotalSent      int64  `json:"total_sent"`
		TotalConfirmed int64  `json:"total_confirmed"`
		TotalReceived  int64  `json:"total_received"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("perf --json: %v\n%s", err, r.stdout)
	}
	if rep.Protocol != "amqp" || rep.TotalSent != 500 || rep.TotalConfirmed != 500 || rep.TotalReceived != 500 {
		t.Fatalf("report %+v", rep)
	}
}
