package pidfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestAcquireRunningRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.pid")
	if _, err := Running(path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Running without a file: %v", err)
	}
	p, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := Running(path); err != nil || pid != os.Getpid() {
		t.Fatalf("Running = %d, %v; want this process %d", pid, err, os.Getpid())
	}
	if _, err := Acquire(path); !errors.Is(err, ErrRunning) {
		t.Fatalf("a second Acquire: %v, want ErrRunning", err)
	}
	p.Release()
	if _, err := Running(path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Running after Release: %v", err)
	}
	p.Release() // twice is harmless
}

// TestLeftoverFileIsNotRunning checks that a file left by a process that
// died (here: written by hand, with this very process's id, unlocked) is
// not taken for a running broker, and that Acquire takes it over.
func TestLeftoverFileIsNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.pid")
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Running(path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Running on a leftover file: %v", err)
	}
	p, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
}

// TestLockDiesWithTheProcess holds the file in a child process, kills it
// with SIGKILL, and checks that the file no longer counts as running.
func TestLockDiesWithTheProcess(t *testing.T) {
	if os.Getenv("PIDFILE_HOLD") != "" {
		if _, err := Acquire(os.Getenv("PIDFILE_HOLD")); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "tandem.pid")
	cmd := exec.Command(os.Args[0], "-test.run=TestLockDiesWithTheProcess")
	cmd.Env = append(os.Environ(), "PIDFILE_HOLD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	if pid, err := Running(path); err != nil || pid != cmd.Process.Pid {
		t.Fatalf("Running = %d, %v; want the child %d", pid, err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := Running(path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Running after the holder was killed: %v", err)
	}
}
