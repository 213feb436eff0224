// Command owcapture records OpenWire traffic between a real client and a
// real broker, to make the golden files of internal/wire/openwire. It is a
// tool for testdata/capture/capture.sh, not part of tandem.
//
//	owcapture proxy -upstream HOST:PORT -out DIR -portfile FILE
//	owcapture select -out GOLDENDIR RAWDIR...
//
// proxy listens on a port of the OS's choosing (written to -portfile),
// forwards each connection to the upstream broker and writes every frame,
// as received, to DIR/<connection>/<sequence>-<c2b|b2c>-<type>.bin (the
// frame without its size prefix). It rewrites the WireFormatInfo of both
// sides to turn tight encoding, caching and stack traces off, so the two
// speak loose, uncached OpenWire, as they will with tandem. Every frame is
// also decoded and re-encoded with the codec; a failure or a difference is
// reported on stderr as CODEC-MISMATCH.
//
// select walks the raw directories in order and copies the first frame of
// each kind (direction, type and a signature of the interesting fields) to
// GOLDENDIR, with a MANIFEST saying where each came from.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"tandem/internal/wire/openwire"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: owcapture proxy|select ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "proxy":
		err = proxy(os.Args[2:])
	case "select":
		err = selectGolden(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "owcapture:", err)
		os.Exit(1)
	}
}

func proxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	upstream := fs.String("upstream", "", "broker address")
	out := fs.String("out", "", "directory for the raw frames")
	portfile := fs.String("portfile", "", "file to write the listening port to")
	fs.Parse(args)
	if *upstream == "" || *out == "" || *portfile == "" {
		return errors.New("proxy needs -upstream, -out and -portfile")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := os.WriteFile(*portfile, []byte(fmt.Sprint(port)), 0o644); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; ln.Close() }()
	var n atomic.Int32
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		id := n.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := relay(c, *upstream, filepath.Join(*out, fmt.Sprintf("conn%02d", id))); err != nil {
				fmt.Fprintf(os.Stderr, "conn%02d: %v\n", id, err)
			}
		}()
	}
	wg.Wait()
	return nil
}

