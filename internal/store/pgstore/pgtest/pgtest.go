package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv names the variable that turns a missing PostgreSQL from a
// skipped test into a failed one.
const RequireEnv = "TANDEM_REQUIRE_POSTGRES"

// BinEnv names the variable that points at a directory holding initdb,
// pg_ctl and postgres, when they are not where Debian puts them.
const BinEnv = "TANDEM_PG_BIN"

// dirPrefix starts the name of every server's directory in the temporary
// directory; the owning process id follows, so a later run can tell which
// servers were left behind by a process that no longer exists.
const dirPrefix = "tandem-pgtest-"

// Cluster is one PostgreSQL server run for tests.
type Cluster struct {
	bin    string
	root   string // owned by the server's user; holds data/, sock/ and log
	port   int
	asUser bool // run the server's programs as the postgres user

	mu      sync.Mutex
	running bool
}

// Missing reports why PostgreSQL cannot be run here, or "" when it can.
func Missing() string {
	_, _, err := locate()
	if err != nil {
		return err.Error()
	}
	return ""
}

// locate finds the server's programs and whether they must run as the
// postgres user.
func locate() (bin string, asUser bool, err error) {
	bin = os.Getenv(BinEnv)
	if bin == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
				bin = d
				break
			}
		}
	}
	if bin == "" {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			bin = filepath.Dir(p)
		}
	}
	if bin == "" {
		return "", false, errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl, no pg_ctl on PATH; apt-get install postgresql, or set " + BinEnv + ")")
	}
	for _, prog := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, prog)); err != nil {
			return "", false, fmt.Errorf("PostgreSQL in %s lacks %s: %w", bin, prog, err)
		}
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return "", false, errors.New("running as root and there is no postgres user to run PostgreSQL as (PostgreSQL refuses root)")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			return "", false, errors.New("running as root without runuser, which is needed to run PostgreSQL as the postgres user")
		}
		asUser = true
	}
	return bin, asUser, nil
}

// version is the major version in a /usr/lib/postgresql/N/bin path.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// unavailable skips tb, or fails it when RequireEnv is set.
func unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("PostgreSQL is required (%s=1) but cannot run: %s", RequireEnv, why)
	}
	tb.Skipf("PostgreSQL is not available: %s (set %s=1 to fail instead)", why, RequireEnv)
}

// Start starts a server for tb alone and stops it when tb ends.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := newCluster()
	if err != nil {
		unavailable(tb, err.Error())
	}
	tb.Cleanup(c.destroy)
	return c
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the package's shared server, starting it on first use.
// The package's TestMain must call Main, which stops it.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	shared.once.Do(func() { shared.c, shared.err = newCluster() })
	if shared.err != nil {
		unavailable(tb, shared.err.Error())
	}
	return shared.c
}

// Main runs the tests of m and then stops the shared server, if one was
// started. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		shared.c.destroy()
	}
	return code
}

// newCluster creates, initialises and starts a server.
func newCluster() (*Cluster, error) {
	bin, asUser, err := locate()
	if err != nil {
		return nil, err
	}
	reapOrphans(bin, asUser)
	root, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, root: root, asUser: asUser}
	if err := c.own(root); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	for _, d := range []string{c.sockDir()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		if err := c.own(d); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	out, err := c.command("initdb", "-D", c.dataDir(), "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	var last error
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.port = port
		if last = c.start(); last == nil {
			return c, nil
		}
	}
	os.RemoveAll(root)
	return nil, last
}

// own gives dir to the postgres user when the server runs as that user.
func (c *Cluster) own(dir string) error {
	if !c.asUser {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.root, "data") }
func (c *Cluster) sockDir() string { return filepath.Join(c.root, "sock") }
func (c *Cluster) logFile() string { return filepath.Join(c.root, "server.log") }

// command runs one of the server's programs, as the postgres user when
// needed.
func (c *Cluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	if c.asUser {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// serverOptions are the postgres options of every start. Commit
// timestamps let tests ask when a row was committed.
func (c *Cluster) serverOptions() string {
	return fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=on -c synchronous_commit=on -c track_commit_timestamp=on "+
		"-c max_connections=200 -c shared_buffers=64MB -c log_min_messages=warning", c.port, c.sockDir())
}

// start starts the server on its data directory and waits until it
// accepts connections.
func (c *Cluster) start() error {
	out, err := c.command("pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(),
		"-o", c.serverOptions()).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(c.logFile())
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
	}
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	return nil
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Stop stops the server with pg_ctl stop -m mode: "immediate" is a crash
// (no checkpoint; what was committed is recovered from the WAL at the next
// start), "fast" a clean stop that disconnects clients.
func (c *Cluster) Stop(tb testing.TB, mode string) {
	tb.Helper()
	if err := c.stop(mode); err != nil {
		tb.Fatal(err)
	}
}

func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	out, err := c.command("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", c.dataDir()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	c.running = false
	return nil
}

// Restart starts a stopped server again on the same port and data.
func (c *Cluster) Restart(tb testing.TB) {
	tb.Helper()
	if err := c.start(); err != nil {
		tb.Fatal(err)
	}
}

// destroy stops the server and removes its directory.
func (c *Cluster) destroy() {
	if err := c.stop("fast"); err != nil {
		_ = c.stop("immediate")
	}
	os.RemoveAll(c.root)
}

// Port returns the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL returns the connection URL of database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

var dbSeq atomic.Uint64

// NewDatabase creates an empty database, dropped when tb ends, and returns
// its URL.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), dbSeq.Add(1), time.Now().UnixNano()%1000000)
	c.Exec(tb, c.URL("postgres"), "CREATE DATABASE "+name)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, c.URL("postgres")); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	return c.URL(name)
}

// Conn opens a connection to url, closed when tb ends.
func Conn(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect to %s: %v", url, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs sql on url in a connection of its own.
func (c *Cluster) Exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// reapOrphans stops and removes the servers of test processes that no
// longer exist (a test binary killed by its timeout leaves its server
// running).
func reapOrphans(bin string, asUser bool) {
	ents, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		c := &Cluster{bin: bin, asUser: asUser, root: filepath.Join(os.TempDir(), e.Name()), running: true}
		_ = c.stop("immediate")
		os.RemoveAll(c.root)
	}
}

// processAlive reports whether a process with this id exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
