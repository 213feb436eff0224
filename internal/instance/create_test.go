package instance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tandem/internal/config"
	"tandem/internal/security"
)

// fakeExe is the binary path written into test scripts.
const fakeExe = "/opt/tandem it's/bin/tandem"

func TestCreateLayout(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "brokers", "master")
	inst, err := Create(CreateOptions{Dir: dir, User: "admin", Password: "s3cret-pw", Executable: fakeExe})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Dir != dir || inst.LogDir != filepath.Join(dir, "log") || inst.ConfigPath() != filepath.Join(dir, "etc", "broker.yaml") {
		t.Fatalf("instance = %+v", inst)
	}
	for path, mode := range map[string]fs.FileMode{
		inst.ScriptPath():  0o755,
		inst.ConfigPath():  0o644,
		inst.UsersPath():   0o600,
		inst.DataDir:       fs.ModeDir | 0o755,
		inst.LogDir:        fs.ModeDir | 0o755,
		inst.BinDir:        fs.ModeDir | 0o755,
		inst.EtcDir:        fs.ModeDir | 0o755,
		filepath.Join(dir): fs.ModeDir | 0o755,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may clear group/other bits, never add them.
		if st.Mode()&^0o022 != mode&^0o022 || st.Mode()&0o700 != mode&0o700 {
			t.Errorf("%s mode = %v, want %v", path, st.Mode(), mode)
		}
	}
	assertNoClearPassword(t, dir, "s3cret-pw")

	c, err := inst.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "master" || c.Acceptors[0].Addr() != "0.0.0.0:61616" || c.Web.Bind != "localhost:8161" || !c.Web.Enabled {
		t.Errorf("config name/acceptor/web = %q %q %+v", c.Name, c.Acceptors[0].URL, c.Web)
	}
	if c.JournalDirectory != filepath.Join(dir, "data", "journal") || c.Log.File != filepath.Join(dir, "log", "tandem.log") {
		t.Errorf("journal/log = %q %q", c.JournalDirectory, c.Log.File)
	}
	if c.Security.AllowAnonymous || c.Security.UsersFile != inst.UsersPath() {
		t.Errorf("security = %+v", c.Security)
	}
	if c.HA.Mode != config.HANone || len(c.ClusterConnections) != 0 {
		t.Errorf("HA = %+v, cluster = %+v", c.HA, c.ClusterConnections)
	}
	if s := c.AddressSettingsFor("TEST"); s.DeadLetterAddress != "DLQ" || s.ExpiryAddress != "ExpiryQueue" {
		t.Errorf("address settings = %+v", s)
	}

	users, err := security.LoadUsers(c.Security.UsersFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := users.Authenticate("admin", "s3cret-pw")
	if err != nil || !slices.Equal(p.Roles, []string{"amq", "manage"}) {
		t.Fatalf("admin login = %+v, %v", p, err)
	}
	perms, err := security.NewPermissions(c.SecurityRules())
	if err != nil {
		t.Fatal(err)
	}
	for _, perm := range security.AllPermissions() {
		if !perms.Check(p, perm, "orders.eu") {
			t.Errorf("the created user lacks %s", perm)
		}
	}
	if !perms.Check(security.Principal{User: "console", Roles: []string{"manage"}}, security.PermManage, "x") {
		t.Error("the manage role cannot manage")
	}
}

