package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"tandem/client"
	"tandem/internal/ha"
	"tandem/internal/instance"
)

type demoOptions struct {
	dir        string
	messages   int
	size       int
	window     int
	keep       bool
	verbose    bool
	portOffset int
	offsetSet  bool
}

func init() { register(newDemoCommand) }

func newDemoCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "demo", Short: "Run guided demonstrations on this machine"}
	var o demoOptions
	fo := &cobra.Command{
		Use:   "failover",
		Short: "Run a live/backup pair on a shared store, kill the live, and watch the backup take over",
		Long: `Run lab A by itself in a temporary directory: create a master and a slave on one
shared store, start both, send persistent messages to the master, kill the
master with SIGKILL, consume every message from the slave, then restart the
master and watch it take the store back (failback). Each step prints its
timing.

The master listens on 61616 + --port-offset and the slave one port up; without
--port-offset the demo picks the first free pair from 61616. A port counts as
free only when the demo can bind the very address the broker will (every
interface), so a listener on any address of this machine is seen. However the
demo ends (an error, Ctrl-C, a closed output pipe, or being killed), it stops
both brokers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.offsetSet = cmd.Flags().Changed("port-offset")
			return runDemoFailover(cmd.Context(), o, e)
		},
	}
	fo.Flags().StringVar(&o.dir, "dir", "", "directory for the two instances and the shared store (default: a new temporary directory)")
	fo.Flags().IntVar(&o.messages, "message-count", 100, "persistent messages to send before the kill")
	fo.Flags().IntVar(&o.size, "message-size", 0, "body size in bytes (0 sends short text bodies)")
	fo.Flags().IntVar(&o.window, "max-pending", 1, "unconfirmed sends in flight while filling the journal")
	fo.Flags().IntVar(&o.portOffset, "port-offset", 0, "master on 61616+N, slave on 61617+N (default: the first free pair)")
	fo.Flags().BoolVar(&o.keep, "keep", false, "keep the directory afterwards")
	fo.Flags().BoolVar(&o.verbose, "verbose", false, "show the brokers' logs")
	cmd.AddCommand(fo)
	return cmd
}

// demoHost is the address the demo's brokers listen on, as tandem create
// writes by default: every interface.
const demoHost = "0.0.0.0"

// demoOutput writes the demo's lines; the first failed write (a closed
// pipe, as with 'tandem demo failover | head -3') ends the demo.
type demoOutput struct {
	w      io.Writer
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	failed bool
}

func (d *demoOutput) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed {
		return 0, io.ErrClosedPipe
	}
	n, err := d.w.Write(p)
	if err != nil {
		d.failed = true
		d.cancel(fmt.Errorf("the demo's output is gone (%w); stopping", err))
	}
	return n, err
}

func runDemoFailover(parent context.Context, o demoOptions, e *env) (err error) {
	// A closed output pipe must end the demo through its cleanup, not kill
	// it with SIGPIPE and leave the brokers behind; a closed terminal
	// (SIGHUP) likewise.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	ctx, stopHUP := signal.NotifyContext(parent, syscall.SIGHUP)
	defer stopHUP()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The brokers are told to die with the thread that started them
	// (childOf), so that thread must live as long as the demo.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	out := &demoOutput{w: e.stdout, cancel: cancel}
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	defer func() {
		if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
	}()

	root := o.dir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "tandem-demo-"); err != nil {
			return err
		}
	}
	if !o.keep {
		defer os.RemoveAll(root)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	offset, err := demoOffset(o)
	if err != nil {
		return err
	}
	shared := filepath.Join(root, "shared")
	step("creating brokers/master and brokers/slave on the shared store %s", shared)
	nodes := make([]*demoNode, 2)
	for i, name := range []string{"master", "slave"} {
		dir := filepath.Join(root, "brokers", name)
		inst, err := instance.Create(instance.CreateOptions{Dir: dir, Name: name, User: "admin", Password: "admin",
			AllowAnonymous: true, PortOffset: offset + i, DataDir: shared, SharedStore: true, Backup: i == 1,
			Executable: exe, NoWeb: true, Host: demoHost})
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		cfg, err := inst.LoadConfig()
		if err != nil {
			return err
		}
		nodes[i] = &demoNode{name: name, dir: dir, port: 61616 + offset + i, addrs: acceptorAddrs(cfg.Acceptors)}
	}
	master, slave := nodes[0], nodes[1]
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for _, n := range nodes {
		if err := portsFree(n.addrs); err != nil {
			return fmt.Errorf("%s cannot listen: %w; choose another --port-offset", n.name, err)
		}
	}

	t0 := time.Now()
	if err := master.start(exe, o.verbose, out); err != nil {
		return err
	}
	if _, err := master.waitServing(ctx, 20*time.Second); err != nil {
		return fmt.Errorf("master: %w\n%s", err, master.output())
	}
	step("master is live on tcp://localhost:%d (started in %v)", master.port, since(t0))
	if err := slave.start(exe, o.verbose, out); err != nil {
		return err
	}
	if err := waitLog(ctx, slave, "waiting for the live lock", 20*time.Second); err != nil {
		return fmt.Errorf("slave: %w\n%s", err, slave.output())
	}
	step("slave is waiting for the lock (no client port open on %d)", slave.port)

	url := fmt.Sprintf("failover:(tcp://localhost:%d,tcp://localhost:%d)", master.port, slave.port)
	t0 = time.Now()
	if err := demoProduce(ctx, fmt.Sprintf("tcp://localhost:%d", master.port), o); err != nil {
		return err
	}
	step("sent %d persistent messages to the master, all confirmed after their fsync (%v)", o.messages, since(t0))

	step("killing the master with SIGKILL")
	journalDir := filepath.Join(shared, "journal")
	before, _ := ha.ReadRecord(journalDir)
	killed := time.Now()
	master.kill()
	locked := make(chan time.Duration, 1)
	go func() {
		// The backup writes a new epoch into the state record the moment
		// the kernel hands it the lock; the rest of the takeover is replay.
		for time.Since(killed) < 30*time.Second && ctx.Err() == nil {
			if rec, err := ha.ReadRecord(journalDir); err == nil && rec.Epoch > before.Epoch {
				locked <- time.Since(killed)
				return
			}
			time.Sleep(time.Millisecond)
		}
		locked <- 0
	}()
	acceptedAt, err := slave.waitServing(ctx, 30*time.Second)
	if err != nil {
		return fmt.Errorf("slave did not take over: %w\n%s", err, slave.output())
	}
	accept := acceptedAt.Sub(killed)
	step("slave took the lock %v after the kill (the rest is journal replay)", (<-locked).Round(time.Millisecond))
	c, err := client.Dial(ctx, url, client.WithCredentials("admin", "admin"))
	if err != nil {
		return fmt.Errorf("failover client: %w", err)
	}
	if err := c.Send(ctx, "queue://demo.probe", []byte("probe")); err != nil {
		c.Close()
		return fmt.Errorf("first send after failover: %w", err)
	}
	firstSend := time.Since(killed)
	c.Close()
	step("slave is live: accepting clients %v after the kill; a failover client's first confirmed send %v after it",
		accept.Round(time.Millisecond), firstSend.Round(time.Millisecond))

	got, err := demoConsume(ctx, url, o.messages)
	if err != nil {
		return err
	}
	step("consumed %d of %d messages from the slave, each exactly once", got, o.messages)
	if got != o.messages {
		return fmt.Errorf("lost messages: consumed %d of %d", got, o.messages)
	}

	step("restarting the master: with allow-failback it takes the store back")
	t0 = time.Now()
	if err := master.start(exe, o.verbose, out); err != nil {
		return err
	}
	if _, err := master.waitServing(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("master did not fail back: %w\n%s", err, master.output())
	}
	step("master is live again after %v; the slave went back to waiting", since(t0))
	fmt.Fprintf(out, "\nDone: no message lost, takeover in %v.\n", accept.Round(time.Millisecond))
	if o.keep {
		fmt.Fprintf(out, "The instances are in %s.\n", root)
	}
	return ctx.Err()
}

// demoOffset returns the port offset of the master: --port-offset, or the
// first offset from 0 whose two client ports are free.
func demoOffset(o demoOptions) (int, error) {
	if o.offsetSet {
		if o.portOffset < 0 || 61617+o.portOffset > 65535 {
			return 0, fmt.Errorf("--port-offset %d is out of range; expected 0 to %d", o.portOffset, 65535-61617)
		}
		return o.portOffset, nil
	}
	for off := 0; off < 2000; off += 10 {
		if portsFree(demoAddrs(off)) == nil {
			return off, nil
		}
	}
	return 0, errors.New("no free pair of client ports from 61616 to 63626; pass --port-offset")
}

// demoAddrs are the addresses the master and slave listen on at offset.
func demoAddrs(offset int) []string {
	return []string{fmt.Sprintf("%s:%d", demoHost, 61616+offset), fmt.Sprintf("%s:%d", demoHost, 61617+offset)}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

func waitLog(ctx context.Context, n *demoNode, text string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(n.output(), text) {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-n.done:
			return errors.New("the process exited")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("no %q in the log within %v", text, within)
}

func demoProduce(ctx context.Context, url string, o demoOptions) error {
	c, err := client.Dial(ctx, url, client.WithCredentials("admin", "admin"), client.WithSendWindow(max(o.window, 1)))
	if err != nil {
		return err
	}
	defer c.Close()
	pad := strings.Repeat("x", o.size)
	for i := 0; i < o.messages; i++ {
		body := fmt.Sprintf("demo message %d ", i)
		if len(body) < o.size {
			body += pad[:o.size-len(body)]
		}
		if err := c.Send(ctx, "queue://demo", []byte(body)); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
	}
	return c.Flush(ctx)
}

func demoConsume(ctx context.Context, url string, want int) (int, error) {
	c, err := client.Dial(ctx, url, client.WithCredentials("admin", "admin"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// Cumulative acknowledgements every 500 messages keep a million-message
	// run quick; a message is acknowledged before the demo reports success.
	sub, err := c.Subscribe(ctx, "queue://demo", client.WithAckMode(client.AckClient), client.WithPrefetch(2000))
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for len(seen) < want {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := sub.Receive(rctx)
		cancel()
		if err != nil {
			break
		}
		key := string(m.Body)
		if i := strings.IndexByte(key[min(len(key), len("demo message ")):], ' '); i >= 0 {
			key = key[:len("demo message ")+i]
		}
		if seen[key] {
			return len(seen), fmt.Errorf("message %q delivered twice", key)
		}
		seen[key] = true
		if len(seen)%500 == 0 || len(seen) == want {
			if err := m.Ack(ctx); err != nil {
				return len(seen), err
			}
		}
	}
	return len(seen), nil
}
