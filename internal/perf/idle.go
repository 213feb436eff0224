package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tandem/client"
	"tandem/internal/procstat"
	"tandem/internal/wire/stomp"
)

// IdleConfig describes a run of idle connections: how many STOMP
// connections a broker accepts how fast, and what holding them open costs
// it in memory and CPU.
type IdleConfig struct {
	// URL, User, Password and VHost are as in Config.
	URL, User, Password, VHost string
	// Connections is how many connections to open.
	Connections int
	// Parallel bounds the connections being opened at once. Default 32.
	Parallel int
	// LocalAddrs, when set, are the IP addresses to connect from, taken in
	// turn. Each source address has its own range of ephemeral ports, so
	// several loopback addresses (127.0.0.2, 127.0.0.3, …) lift the limit
	// of one range on connections to one broker port.
	LocalAddrs []string
	// Settle is the pause after the last connection opened before the
	// hold starts, so that the broker's work of accepting is over.
	// Default 2 s.
	Settle time.Duration
	// Hold is how long the connections stay open and idle while the
	// broker's CPU time is measured.
	Hold time.Duration
	// BrokerPID, when above zero, is the broker's process: its resident
	// memory and CPU time are read from /proc.
	BrokerPID int
	// ConnectTimeout bounds each connection's TCP connect and STOMP
	// handshake. Default 10 s.
	ConnectTimeout time.Duration
}

