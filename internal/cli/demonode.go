package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"tandem/client"
	"tandem/internal/config"
)

// demoNode is one broker process of the demo.
type demoNode struct {
	name  string
	dir   string
	port  int
	addrs []string // what its acceptors listen on
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	log   strings.Builder
}

func (n *demoNode) start(exe string, verbose bool, out io.Writer) error {
	n.cmd = exec.Command(exe, "run", "--instance", n.dir)
	n.cmd.SysProcAttr = childOf()
	pr, pw := io.Pipe()
	n.cmd.Stdout, n.cmd.Stderr = pw, pw
	n.done = make(chan struct{})
	n.mu.Lock()
	n.log.Reset()
	n.mu.Unlock()
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			if verbose {
				fmt.Fprintf(out, "    [%s] %s\n", n.name, sc.Text())
			}
		}
		io.Copy(io.Discard, pr) // keep the broker's writes from blocking
	}()
	go func() {
		n.cmd.Wait()
		pw.Close()
		close(n.done)
	}()
	return nil
}

func (n *demoNode) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

func (n *demoNode) running() bool {
	if n.cmd == nil || n.cmd.Process == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (n *demoNode) kill() {
	if !n.running() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// stop stops the broker as Ctrl-C would, and kills it if it does not
// exit within 15 seconds.
func (n *demoNode) stop() {
	if !n.running() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		n.kill()
	}
}

// waitServing waits until the node accepts clients on its port and
// answers there as itself: a STOMP handshake must name the broker
// ("tandem/NAME" in CONNECTED's server header), so another program
// listening on the port is never taken for the broker.
// It returns when the port first accepted a connection.
func (n *demoNode) waitServing(ctx context.Context, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	addr := fmt.Sprintf("127.0.0.1:%d", n.port)
	for time.Now().Before(deadline) {
		if !n.running() {
			return time.Time{}, errors.New("the process exited")
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			at := time.Now()
			c.Close()
			return at, n.identify(ctx)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, context.Cause(ctx)
		case <-time.After(time.Millisecond):
		}
	}
	return time.Time{}, fmt.Errorf("nothing listening on %s within %v", addr, within)
}

// identify checks that the broker on the node's port is this node.
func (n *demoNode) identify(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Anonymous, as the demo's brokers allow: no password hashing in the
	// way of the takeover's timing.
	c, err := client.Dial(dctx, fmt.Sprintf("tcp://127.0.0.1:%d", n.port))
	if err != nil {
		return fmt.Errorf("port %d accepts connections but does not answer as a broker (is another program listening there?): %w", n.port, err)
	}
	defer c.Close()
	if want := "tandem/" + n.name; c.Server() != want {
		return fmt.Errorf("port %d answers as %q, not %q: another program listens there", n.port, c.Server(), want)
	}
	return nil
}

// acceptorAddrs returns the addresses a configuration's acceptors bind.
func acceptorAddrs(as []config.Acceptor) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.Addr())
	}
	return out
}

// portsFree checks that each address can be bound right now, exactly as
// the broker will bind it. Binding the broker's own address (every
// interface for 0.0.0.0) is what finds any listener in the way: one on
// 127.0.0.1, on another interface, on [::], with SO_REUSEADDR or
// SO_REUSEPORT. Dialling 127.0.0.1 would miss all but the first.
func portsFree(addrs []string) error {
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("%s is in use: %w", a, err)
		}
		ln.Close()
	}
	return nil
}
