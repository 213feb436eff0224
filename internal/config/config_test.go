package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/internal/security"
)

// writeInstanceConfig writes data as DIR/etc/broker.yaml and returns DIR and
// the file's path.
func writeInstanceConfig(t *testing.T, data string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "etc", "broker.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default does not validate: %v", err)
	}
	if c.Name != "tandem" || len(c.Acceptors) != 1 || c.Acceptors[0].Addr() != "127.0.0.1:61616" {
		t.Fatalf("Default name/acceptors = %q %+v", c.Name, c.Acceptors)
	}
	if !c.Security.AllowAnonymous || c.Security.AnonymousRole != "guest" || c.Security.UsersFile != "" {
		t.Fatalf("Default security = %+v, want anonymous guest without users file", c.Security)
	}
	if c.JournalDirectory != "data/journal" || c.LargeMessagesDirectory != "data/large-messages" {
		t.Fatalf("Default directories = %q %q", c.JournalDirectory, c.LargeMessagesDirectory)
	}
	if c.HA.Mode != HANone || c.Web.Bind != "localhost:8161" || !c.Web.Enabled || c.Log.File != "" {
		t.Fatalf("Default HA/web/log = %+v %+v %+v", c.HA, c.Web, c.Log)
	}
	perms, err := security.NewPermissions(c.SecurityRules())
	if err != nil {
		t.Fatal(err)
	}
	guest := security.Principal{User: "anonymous", Roles: []string{"guest"}}
	if !perms.Check(guest, security.PermSend, "TEST") || !perms.Check(guest, security.PermCreateDurableQueue, "a.b") {
		t.Fatal("the default broker does not let anonymous guests use it")
	}
	// Each call returns a fresh value, so one caller's edits cannot leak.
	c.Acceptors[0].Name = "changed"
	if Default().Acceptors[0].Name != "tandem" {
		t.Fatal("Default shares state between calls")
	}
}

func TestDefaultResolvePaths(t *testing.T) {
	c := Default()
	if err := c.ResolvePaths("/srv/x"); err != nil {
		t.Fatal(err)
	}
	if c.JournalDirectory != "/srv/x/data/journal" || c.PagingDirectory != "/srv/x/data/paging" || c.Log.File != "" {
		t.Fatalf("resolved = %q %q %q", c.JournalDirectory, c.PagingDirectory, c.Log.File)
	}
}

func TestParseEmptyFileGivesDefaults(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "---\n"} {
		c, err := Parse([]byte(data), "/inst/etc/broker.yaml", "/inst")
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		if c.JournalDirectory != "/inst/data/journal" || c.Security.UsersFile != "/inst/etc/users.yaml" ||
			c.Log.File != "/inst/log/tandem.log" || c.Security.AllowAnonymous || c.JournalFileSize != 10<<20 ||
			c.JournalMinFiles != 2 || !c.JournalSync || c.JournalCompactMinFiles != 10 || c.JournalCompactPercentage != 30 ||
			c.IDCacheSize != 20000 || !c.PersistenceEnabled || c.GlobalMaxSize != 0 || c.GlobalMaxSizePercent != 25 ||
			c.ProducerWindowSize != 64<<10 || c.MaxConnections != -1 ||
			c.MaxFrameSize != 100<<20 || c.Log.Level != slog.LevelInfo || c.Log.Format != LogText {
			t.Fatalf("Parse(%q) defaults = %+v", data, c)
		}
	}
}

func TestLoadFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, path := writeInstanceConfig(t, string(data))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseDir != dir || c.File != path {
		t.Errorf("BaseDir, File = %q, %q; want %q, %q", c.BaseDir, c.File, dir, path)
	}
	if c.Name != "master" || len(c.Acceptors) != 2 {
		t.Fatalf("name/acceptors = %q %+v", c.Name, c.Acceptors)
	}
	a := c.Acceptors[0]
	if a.Addr() != "0.0.0.0:61616" || a.Options["sslEnabled"] != "false" || a.Options["protocols"] != "STOMP" {
		t.Errorf("acceptor = %+v (addr %s)", a, a.Addr())
	}
	if c.JournalDirectory != "/mnt/shared/tandem/journal" || c.LargeMessagesDirectory != "/mnt/shared/tandem/large-messages" {
		t.Errorf("absolute directories changed: %q %q", c.JournalDirectory, c.LargeMessagesDirectory)
	}
	if c.JournalFileSize != 20<<20 || c.JournalMinFiles != 4 || c.JournalBufferTimeout != 500*time.Microsecond ||
		c.JournalCompactMinFiles != 12 || c.JournalCompactPercentage != 40 || c.IDCacheSize != 50000 ||
		c.GlobalMaxSize != 1<<30 || c.GlobalMaxSizePercent != 0 || c.ProducerWindowSize != 256<<10 ||
		c.MaxFrameSize != 16<<20 || c.MaxConnections != 2000 {
		t.Errorf("journal/limits = %+v", c)
	}
	if want := (MQTT{DefaultSessionExpiry: time.Hour, ReceiveMaximum: 500, TopicAliasMaximum: 16,
		ServerKeepAlive: 2 * time.Minute, RetainedDeliveryRate: 2000}); c.MQTT != want {
		t.Errorf("mqtt = %+v, want %+v", c.MQTT, want)
	}
	if c.Security.AllowAnonymous || c.Security.UsersFile != filepath.Join(dir, "etc", "users.yaml") {
		t.Errorf("security = %+v", c.Security)
	}
	if len(c.SecuritySettings) != 2 || !slices.Equal(c.SecuritySettings[1].Permissions[security.PermConsume], []string{"amq", "warehouse"}) {
		t.Errorf("security-settings = %+v", c.SecuritySettings)
	}
	if len(c.Addresses) != 2 {
		t.Fatalf("addresses = %+v", c.Addresses)
	}
	dlq := c.Addresses[0].Queues[0]
	if dlq.Name != "DLQ" || dlq.RoutingType != Anycast || !dlq.Durable || dlq.MaxConsumers != -1 {
		t.Errorf("DLQ queue = %+v", dlq)
	}
	lv := c.Addresses[1].Queues[0]
	want := Queue{Name: "prices.latest", RoutingType: Multicast, Durable: false, Filter: "region = 'EU'",
		MaxConsumers: 10, Exclusive: true, LastValue: true, LastValueKey: "symbol"}
	if lv != want {
		t.Errorf("last-value queue = %+v, want %+v", lv, want)
	}
	if c.HA != (HAPolicy{Mode: HAPrimary, FailoverOnShutdown: true}) {
		t.Errorf("HA = %+v", c.HA)
	}
	if len(c.Connectors) != 2 || c.Connectors[1] != (Connector{"slave-connector", "tcp://localhost:61617"}) {
		t.Errorf("connectors = %+v", c.Connectors)
	}
	cc := c.ClusterConnections[0]
	if cc.Name != "static-cluster" || cc.ConnectorRef != "master-connector" || !slices.Equal(cc.StaticConnectors, []string{"slave-connector"}) || cc.User != "cluster" {
		t.Errorf("cluster connection = %+v", cc)
	}
	if c.Log != (Log{Level: slog.LevelDebug, Format: LogJSON, File: filepath.Join(dir, "log", "broker.log")}) {
		t.Errorf("log = %+v", c.Log)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir, path := writeInstanceConfig(t, "journal-directory: store/j\nsecurity: {users-file: ../secrets/u.yaml}\nlog: {file: out.log}\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.JournalDirectory != filepath.Join(dir, "store", "j") || c.BindingsDirectory != filepath.Join(dir, "data", "bindings") {
		t.Errorf("directories = %q %q", c.JournalDirectory, c.BindingsDirectory)
	}
	if c.Security.UsersFile != filepath.Join(dir, "secrets", "u.yaml") || c.Log.File != filepath.Join(dir, "out.log") {
		t.Errorf("users/log = %q %q", c.Security.UsersFile, c.Log.File)
	}

	// A broker.yaml outside an etc/ directory uses its own directory.
	other := t.TempDir()
	p := filepath.Join(other, "b.yaml")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.JournalDirectory != filepath.Join(other, "data", "journal") || c.Security.UsersFile != filepath.Join(other, "users.yaml") {
		t.Errorf("outside etc: %q %q", c.JournalDirectory, c.Security.UsersFile)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "etc", "broker.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "tandem create") {
		t.Fatalf("err = %v, want fs.ErrNotExist with a hint", err)
	}
}