// assertNoClearPassword fails if any file under dir contains pw.
func assertNoClearPassword(t *testing.T, dir, pw string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), pw) {
			t.Errorf("%s contains the password in clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreateScriptRunsTheBinaryWithTheInstance(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := t.TempDir()
	// A stand-in for tandem that prints its arguments and TANDEM_INSTANCE;
	// the odd path checks the script's quoting.
	exe := filepath.Join(root, "it's a bin", "tandem")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho \"instance=$TANDEM_INSTANCE\"\nfor a in \"$@\"; do echo \"arg=$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "my broker's dir")
	inst, err := Create(CreateOptions{Dir: dir, AllowAnonymous: true, Executable: exe})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(inst.ScriptPath(), "run", "--config-check", "two words").CombinedOutput()
	if err != nil {
		t.Fatalf("bin/tandem: %v\n%s", err, out)
	}
	want := "instance=" + dir + "\narg=run\narg=--config-check\narg=two words\n"
	if string(out) != want {
		t.Fatalf("bin/tandem printed\n%s\nwant\n%s", out, want)
	}
	script, _ := os.ReadFile(inst.ScriptPath())
	if !strings.HasPrefix(string(script), "#!/bin/sh\n") || !strings.Contains(string(script), EnvInstance) {
		t.Fatalf("script:\n%s", script)
	}
}

func TestCreateUsesRunningBinaryByDefault(t *testing.T) {
	inst, err := Create(CreateOptions{Dir: filepath.Join(t.TempDir(), "b"), AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	exe, err := executable()
	if err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(inst.ScriptPath())
	if !filepath.IsAbs(exe) || !strings.Contains(string(script), "exec "+shQuote(exe)+` "$@"`) {
		t.Fatalf("script does not exec %s:\n%s", exe, script)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	opts := CreateOptions{Dir: dir, AllowAnonymous: true, Executable: fakeExe}
	if _, err := Create(opts); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "data", "journal-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Create(opts)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), dir+" already holds a tandem instance; pass --force to overwrite it") {
		t.Fatalf("second create: err = %v, want ErrExists with a --force hint", err)
	}
	opts.Force, opts.Name = true, "renamed"
	inst, err := Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := inst.LoadConfig()
	if err != nil || c.Name != "renamed" {
		t.Fatalf("after --force: %v, name %q", err, c.Name)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("--force removed data: %v", err)
	}
}

func TestCreateRefusesNonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Create(CreateOptions{Dir: dir, AllowAnonymous: true, Executable: fakeExe})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "is not empty and does not hold a tandem instance") {
		t.Fatalf("err = %v, want ErrNotEmpty", err)
	}
	if _, err := Create(CreateOptions{Dir: dir, AllowAnonymous: true, Executable: fakeExe, Force: true}); err != nil {
		t.Fatalf("with force: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(CreateOptions{Dir: file, AllowAnonymous: true, Executable: fakeExe}); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("create over a file: err = %v", err)
	}
}

func TestCreateInvalidOptions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	tests := []struct {
		name string
		opts CreateOptions
		want string
	}{
		{"no dir", CreateOptions{AllowAnonymous: true}, "no instance directory given"},
		{"no credentials", CreateOptions{Dir: dir}, "--user and --password are required (tandem create is non-interactive); pass e.g. --user admin --password admin"},
		{"user without password", CreateOptions{Dir: dir, User: "admin"}, "--user and --password go together"},
		{"password without user", CreateOptions{Dir: dir, Password: "x", AllowAnonymous: true}, "--user and --password go together"},
		{"negative offset", CreateOptions{Dir: dir, AllowAnonymous: true, PortOffset: -1}, "--port-offset -1 is out of range"},
		{"huge offset", CreateOptions{Dir: dir, AllowAnonymous: true, PortOffset: 4000}, "--port-offset 4000 is out of range"},
		{"backup without shared store", CreateOptions{Dir: dir, AllowAnonymous: true, Backup: true}, "--backup needs --shared-store"},
		{"database backup without shared store", CreateOptions{Dir: dir, AllowAnonymous: true, Backup: true, Database: &DatabaseOptions{URL: "postgres://u:p@db/t"}}, "with --jdbc the database is the shared store"},
		{"failover without shared store", CreateOptions{Dir: dir, AllowAnonymous: true, FailoverOnShutdown: true}, "--failover-on-shutdown needs --shared-store"},
		{"no-failback on a primary", CreateOptions{Dir: dir, AllowAnonymous: true, SharedStore: true, NoFailback: true}, "--no-failback applies to a backup"},
		{"bad host", CreateOptions{Dir: dir, AllowAnonymous: true, Host: "bad host!"}, `--host "bad host!" is not an IP address or host name`},
		{"bad peer", CreateOptions{Dir: dir, AllowAnonymous: true, StaticCluster: []string{"localhost:61617"}}, `--static-cluster "localhost:61617": expected tcp://HOST:PORT`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Create(tc.opts)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidOptions containing %q", err, tc.want)
			}
			if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatal("a refused create left files behind")
			}
		})
	}
}

