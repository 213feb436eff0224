package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/client"
	owclient "tandem/client/openwire"
	ow "tandem/internal/wire/openwire"
)

// The OpenWire tests drive tandem with ActiveMQ Classic's own client:
// Debian's `activemq` console tools (run with java -jar activemq.jar, since
// the /usr/bin/activemq wrapper breaks failover:(…) URLs) and a JMS program
// (openwire/JmsCheck.java) compiled here against activemq-client.jar. They
// skip where Java or the activemq package is missing, unless
// TANDEM_REQUIRE_ACTIVEMQ is set (as .ci/run does after installing them),
// where they fail.

// activemqJars is the class path of the JMS client and what it needs.
var activemqJars = []string{
	"/usr/share/java/activemq-client.jar", "/usr/share/java/activemq-openwire-legacy.jar",
	"/usr/share/java/geronimo-jms_1.1_spec.jar", "/usr/share/java/geronimo-j2ee-management-1.1-spec.jar",
	"/usr/share/java/hawtbuf.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar",
}

const activemqJar = "/usr/share/activemq/bin/activemq.jar"

// javaEnv is the compiled JMS program and the console's private base
// directory, made once for the package.
var javaEnv struct {
	once     sync.Once
	err      error
	dir      string
	classes  string
	log4j    string
	classcp  string
	missing  []string
	compiled bool
}

// requireJava returns the directory of the compiled JmsCheck, or skips
// (fails under TANDEM_REQUIRE_ACTIVEMQ) when Java or activemq is missing.
func requireJava(t *testing.T) {
	t.Helper()
	e := &javaEnv
	e.once.Do(func() {
		for _, tool := range []string{"java", "javac"} {
			if _, err := exec.LookPath(tool); err != nil {
				e.missing = append(e.missing, tool)
			}
		}
		for _, f := range append([]string{activemqJar}, activemqJars...) {
			if _, err := os.Stat(f); err != nil {
				e.missing = append(e.missing, f)
			}
		}
		if len(e.missing) > 0 {
			return
		}
		// Inside the directory TestMain removes when the tests end.
		e.dir, e.err = os.MkdirTemp(filepath.Dir(binary), "openwire-")
		if e.err != nil {
			return
		}
		e.classes = filepath.Join(e.dir, "classes")
		e.log4j = filepath.Join(e.dir, "log4j.properties")
		e.classcp = strings.Join(activemqJars, ":")
		if e.err = os.WriteFile(e.log4j, []byte("log4j.rootLogger=INFO, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\n"+
			"log4j.appender.out.layout=org.apache.log4j.PatternLayout\nlog4j.appender.out.layout.ConversionPattern=%-5p %c{1} - %m%n\n"), 0o644); e.err != nil {
			return
		}
		out, err := exec.Command("javac", "-Xlint:-options", "-d", e.classes, "-cp", e.classcp, "openwire/JmsCheck.java").CombinedOutput()
		if err != nil {
			e.err = fmt.Errorf("javac: %v\n%s", err, out)
		}
	})
	if len(e.missing) > 0 {
		if os.Getenv("TANDEM_REQUIRE_ACTIVEMQ") != "" {
			t.Fatalf("TANDEM_REQUIRE_ACTIVEMQ is set but these are missing: %v (apt-get install activemq default-jdk-headless)", e.missing)
		}
		t.Skipf("needs %v (Debian packages activemq and default-jdk-headless)", e.missing)
	}
	if e.err != nil {
		t.Fatal(e.err)
	}
}