// stripLines clears the position table so configurations compare by value.
func stripLines(c *Config) *Config {
	cp := *c
	cp.lines = nil
	return &cp
}

func TestMarshalRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	full, err := Parse(data, "/i/etc/broker.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	backup := Default()
	backup.HA = HAPolicy{Mode: HABackup, AllowFailback: false, FailoverOnShutdown: true}
	backup.Name = "name with: colon"
	backup.Acceptors = nil
	backup.AddressSettings = []AddressSetting{{Match: "empty.#"}}
	for name, c := range map[string]*Config{"full": full, "default": Default(), "backup": backup} {
		t.Run(name, func(t *testing.T) {
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out, c.File, c.BaseDir)
			if err != nil {
				t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
			}
			want := stripLines(c)
			if want.File == "" {
				// Parse resolves what Default leaves relative.
				if err := want.ResolvePaths(""); err != nil {
					t.Fatal(err)
				}
				want.BaseDir = back.BaseDir
			}
			if got := stripLines(back); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip changed the configuration:\n got %+v\nwant %+v\n%s", got, want, out)
			}
		})
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	c := Default()
	c.JournalMinFiles = 0
	if _, err := Marshal(c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestValidateProgrammatic(t *testing.T) {
	c := Default()
	c.Name = ""
	c.Acceptors = append(c.Acceptors, Acceptor{Name: "tandem", URL: "tcp://127.0.0.1:61616"})
	c.Addresses = []Address{{Name: "a", RoutingTypes: []RoutingType{"anycast"}, Queues: []Queue{{Name: "q", RoutingType: Multicast}}}}
	c.HA = HAPolicy{Mode: HAPrimary, AllowFailback: true}
	c.Log.Format = "xml"
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []string{
		"name: ", "acceptors[1].name: acceptor name \"tandem\" is used twice",
		"acceptors[1].url: 127.0.0.1:61616 is also the address of acceptor",
		"addresses[0].routing-types[0]: \"anycast\" is not a routing type",
		"addresses[0].queues[0].routing-type: MULTICAST is not a routing type of address",
		"ha-policy: allow-failback applies to a backup only", "log.format: \"xml\"",
	}
	if len(ve.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ve.Problems), len(want), err)
	}
	for i, w := range want {
		if p := ve.Problems[i]; p.File != "" || p.Line != 0 || !strings.HasPrefix(p.Msg, w) {
			t.Errorf("problem %d = %+v, want a message starting %q without file or line", i, p, w)
		}
	}
}

func TestProblemString(t *testing.T) {
	for p, want := range map[Problem]string{
		{File: "b.yaml", Line: 3, Msg: "m"}: "b.yaml:3: m",
		{File: "b.yaml", Msg: "m"}:          "b.yaml: m",
		{Msg: "m"}:                          "m",
	} {
		if got := p.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", p, got, want)
		}
	}
}

func TestParentPath(t *testing.T) {
	for in, want := range map[string]string{
		`a`: ``, `a.b`: `a`, `a[0]`: `a`, `a[0].b`: `a[0]`,
		`address-settings["orders.#"].redelivery-delay`: `address-settings["orders.#"]`,
		`address-settings["a.[\"x"]`:                    `address-settings`,
	} {
		if got := parentPath(in); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDocsCoverEveryKey keeps docs/configuration.md in step with the parser:
// every key of testdata/full.yaml (which sets every key) is documented, and
// the complete example in the docs is that file.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(full, "full.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	for path := range c.lines {
		key := path
		if i := strings.LastIndexAny(path, ".]"); i >= 0 {
			key = path[i+1:]
		}
		if key == "" || strings.HasSuffix(path, "]") {
			continue // a list element or a user-chosen name
		}
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not document %s (from %s)", "`"+key+"`", path)
		}
	}
	// The example is the file without its two-line comment header.
	body := string(full)
	body = body[strings.Index(body, "name:"):]
	if !strings.Contains(string(doc), "```yaml\n"+body+"```") {
		t.Error("the complete example in docs/configuration.md differs from testdata/full.yaml; copy it over")
	}
}
