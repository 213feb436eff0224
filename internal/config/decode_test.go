package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// parseProblems parses data and returns its problems as strings.
func parseProblems(t *testing.T, data string) []string {
	t.Helper()
	_, err := Parse([]byte(data), "b.yaml", "/inst")
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v (%T), want a *ValidationError wrapping ErrInvalid", err, err)
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	if strings.Join(out, "\n") != err.Error() {
		t.Fatalf("Error() = %q, want the problems one per line", err.Error())
	}
	return out
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// want holds a prefix of each expected problem, in order.
		want []string
	}{
		{"unknown top-level key with suggestion", "name: a\njournal-directroy: x\n",
			[]string{`b.yaml:2: unknown key "journal-directroy" at the top level; did you mean "journal-directory"?`}},
		{"unknown key lists the known ones", "zzz: 1\n",
			[]string{`b.yaml:1: unknown key "zzz" at the top level; expected one of: acceptors, address-settings,`}},
		{"unknown nested key", "security:\n  allow-anonymous: true\n  anonymous-rol: x\n",
			[]string{`b.yaml:3: unknown key "anonymous-rol" in security; did you mean "anonymous-role"?`}},
		{"unknown key deep in a list", "addresses:\n  - name: a\n    queues:\n      - name: q\n        durible: true\n",
			[]string{`b.yaml:5: unknown key "durible" in addresses[0].queues[0]; did you mean "durable"?`}},
		{"unknown key in address settings", "address-settings:\n  \"#\":\n    max-delivery-attempt: 3\n",
			[]string{`b.yaml:3: unknown key "max-delivery-attempt" in address-settings["#"]; did you mean "max-delivery-attempts"?`}},
		{"bad size", "journal-file-size: 10XB\n",
			[]string{`b.yaml:1: journal-file-size: "10XB" is not a size; expected bytes`}},
		{"size out of range", "journal-file-size: 1KiB\n",
			[]string{`b.yaml:1: journal-file-size: 1KiB is out of range; expected a size from 64KiB to 1GiB`}},
		{"bad duration", "journal-buffer-timeout: soon\n",
			[]string{`b.yaml:1: journal-buffer-timeout: "soon" is not a duration; expected a duration such as 500us, 5s or 1m, or an integer number of nanoseconds`}},
		{"bad millisecond duration", "address-settings:\n  a:\n    redelivery-delay: 1 hour\n",
			[]string{`b.yaml:3: address-settings["a"].redelivery-delay: "1 hour" is not a duration; expected a duration such as 500us, 5s or 1m, or an integer number of milliseconds`}},
		{"bad enum", "address-settings:\n  a:\n    address-full-policy: SPILL\n",
			[]string{`b.yaml:3: address-settings["a"].address-full-policy: "SPILL" is not valid; expected PAGE, BLOCK, FAIL or DROP`}},
		{"journal type Artemis has and tandem does not", "journal-type: MAPPED\n",
			[]string{`b.yaml:1: journal-type: "MAPPED" is not valid; expected ASYNCIO or NIO`}},
		{"bad bool", "journal-sync: maybe\n",
			[]string{`b.yaml:1: journal-sync: "maybe" is not a boolean; expected true or false`}},
		{"bad int", "journal-min-files: two\n",
			[]string{`b.yaml:1: journal-min-files: "two" is not an integer`}},
		{"bad float", "address-settings:\n  a: {redelivery-delay-multiplier: fast}\n",
			[]string{`b.yaml:2: address-settings["a"].redelivery-delay-multiplier: "fast" is not a number`}},
		{"bad log level", "log:\n  level: loud\n",
			[]string{`b.yaml:2: log.level: "loud" is not valid; expected debug, info, warn or error`}},
		{"null value", "journal-directory:\n",
			[]string{`b.yaml:1: journal-directory: no value given; expected a string (or remove the key for the default)`}},
		{"list instead of scalar", "name: [a, b]\n",
			[]string{`b.yaml:1: name: expected a string, found a list`}},
		{"scalar instead of mapping", "web: on\n",
			[]string{`b.yaml:1: web: expected a mapping of keys (bind, enabled, tls), found "on"`}},
		{"client-only TLS option on the HTTP port", "web:\n  tls:\n    verifyHost: true\n",
			[]string{`b.yaml:3: unknown key "verifyHost" in web.tls; expected one of: certPath`}},
		{"HTTP port key that does not load", "web:\n  tls:\n    sslEnabled: true\n    keyStorePath: /nonexistent/broker.pem\n",
			[]string{`b.yaml:2: web.tls: `}},
		{"mapping instead of list", "acceptors:\n  name: a\n",
			[]string{`b.yaml:2: acceptors: expected a list of acceptors`}},
		{"repeated key", "name: a\nname: b\n",
			[]string{`b.yaml:2: name: repeated key (first set on line 1); keep one`}},
		{"repeated pattern", "address-settings:\n  a.#: {}\n  a.#: {}\n",
			[]string{`b.yaml:3: address-settings["a.#"]: repeated key (first set on line 2); keep one`}},
		{"bad acceptor url", "acceptors:\n  - name: a\n    url: http://x:1\n",
			[]string{`b.yaml:3: acceptors[0].url: "http://x:1": expected tcp://HOST:PORT`}},
		{"acceptor without port", "acceptors:\n  - name: a\n    url: tcp://x\n",
			[]string{`b.yaml:3: acceptors[0].url: "tcp://x": the URL has no port`}},
		{"acceptor port out of range", "acceptors:\n  - {name: a, url: \"tcp://x:99999\"}\n",
			[]string{`b.yaml:2: acceptors[0].url: "tcp://x:99999": port "99999" is not a number from 0 to 65535`}},
		{"zero per-IP connections", "max-connections-per-ip: 0\n",
			[]string{`b.yaml:1: max-connections-per-ip: 0 is out of range; use -1 for unlimited or a positive count`}},
		{"too few headers", "max-headers: 2\n",
			[]string{`b.yaml:1: max-headers: 2 is too small; expected at least 8 (default 1000)`}},
		{"header size above the frame size", "max-frame-size: 1MiB\nmax-header-size: 2MiB\n",
			[]string{`b.yaml:2: max-header-size: 2MiB is out of range; expected from 256 bytes up to max-frame-size`}},
		{"handshake timeout in seconds", "handshake-timeout: 100000\n",
			[]string{`b.yaml:1: handshake-timeout: 27h46m40s is out of range`}},
		{"short destination limit", "max-destination-name-length: 3\n",
			[]string{`b.yaml:1: max-destination-name-length: 3 is too small; expected at least 16 (default 1024)`}},
		{"TLS acceptor without certificate", "acceptors:\n  - {name: a, url: \"tcp://x:1?sslEnabled=true\"}\n",
			[]string{`b.yaml:2: acceptors[0].url: bad TLS option: sslEnabled=true needs the server's certificate`}},
		{"TLS acceptor with a missing key store", "acceptors:\n  - {name: a, url: \"tcp://x:1?sslEnabled=true&keyStorePath=/nonexistent.p12\"}\n",
			[]string{`b.yaml:2: acceptors[0].url: cannot load TLS key material: keyStorePath: open /nonexistent.p12`}},
		{"TLS acceptor with a bad boolean", "acceptors:\n  - {name: a, url: \"tcp://x:1?needClientAuth=sure\"}\n",
			[]string{`b.yaml:2: acceptors[0].url: bad TLS option: needClientAuth="sure" must be true or false`}},
		{"connector with a bad TLS option", "connectors:\n  a: \"tcp://x:1?verifyHost=perhaps\"\n",
			[]string{`b.yaml:2: connectors["a"]: "tcp://x:1?verifyHost=perhaps": bad TLS option: verifyHost="perhaps" must be true or false`}},
		{"acceptor without name", "acceptors:\n  - url: tcp://x:1\n",
			[]string{`b.yaml:2: acceptors[0].name: the acceptor has no name`}},
		{"unknown permission", "security-settings:\n  \"#\":\n    publish: [amq]\n",
			[]string{`b.yaml:3: security-settings["#"]: unknown permission "publish" (expected one of send, consume,`}},
		{"nobody could log in", "security: {users-file: \"\"}\n",
			[]string{`b.yaml:1: security: anonymous access is off and there is no users-file`}},
		{"missing connector", "connectors:\n  a: tcp://localhost:1\ncluster-connections:\n  - name: c\n    connector-ref: a\n    static-connectors: [b, a]\n",
			[]string{
				`b.yaml:6: cluster-connections[0].static-connectors[0]: connector "b" is not defined; add it under connectors (defined: a)`,
				`b.yaml:6: cluster-connections[0].static-connectors[1]: connector "a" is this node's own connector-ref`,
			}},
		{"bad connector url", "connectors:\n  a: localhost:61616\n",
			[]string{`b.yaml:2: connectors["a"]: "localhost:61616": expected tcp://HOST:PORT`}},
		{"queue routing type not on address", "addresses:\n  - name: a\n    routing-types: [MULTICAST]\n    queues:\n      - name: q\n        routing-type: ANYCAST\n",
			[]string{`b.yaml:6: addresses[0].queues[0].routing-type: ANYCAST is not a routing type of address "a"`}},
		{"duplicate queue", "addresses:\n  - name: a\n    queues: [{name: q}]\n  - name: b\n    queues: [{name: q}]\n",
			[]string{`b.yaml:5: addresses[1].queues[0].name: queue "q" is also defined on address "a"`}},
		{"bad routing type word", "addresses:\n  - name: a\n    routing-types: [BROADCAST]\n",
			[]string{`b.yaml:3: addresses[0].routing-types: "BROADCAST" is not a routing type`}},
		{"replication", "ha-policy:\n  replication:\n    primary: {}\n",
			[]string{`b.yaml:2: ha-policy.replication: replication is not supported`}},
		{"two HA roles", "ha-policy:\n  shared-store:\n    primary: {}\n    backup: {}\n",
			[]string{`b.yaml:4: ha-policy.shared-store: both a primary and a backup role are set`}},
		{"no HA role", "ha-policy:\n  shared-store: {}\n",
			[]string{`b.yaml:2: ha-policy.shared-store: no role given`}},
		{"bad HA short form", "ha-policy: {shared-store: leader}\n",
			[]string{`b.yaml:1: ha-policy.shared-store: "leader" is not a shared-store role`}},
		{"allow-failback on a primary", "ha-policy:\n  shared-store:\n    primary:\n      allow-failback: true\n",
			[]string{`b.yaml:4: unknown key "allow-failback" in ha-policy.shared-store.primary`}},
		{"bad standby reserve", "ha-policy:\n  shared-store:\n    backup: {standby-reserve: lots}\n",
			[]string{`b.yaml:3: ha-policy.shared-store.backup.standby-reserve: "lots" is not a standby reserve; expected auto, off, or a size`}},
		{"lock check period too long", "ha-policy:\n  shared-store:\n    primary: {lock-check-period: 2s}\n",
			[]string{`b.yaml:2: ha-policy.shared-store.lock-check-period: 2s is outside (0, 1s]`}},
		{"lock stall timeout too short", "ha-policy:\n  shared-store:\n    primary: {lock-check-period: 500ms, lock-stall-timeout: 1s}\n",
			[]string{`b.yaml:2: ha-policy.shared-store.lock-stall-timeout: 1s is outside [2s, 30s]`}},
		{"lock stall timeout too long", "ha-policy:\n  shared-store:\n    backup: {lock-stall-timeout: 1m}\n",
			[]string{`b.yaml:2: ha-policy.shared-store.lock-stall-timeout: 1m0s is outside [2s, 30s]`}},
		{"HA without persistence", "persistence-enabled: false\nha-policy: {shared-store: primary}\n",
			[]string{`b.yaml:2: ha-policy: shared-store high availability needs the journal`}},
		{"address setting ranges", "address-settings:\n  a:\n    redelivery-delay: 10s\n    max-redelivery-delay: 1s\n    redelivery-delay-multiplier: 0.5\n    expiry-delay: -5\n    max-delivery-attempts: 0\n",
			[]string{
				`b.yaml:4: address-settings["a"].max-redelivery-delay: 1s is below redelivery-delay 10s`,
				`b.yaml:5: address-settings["a"].redelivery-delay-multiplier: 0.5 is below 1.0`,
				`b.yaml:6: address-settings["a"].expiry-delay: -5ms is negative; use -1`,
				`b.yaml:7: address-settings["a"].max-delivery-attempts: 0 is out of range`,
			}},
		{"syntax error", "name: a\n  acceptors: [\n",
			[]string{`b.yaml:2: YAML syntax error: mapping values are not allowed in this context`}},
		{"tab indentation", "web:\n\tbind: x\n",
			[]string{`b.yaml:2: YAML syntax error: found character that cannot start any token`}},
		{"two documents", "name: a\n---\nname: b\n",
			[]string{`b.yaml:2: a second YAML document starts here`}},
		{"not a mapping", "- a\n- b\n",
			[]string{`b.yaml:1: broker.yaml must be a mapping of keys`}},
		{"many problems at once",
			"name: a\nbogus: 1\njournal-file-size: huge\nweb:\n  bind: nowhere\n  enable: true\nlog: {format: xml}\nmax-connections: 0\n",
			[]string{
				`b.yaml:2: unknown key "bogus"`,
				`b.yaml:3: journal-file-size: "huge" is not a size`,
				`b.yaml:5: web.bind: "nowhere": not HOST:PORT`,
				`b.yaml:6: unknown key "enable" in web; did you mean "enabled"?`,
				`b.yaml:7: log.format: "xml" is not valid; expected text or json`,
				`b.yaml:8: max-connections: 0 is out of range`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseProblems(t, tc.yaml)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], w)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) bool
	}{
		{"HA short primary", "ha-policy: {shared-store: primary}\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HAPrimary} }},
		{"HA short slave", "ha-policy:\n  shared-store: slave\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HABackup, AllowFailback: true} }},
		{"HA master alias", "ha-policy:\n  shared-store:\n    master:\n      failover-on-shutdown: true\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HAPrimary, FailoverOnShutdown: true} }},
		{"HA backup defaults to failback", "ha-policy:\n  shared-store:\n    backup:\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HABackup, AllowFailback: true} }},
		{"HA backup without failback", "ha-policy:\n  shared-store:\n    slave: {allow-failback: false, failover-on-shutdown: yes}\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HABackup, FailoverOnShutdown: true} }},
		{"standby reserve capped", "ha-policy:\n  shared-store:\n    backup: {standby-reserve: 2GiB}\n",
			func(c *Config) bool {
				return c.HA == HAPolicy{Mode: HABackup, AllowFailback: true, StandbyReserve: 2 << 30}
			}},
		{"lock timings", "ha-policy:\n  shared-store:\n    primary: {lock-check-period: 250ms, lock-stall-timeout: 10s}\n",
			func(c *Config) bool {
				return c.HA == HAPolicy{Mode: HAPrimary, LockCheckPeriod: 250 * time.Millisecond, LockStallTimeout: 10 * time.Second}
			}},
		{"standby reserve off", "ha-policy:\n  shared-store:\n    primary: {standby-reserve: \"off\"}\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HAPrimary, StandbyReserveOff: true} }},
		{"standby reserve auto", "ha-policy:\n  shared-store:\n    primary: {standby-reserve: auto}\n",
			func(c *Config) bool { return c.HA == HAPolicy{Mode: HAPrimary} }},
		{"artemis integer nanoseconds", "journal-buffer-timeout: 500000\n",
			func(c *Config) bool { return c.JournalBufferTimeout == 500*time.Microsecond }},
		{"integer sizes and separators", "journal-file-size: 10485760\nid-cache-size: 20_000\n",
			func(c *Config) bool { return c.JournalFileSize == 10<<20 && c.IDCacheSize == 20000 }},
		{"quoted bool", "journal-sync: \"false\"\n", func(c *Config) bool { return !c.JournalSync }},
		{"journal type", "journal-type: nio\n", func(c *Config) bool { return c.JournalType == JournalNIO }},
		{"lower-case enums", "addresses:\n  - name: a\n    routing-types: [anycast, multicast]\n    queues: [{name: q, routing-type: multicast}]\n",
			func(c *Config) bool {
				a := c.Addresses[0]
				return len(a.RoutingTypes) == 2 && a.Queues[0].RoutingType == Multicast
			}},
		{"routing types from queues", "addresses:\n  - name: t\n    queues: [{name: s1, routing-type: MULTICAST}]\n",
			func(c *Config) bool {
				return len(c.Addresses[0].RoutingTypes) == 1 && c.Addresses[0].RoutingTypes[0] == Multicast
			}},
		{"aliases", "connectors:\n  a: &u tcp://localhost:1\n  b: *u\n",
			func(c *Config) bool { return c.Connectors[1].URL == "tcp://localhost:1" }},
		{"no acceptors", "acceptors: []\n", func(c *Config) bool { return len(c.Acceptors) == 0 }},
		{"explicitly empty security settings", "security-settings: {}\n", func(c *Config) bool { return len(c.SecuritySettings) == 0 }},
		{"web with scheme", "web: {bind: \"http://0.0.0.0:8161\"}\n", func(c *Config) bool { return c.Web.Enabled }},
		{"web disabled ignores bind", "web: {enabled: false, bind: x}\n", func(c *Config) bool { return !c.Web.Enabled }},
		{"anonymous", "security:\n  allow-anonymous: true\n  users-file: \"\"\n",
			func(c *Config) bool { return c.Security.AllowAnonymous && c.Security.UsersFile == "" }},
		{"permission kebab-case", "security-settings:\n  \"#\": {create-durable-queue: [a]}\n",
			func(c *Config) bool { return len(c.SecuritySettings[0].Permissions["createDurableQueue"]) == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "b.yaml", "/inst")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected configuration: %+v", c)
			}
		})
	}
}

func TestParseAliasBomb(t *testing.T) {
	// Each level references the previous one ten times: walking the
	// expansion would visit 10^9 nodes.
	var b strings.Builder
	b.WriteString("x0: &a0 [tcp]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("x")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("cluster-connections:\n  - name: c\n    connector-ref: x\n    static-connectors: *a9\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = Parse([]byte(b.String()), "b.yaml", "/inst")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Parse did not bound alias expansion")
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("ha-policy: {shared-store: primary}\n"))
	f.Add([]byte("address-settings:\n  \"#\": {max-size-bytes: 10MiB, redelivery-delay: 5s}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("acceptors:\n  - {name: a, url: \"tcp://[::1]:1?x=%zz\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "f.yaml", "/inst")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		// A configuration that parses validates, and writes back to a
		// file that parses again.
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed configuration does not validate: %v", err)
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if _, err := Parse(out, "f.yaml", "/inst"); err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
	})
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"-1", -1}, {"1024", 1024}, {"10MiB", 10 << 20}, {"10M", 10 << 20}, {"10MB", 10 << 20},
		{"10mb", 10 << 20}, {"512KiB", 512 << 10}, {"512k", 512 << 10}, {"512 KiB", 512 << 10},
		{"1GiB", 1 << 30}, {"2g", 2 << 30}, {"1T", 1 << 40}, {"100b", 100}, {" 7 ", 7}, {"1Ki", 1024},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "10XB", "10 MiBs", "1.5MiB", "-1MiB", "10iB", "10bb", "99999999999999999999", "9999999999999T"} {
		if _, err := ParseSize(in); !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSize(%q) err = %v, want ErrBadSize", in, err)
		}
	}
}

func TestFormatSizeRoundTrip(t *testing.T) {
	for _, n := range []int64{-1, 0, 1, 1000, 1024, 10 << 20, 100 << 10, 3 << 30, 1<<20 + 1, 5 << 40} {
		s := FormatSize(n)
		back, err := ParseSize(s)
		if err != nil || back != n {
			t.Errorf("FormatSize(%d) = %q, reads back as %d, %v", n, s, back, err)
		}
	}
	if got := FormatSize(10 << 20); got != "10MiB" {
		t.Errorf("FormatSize(10MiB) = %q", got)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		unit time.Duration
		want time.Duration
	}{
		{"500us", time.Nanosecond, 500 * time.Microsecond},
		{"500000", time.Nanosecond, 500 * time.Microsecond},
		{"5000", time.Millisecond, 5 * time.Second},
		{"1m30s", time.Millisecond, 90 * time.Second},
		{"-1", time.Millisecond, -time.Millisecond},
		{"0", time.Millisecond, 0},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in, tc.unit)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q, %v) = %v, %v; want %v", tc.in, tc.unit, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "5 seconds", "1.5", "99999999999999999", "s"} {
		if _, err := ParseDuration(in, time.Millisecond); !errors.Is(err, ErrBadDuration) {
			t.Errorf("ParseDuration(%q) err = %v, want ErrBadDuration", in, err)
		}
	}
	for _, d := range []time.Duration{NoExpiryDelay, 0, 500 * time.Microsecond, 90 * time.Second} {
		back, err := ParseDuration(FormatDuration(d), time.Millisecond)
		if d == NoExpiryDelay {
			// "-1" counts milliseconds; the expiry-delay decoder maps it back.
			d = -time.Millisecond
		}
		if err != nil || back != d {
			t.Errorf("FormatDuration(%v) reads back as %v, %v", d, back, err)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"tandem": "tandem", "tcp://0.0.0.0:61616": "tcp://0.0.0.0:61616", "#": `"#"`, "": `""`,
		"true": `"true"`, "no": `"no"`, "10": `"10"`, "0x1f": `"0x1f"`, "1e3": `"1e3"`, "null": `"null"`,
		"with space": `"with space"`, "a: b": `"a: b"`, "-x": `"-x"`, "orders.*": `"orders.*"`,
		"/srv/data dir": `"/srv/data dir"`, "10MiB": "10MiB", "é": `"é"`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"journal-directory", "journal-file-size", "paging-directory", "name"}
	for in, want := range map[string]string{
		"journal-directroy": "journal-directory", "journal_file_size": "journal-file-size",
		"nmae": "name", "completely-different": "",
	} {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
