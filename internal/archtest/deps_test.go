package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// A rule says which tandem packages a package may import directly, and
// which it must not reach even through others. The direct lists are exact:
// "tandem/internal/store" allows that package and nothing below it; a
// pattern "P/*" allows (or forbids) the packages directly below P; "$wire"
// stands for the package of the same name under internal/wire, a protocol
// adapter's own codec. Since every package a ruled package imports must be
// ruled too (TestEveryImportIsRuled), the direct lists bound the transitive
// dependencies as well.
type rule struct {
	pkg     string // an import path, or "P/*" for every package directly below P
	imports []string
	never   []string // forbidden anywhere among the dependencies
	// future marks a rule for a package that may not exist yet; any other
	// rule naming an exact package fails when the package is missing.
	future bool
	// carried marks a pattern's prohibitions applied to a package that has
	// an exact rule of its own.
	carried bool
}

const (
	t_       = "tandem/"
	internal = "tandem/internal/"
)

// in prefixes names with tandem/internal/.
func in(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = internal + n
	}
	return out
}

// notServer is what no package below the assembly may reach.
var notServer = in("server", "cli")

var rules = []rule{
	// Leaves: no tandem import at all.
	{pkg: internal + "message"},
	{pkg: internal + "fsutil"},
	{pkg: internal + "lockfile"},
	{pkg: internal + "listener"},
	{pkg: internal + "wildcard"},
	{pkg: internal + "tlsconfig"},
	{pkg: internal + "pidfile"},
	{pkg: internal + "procstat"},
	{pkg: internal + "wire/*"}, // every wire codec, stomp and those to come
	{pkg: internal + "wire/stomp"},
	// The journal may use the leaf file helpers, nothing else.
	{pkg: internal + "journal", imports: in("fsutil")},
	{pkg: internal + "selector", imports: in("message")},
	{pkg: internal + "security", imports: in("fsutil", "wildcard")},

	// Persistence: the contract, its implementations, side files.
	{pkg: internal + "store", imports: in("message")},
	{pkg: internal + "store/*", imports: in("store", "message", "fsutil"), never: append(in("broker", "protocol/*", "wire/*", "config"), notServer...)},
	{pkg: internal + "store/filestore", imports: in("store", "message", "journal")},
	{pkg: internal + "store/memstore", imports: in("store", "message")},
	{pkg: internal + "store/storetest", imports: in("store", "message")},
	{pkg: internal + "paging", imports: in("fsutil", "message", "store")},
	{pkg: internal + "largemsg", imports: in("fsutil", "message", "store")},
	{pkg: internal + "storelock", imports: in("lockfile")},
	// The PostgreSQL pieces: pgdb knows only the driver; the lease knows
	// the HA vocabulary and pgdb, never a store; the store knows the store
	// contract and pgdb, never the lease (it calls the lease's fence
	// function by name, in SQL).
	{pkg: internal + "pgdb"},
	{pkg: internal + "ha/dblease", imports: in("ha", "pgdb")},
	{pkg: internal + "store/pgstore", imports: in("store", "message", "pgdb")},
	{pkg: internal + "storecheck", imports: in("fsutil", "journal", "largemsg", "message", "paging", "store", "store/filestore")},

	// The core never sees a protocol, a codec, the listener or the
	// configuration.
	{pkg: internal + "broker", imports: in("message", "store", "wildcard")},

	// Protocol adapters: the broker's session API, the listener, their own
	// codec, and the shared adapter package; never a store or the journal.
	{pkg: internal + "protocol/*", imports: append(in("broker", "message", "listener", "security", "protocol"), "$wire"),
		never: append(in("store/*", "journal", "paging", "largemsg", "config", "ha"), notServer...)},
	{pkg: internal + "protocol/stomp", imports: in("broker", "message", "listener", "protocol", "wire/stomp")},
	{pkg: internal + "protocol", imports: in("broker", "message", "listener", "security"),
		never: append(in("store/*", "journal", "wire/*"), notServer...)},
	// WebSocket carriage of the protocols on the HTTP port.
	{pkg: internal + "wstransport", imports: in("listener"), never: append(in("broker", "store", "journal"), notServer...)},

	{pkg: internal + "ha", imports: in("fsutil", "lockfile")},
	{pkg: internal + "config", imports: in("security", "tlsconfig")},
	{pkg: internal + "instance", imports: in("config", "fsutil", "security", "tlsconfig")},
	// The console sees the broker and the journal's statistics through
	// interfaces of its own; no protocol, no server.
	{pkg: internal + "web", imports: in("broker", "journal", "message", "store", "selector", "wildcard")},
	// perf drives any STOMP or AMQP broker, so it knows only the client
	// side.
	{pkg: internal + "perf", imports: append([]string{t_ + "client", t_ + "client/amqp"}, in("wire/*", "tlsconfig", "procstat")...)},
	{pkg: t_ + "client", imports: in("wire/*", "tlsconfig")},
	// The AMQP client knows the AMQP codec and nothing else of tandem.
	{pkg: t_ + "client/amqp", imports: in("wire/amqp")},
	// The MQTT client knows the MQTT codec and nothing else of tandem.
	{pkg: t_ + "client/mqtt", imports: in("wire/mqtt")},
	// The OpenWire client knows the OpenWire codec and nothing else of tandem.
	{pkg: t_ + "client/openwire", imports: in("wire/openwire")},
	// The assembly: every piece of the broker, new protocols and stores
	// included, but no command, no load generator, no client.
	{pkg: internal + "server", imports: in("broker", "config", "ha", "journal", "largemsg", "listener", "message", "paging",
		"protocol", "protocol/*", "security", "selector", "store", "store/*", "storelock", "tlsconfig", "web", "wire/*", "wstransport",
		"pgdb", "ha/dblease"),
		never: in("cli", "perf")},
}