// TestCreateEveryCombinationLoads creates an instance for every valid
// combination of the options that shape broker.yaml and loads each one.
func TestCreateEveryCombinationLoads(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "shared")
	n := 0
	for mask := range 1 << 8 {
		bit := func(i int) bool { return mask&(1<<i) != 0 }
		o := CreateOptions{
			AllowAnonymous:     true,
			SharedStore:        bit(0),
			Backup:             bit(1),
			FailoverOnShutdown: bit(2),
			NoFailback:         bit(3),
			NoWeb:              bit(5),
			Executable:         fakeExe,
		}
		if bit(4) {
			o.StaticCluster = []string{"tcp://peer1:61616", "tcp://peer2:61617"}
		}
		if bit(6) {
			o.DataDir = shared
		}
		if bit(7) {
			o.PortOffset = 1
		}
		o.Dir = filepath.Join(root, fmt.Sprintf("b%03d", mask))
		if _, err := o.withDefaults(); err != nil {
			continue // an invalid combination, covered above
		}
		n++
		t.Run(filepath.Base(o.Dir), func(t *testing.T) {
			inst, err := Create(o)
			if err != nil {
				t.Fatalf("%+v: %v", o, err)
			}
			c, err := inst.LoadConfig()
			if err != nil {
				t.Fatalf("%+v: %v", o, err)
			}
			checkCombination(t, o, inst, c)
		})
	}
	if n < 40 {
		t.Fatalf("only %d valid combinations exercised", n)
	}
}

// checkCombination checks the parts of broker.yaml each option controls.
func checkCombination(t *testing.T, o CreateOptions, inst *Instance, c *config.Config) {
	t.Helper()
	port := 61616 + o.PortOffset
	if got := c.Acceptors[0].Addr(); got != fmt.Sprintf("0.0.0.0:%d", port) {
		t.Errorf("acceptor = %s", got)
	}
	if c.Web.Enabled == o.NoWeb || c.Web.Bind != fmt.Sprintf("localhost:%d", 8161+o.PortOffset) {
		t.Errorf("web = %+v", c.Web)
	}
	wantData := inst.DataDir
	if o.DataDir != "" {
		wantData = o.DataDir
	}
	for _, d := range []string{c.JournalDirectory, c.BindingsDirectory, c.PagingDirectory, c.LargeMessagesDirectory} {
		if filepath.Dir(d) != wantData {
			t.Errorf("data directory %s is not under %s", d, wantData)
		}
	}
	wantHA := config.HAPolicy{}
	switch {
	case o.SharedStore && o.Backup:
		wantHA = config.HAPolicy{Mode: config.HABackup, FailoverOnShutdown: o.FailoverOnShutdown, AllowFailback: !o.NoFailback}
	case o.SharedStore:
		wantHA = config.HAPolicy{Mode: config.HAPrimary, FailoverOnShutdown: o.FailoverOnShutdown}
	}
	if c.HA != wantHA {
		t.Errorf("HA = %+v, want %+v", c.HA, wantHA)
	}
	clustered := o.SharedStore || len(o.StaticCluster) > 0
	if clustered != (len(c.ClusterConnections) == 1) {
		t.Fatalf("cluster connections = %+v", c.ClusterConnections)
	}
	if clustered {
		cc := c.ClusterConnections[0]
		if cc.Name != "static-cluster" || cc.User != "" || cc.Password != "" {
			t.Errorf("cluster connection = %+v", cc)
		}
		if len(o.StaticCluster) > 0 && !slices.Equal(cc.StaticConnectors, []string{"node0", "node1"}) {
			t.Errorf("static connectors = %v", cc.StaticConnectors)
		}
	}
}

