//go:build linux

// Command rawdurable is the least a durable request/response server can do,
// as a reference for what a broker's confirmed send costs on a machine: a
// client sends 1 KiB over loopback TCP and waits for an 8-byte answer; the
// server writes the 1 KiB to a zero-filled file the way tandem's journal
// does (a direct rewrite of the 4 KiB blocks holding it, then fdatasync;
// with -buffered, pwrite then fdatasync) and answers. There is no protocol,
// no record format, no index: whatever a broker adds to the round trip is
// its own.
//
// Several clients are served at once with a plain group commit: the
// connection whose request finds no write under way writes and syncs it,
// together with every request that arrives meanwhile, and answers them
// all; the others wait for it. A lone client is thus served on its own
// connection's goroutine, with no hand-off to another thread.
//
//	rawdurable serve -dir DIR [-buffered]   # prints the address, serves until killed
//	rawdurable send -addr ADDR -duration 10s [-clients 16] [-server-pid PID]
//	                                        # prints {"confirmed_per_second": N, ...}
//
// bench/compare runs it beside the brokers in (1), with one client and with
// sixteen. It is Linux only.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"tandem/internal/procstat"
)

const (
	reqSize  = 1024
	fileSize = 64 << 20
	block    = 4096
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		dir := fs.String("dir", "", "directory for the data file (on the file system to measure)")
		buffered := fs.Bool("buffered", false, "pwrite then fdatasync instead of a direct block write")
		fs.Parse(os.Args[2:])
		if *dir == "" {
			fmt.Fprintln(os.Stderr, "rawdurable serve: -dir is required")
			os.Exit(2)
		}
		err = serve(*dir, *buffered)
	case "send":
		fs := flag.NewFlagSet("send", flag.ExitOnError)
		addr := fs.String("addr", "", "address printed by rawdurable serve")
		d := fs.Duration("duration", 10*time.Second, "how long to send")
		clients := fs.Int("clients", 1, "clients sending at once, each waiting for its answer before its next request")
		pid := fs.Int("server-pid", 0, "the server's process id: report its CPU time (from /proc) per request")
		fs.Parse(os.Args[2:])
		if *addr == "" || *clients < 1 {
			fmt.Fprintln(os.Stderr, "rawdurable send: -addr is required, and -clients must be 1 or more")
			os.Exit(2)
		}
		err = send(*addr, *d, *clients, *pid)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawdurable:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: rawdurable serve -dir DIR [-buffered] | rawdurable send -addr ADDR [-duration D] [-clients N] [-server-pid PID]")
	os.Exit(2)
}

// appender makes appends to a zero-filled file durable.
type appender struct {
	f, direct *os.File
	// buf is aligned for direct I/O; buf[:off%block] holds what the block
	// at the append position already has, which a direct write of that
	// block must write again.
	buf []byte
	off int64
}

func newAppender(dir string, buffered bool) (*appender, error) {
	path := filepath.Join(dir, fmt.Sprintf("rawdurable-%d.dat", os.Getpid()))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	os.Remove(path) // gone when the process is
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < fileSize; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	a := &appender{f: f}
	if !buffered {
		if a.direct, err = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_RDWR|syscall.O_DIRECT, 0); err != nil {
			return nil, fmt.Errorf("direct I/O on %s: %w (try -buffered)", dir, err)
		}
		a.buf = alignedBlocks(2)
	}
	return a, nil
}

// alignedBlocks returns n zeroed blocks, aligned for direct I/O.
func alignedBlocks(n int) []byte {
	raw := make([]byte, (n+1)*block)
	skip := (block - int(uintptr(unsafe.Pointer(&raw[0])))%block) % block
	return raw[skip : skip+n*block]
}

// append writes p at the append position and syncs it: with direct I/O,
// by rewriting every block p touches (the first one with what it already
// held), then fdatasync.
func (a *appender) append(p []byte) error {
	if a.off+int64(len(p)) > fileSize {
		a.off = 0
	}
	if a.direct == nil {
		if _, err := a.f.WriteAt(p, a.off); err != nil {
			return err
		}
	} else {
		start := a.off &^ (block - 1)
		lead := int(a.off - start)
		end := lead + len(p)
		n := (end + block - 1) &^ (block - 1)
		if n > len(a.buf) {
			grown := alignedBlocks(n / block)
			copy(grown, a.buf[:lead])
			a.buf = grown
		}
		buf := a.buf[:n]
		copy(buf[lead:], p)
		clear(buf[end:])
		if _, err := a.direct.WriteAt(buf, start); err != nil {
			return err
		}
		// Keep the last, partly written block at the front for the next
		// append.
		if tail := end &^ (block - 1); tail != end && tail > 0 {
			copy(buf[:block], buf[tail:tail+block])
		}
	}
	a.off += int64(len(p))
	return syscall.Fdatasync(int(a.f.Fd()))
}

