package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFails runs Wait for a short while on a directory it cannot use and
// returns its error, which must be the deadline: the node keeps retrying
// and never becomes live.
func waitFails(t *testing.T, n *testNode) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	l, err := Wait(ctx, n.opts)
	if l != nil {
		l.Stop()
		t.Fatal("became live on an unusable directory")
	}
	return err
}

func TestMissingDirectoryAndParent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt", "shared", "tandem")
	n := newNode(t, dir, Primary, "master")
	if err := waitFails(t, n); err != context.DeadlineExceeded {
		t.Errorf("Wait: %v, want context.DeadlineExceeded after retrying", err)
	}
	e := n.log.waitEvent(t, "ha_error")
	if !strings.Contains(e.msg, "journal directory "+dir+" does not exist") || !strings.Contains(e.msg, "is the shared store mounted?") {
		t.Errorf("error line %q", e.msg)
	}
	// Retried, but the identical error logged once per 10 attempts.
	if got := len(n.log.find("ha_error")); got > 2 {
		t.Errorf("the same error logged %d times in 300 ms", got)
	}
	if s := n.states.current(); s.Name != StateStarting || !strings.Contains(s.Detail, "does not exist") || !strings.Contains(s.Detail, "retrying") {
		t.Errorf("state while retrying: %+v", s)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing parent was created: %v", err)
	}
}

func TestMissingDirectoryIsCreatedUnderItsParent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tandem")
	n := newNode(t, dir, Primary, "master")
	if l := n.live(t); l.Epoch() != 1 {
		t.Errorf("epoch %d", l.Epoch())
	}
	n.log.waitEvent(t, "ha_dir_created")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("journal directory not created: %v", err)
	}
}

func TestDirectoryIsAFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, dir, Backup, "slave")
	waitFails(t, n)
	if e := n.log.waitEvent(t, "ha_error"); !strings.Contains(e.msg, "is not a directory") {
		t.Errorf("error line %q", e.msg)
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "journal")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		n := newNode(t, dir, Primary, "master")
		waitFails(t, n)
		if e := n.log.waitEvent(t, "ha_error"); !strings.Contains(e.msg, "permission denied") || !strings.Contains(e.msg, "writable by user") {
			t.Errorf("error line %q", e.msg)
		}
		return
	}
	// Root ignores directory permissions, so the node runs in a child
	// process as nobody. The test binary lives in a private build
	// directory; a copy in a world-readable one can be run by nobody.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(base, "ha.test")
	copyFile(t, exe)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=wait-error", helperDirEnv+"="+dir, helperRoleEnv+"=primary")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot run a helper as uid 65534: %v\n%s", err, out)
	}
	t.Logf("helper as uid 65534:\n%s", out)
	text := string(out)
	if !strings.Contains(text, "result: context deadline exceeded") {
		t.Errorf("the node did not keep retrying without becoming live")
	}
	if !strings.Contains(text, "event=ha_error") || !strings.Contains(text, "permission denied") || !strings.Contains(text, "writable by user") {
		t.Errorf("no clear error line")
	}
	if _, err := os.Stat(filepath.Join(dir, liveFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("live.lock exists in a read-only directory: %v", err)
	}
}

// copyFile copies the running test binary to dst, executable by all.
func copyFile(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		want  string
	}{
		{syscall.ENOENT, "is the shared store mounted?"},
		{syscall.EACCES, "writable by user"},
		{syscall.EROFS, "mounted read-only"},
		{syscall.ESTALE, "the shared file system is failing"},
		{syscall.EIO, "the shared file system is failing"},
		{syscall.ENOLCK, "NFS use version 4.1+"},
	} {
		err := explain(&fs.PathError{Op: "open", Path: "/d/live.lock", Err: tc.errno})
		if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want it to say %q", tc.errno, err, tc.want)
		}
	}
	if !isFatal(fmt.Errorf("x: %w", syscall.EINVAL)) || isFatal(syscall.EACCES) {
		t.Error("isFatal: EINVAL (no OFD locks) is fatal, EACCES is not")
	}
}

func TestDamagedRecordAtStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte("ActiveMQ left this here"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, dir, Backup, "slave")
	_, err := Wait(context.Background(), n.opts)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "move it away and start again") {
		t.Fatalf("Wait: %v, want ErrDamaged telling the operator what to do", err)
	}
	n.log.waitEvent(t, "ha_error")
	// Not repaired.
	if b, _ := os.ReadFile(filepath.Join(dir, stateFileName)); string(b) != "ActiveMQ left this here" {
		t.Errorf("the damaged record was changed: %q", b)
	}
}

func TestNodeIDFile(t *testing.T) {
	dir := t.TempDir()
	idFile := filepath.Join(t.TempDir(), "ha-node-id")
	p := newNode(t, dir, Primary, "master")
	p.opts.NodeIDFile = idFile
	l := p.live(t)
	b, err := os.ReadFile(idFile)
	if err != nil || strings.TrimSpace(string(b)) != l.NodeID() {
		t.Fatalf("node id file %q, %v; want %s", b, err, l.NodeID())
	}
	l.Stop()

	// The same instance on an empty directory: the wrong file system is
	// mounted. It refuses to start a new store.
	other := t.TempDir()
	q := newNode(t, other, Primary, "master")
	q.opts.NodeIDFile = idFile
	waitFails(t, q)
	e := q.log.waitEvent(t, "ha_error")
	if !strings.Contains(e.msg, "last ran on store "+l.NodeID()) || !strings.Contains(e.msg, "is the right file system mounted?") {
		t.Errorf("error line %q", e.msg)
	}
	if _, err := ReadRecord(other); !errors.Is(err, ErrNoRecord) {
		t.Errorf("a new store was initialised: %v", err)
	}
	// Nor does it create a missing journal directory.
	q.opts.Dir = filepath.Join(other, "journal")
	waitFails(t, q)
	if _, err := os.Stat(q.opts.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("created the journal directory although the instance remembers a store: %v", err)
	}
	// Back on its store it runs.
	if l2 := p.live(t); l2.NodeID() != l.NodeID() || l2.Epoch() != 2 {
		t.Errorf("restart on the remembered store: %s epoch %d", l2.NodeID(), l2.Epoch())
	}
}
