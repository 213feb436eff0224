//go:build linux

// Command rawdurable is the least a durable request/response server can do,
// as a reference for what a broker's confirmed send costs on a machine: a
// client sends 1 KiB over loopback TCP and waits for an 8-byte answer; the
// server writes the 1 KiB to a zero-filled file the way tandem's journal
// does (a direct rewrite of the 4 KiB block holding it, then fdatasync;
// with -buffered, pwrite then fdatasync) and answers. There is no protocol,
// no record format, no index: whatever a broker adds to the round trip is
// its own.
//
//	rawdurable serve -dir DIR [-buffered]   # prints the address, serves until killed
//	rawdurable send -addr ADDR -duration 10s  # prints {"confirmed_per_second": N, ...}
//
// bench/compare runs it beside the brokers in (1). It is Linux only.
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
	"syscall"
	"time"
	"unsafe"
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
		fs.Parse(os.Args[2:])
		if *addr == "" {
			fmt.Fprintln(os.Stderr, "rawdurable send: -addr is required")
			os.Exit(2)
		}
		err = send(*addr, *d)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawdurable:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: rawdurable serve -dir DIR [-buffered] | rawdurable send -addr ADDR [-duration D]")
	os.Exit(2)
}

// appender makes 1 KiB appends to a zero-filled file durable.
type appender struct {
	f, direct *os.File
	blk       []byte // the block being filled, aligned for direct I/O
	off       int64
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
		raw := make([]byte, 2*block)
		skip := (block - int(uintptr(unsafe.Pointer(&raw[0])))%block) % block
		a.blk = raw[skip : skip+block]
	}
	return a, nil
}

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
		if a.off == start {
			clear(a.blk)
		}
		copy(a.blk[a.off-start:], p)
		if _, err := a.direct.WriteAt(a.blk, start); err != nil {
			return err
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

// serveOn answers the clients of ln, one at a time (the file has one
// append position), until ln fails.
func serveOn(ln net.Listener, a *appender) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		req, ack := make([]byte, reqSize), make([]byte, 8)
		for {
			if _, err := io.ReadFull(nc, req); err != nil {
				break
			}
			if err := a.append(req); err != nil {
				return err
			}
			if _, err := nc.Write(ack); err != nil {
				break
			}
		}
		nc.Close()
	}
}

func send(addr string, d time.Duration) error {
	n, elapsed, err := measure(addr, d)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"confirmed": n, "seconds": elapsed.Seconds(), "confirmed_per_second": float64(n) / elapsed.Seconds(),
	})
}

// measure sends requests to addr, each after the answer to the last, for d.
func measure(addr string, d time.Duration) (n int, elapsed time.Duration, err error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	req, ack := bytes.Repeat([]byte{'x'}, reqSize), make([]byte, 8)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := nc.Write(req); err != nil {
			return n, 0, err
		}
		if _, err := io.ReadFull(nc, ack); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection (did it fail to write?)")
			}
			return n, 0, err
		}
		n++
	}
	return n, time.Since(start), nil
}