// classic runs one of Debian's ActiveMQ console commands (producer,
// consumer, browse) and returns its output.
func classic(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := t.TempDir()
	cmd := exec.CommandContext(ctx, "java", append([]string{"-Dlog4j.configuration=file:" + javaEnv.log4j,
		"-Dactivemq.home=/usr/share/activemq", "-Dactivemq.base=" + base, "-jar", activemqJar}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("activemq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// jmsCheck runs the JMS program in mode with args and returns its output;
// it fails the test when the program reports a failed check.
func jmsCheck(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := jmsCheckCmd(ctx, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("JmsCheck %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func jmsCheckCmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "java", append([]string{"-cp", javaEnv.classcp + ":" + javaEnv.classes, "JmsCheck"}, args...)...)
}

var countRE = regexp.MustCompile(`(Produced|Consumed): (\d+) messages`)

// count returns the number the console printed after "Produced:" or
// "Consumed:".
func count(t *testing.T, out, what string) int {
	t.Helper()
	for _, m := range countRE.FindAllStringSubmatch(out, -1) {
		if m[1] == what {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	t.Fatalf("no %q count in:\n%s", what, out)
	return 0
}

// browsed returns the JMSMessageIDs a browse listed, in order.
func browsed(out string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		if _, id, ok := strings.Cut(line, "JMS_HEADER_FIELD:JMSMessageID = "); ok {
			ids = append(ids, strings.TrimSpace(id))
		}
	}
	return ids
}

func owURL(in instance) string { return fmt.Sprintf("tcp://127.0.0.1:%d", 61616+in.offset) }

// TestOpenWireClassicCLI runs Debian's ActiveMQ console tools against
// tandem: producers (persistent, non-persistent, sized bytes,
// transactions), consumers (auto, client acknowledge, transacted, durable
// with a backlog) and browse, with exact counts.
func TestOpenWireClassicCLI(t *testing.T) {
	requireJava(t)
	in := create(t, "openwire-cli")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	u := owURL(in)
	produce := func(dest string, n int, extra ...string) {
		t.Helper()
		out := classic(t, append([]string{"producer", "--brokerUrl", u, "--destination", dest, "--messageCount", fmt.Sprint(n)}, extra...)...)
		if got := count(t, out, "Produced"); got != n {
			t.Fatalf("produced %d, want %d:\n%s", got, n, out)
		}
	}
	consume := func(dest string, n int, extra ...string) {
		t.Helper()
		out := classic(t, append([]string{"consumer", "--brokerUrl", u, "--destination", dest, "--messageCount", fmt.Sprint(n)}, extra...)...)
		if got := count(t, out, "Consumed"); got != n {
			t.Fatalf("consumed %d, want %d:\n%s", got, n, out)
		}
	}
	browse := func(queue string) int {
		t.Helper()
		return len(browsed(classic(t, "browse", "--amqurl", u, queue)))
	}

	t.Run("persistent, auto acknowledge", func(t *testing.T) {
		produce("queue://cli.persistent", 100)
		if n := browse("cli.persistent"); n != 100 {
			t.Fatalf("browse listed %d, want 100", n)
		}
		if n := browse("cli.persistent"); n != 100 {
			t.Fatalf("a second browse listed %d: browsing consumed", n)
		}
		consume("queue://cli.persistent", 100)
		if n := browse("cli.persistent"); n != 0 {
			t.Fatalf("%d left after consuming", n)
		}
	})
	t.Run("non-persistent bytes, client acknowledge", func(t *testing.T) {
		produce("queue://cli.bytes", 100, "--persistent", "false", "--messageSize", "5000")
		consume("queue://cli.bytes", 100, "--ackMode", "CLIENT_ACKNOWLEDGE", "--batchSize", "10")
		if n := browse("cli.bytes"); n != 0 {
			t.Fatalf("%d left after consuming", n)
		}
	})
	t.Run("transactions", func(t *testing.T) {
		// The console producer commits after message 0, 10, ..., so 101
		// messages in batches of 10 are all committed.
		produce("queue://cli.tx", 101, "--transactionBatchSize", "10")
		if n := browse("cli.tx"); n != 101 {
			t.Fatalf("browse listed %d, want 101", n)
		}
		consume("queue://cli.tx", 100, "--transacted", "true", "--batchSize", "10")
		if n := browse("cli.tx"); n != 1 {
			t.Fatalf("%d left after 100 were consumed in transactions, want 1", n)
		}
		consume("queue://cli.tx", 1)
	})
	t.Run("durable topic subscriber gets its backlog", func(t *testing.T) {
		// Subscribe, and leave at once: the subscription stays.
		consume("topic://cli.news", 0, "--durable", "true", "--clientId", "C")
		produce("topic://cli.news", 100)
		consume("topic://cli.news", 100, "--durable", "true", "--clientId", "C")
		produce("topic://cli.news", 5)
		consume("topic://cli.news", 5, "--durable", "true", "--clientId", "C")
	})
}

// TestOpenWireSeedLab002 is the seed lab 002 with the real client,
// verbatim: two brokers on one shared store, a message posted and browsed
// through failover:(tcp://localhost:P2,tcp://localhost:P1) (the waiting
// node first), the master killed, and the same message browsed again, now
// from the node that took over.
func TestOpenWireSeedLab002(t *testing.T) {
	requireJava(t)
	p := newPair(t, nil, nil)
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	if listening(p.slave.addr()) {
		t.Fatal("the waiting node accepts clients")
	}
	url := fmt.Sprintf("failover:(tcp://localhost:%d,tcp://localhost:%d)", 61616+p.slave.offset, 61616+p.master.offset)
	out := classic(t, "producer", "--brokerUrl", url, "--destination", "queue://TEST", "--messageCount", "1")
	if n := count(t, out, "Produced"); n != 1 {
		t.Fatalf("produced %d", n)
	}
	before := browsed(classic(t, "browse", "--amqurl", url, "TEST"))
	if len(before) != 1 {
		t.Fatalf("browse before the failover listed %v", before)
	}
	master.kill()
	waitListening(t, p.slave.addr(), 30*time.Second)
	after := browsed(classic(t, "browse", "--amqurl", url, "TEST"))
	if strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("browse after the failover listed %v, before %v", after, before)
	}
}

// TestOpenWireFailoverUnderLoad: the JMS client sends 5,000 persistent
// messages through a failover: URL while the live is SIGKILLed; the sends
// it replays to the backup are recognised as duplicates from the shared
// store. Consuming them yields each exactly once.
func TestOpenWireFailoverUnderLoad(t *testing.T) {
	p, master, url := failoverPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 5000
	cmd := jmsCheckCmd(ctx, "produce", url, "load", fmt.Sprint(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if !killed && line == "SENT 1500" {
			master.kill()
			killed = true
		}
	}
	if err := cmd.Wait(); err != nil || !killed || lines[len(lines)-1] != fmt.Sprintf("DONE %d", n) {
		t.Fatalf("producer: %v (killed %t)\n%s", err, killed, strings.Join(lines, "\n"))
	}
	out := jmsCheck(t, ctx, "consume", fmt.Sprintf("failover:(%s,%s)", owURL(p.master), owURL(p.slave)), "load", "3000")
	seen := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if body, ok := strings.CutPrefix(line, "GOT "); ok {
			seen[body]++
		}
	}
	missing, doubled := onceEach(n, seen)
	if len(seen) != n || len(missing) > 0 || len(doubled) > 0 {
		t.Fatalf("%d distinct messages consumed, want %d; missing %v; doubled %v", len(seen), n, missing, doubled)
	}
}

// TestOpenWireTransactedConsumerAcrossFailover: a transacted consumer
// committing batches while the live is SIGKILLed. Each batch ends committed
// or with TransactionRolledBackException, and the union is exactly once:
// every message is committed once, or was in a batch whose commit reached
// the old live before it died (the client cannot know: it reports the
// commit "in doubt" and rolls back) and is never delivered again, or was in
// a rolled-back batch and is left for the next consumer (a race in the
// client, see below), delivered once.
func TestOpenWireTransactedConsumerAcrossFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 1500
	p, master, url := transactedPair(t, ctx, "txload", n)
	// The consumer ends after 10 s without a message: on a loaded machine
	// (the whole suite under -race beside benchmarks) 5 s once ended it
	// before the last rolled-back batch came back after the failover, and
	// the check below found 9 messages still queued.
	commits := 0
	lines := runJMS(t, ctx, func(line string, _ io.Writer) {
		if strings.HasPrefix(line, "COMMITTED ") {
			if commits++; commits == 40 {
				master.kill()
			}
		}
	}, "txconsume", url, "txload", "10", "10000")
	if commits < 40 {
		t.Fatalf("transacted consumer: %d commits\n%s", commits, strings.Join(lines, "\n"))
	}
	committed, inDoubt := batches(lines)
	left := leftOn(t, ctx, p.slave, "txload")
	var lost, doubled []string
	for i := 0; i < n; i++ {
		b := fmt.Sprintf("m-%d", i)
		switch got := committed[b] + left[b]; {
		case got > 1:
			doubled = append(doubled, b)
		case got == 0 && !inDoubt[b]:
			lost = append(lost, b)
		}
	}
	if len(lost) > 0 || len(doubled) > 0 {
		t.Fatalf("lost %v; delivered twice %v\n%s", lost, doubled, strings.Join(lines, "\n"))
	}
	t.Logf("%d committed, %d in rolled-back batches", len(committed), len(inDoubt))
	var skipped []string
	for _, b := range slices.Sorted(maps.Keys(left)) {
		if !inDoubt[b] {
			skipped = append(skipped, b)
		}
	}
	if len(skipped) > 0 {
		t.Fatalf("left on the node that took over, never in a rolled-back batch: %v\n%s", skipped, strings.Join(lines, "\n"))
	}
	if len(left) > 0 {
		// The client's own race (docs/openwire.md, Transactions): it
		// dead-letters the new live's dispatch of the last message of a
		// batch as a duplicate, then acks the batch by a range ending at
		// that message, which the consumer no longer holds; the rest of
		// the batch stays with it until it closes. Seen once in about
		// five runs under load; nothing is lost or doubled.
		t.Logf("left with the transacted consumer until it closed: %v", slices.Sorted(maps.Keys(left)))
	}
}

// TestOpenWireTransactionHeldAcrossFailover: a transacted consumer holds
// five received messages, uncommitted, while the live is SIGKILLed. The
// new live dispatches them again, and the client takes them as the
// redeliveries it expects; its commit rolls back, and the next batch is
// exactly those five, which the client acks by the ids the old live gave
// them. That batch commits, and every message is committed exactly once.
func TestOpenWireTransactionHeldAcrossFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 30
	p, master, url := transactedPair(t, ctx, "txheld", n)
	lines := runJMS(t, ctx, func(line string, stdin io.Writer) {
		if strings.HasPrefix(line, "HELD ") {
			master.kill()
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				t.Error(err)
			}
		}
	}, "txheld", url, "txheld", "5", "5", "10000")
	out := strings.Join(lines, "\n")
	if !strings.Contains(out, "\nROLLEDBACK m-0 m-1 m-2 m-3 m-4 m-5\nCOMMITTED m-0 m-1 m-2 m-3 m-4\n") {
		t.Errorf("want the transaction held across the failover rolled back, then its five messages committed:\n%s", out)
	}
	committed, _ := batches(lines)
	for i := 0; i < n; i++ {
		if b := fmt.Sprintf("m-%d", i); committed[b] != 1 {
			t.Errorf("%s committed %d times, want once", b, committed[b])
		}
	}
	if left := leftOn(t, ctx, p.slave, "txheld"); len(left) > 0 {
		t.Errorf("messages left on the node that took over: %v", slices.Sorted(maps.Keys(left)))
	}
}

// TestOpenWireConsumersAcrossFailover: a JMS consumer behind a failover
// URL, auto-acknowledging, is reading a backlog of 2,000 messages when the
// live is SIGKILLed: a queue consumer, and a durable topic subscriber,
// which resubscribes on the node that takes over (the subscription and its
// backlog are in the shared store). Every message reaches the application
// once, and nothing is left behind.
func TestOpenWireConsumersAcrossFailover(t *testing.T) {
	for _, tc := range []struct {
		name, clientID, dest, publishTo string
	}{
		{"queue", "-", "orders", "orders"},
		{"durable subscription", "durable-app", "prices", "topic:prices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			p, master, url := failoverPair(t)
			if tc.clientID != "-" {
				jmsCheck(t, ctx, "durconsume", owURL(p.master), tc.clientID, tc.dest, "0") // subscribe
			}
			const n = 2000
			if out := jmsCheck(t, ctx, "produce", owURL(p.master), tc.publishTo, fmt.Sprint(n)); !strings.Contains(out, fmt.Sprintf("DONE %d", n)) {
				t.Fatalf("producer:\n%s", out)
			}
			got := map[string]int{}
			killed := false
			lines := runJMS(t, ctx, func(line string, _ io.Writer) {
				if b, ok := strings.CutPrefix(line, "GOT "); ok {
					if got[b]++; len(got) == 500 && !killed {
						master.kill()
						killed = true
					}
				}
			}, "durconsume", url, tc.clientID, tc.dest, "10000")
			if !killed {
				t.Fatalf("the consumer got %d messages; the live was never killed\n%s", len(got), strings.Join(lines, "\n"))
			}
			if lost, doubled := onceEach(n, got); len(lost) > 0 || len(doubled) > 0 {
				t.Fatalf("lost %d %v; delivered twice %d %v\n%s", len(lost), lost, len(doubled), doubled, strings.Join(lines, "\n"))
			}
			if out := jmsCheck(t, ctx, "durconsume", owURL(p.slave), tc.clientID, tc.dest, "1000"); !strings.Contains(out, "DONE 0") {
				t.Errorf("messages left on the node that took over:\n%s", out)
			}
		})
	}
}

// TestOpenWireRequestReplyAcrossFailover: request and reply over a
// temporary queue between two JMS connections behind a failover URL, while
// the live is SIGKILLed. Both connections move to the node that takes over,
// the requester's temporary queue is made again there and announced to the
// replier, and the requests that follow are answered; one whose answer was
// lost with the old live is sent again by the requester, as an application
// would.
func TestOpenWireRequestReplyAcrossFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, master, url := failoverPair(t)
	const n = 60
	killed := false
	lines := runJMS(t, ctx, func(line string, _ io.Writer) {
		if line == "REPLY r-20" {
			master.kill()
			killed = true
		}
	}, "rrfail", url, fmt.Sprint(n))
	out := strings.Join(lines, "\n")
	if !killed || !strings.Contains(out, fmt.Sprintf("DONE %d ", n)) || strings.Contains(out, "FAIL") {
		t.Fatalf("request and reply across the failover:\n%s", out)
	}
	t.Log(lines[len(lines)-1])
}

// onceEach checks that got, a count per body, holds each of m-0 … m-(n-1)
// once: it returns the bodies that never came and those that came more
// than once.
func onceEach(n int, got map[string]int) (missing, doubled []string) {
	for i := 0; i < n; i++ {
		switch b := fmt.Sprintf("m-%d", i); got[b] {
		case 0:
			missing = append(missing, b)
		case 1:
		default:
			doubled = append(doubled, b)
		}
	}
	return missing, doubled
}

// failoverPair starts a live and backup pair on one store for the JMS
// client, and returns the pair, its live and the failover URL of both,
// which reconnects quickly.
func failoverPair(t *testing.T) (pair, *proc, string) {
	t.Helper()
	requireJava(t)
	p := newPair(t, nil, nil)
	master := startAnnounced(t, p)
	url := fmt.Sprintf("failover:(%s,%s)?randomize=false&initialReconnectDelay=50&maxReconnectDelay=500",
		owURL(p.master), owURL(p.slave))
	return p, master, url
}

// transactedPair is failoverPair with n messages (m-0, m-1, ...) on queue.
func transactedPair(t *testing.T, ctx context.Context, queue string, n int) (pair, *proc, string) {
	t.Helper()
	p, master, url := failoverPair(t)
	if out := jmsCheck(t, ctx, "produce", owURL(p.master), queue, fmt.Sprint(n)); !strings.Contains(out, fmt.Sprintf("DONE %d", n)) {
		t.Fatalf("producer:\n%s", out)
	}
	return p, master, url
}

// runJMS runs JmsCheck with args, passing each line it prints, and
// its standard input, to see; it returns the lines once JmsCheck exits,
// and fails the test if it failed.
func runJMS(t *testing.T, ctx context.Context, see func(line string, stdin io.Writer), args ...string) []string {
	t.Helper()
	cmd := jmsCheckCmd(ctx, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		lines = append(lines, sc.Text())
		see(sc.Text(), stdin)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("JmsCheck %s: %v\n%s", args[0], err, strings.Join(lines, "\n"))
	}
	return lines
}

// batches reads the COMMITTED and ROLLEDBACK lines of a transacted
// consumer: how often each message was committed, and which were in a
// batch that rolled back.
func batches(lines []string) (committed map[string]int, rolledBack map[string]bool) {
	committed, rolledBack = map[string]int{}, map[string]bool{}
	for _, line := range lines {
		if rest, ok := strings.CutPrefix(line, "COMMITTED "); ok {
			for _, b := range strings.Fields(rest) {
				committed[b]++
			}
		}
		if rest, ok := strings.CutPrefix(line, "ROLLEDBACK "); ok {
			for _, b := range strings.Fields(rest) {
				rolledBack[b] = true
			}
		}
	}
	return committed, rolledBack
}

// leftOn consumes what is left on queue at the broker in: the messages a
// transacted consumer did not commit.
func leftOn(t *testing.T, ctx context.Context, in instance, queue string) map[string]int {
	t.Helper()
	left := map[string]int{}
	for _, line := range strings.Split(jmsCheck(t, ctx, "consume", owURL(in), queue, "1000"), "\n") {
		if b, ok := strings.CutPrefix(line, "GOT "); ok {
			left[b]++
		}
	}
	return left
}

// TestOpenWireJMSProgram runs the JMS program's feature checks: request
// and reply over a temporary queue between two connections, a selector on
// typed properties, MapMessage and ObjectMessage round trips; then STOMP
// and OpenWire exchange text and bytes messages with their properties.
func TestOpenWireJMSProgram(t *testing.T) {
	requireJava(t)
	in := create(t, "openwire-jms")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := jmsCheck(t, ctx, "features", owURL(in))
	for _, want := range []string{"OK request-reply", "OK selector", "OK map-message", "OK object-message"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	t.Run("STOMP to OpenWire", func(t *testing.T) {
		nc, err := net.Dial("tcp", in.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// Raw frames: STOMP makes a body without content-length text, one
		// with it bytes (docs/protocols.md).
		frames := "CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00" +
			"SEND\ndestination:/queue/jms.fromstomp\ncolor:red\ntype:note\ncorrelation-id:s-1\npriority:6\nreceipt:1\n\nhello from stomp\x00" +
			"SEND\ndestination:/queue/jms.fromstomp\ncolor:blue\ncontent-length:5\nreceipt:2\n\nbytes\x00"
		if _, err := nc.Write([]byte(frames)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for receipts := 0; receipts < 2; {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "receipt-id:") {
				receipts++
			}
			if strings.HasPrefix(line, "ERROR") {
				t.Fatal("STOMP send refused")
			}
		}
		out := jmsCheck(t, ctx, "fromstomp", owURL(in))
		for _, want := range []string{
			"MSG TEXT hello from stomp | color=red | type=note | corr=s-1 | prio=6",
			"MSG BYTES bytes | color=blue | type=null | corr=null | prio=4",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in:\n%s", want, out)
			}
		}
	})
	t.Run("OpenWire to STOMP", func(t *testing.T) {
		jmsCheck(t, ctx, "tostomp", owURL(in))
		c, err := client.Dial(ctx, in.url())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sub, err := c.Subscribe(ctx, "/queue/jms.tostomp")
		if err != nil {
			t.Fatal(err)
		}
		m, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h := func(k string) string { v, _ := m.Headers.Get(k); return v }
		if string(m.Body) != "text from jms ü" || h("color") != "green" || h("count") != "7" || h("flag") != "true" ||
			h("ratio") != "0.5" || h("correlation-id") != "c-1" || h("type") != "greeting" {
			t.Fatalf("text message: %q %v", m.Body, m.Headers)
		}
		m, err = sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Body) != "raw\x00\x01" || h("big") != "1099511627776" {
			t.Fatalf("bytes message: %q %v", m.Body, m.Headers)
		}
	})
}

// TestOpenWireBadInput: a wrong password, a duplicate client ID and an old
// protocol version are each refused with the exception the JMS client
// expects and a message saying why; a corrupt frame closes only its own
// connection. A client connected throughout is unaffected.
func TestOpenWireBadInput(t *testing.T) {
	requireJava(t)
	in := create(t, "openwire-bad", "--require-login")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := owURL(in)
	// The bystander: a STOMP client that keeps sending and receiving.
	by, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer by.Close()
	sub, err := by.Subscribe(ctx, "/queue/bystander")
	if err != nil {
		t.Fatal(err)
	}
	stillFine := func(t *testing.T, what string) {
		t.Helper()
		if err := by.Send(ctx, "/queue/bystander", []byte(what)); err != nil {
			t.Fatalf("the bystander cannot send after %s: %v", what, err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		defer rcancel()
		if m, err := sub.Receive(rctx); err != nil || string(m.Body) != what {
			t.Fatalf("the bystander after %s: %v %v", what, m, err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong password", []string{"connect", u, "admin", "wrong"}, "REFUSED javax.jms.JMSSecurityException: User name [admin] or password is invalid"},
		{"right password", []string{"connect", u, "admin", "admin"}, "CONNECTED"},
		{"duplicate client ID", []string{"dupclient", u + "?jms.userName=admin&jms.password=admin", "C1"},
			"REFUSED javax.jms.InvalidClientIDException: Broker: tandem/openwire-bad - Client: C1 already connected"},
		{"old protocol version", []string{"connect", u + "?wireFormat.version=9", "admin", "admin"},
			"REFUSED javax.jms.JMSException: OpenWire version 9 is not supported: tandem speaks OpenWire 10 to 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := jmsCheck(t, ctx, tc.args...)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, out)
			}
			stillFine(t, tc.name)
		})
	}
	t.Run("corrupt frame", func(t *testing.T) {
		nc, err := net.Dial("tcp", in.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// A WireFormatInfo whose option map claims more bytes than follow.
		frame := []byte{0, 0, 0, 20, 1, 'A', 'c', 't', 'i', 'v', 'e', 'M', 'Q', 0, 0, 0, 12, 1, 0, 0, 0x7f, 0xff, 0, 0}
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("a connection that sent a corrupt frame is still open")
				}
				break
			}
		}
		stillFine(t, "corrupt frame")
		if out := jmsCheck(t, ctx, "connect", u, "admin", "admin"); !strings.Contains(out, "CONNECTED") {
			t.Fatalf("a JMS client cannot connect after a corrupt frame:\n%s", out)
		}
	})
}

// TestOpenWireClientLearnsTheBackup: a JMS client given only the live's
// address in its failover: URL learns the backup from the live
// (ConnectionControl) and carries on there when the live is SIGKILLed.
func TestOpenWireClientLearnsTheBackup(t *testing.T) {
	requireJava(t)
	p := newPair(t, nil, nil)
	master := startAnnounced(t, p)
	// The backup announces itself as localhost; the client must reach it
	// by that name.
	url := fmt.Sprintf("failover:(tcp://localhost:%d)?initialReconnectDelay=50&maxReconnectDelay=500", 61616+p.master.offset)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 1000
	cmd := jmsCheckCmd(ctx, "produce", url, "learn", fmt.Sprint(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "SENT 300" {
			master.kill()
		}
	}
	if err := cmd.Wait(); err != nil || lines[len(lines)-1] != fmt.Sprintf("DONE %d", n) {
		t.Fatalf("producer given only the live: %v\n%s", err, strings.Join(lines, "\n"))
	}
	out := jmsCheck(t, ctx, "consume", owURL(p.slave), "learn", "3000")
	if !strings.Contains(out, fmt.Sprintf("DONE %d", n)) {
		t.Fatalf("consumed from the backup:\n%s", tail(out, 5))
	}
}

// TestOpenWireResendAfterFailoverIsStoredOnce replays, by hand, what a
// failover client does with a send whose answer it lost: the same
// persistent message (same producer id and sequence) sent again to the
// backup after the live died. The backup recognises it from the shared
// store's duplicate ids, answers it, and does not store it twice.
func TestOpenWireResendAfterFailoverIsStoredOnce(t *testing.T) {
	p := newPair(t, nil, nil)
	master := startAnnounced(t, p)
	msg := func() *ow.Message {
		pid := &ow.ProducerID{ConnectionID: "ID:resend-test-1:1", SessionID: 1, Value: 1}
		m := &ow.Message{Kind: ow.TypeTextMessage, ProducerID: pid, Destination: ow.NewQueue("resend"), Persistent: true,
			MessageID: &ow.MessageID{ProducerID: pid, ProducerSequenceID: 7}, Priority: 4}
		m.SetText("only once")
		return m
	}
	rawSend(t, p.master.addr(), msg())
	master.kill()
	waitListening(t, p.slave.addr(), 30*time.Second)
	rawSend(t, p.slave.addr(), msg())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := owclient.Dial(ctx, "tcp://"+p.slave.addr(), owclient.Options{User: "admin", Password: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	if err := c.Browse(ctx, "queue://resend", "", func(m *owclient.Message) error {
		got = append(got, m.Text())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("the backup holds %v, want the message once", got)
	}
}

// rawSend opens an OpenWire connection to addr with the codec, as a
// failover client (FaultTolerant), sends m persistently and waits for the
// broker's answer.
func rawSend(t *testing.T, addr string, m *ow.Message) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	r, w := ow.NewReader(nc, ow.ReaderOptions{}), ow.NewWriter(nc)
	info, _ := ow.NewWireFormatInfo(ow.DefaultClientWireFormat())
	connID := fmt.Sprintf("ID:resend-%d:1", time.Now().UnixNano())
	cmds := []ow.Command{
		&ow.ConnectionInfo{ConnectionID: &ow.ConnectionID{Value: connID}, UserName: "admin", Password: "admin", FaultTolerant: true},
		&ow.SessionInfo{SessionID: &ow.SessionID{ConnectionID: connID, Value: 1}},
		m,
	}
	if err := w.WriteCommand(info); err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		c.Base().CommandID, c.Base().ResponseRequired = int32(i+1), true
		if err := w.WriteCommand(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for answered := 0; answered < len(cmds); {
		ds, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("waiting for the broker's answers: %v", err)
		}
		switch x := ds.(type) {
		case *ow.Response:
			answered++
		case *ow.ExceptionResponse:
			t.Fatalf("command %d refused: %s", x.CorrelationID, x.Exception)
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestOpenWireTandemCLI runs tandem's own producer, consumer and browse
// with --protocol openwire, through the Go OpenWire client.
func TestOpenWireTandemCLI(t *testing.T) {
	in := create(t, "openwire-tandem-cli")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ow := func(args ...string) string {
		t.Helper()
		return mustTandem(t, cli(append(args, "--protocol", "openwire", "--url", in.url())...)...).stdout
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"produce", []string{"producer", "--message-count", "50", "--destination", "queue://ow.cli"}, "Produced: 50 messages"},
		{"produce in transactions", []string{"producer", "--message-count", "10", "--commit-interval", "3", "--destination", "queue://ow.cli"}, "Produced: 10 messages"},
		{"browse", []string{"browse", "--destination", "queue://ow.cli"}, "Browsed: 60 messages"},
		{"consume in transactions", []string{"consumer", "--message-count", "30", "--commit-interval", "7", "--destination", "queue://ow.cli"}, "Consumed: 30 messages"},
		{"consume", []string{"consumer", "--message-count", "30", "--destination", "queue://ow.cli"}, "Consumed: 30 messages"},
		{"browse empty", []string{"browse", "--destination", "queue://ow.cli"}, "Browsed: 0 messages"},
		{"durable subscribe", []string{"consumer", "--durable", "--clientID", "c1", "--message-count", "0", "--destination", "topic://ow.news"}, "Consumed: 0 messages"},
		{"publish", []string{"producer", "--message-count", "5", "--destination", "topic://ow.news"}, "Produced: 5 messages"},
		{"durable backlog", []string{"consumer", "--durable", "--clientID", "c1", "--message-count", "5", "--destination", "topic://ow.news"}, "Consumed: 5 messages"},
	} {
		if out := ow(tc.args...); !strings.Contains(out, tc.want) {
			t.Fatalf("%s: want %q in:\n%s", tc.name, tc.want, out)
		}
	}
}