// packages returns every package of the module with its direct tandem
// imports.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "tandem/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var imps []string
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, t_) {
				imps = append(imps, imp)
			}
		}
		pkgs[f[0]] = imps
	}
	return pkgs
}

// matches reports whether pkg is named by entry, as the rule for owner.
func matches(entry, pkg, owner string) bool {
	switch {
	case entry == "$wire":
		return pkg == internal+"wire/"+owner[strings.LastIndex(owner, "/")+1:]
	case strings.HasSuffix(entry, "/*"):
		parent := strings.TrimSuffix(entry, "*")
		return strings.HasPrefix(pkg, parent) && !strings.Contains(pkg[len(parent):], "/")
	}
	return entry == pkg
}

// rulesFor returns the rules that apply to pkg: its exact rule if there is
// one, otherwise a pattern's.
func rulesFor(pkg string) []rule {
	var exact, pattern []rule
	for _, r := range rules {
		switch {
		case r.pkg == pkg:
			exact = append(exact, r)
		case strings.HasSuffix(r.pkg, "/*") && matches(r.pkg, pkg, ""):
			pattern = append(pattern, r)
		}
	}
	if len(exact) > 0 {
		// A package with its own rule keeps the pattern's prohibitions.
		for _, r := range pattern {
			exact = append(exact, rule{pkg: r.pkg, never: r.never, carried: true})
		}
		return exact
	}
	return pattern
}

// deps returns the transitive tandem dependencies of pkg.
func deps(pkgs map[string][]string, pkg string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, d := range pkgs[p] {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// check returns the violations of the rules by pkg.
func check(pkgs map[string][]string, pkg string) []string {
	var bad []string
	for _, r := range rulesFor(pkg) {
		if !r.carried {
			for _, imp := range pkgs[pkg] {
				ok := false
				for _, a := range r.imports {
					ok = ok || matches(a, imp, pkg)
				}
				if !ok {
					bad = append(bad, pkg+" must not import "+imp+" (rule "+r.pkg+"; see docs/architecture.md)")
				}
			}
		}
		for _, d := range deps(pkgs, pkg) {
			for _, n := range r.never {
				if matches(n, d, pkg) {
					bad = append(bad, pkg+" must not depend on "+d+", even through others (rule "+r.pkg+")")
				}
			}
		}
	}
	return bad
}

func TestDependenciesFlowOneWay(t *testing.T) {
	pkgs := packages(t)
	for pkg := range pkgs {
		for _, v := range check(pkgs, pkg) {
			t.Error(v)
		}
	}
}

// TestRuledPackagesExist: a rule for a package that is gone (renamed,
// moved) would silently rule nothing.
func TestRuledPackagesExist(t *testing.T) {
	pkgs := packages(t)
	for _, r := range rules {
		if strings.HasSuffix(r.pkg, "/*") || r.future {
			continue
		}
		if _, ok := pkgs[r.pkg]; !ok {
			t.Errorf("the rule for %s names no package; rename or remove the rule (and docs/architecture.md)", r.pkg)
		}
	}
}

// TestEveryImportIsRuled: a ruled package imports only ruled packages, so
// its rule bounds what it reaches transitively too.
func TestEveryImportIsRuled(t *testing.T) {
	pkgs := packages(t)
	for pkg, imps := range pkgs {
		if len(rulesFor(pkg)) == 0 {
			continue
		}
		for _, imp := range imps {
			if len(rulesFor(imp)) == 0 {
				t.Errorf("%s imports %s, which has no rule; add one to internal/archtest", pkg, imp)
			}
		}
	}
}

// TestRulesCatchViolations checks the checker on made-up packages.
func TestRulesCatchViolations(t *testing.T) {
	pkgs := map[string][]string{
		internal + "protocol/mqtt":   in("broker", "wire/mqtt"),
		internal + "protocol/amqp":   in("broker", "wire/mqtt"),                   // another adapter's codec
		internal + "protocol/bad":    in("store/filestore"),                       // a store
		internal + "protocol/sneaky": in("broker", "web"),                         // not allowed directly
		internal + "web":             in("broker", "journal"),                     // fine
		internal + "broker":          in("message", "store", "wildcard"),          // fine
		internal + "store/pgstore":   in("store", "message"),                      // fine: the default store rule
		internal + "store/leaky":     in("store", "broker"),                       // a store on the broker
		internal + "wire/amqp":       in("message"),                               // codecs are leaves
		internal + "journal":         in("fsutil"),                                // fine
		internal + "journalx":        in("journal"),                               // unruled: anything goes
		internal + "store/filestore": in("store", "message", "journal", "paging"), // exact: paging not allowed
	}
	for pkg, wantBad := range map[string]bool{
		internal + "protocol/mqtt": false, internal + "protocol/amqp": true, internal + "protocol/bad": true,
		internal + "protocol/sneaky": true, internal + "web": false, internal + "store/pgstore": false,
		internal + "store/leaky": true, internal + "wire/amqp": true, internal + "journal": false,
		internal + "journalx": false, internal + "store/filestore": true,
	} {
		if got := check(pkgs, pkg); (len(got) > 0) != wantBad {
			t.Errorf("%s: violations %v, want some: %v", pkg, got, wantBad)
		}
	}
}