// TestCreateLabA reproduces the two create commands of SCENARIOS.md's lab A
// and checks the pair points at each other.
func TestCreateLabA(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "mnt", "shared", "tandem")
	master, err := Create(CreateOptions{Dir: filepath.Join(root, "brokers", "master"), Name: "master", User: "admin", Password: "admin",
		AllowAnonymous: true, SharedStore: true, DataDir: shared, Executable: fakeExe})
	if err != nil {
		t.Fatal(err)
	}
	slave, err := Create(CreateOptions{Dir: filepath.Join(root, "brokers", "slave"), Name: "slave", User: "admin", Password: "admin",
		AllowAnonymous: true, SharedStore: true, Backup: true, PortOffset: 1, DataDir: shared, Executable: fakeExe})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := master.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := slave.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.JournalDirectory != filepath.Join(shared, "journal") || sc.JournalDirectory != mc.JournalDirectory {
		t.Errorf("journals = %q, %q; want both on %s", mc.JournalDirectory, sc.JournalDirectory, shared)
	}
	wantConnectors := func(c *config.Config, self string) {
		t.Helper()
		urls := map[string]string{}
		for _, cn := range c.Connectors {
			urls[cn.Name] = cn.URL
		}
		if urls["master-connector"] != "tcp://localhost:61616" || urls["slave-connector"] != "tcp://localhost:61617" {
			t.Errorf("%s connectors = %v", c.Name, urls)
		}
		cc := c.ClusterConnections[0]
		peer := map[string]string{"master-connector": "slave-connector", "slave-connector": "master-connector"}[self]
		if cc.ConnectorRef != self || !slices.Equal(cc.StaticConnectors, []string{peer}) {
			t.Errorf("%s cluster connection = %+v", c.Name, cc)
		}
	}
	wantConnectors(mc, "master-connector")
	wantConnectors(sc, "slave-connector")
	if mc.HA != (config.HAPolicy{Mode: config.HAPrimary}) || sc.HA != (config.HAPolicy{Mode: config.HABackup, AllowFailback: true}) {
		t.Errorf("HA = %+v / %+v", mc.HA, sc.HA)
	}
	if sc.Acceptors[0].Addr() != "0.0.0.0:61617" || sc.Web.Bind != "localhost:8162" {
		t.Errorf("slave ports = %s, %s", sc.Acceptors[0].Addr(), sc.Web.Bind)
	}
	if !mc.Security.AllowAnonymous || mc.Security.AnonymousRole != "amq" {
		t.Errorf("anonymous = %+v", mc.Security)
	}
	for _, inst := range []*Instance{master, slave} {
		assertNoClearPassword(t, inst.Dir, "$admin") // the hash may contain "admin" by chance, never "$admin"
	}
	data, _ := os.ReadFile(master.ConfigPath())
	for _, want := range []string{"journal-directory: " + filepath.Join(shared, "journal"), "ha-policy:\n  shared-store:\n    primary:\n      failover-on-shutdown: false",
		"master-connector: tcp://localhost:61616", "slave-connector: tcp://localhost:61617", "static-connectors: [slave-connector]"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("master broker.yaml lacks %q:\n%s", want, data)
		}
	}
}

func TestLocate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := Locate(dir); !errors.Is(err, ErrNotInstance) || !strings.Contains(err.Error(), "tandem create") {
		t.Fatalf("Locate of nothing: err = %v", err)
	}
	if _, err := Create(CreateOptions{Dir: dir, AllowAnonymous: true, Executable: fakeExe}); err != nil {
		t.Fatal(err)
	}
	inst, err := Locate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Dir != dir || inst.ConfigPath() != filepath.Join(dir, "etc", "broker.yaml") || inst.LogDir != filepath.Join(dir, "log") {
		t.Fatalf("Locate = %+v", inst)
	}
}

func TestCreateHostForConnectors(t *testing.T) {
	for host, want := range map[string]string{"0.0.0.0": "localhost", "::": "localhost", "10.1.2.3": "10.1.2.3", "broker1.example": "broker1.example", "::1": "::1"} {
		conns, _ := cluster(CreateOptions{Host: host, SharedStore: true}, 61616)
		if got := conns[0].URL; !strings.Contains(got, want) {
			t.Errorf("host %s: own connector %s, want host %s", host, got, want)
		}
	}
}

// TestCreateGuessesPeersOnNeighbouringPorts checks the peers a shared-store
// node announces itself to without --static-cluster: lab A's layout
// (primary at the base port, backup one up), and a primary above the base
// port, which may be the second node of a pair (two primaries, Classic
// style) and so tries one port down as well.
func TestCreateGuessesPeersOnNeighbouringPorts(t *testing.T) {
	fakeExe := filepath.Join(t.TempDir(), "tandem")
	tests := []struct {
		name   string
		offset int
		backup bool
		want   []string
	}{
		{"lab A primary", 0, false, []string{"tcp://localhost:61617"}},
		{"lab A backup", 1, true, []string{"tcp://localhost:61616"}},
		{"backup at the base port", 0, true, []string{"tcp://localhost:61617"}},
		{"second primary", 2001, false, []string{"tcp://localhost:63618", "tcp://localhost:63616"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			inst, err := Create(CreateOptions{Dir: filepath.Join(root, "b"), AllowAnonymous: true, SharedStore: true, Backup: tc.backup,
				PortOffset: tc.offset, DataDir: filepath.Join(root, "shared"), Executable: fakeExe})
			if err != nil {
				t.Fatal(err)
			}
			c, err := inst.LoadConfig()
			if err != nil {
				t.Fatal(err)
			}
			urls := map[string]string{}
			for _, cn := range c.Connectors {
				urls[cn.Name] = cn.URL
			}
			var got []string
			for _, name := range c.ClusterConnections[0].StaticConnectors {
				got = append(got, urls[name])
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("peers = %v, want %v", got, tc.want)
			}
		})
	}
}