func relay(client net.Conn, upstream, dir string) error {
	defer client.Close()
	broker, err := net.Dial("tcp", upstream)
	if err != nil {
		return err
	}
	defer broker.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var seq atomic.Int32
	done := make(chan error, 2)
	go func() { done <- pump(client, broker, dir, "c2b", &seq) }()
	go func() { done <- pump(broker, client, dir, "b2c", &seq) }()
	err = <-done
	client.Close()
	broker.Close()
	<-done
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// pump copies frames from src to dst, recording each and checking that
// the codec reproduces it.
func pump(src, dst net.Conn, dir, direction string, seq *atomic.Int32) error {
	r := openwire.NewReader(src, openwire.ReaderOptions{MaxFrameSize: 1 << 30})
	first := true
	for {
		frame, err := r.ReadFrame()
		if err != nil {
			return err
		}
		n := seq.Add(1)
		name := fmt.Sprintf("%04d-%s-%v.bin", n, direction, openwire.DataType(frame[0]))
		if err := os.WriteFile(filepath.Join(dir, name), frame, 0o644); err != nil {
			return err
		}
		check(dir, name, frame)
		out := frame
		if first {
			first = false
			out, err = looseWireFormat(frame)
			if err != nil {
				return fmt.Errorf("rewriting the first frame: %w", err)
			}
		}
		sized := make([]byte, 4, 4+len(out))
		sized[0], sized[1], sized[2], sized[3] = byte(len(out)>>24), byte(len(out)>>16), byte(len(out)>>8), byte(len(out))
		if _, err := dst.Write(append(sized, out...)); err != nil {
			return err
		}
	}
}

// check decodes and re-encodes frame and reports any difference.
func check(dir, name string, frame []byte) {
	ds, err := openwire.Unmarshal(frame)
	if err != nil {
		fmt.Fprintf(os.Stderr, "CODEC-MISMATCH %s/%s: decode: %v\n", dir, name, err)
		return
	}
	again, err := openwire.Marshal(ds)
	if err != nil {
		fmt.Fprintf(os.Stderr, "CODEC-MISMATCH %s/%s: encode: %v\n", dir, name, err)
		return
	}
	if !bytes.Equal(again, frame) {
		fmt.Fprintf(os.Stderr, "CODEC-MISMATCH %s/%s: re-encoded differs (%d bytes vs %d)\n", dir, name, len(again), len(frame))
	}
}

// looseWireFormat turns tight encoding, caching and stack traces off in a
// WireFormatInfo frame, leaving every other option as it was.
func looseWireFormat(frame []byte) ([]byte, error) {
	ds, err := openwire.Unmarshal(frame)
	if err != nil {
		return nil, err
	}
	wfi, ok := ds.(*openwire.WireFormatInfo)
	if !ok {
		return nil, fmt.Errorf("the first frame is a %v", ds.DataType())
	}
	m, err := openwire.DecodeMap(wfi.MarshalledProperties)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{openwire.OptTightEncodingEnabled, openwire.OptCacheEnabled, openwire.OptStackTraceEnabled} {
		m.Set(k, openwire.Bool(false))
	}
	if wfi.MarshalledProperties, err = openwire.AppendMap(nil, m); err != nil {
		return nil, err
	}
	return openwire.Marshal(wfi)
}

func selectGolden(args []string) error {
	fs := flag.NewFlagSet("select", flag.ExitOnError)
	out := fs.String("out", "", "golden directory")
	fs.Parse(args)
	if *out == "" || fs.NArg() == 0 {
		return errors.New("select needs -out and raw directories")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	seen := map[string]bool{}
	var manifest []string
	for _, raw := range fs.Args() {
		var files []string
		err := filepath.WalkDir(raw, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".bin") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return err
		}
		sort.Strings(files)
		for _, p := range files {
			frame, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			direction := "c2b"
			if strings.Contains(filepath.Base(p), "-b2c-") {
				direction = "b2c"
			}
			name := direction + "-" + signature(frame)
			if seen[name] {
				continue
			}
			seen[name] = true
			if err := os.WriteFile(filepath.Join(*out, name+".bin"), frame, 0o644); err != nil {
				return err
			}
			manifest = append(manifest, name+".bin\t"+p)
		}
	}
	sort.Strings(manifest)
	return os.WriteFile(filepath.Join(*out, "MANIFEST"), []byte(strings.Join(manifest, "\n")+"\n"), 0o644)
}

// signature names what is interesting about a frame, so that select keeps
// one frame per variant rather than hundreds of copies.
func signature(frame []byte) string {
	ds, err := openwire.Unmarshal(frame)
	if err != nil {
		return fmt.Sprintf("undecodable-%v", openwire.DataType(frame[0]))
	}
	parts := []string{ds.DataType().String()}
	add := func(cond bool, s string) {
		if cond {
			parts = append(parts, s)
		}
	}
	switch x := ds.(type) {
	case *openwire.Message:
		parts = append(parts, messageSignature(x)...)
	case *openwire.MessageDispatch:
		if x.Message == nil {
			parts = append(parts, "null")
		} else {
			parts = append(parts, x.Message.Kind.String())
			parts = append(parts, messageSignature(x.Message)...)
		}
	case *openwire.ConsumerInfo:
		add(x.Browser, "browser")
		add(x.SubscriptionName != "", "durable")
		add(x.Selector != "", "selector")
		add(x.NoLocal, "nolocal")
		add(x.PrefetchSize == 0, "prefetch0")
		add(x.Destination != nil && x.Destination.IsTemporary(), "temp")
		add(x.Destination != nil && strings.HasPrefix(x.Destination.Name, "ActiveMQ.Advisory"), "advisory")
		add(x.Destination != nil && x.Destination.IsTopic(), "topic")
	case *openwire.ProducerInfo:
		add(x.Destination == nil, "anonymous")
		add(x.WindowSize > 0, "window")
	case *openwire.MessageAck:
		parts = append(parts, []string{"delivered", "poison", "standard", "redelivered", "individual", "unmatched", "expired"}[min(int(x.AckType), 6)])
		add(x.TransactionID != nil, "tx")
	case *openwire.TransactionInfo:
		parts = append(parts, []string{"begin", "prepare", "commit1", "commit2", "rollback", "recover", "forget", "end"}[min(int(x.Type), 7)])
		if x.TransactionID != nil {
			parts = append(parts, x.TransactionID.DataType().String())
		}
	case *openwire.RemoveInfo:
		if x.ObjectID != nil {
			parts = append(parts, x.ObjectID.DataType().String())
		}
	case *openwire.DestinationInfo:
		add(x.OperationType == openwire.DestinationAdd, "add")
		add(x.OperationType == openwire.DestinationRemove, "remove")
		if x.Destination != nil {
			parts = append(parts, x.Destination.Kind.String())
		}
	case *openwire.MessagePull:
		add(x.Timeout < 0, "nowait")
		add(x.Timeout == 0, "forever")
		add(x.Timeout > 0, "timed")
	case *openwire.ExceptionResponse:
		if x.Exception != nil {
			parts = append(parts, x.Exception.Class[strings.LastIndex(x.Exception.Class, ".")+1:])
		}
	case *openwire.ConnectionError:
		if x.Exception != nil {
			parts = append(parts, x.Exception.Class[strings.LastIndex(x.Exception.Class, ".")+1:])
		}
	case *openwire.ConnectionInfo:
		add(x.ClientID != "", "clientid")
		add(x.FaultTolerant, "faulttolerant")
	case *openwire.KeepAliveInfo:
		add(x.ResponseRequired, "request")
	}
	return strings.Join(parts, "-")
}

// messageSignature names a message by its kind's traits and, when the
// capture program set one, its "golden" property.
func messageSignature(m *openwire.Message) []string {
	var parts []string
	if props, err := m.Properties(); err == nil {
		if v, ok := props.Get("golden"); ok {
			return []string{v.String()}
		}
	}
	if m.Persistent {
		parts = append(parts, "persistent")
	}
	if m.TransactionID != nil {
		parts = append(parts, "tx")
	}
	if m.Compressed {
		parts = append(parts, "compressed")
	}
	if m.DataStructure != nil {
		parts = append(parts, "carries", m.DataStructure.DataType().String())
	}
	if m.Destination != nil && strings.HasPrefix(m.Destination.Name, "ActiveMQ.Advisory") {
		parts = append(parts, "advisory")
	}
	return parts
}
