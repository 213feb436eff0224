package amqp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// The capture test plays captureServer to real AMQP clients — go-amqp (in
// process), Debian's python3-qpid-proton and rhea (e2e/amqp) — and, with
// TANDEM_AMQP_CAPTURE=1, writes what each client sent to
// testdata/golden/<scenario>.bin (and what the server answered, all of it
// encoded by this package, to <scenario>.server.bin), where golden_test.go
// decodes and re-encodes it on every run. It also checks that each client understood
// the server, whose every frame this package encoded.
//
//	TANDEM_AMQP_CAPTURE=1 go test -run TestCapture ./internal/wire/amqp/
//
// Without the variable it is skipped: the captures differ on every run
// (random link names, timestamps) and regenerating them is a deliberate
// act. TANDEM_REQUIRE_AMQP_CLIENTS=1 turns a missing client into a
// failure instead of a skip.

const goldenDir = "testdata/golden"

type captureScenario struct {
	name     string
	maxFrame uint32   // announced by the server
	conns    int      // connections the client opens
	output   []string // lines the client must print
	received int      // messages the server must receive
	run      func(t *testing.T, addr string) string
}

func TestCapture(t *testing.T) {
	if os.Getenv("TANDEM_AMQP_CAPTURE") == "" {
		t.Skip("set TANDEM_AMQP_CAPTURE=1 to capture real clients into testdata/golden")
	}
	scenarios := []captureScenario{
		{name: "goamqp-send", conns: 1, received: 7, run: goamqpSend},
		{name: "goamqp-receive", conns: 1, output: []string{"received m1 accept", "received 2 release", "received 3 reject",
			"received 4 modify", "manual m1", "drained", "dynamic dynamic-"}, run: goamqpReceive},
		{name: "goamqp-frames", maxFrame: 512, conns: 1, received: 1, output: []string{"received 2048 bytes"}, run: goamqpFrames},
		{name: "proton-send", conns: 1, received: 6, output: []string{"done"}, run: protonScenario("send")},
		{name: "proton-receive", conns: 1, output: []string{"received m1 'message 1'", "received 2 '9 bytes'",
			"received 3 {'k': 'v', 'i': int32(3)}", "received 4 '2048 bytes'", "dynamic address dynamic-", "browsed m1", "done"},
			run: protonScenario("receive")},
		{name: "proton-tx", conns: 1, received: 6, output: []string{"declared txn-1", "committed", "aborted", "done"},
			run: protonScenario("tx")},
		{name: "rhea-send", conns: 1, received: 4, output: []string{"done"}, run: rheaScenario("send")},
		{name: "rhea-receive", conns: 1, output: []string{`received m1 "message 1"`, `received 2 "9 bytes"`, "drained", "done"},
			run: rheaScenario("receive")},
	}
	if err := os.MkdirAll(goldenDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			maxFrame := sc.maxFrame
			if maxFrame == 0 {
				maxFrame = 65536
			}
			srv := newCaptureServer(t, maxFrame)
			out := sc.run(t, srv.addr())
			for _, want := range sc.output {
				if !strings.Contains(out, want) {
					t.Errorf("client output lacks %q:\n%s", want, out)
				}
			}
			streams := srv.waitStreams(sc.conns)
			srv.mu.Lock()
			received := len(srv.received)
			srv.mu.Unlock()
			if received != sc.received {
				t.Errorf("server received %d messages, want %d", received, sc.received)
			}
			if t.Failed() {
				return
			}
			for i, s := range streams {
				name := sc.name
				if len(streams) > 1 {
					name = fmt.Sprintf("%s-%d", sc.name, i)
				}
				if err := os.WriteFile(filepath.Join(goldenDir, name+".bin"), s.client, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(goldenDir, name+".server.bin"), s.server, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// requireClient skips (or, in CI, fails) when a third-party client is
// missing.
func requireClient(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("TANDEM_REQUIRE_AMQP_CLIENTS") != "" {
		t.Fatalf("%s is required: %v", what, err)
	}
	t.Skipf("%s missing: %v", what, err)
}

func protonScenario(scenario string) func(t *testing.T, addr string) string {
	return func(t *testing.T, addr string) string {
		const python = "/usr/bin/python3" // Debian's: pyenv's python3 lacks the Debian modules
		requireClient(t, "python3-qpid-proton", exec.Command(python, "-c", "import proton").Run())
		return runClient(t, python, "testdata/clients/proton_capture.py", scenario, addr)
	}
}

func rheaScenario(scenario string) func(t *testing.T, addr string) string {
	return func(t *testing.T, addr string) string {
		dir, err := filepath.Abs("../../../e2e/amqp/node_modules")
		if err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(filepath.Join(dir, "rhea"))
		if err == nil {
			_, err = exec.LookPath("node")
		}
		requireClient(t, "rhea (npm install in e2e/amqp) and node", err)
		host, port, _ := strings.Cut(addr, ":")
		t.Setenv("RHEA_DIR", dir)
		return runClient(t, "node", "testdata/clients/rhea_capture.js", scenario, host, port)
	}
}

func runClient(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func dialGo(t *testing.T, addr string, opts *goamqp.ConnOptions) (*goamqp.Conn, *goamqp.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	ses, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, ses
}

func ptr[T any](v T) *T { return &v }

func goamqpSend(t *testing.T, addr string) string {
	conn, ses := dialGo(t, addr, &goamqp.ConnOptions{ContainerID: "capture-go-send"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snd, err := ses.NewSender(ctx, "orders", &goamqp.SenderOptions{Name: "go-sender", TargetCapabilities: []string{"queue"}})
	if err != nil {
		t.Fatal(err)
	}
	created := time.UnixMilli(1700000000000)
	full := goamqp.NewMessage([]byte("data body"))
	full.Header = &goamqp.MessageHeader{Durable: true, Priority: 7, TTL: 30 * time.Second}
	full.Properties = &goamqp.MessageProperties{MessageID: "g1", To: ptr("orders"), Subject: ptr("s"), ReplyTo: ptr("replies"),
		CorrelationID: uint64(9), ContentType: ptr("application/octet-stream"), CreationTime: &created, GroupID: ptr("g"),
		GroupSequence: ptr(uint32(1))}
	full.ApplicationProperties = map[string]any{"color": "red", "n": int64(1), "f": 1.5, "b": true}
	full.Annotations = goamqp.Annotations{"x-opt-delivery-delay": int64(1000), "x-opt-jms-msg-type": int8(3)}
	msgs := []*goamqp.Message{
		full,
		{Value: "value body", Properties: &goamqp.MessageProperties{MessageID: goamqp.UUID{1, 2, 3}}},
		{Value: map[string]any{"k": "v", "n": int32(1)}},
		{Sequence: [][]any{{int64(1), "two"}}},
		{Data: [][]byte{[]byte("part 1"), []byte("part 2")}, Properties: &goamqp.MessageProperties{MessageID: []byte{1, 2}}},
	}
	for _, m := range msgs {
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := snd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	settled, err := ses.NewSender(ctx, "orders", &goamqp.SenderOptions{Name: "go-settled", SettlementMode: goamqp.SenderSettleModeSettled.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	if err := settled.Send(ctx, goamqp.NewMessage([]byte("settled")), nil); err != nil {
		t.Fatal(err)
	}
	// An anonymous-relay sender: null target address, routed by "to".
	relay, err := ses.NewSender(ctx, "", &goamqp.SenderOptions{Name: "go-relay"})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Send(ctx, &goamqp.Message{Value: "relayed", Properties: &goamqp.MessageProperties{To: ptr("orders")}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	return ""
}

func goamqpReceive(t *testing.T, addr string) string {
	conn, ses := dialGo(t, addr, &goamqp.ConnOptions{ContainerID: "capture-go-sub", SASLType: goamqp.SASLTypePlain("guest", "secret")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	// Shaped as Qpid JMS shapes a durable shared subscription: selector by
	// ulong descriptor, durable unsettled-state, expiry never.
	rcv, err := ses.NewReceiver(ctx, "news", &goamqp.ReceiverOptions{
		Name: "sub1", Credit: 10, Durability: goamqp.DurabilityUnsettledState, ExpiryPolicy: goamqp.ExpiryPolicyNever,
		Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = 'red'")}, SourceCapabilities: []string{"topic", "shared", "global"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"accept", "release", "reject", "modify"} {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "received %v %s\n", m.Properties.MessageID, action)
		switch action {
		case "accept":
			err = rcv.AcceptMessage(ctx, m)
		case "release":
			err = rcv.ReleaseMessage(ctx, m)
		case "reject":
			err = rcv.RejectMessage(ctx, m, &goamqp.Error{Condition: goamqp.ErrCondDecodeError, Description: "bad"})
		case "modify":
			err = rcv.ModifyMessage(ctx, m, &goamqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true,
				Annotations: goamqp.Annotations{"x-opt-reason": "test"}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	manual, err := ses.NewReceiver(ctx, "orders", &goamqp.ReceiverOptions{Name: "manual", Credit: -1,
		SettlementMode: goamqp.ReceiverSettleModeSecond.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	if err := manual.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	m, err := manual.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "manual %v\n", m.Properties.MessageID)
	if err := manual.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := manual.IssueCredit(5); err != nil {
		t.Fatal(err)
	}
	if err := manual.DrainCredit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	out.WriteString("drained\n")
	dyn, err := ses.NewReceiver(ctx, "", &goamqp.ReceiverOptions{Name: "dyn", DynamicAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "dynamic %s\n", dyn.Address())
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func goamqpFrames(t *testing.T, addr string) string {
	conn, ses := dialGo(t, addr, &goamqp.ConnOptions{ContainerID: "capture-go-frames", MaxFrameSize: 512})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snd, err := ses.NewSender(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte(strings.Repeat("large ", 400))), nil); err != nil {
		t.Fatal(err)
	}
	rcv, err := ses.NewReceiver(ctx, "orders", &goamqp.ReceiverOptions{Credit: 4})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for range 4 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		if d := m.GetData(); len(d) > 1000 {
			fmt.Fprintf(&out, "received %d bytes\n", len(d))
		}
	}
	if err := conn.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return out.String()
}