func serve(dir string, buffered bool) error {
	a, err := newAppender(dir, buffered)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	return serveOn(ln, a)
}

// serveOn answers the clients of ln, each on its own goroutine, until ln
// fails or a write to the file does.
func serveOn(ln net.Listener, a *appender) error {
	g := &group{a: a, failed: make(chan error, 1)}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				g.fail(err)
				return
			}
			go g.serve(nc)
		}
	}()
	return <-g.failed
}

// group commits the requests of every connection: whoever finds no write
// under way becomes the writer and writes, syncs and answers everything
// pending until nothing is.
type group struct {
	a      *appender
	failed chan error

	mu      sync.Mutex
	writing bool
	data    []byte     // requests waiting for the writer, in order
	waiting []net.Conn // their connections, to answer
}

func (g *group) fail(err error) {
	select {
	case g.failed <- err:
	default:
	}
}

// serve reads one connection's requests; each is written by this
// goroutine or by the writer of the moment.
func (g *group) serve(nc net.Conn) {
	defer nc.Close()
	req := make([]byte, reqSize)
	var data []byte
	var conns []net.Conn
	ack := make([]byte, 8)
	for {
		if _, err := io.ReadFull(nc, req); err != nil {
			return
		}
		g.mu.Lock()
		g.data = append(g.data, req...)
		g.waiting = append(g.waiting, nc)
		if g.writing {
			g.mu.Unlock()
			continue // the writer answers
		}
		g.writing = true
		for len(g.waiting) > 0 {
			data, g.data = g.data, data[:0]
			conns, g.waiting = g.waiting, conns[:0]
			g.mu.Unlock()
			if err := g.a.append(data); err != nil {
				g.fail(err)
				return
			}
			for _, c := range conns {
				c.Write(ack) // a client gone is its own reader's business
			}
			g.mu.Lock()
		}
		g.writing = false
		g.mu.Unlock()
	}
}

// result is what send prints.
type result struct {
	Clients   int     `json:"clients"`
	Confirmed int     `json:"confirmed"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"confirmed_per_second"`
	// The server's CPU time over the run, with -server-pid.
	ServerCPUSeconds    float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPerRequest float64 `json:"server_cpu_us_per_message,omitempty"`
}

func send(addr string, d time.Duration, clients, pid int) error {
	var before procstat.CPU
	if pid > 0 {
		var err error
		if before, err = procstat.ReadCPU(pid); err != nil {
			return err
		}
	}
	counts, elapsed, err := measure(addr, d, clients, nil)
	if err != nil {
		return err
	}
	res := result{Clients: clients, Seconds: elapsed.Seconds()}
	for _, n := range counts {
		res.Confirmed += n
	}
	res.Rate = float64(res.Confirmed) / elapsed.Seconds()
	if pid > 0 {
		after, err := procstat.ReadCPU(pid)
		if err != nil {
			return err
		}
		res.ServerCPUSeconds = after.Sub(before).Total().Seconds()
		if res.Confirmed > 0 {
			res.ServerCPUPerRequest = res.ServerCPUSeconds * 1e6 / float64(res.Confirmed)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// measure runs clients clients against addr for d, each sending a request
// after the answer to its last, and returns how many each had answered.
// body, when set, gives client i's request bytes.
func measure(addr string, d time.Duration, clients int, body func(i int) []byte) ([]int, time.Duration, error) {
	conns := make([]net.Conn, clients)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, 0, err
		}
		defer nc.Close()
		conns[i] = nc
	}
	counts := make([]int, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i, nc := range conns {
		req := bytes.Repeat([]byte{'x'}, reqSize)
		if body != nil {
			req = body(i)
		}
		wg.Go(func() { counts[i], errs[i] = lockstep(nc, req, start, d) })
	}
	wg.Wait()
	return counts, time.Since(start), errors.Join(errs...)
}

// lockstep sends req on nc and waits for the answer, again and again,
// until d has passed since start.
func lockstep(nc net.Conn, req []byte, start time.Time, d time.Duration) (int, error) {
	ack := make([]byte, 8)
	n := 0
	for time.Since(start) < d {
		if _, err := nc.Write(req); err != nil {
			return n, err
		}
		if _, err := io.ReadFull(nc, ack); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection (did it fail to write?)")
			}
			return n, err
		}
		n++
	}
	return n, nil
}