// IdleReport is the outcome of RunIdle; `tandem perf connections --json`
// prints it.
type IdleReport struct {
	Broker      string `json:"broker"`
	URL         string `json:"url"`
	Connections int    `json:"connections"`
	Parallel    int    `json:"parallel"`
	SourceAddrs int    `json:"source_addresses"`

	// Connected counts the connections that got CONNECTED; Failed the
	// others, FirstError says why the first of them failed.
	Connected  int    `json:"connected"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	// ConnectSeconds is the time to open them all, ConnectRate the
	// connections per second it amounts to.
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectRate    float64 `json:"connects_per_second"`
	HoldSeconds    float64 `json:"hold_seconds"`
	// StillConnected counts the connections that, after the hold,
	// answered a DISCONNECT with its RECEIPT: a broker that dropped idle
	// connections has fewer.
	StillConnected int `json:"still_connected"`

	// The broker's resident memory before the first connection and at
	// the end of the hold, and the difference per connection.
	BrokerPID           int     `json:"broker_pid,omitempty"`
	BrokerRSSBeforeMiB  float64 `json:"broker_rss_before_mib,omitempty"`
	BrokerRSSMiB        float64 `json:"broker_rss_mib,omitempty"`
	BrokerRSSPerConnKiB float64 `json:"broker_rss_per_connection_kib,omitempty"`
	// The broker's CPU time while the connections were opened (and per
	// connection), and while they were held idle (and as a share of one
	// core).
	BrokerCPUConnectSeconds float64 `json:"broker_cpu_connect_seconds,omitempty"`
	BrokerCPUPerConnectUS   float64 `json:"broker_cpu_us_per_connect,omitempty"`
	BrokerCPUIdleSeconds    float64 `json:"broker_cpu_idle_seconds"`
	BrokerCPUIdlePercent    float64 `json:"broker_cpu_idle_percent_of_a_core"`
	// BrokerError says why a broker figure is missing.
	BrokerError string `json:"broker_error,omitempty"`
}

// RunIdle opens cfg.Connections STOMP connections, holds them open and
// idle for cfg.Hold, then closes each with a DISCONNECT whose RECEIPT shows
// the connection was still served. The connections ask for no heart-beats,
// so whatever the broker does meanwhile is its own housekeeping. A
// connection that cannot be opened is counted, not fatal: the report says
// how many were, and RunIdle returns ErrConnect with it when any failed.
func RunIdle(ctx context.Context, cfg IdleConfig) (*IdleReport, error) {
	if cfg.Parallel <= 0 {
		cfg.Parallel = dialParallelism
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	var probs []string
	if _, _, err := client.ParseURL(cfg.URL); err != nil {
		probs = append(probs, fmt.Sprintf("--url %q: %v", cfg.URL, err))
	}
	if cfg.Connections < 1 {
		probs = append(probs, fmt.Sprintf("--connections %d: must be 1 or more", cfg.Connections))
	}
	if cfg.Hold < 0 {
		probs = append(probs, "--hold must not be negative")
	}
	locals := make([]net.Addr, len(cfg.LocalAddrs))
	for i, a := range cfg.LocalAddrs {
		ip := net.ParseIP(strings.TrimSpace(a))
		if ip == nil {
			probs = append(probs, fmt.Sprintf("--bind %q: not an IP address", a))
			continue
		}
		locals[i] = &net.TCPAddr{IP: ip}
	}
	if cfg.BrokerPID > 0 {
		if _, err := procstat.ReadCPU(cfg.BrokerPID); err != nil {
			probs = append(probs, fmt.Sprintf("--broker-pid %d: %v", cfg.BrokerPID, err))
		}
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrBadConfig, strings.Join(probs, "\n  "))
	}
	rep := &IdleReport{URL: cfg.URL, Connections: cfg.Connections, Parallel: cfg.Parallel, SourceAddrs: len(locals)}
	b := brokerProbe{pid: cfg.BrokerPID, rep: rep}
	rssBefore := b.rss()
	cpu0 := b.cpu()

	// Open them all.
	conns := make([]*conn, cfg.Connections)
	errs := make([]error, cfg.Connections)
	l := login{user: cfg.User, password: cfg.Password, vhost: cfg.VHost}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(cfg.Parallel, cfg.Connections) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				var local net.Addr
				if len(locals) > 0 {
					local = locals[i%len(locals)]
				}
				conns[i], errs[i] = dial(ctx, cfg.URL, l, cfg.ConnectTimeout, local)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	cpu1 := b.cpu()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.nc.Close()
			}
		}
	}()
	for i, c := range conns {
		switch {
		case c != nil:
			rep.Connected++
			if rep.Broker == "" {
				rep.Broker = c.server
			}
		case errs[i] != nil:
			rep.Failed++
			if rep.FirstError == "" {
				rep.FirstError = fmt.Sprintf("connection %d: %v", i+1, errs[i])
			}
		default: // not tried: the context ended
			rep.Failed++
		}
	}
	rep.ConnectSeconds = took.Seconds()
	if took > 0 {
		rep.ConnectRate = float64(rep.Connected) / took.Seconds()
	}
	if cpu0.ok && cpu1.ok && rep.Connected > 0 {
		d := cpu1.c.Sub(cpu0.c).Total()
		rep.BrokerCPUConnectSeconds = d.Seconds()
		rep.BrokerCPUPerConnectUS = float64(d.Microseconds()) / float64(rep.Connected)
	}

	// Hold them, idle.
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return rep, err
	}
	cpu2 := b.cpu()
	holdStart := time.Now()
	if err := sleepCtx(ctx, cfg.Hold); err != nil {
		return rep, err
	}
	cpu3 := b.cpu()
	held := time.Since(holdStart)
	rep.HoldSeconds = held.Seconds()
	rssHeld := b.rss()
	if cpu2.ok && cpu3.ok && held > 0 {
		d := cpu3.c.Sub(cpu2.c).Total()
		rep.BrokerCPUIdleSeconds = d.Seconds()
		rep.BrokerCPUIdlePercent = 100 * d.Seconds() / held.Seconds()
	}
	if rssBefore > 0 && rssHeld > 0 {
		rep.BrokerRSSBeforeMiB = float64(rssBefore) / (1 << 20)
		rep.BrokerRSSMiB = float64(rssHeld) / (1 << 20)
		if rep.Connected > 0 {
			rep.BrokerRSSPerConnKiB = float64(rssHeld-rssBefore) / 1024 / float64(rep.Connected)
		}
	}

	// Are they all still served?
	var alive atomic.Int64
	next.Store(0)
	for range min(cfg.Parallel, cfg.Connections) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				if c := conns[i]; c != nil && c.goodbye(cfg.ConnectTimeout) == nil {
					alive.Add(1)
				}
			}
		})
	}
	wg.Wait()
	rep.StillConnected = int(alive.Load())
	if rep.Failed > 0 {
		return rep, fmt.Errorf("%w: %d of %d connections failed; the first: %s", ErrConnect, rep.Failed, cfg.Connections, rep.FirstError)
	}
	return rep, ctx.Err()
}

// brokerProbe reads the broker's /proc files, remembering the first
// failure in the report.
type brokerProbe struct {
	pid int
	rep *IdleReport
}

type cpuRead struct {
	c  procstat.CPU
	ok bool
}

func (b brokerProbe) cpu() cpuRead {
	if b.pid <= 0 {
		return cpuRead{}
	}
	c, err := procstat.ReadCPU(b.pid)
	if err != nil {
		b.fail(err)
		return cpuRead{}
	}
	b.rep.BrokerPID = b.pid
	return cpuRead{c: c, ok: true}
}

func (b brokerProbe) rss() int64 {
	if b.pid <= 0 {
		return 0
	}
	n, err := procstat.ReadRSS(b.pid)
	if err != nil {
		b.fail(err)
		return 0
	}
	return n
}

func (b brokerProbe) fail(err error) {
	if b.rep.BrokerError == "" {
		b.rep.BrokerError = err.Error()
	}
}

// goodbye sends DISCONNECT with a receipt request and waits for the
// RECEIPT: the proof that the broker still serves the connection.
func (c *conn) goodbye(timeout time.Duration) error {
	c.nc.SetDeadline(time.Now().Add(timeout))
	f := &stomp.Frame{Command: stomp.CmdDisconnect}
	f.Headers.Add(stomp.HdrReceipt, "bye")
	if err := c.write(f, true); err != nil {
		return err
	}
	for {
		r, err := c.readFrame()
		if err != nil {
			return err
		}
		switch r.Command {
		case stomp.CmdReceipt:
			if r.Headers.Value(stomp.HdrReceiptID) == "bye" {
				return nil
			}
		case stomp.CmdError:
			return brokerError(r)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteText writes the idle-connection report for a person.
func (rep *IdleReport) WriteText(w io.Writer) error {
	var b strings.Builder
	broker := rep.Broker
	if broker == "" {
		broker = "(no server header)"
	}
	fmt.Fprintf(&b, "Broker:      %s at %s\n", broker, rep.URL)
	fmt.Fprintf(&b, "Connections: %d of %d opened in %.2f s (%.0f per second, %d at once", rep.Connected, rep.Connections,
		rep.ConnectSeconds, rep.ConnectRate, rep.Parallel)
	if rep.SourceAddrs > 0 {
		fmt.Fprintf(&b, ", from %d source addresses", rep.SourceAddrs)
	}
	b.WriteString(")\n")
	if rep.Failed > 0 {
		fmt.Fprintf(&b, "             %d failed; the first: %s\n", rep.Failed, rep.FirstError)
	}
	fmt.Fprintf(&b, "Held idle:   %.1f s; %d still served at the end\n", rep.HoldSeconds, rep.StillConnected)
	if rep.BrokerPID > 0 {
		fmt.Fprintf(&b, "Memory:      broker resident %.1f MiB before, %.1f MiB with the connections (%.1f KiB each)\n",
			rep.BrokerRSSBeforeMiB, rep.BrokerRSSMiB, rep.BrokerRSSPerConnKiB)
		fmt.Fprintf(&b, "CPU:         broker %.2f s while connecting (%.0f µs per connection), %.2f s while idle (%.2f%% of a core)\n",
			rep.BrokerCPUConnectSeconds, rep.BrokerCPUPerConnectUS, rep.BrokerCPUIdleSeconds, rep.BrokerCPUIdlePercent)
	}
	if rep.BrokerError != "" {
		fmt.Fprintf(&b, "Broker figures incomplete: %s\n", rep.BrokerError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (rep *IdleReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
