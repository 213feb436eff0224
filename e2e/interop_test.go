package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestThirdPartyStompClients runs the standard STOMP client libraries of
// other languages against a real broker. Each script sends persistent
// messages with a user header, receives them with explicit acks, and checks
// bodies and headers. A missing interpreter or library skips its case,
// unless TANDEM_REQUIRE_INTEROP is set (as .ci/run does, after installing
// them), where it fails.
func TestThirdPartyStompClients(t *testing.T) {
	in := create(t, "interop")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	cases := []struct {
		name  string
		cmd   string
		args  []string
		probe []string
	}{
		{"python stomp.py", "/usr/bin/python3", []string{"interop/client.py"}, []string{"-c", "import stomp"}},
		{"perl Net::Stomp", "perl", []string{"interop/client.pl"}, []string{"-MNet::Stomp", "-e", "1"}},
		{"ruby stomp", "ruby", []string{"interop/client.rb"}, []string{"-e", "require 'stomp'"}},
		{"php stomp", "php", []string{"interop/client.php"}, []string{"-r", "exit(class_exists('Stomp') ? 0 : 1);"}},
		{"node stompit", "node", []string{"interop/client.js"}, []string{"-e", "require('./interop/node_modules/stompit')"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := exec.Command(tc.cmd, tc.probe...).Run(); err != nil {
				if os.Getenv("TANDEM_REQUIRE_INTEROP") != "" {
					t.Fatalf("%s is required but not usable: %v", tc.name, err)
				}
				t.Skipf("%s not installed (%v); .ci/run installs it", tc.name, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dest := fmt.Sprintf("/queue/interop-%d", i)
			args := append(append([]string{}, tc.args...), "127.0.0.1", fmt.Sprint(61616+in.offset), dest)
			out, err := exec.CommandContext(ctx, tc.cmd, args...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "OK 3") {
				t.Fatalf("%s failed: %v\n%s", tc.name, err, out)
			}
		})
	}
}

// TestThirdPartyLargeMessage sends a message far over
// min-large-message-size from stomp.py and receives it back, so the
// large-message path (streamed to the large-messages directory and back)
// is checked against another implementation's framing.
func TestThirdPartyLargeMessage(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import stomp").Run(); err != nil {
		if os.Getenv("TANDEM_REQUIRE_INTEROP") != "" {
			t.Fatalf("python stomp.py is required but not usable: %v", err)
		}
		t.Skipf("python stomp.py not installed (%v); .ci/run installs it", err)
	}
	in := create(t, "interop-large")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const size = 3 << 20
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "interop/large.py", "127.0.0.1", fmt.Sprint(61616+in.offset),
		"/queue/interop-large", fmt.Sprint(size)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("OK large %d", size)) {
		t.Fatalf("stomp.py large message: %v\n%s", err, out)
	}
}
