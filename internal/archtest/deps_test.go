package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// rules lists, per package, the tandem packages it may depend on
// (transitively). A package not listed here may import anything.
var rules = []struct {
	pkg     string
	allowed []string
}{
	{"tandem/internal/message", nil},
	{"tandem/internal/journal", []string{"tandem/internal/fsutil"}},
	{"tandem/internal/fsutil", nil},
	{"tandem/internal/wire/stomp", nil},
	{"tandem/internal/lockfile", nil},
	{"tandem/internal/selector", []string{"tandem/internal/message"}},
	{"tandem/client", []string{"tandem/internal/wire/", "tandem/internal/tlsconfig"}},
	{"tandem/internal/store", []string{"tandem/internal/message"}},
	{"tandem/internal/paging", []string{"tandem/internal/fsutil", "tandem/internal/message", "tandem/internal/store"}},
	{"tandem/internal/largemsg", []string{"tandem/internal/fsutil", "tandem/internal/message", "tandem/internal/store"}},
	{"tandem/internal/broker", []string{"tandem/internal/message", "tandem/internal/store", "tandem/internal/wildcard"}},
	{"tandem/internal/listener", nil},
	{"tandem/internal/security", []string{"tandem/internal/fsutil", "tandem/internal/wildcard"}},
	{"tandem/internal/wildcard", nil},
	{"tandem/internal/tlsconfig", nil},
	{"tandem/internal/ha", []string{"tandem/internal/fsutil", "tandem/internal/lockfile"}},
	{"tandem/internal/storelock", []string{"tandem/internal/lockfile"}},
	{"tandem/internal/storecheck", []string{"tandem/internal/fsutil", "tandem/internal/journal", "tandem/internal/largemsg", "tandem/internal/message", "tandem/internal/paging", "tandem/internal/store", "tandem/internal/store/filestore"}},
	// The console and API see the broker and the journal's statistics
	// through interfaces of their own; no protocol, no server.
	{"tandem/internal/web", []string{"tandem/internal/broker", "tandem/internal/fsutil", "tandem/internal/journal", "tandem/internal/message", "tandem/internal/store", "tandem/internal/selector", "tandem/internal/wildcard"}},
	// perf drives any STOMP broker, so it knows only the client side.
	{"tandem/internal/perf", []string{"tandem/client", "tandem/internal/wire/", "tandem/internal/tlsconfig"}},
}

func TestDependenciesFlowOneWay(t *testing.T) {
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", r.pkg).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "cannot find package") || strings.Contains(string(out), "no Go files") || strings.Contains(string(out), "is not in std") {
				continue // not written yet
			}
			t.Fatalf("go list -deps %s: %v\n%s", r.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, "tandem/") || dep == r.pkg {
				continue
			}
			ok := false
			for _, a := range r.allowed {
				if dep == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a)) || strings.HasPrefix(dep, a+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s must not depend on %s (see docs/architecture.md)", r.pkg, dep)
			}
		}
	}
}
