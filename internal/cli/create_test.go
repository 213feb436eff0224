package cli

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tandem/internal/config"
	"tandem/internal/instance"
	"tandem/internal/security"
)

// runCLI runs tandem with args in-process and returns its exit status and
// output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCreateCommandLabA(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "mnt", "shared", "tandem")
	master := filepath.Join(root, "brokers", "master")
	slave := filepath.Join(root, "brokers", "slave")

	code, out, errOut := runCLI(t, "create", master, "--name", "master", "--user", "admin", "--password", "admin",
		"--allow-anonymous", "--shared-store", "--data", shared)
	if code != 0 {
		t.Fatalf("create master: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Creating tandem instance at: " + master,
		"bin/tandem", "etc/broker.yaml", "etc/users.yaml", "user admin (roles amq, manage), password hashed",
		"clients:  tcp://0.0.0.0:61616", "console:  http://localhost:8161", "journal:  " + filepath.Join(shared, "journal"),
		"HA:       shared-store primary (failover-on-shutdown: false)", "cluster:  static-cluster, peers tcp://localhost:61617",
		`"` + filepath.Join(master, "bin", "tandem") + `" run`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}

	// --slave is Artemis' name for --backup.
	code, out, errOut = runCLI(t, "create", slave, "--name", "slave", "--user", "admin", "--password", "admin",
		"--allow-anonymous", "--shared-store", "--slave", "--port-offset", "1", "--data", shared)
	if code != 0 {
		t.Fatalf("create slave: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "HA:       shared-store backup (allow-failback: true, failover-on-shutdown: false)") ||
		!strings.Contains(out, "clients:  tcp://0.0.0.0:61617") || !strings.Contains(out, "console:  http://localhost:8162") {
		t.Errorf("slave output:\n%s", out)
	}

	for _, dir := range []string{master, slave} {
		inst, err := instance.Locate(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkInstanceFiles(t, inst, "admin")
		c, err := config.Load(inst.ConfigPath())
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if c.JournalDirectory != filepath.Join(shared, "journal") {
			t.Errorf("%s journal = %s", dir, c.JournalDirectory)
		}
	}
}

// checkInstanceFiles checks permissions and that pw appears nowhere in
// clear (the hash is checked to verify instead).
func checkInstanceFiles(t *testing.T, inst *instance.Instance, pw string) {
	t.Helper()
	st, err := os.Stat(inst.ScriptPath())
	if err != nil || st.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("bin/tandem is not executable: %v %v", st.Mode(), err)
	}
	st, err = os.Stat(inst.UsersPath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("users.yaml mode = %v, %v; want 0600", st.Mode(), err)
	}
	users, err := security.LoadUsers(inst.UsersPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range users.Names() {
		u, _ := users.Lookup(name)
		if u.PasswordHash == pw || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Errorf("user %s has password %q, want an argon2id hash", name, u.PasswordHash)
		}
	}
	err = filepath.WalkDir(inst.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, needle := range []string{"password: " + pw, "password: \"" + pw + "\"", ": " + pw + "\n"} {
			if bytes.Contains(data, []byte(needle)) {
				t.Errorf("%s holds the password in clear (%q)", path, needle)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunCreateInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b1")
	var out bytes.Buffer
	o := createOptions{dir: dir, user: "ops", password: "correct horse battery", role: "amq", host: "0.0.0.0", noWeb: true, portOffset: 5}
	if err := runCreate(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Locate(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkInstanceFiles(t, inst, "correct horse battery")
	c, err := inst.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "b1" || c.Web.Enabled || c.Acceptors[0].Addr() != "0.0.0.0:61621" || c.Security.AllowAnonymous {
		t.Errorf("config = name %q web %+v acceptor %s anonymous %v", c.Name, c.Web, c.Acceptors[0].Addr(), c.Security.AllowAnonymous)
	}
	if strings.Contains(out.String(), "console:") || !strings.Contains(out.String(), "login:    required") {
		t.Errorf("output:\n%s", out.String())
	}
	users, err := security.LoadUsers(inst.UsersPath())
	if err != nil {
		t.Fatal(err)
	}
	p, err := users.Authenticate("ops", "correct horse battery")
	if err != nil || !slices.Equal(p.Roles, []string{"amq", "manage"}) {
		t.Errorf("login = %+v, %v", p, err)
	}
}

func TestCreateCommandRefusesExistingWithoutForce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	args := []string{"create", dir, "--allow-anonymous"}
	if code, out, errOut := runCLI(t, args...); code != 0 {
		t.Fatalf("first create: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut := runCLI(t, args...)
	if code == 0 || !strings.Contains(errOut, "tandem: ") || !strings.Contains(errOut, dir+" already holds a tandem instance; pass --force to overwrite it") {
		t.Fatalf("second create: exit %d, stderr %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, append(args, "--force", "--name", "again")...); code != 0 {
		t.Fatalf("create --force: exit %d\n%s%s", code, out, errOut)
	}
	c, err := config.Load(filepath.Join(dir, "etc", "broker.yaml"))
	if err != nil || c.Name != "again" {
		t.Fatalf("after --force: %v, %v", c, err)
	}
}

func TestCreateCommandErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing credentials", []string{"create", dir},
			"tandem: --user and --password are required (tandem create is non-interactive); pass e.g. --user admin --password admin, or --allow-anonymous for a broker without users\n"},
		{"password only", []string{"create", dir, "--password", "x"}, "--user and --password go together"},
		{"require-login with allow-anonymous", []string{"create", dir, "--user", "a", "--password", "b", "--allow-anonymous", "--require-login"},
			"--allow-anonymous and --require-login contradict each other"},
		{"both failback flags", []string{"create", dir, "--allow-anonymous", "--shared-store", "--backup", "--allow-failback", "--no-failback"},
			"--allow-failback and --no-failback contradict each other"},
		{"failback on a primary", []string{"create", dir, "--allow-anonymous", "--shared-store", "--allow-failback"},
			"--allow-failback applies to a backup"},
		{"backup without shared store", []string{"create", dir, "--allow-anonymous", "--backup"}, "--backup needs --shared-store"},
		{"no directory", []string{"create", "--allow-anonymous"}, "create takes one argument, the instance directory"},
		{"bad static cluster", []string{"create", dir, "--allow-anonymous", "--staticCluster", "tcp://a:1,b:2"}, `--static-cluster "b:2": expected tcp://HOST:PORT`},
		{"unknown flag", []string{"create", dir, "--allow-anonymous", "--sharedstore"}, "unknown flag: --sharedstore; did you mean --shared-store?"},
		{"artemis-only flag", []string{"create", dir, "--allow-anonymous", "--replicated"},
			"--replicated is an Artemis flag that tandem create does not support: tandem pairs share a store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a failure containing %q (stdout %q)", code, errOut, tc.want, out)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("a refused create left files behind")
			}
		})
	}
}

func TestCreateCommandAnonymousWithoutUsers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	code, out, errOut := runCLI(t, "create", dir, "--allow-anonymous", "--static-cluster", "tcp://b2:61616,tcp://b3:61616")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "no users: clients connect anonymously") || !strings.Contains(out, "peers tcp://b2:61616, tcp://b3:61616") {
		t.Errorf("output:\n%s", out)
	}
	users, err := security.LoadUsers(filepath.Join(dir, "etc", "users.yaml"))
	if err != nil || len(users.Names()) != 0 {
		t.Fatalf("users = %v, %v; want an empty users file", users, err)
	}
}
