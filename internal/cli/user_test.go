package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/security"
)

// userInstance creates an instance with user admin and returns its
// directory.
func userInstance(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "b")
	if code, out, errOut := runCLI(t, "create", dir, "--user", "admin", "--password", "admin"); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	return dir
}

func TestUserCommands(t *testing.T) {
	dir := userInstance(t)
	in := []string{"--instance", dir}
	steps := []struct {
		name    string
		args    []string
		code    int
		mention string
	}{
		{"add", []string{"user", "add", "--user", "alice", "--password", "wonder", "--role", "amq,reader"}, 0, `User "alice" added with roles amq,reader`},
		{"add with Artemis' flags", []string{"user", "add", "--user-command-user", "bob", "--user-command-password", "b0b", "--role", "writer"}, 0, `User "bob" added`},
		{"add twice", []string{"user", "add", "--user", "alice", "--password", "x", "--role", "amq"}, 1, "already exists; change its password with 'tandem user passwd'"},
		{"add without role", []string{"user", "add", "--user", "carol", "--password", "x"}, 1, "--role is required"},
		{"add without password", []string{"user", "add", "--user", "carol", "--role", "amq"}, 1, "a password is required"},
		{"add without name", []string{"user", "add", "--password", "x", "--role", "amq"}, 1, "--user is required"},
		{"list", []string{"user", "list"}, 0, "--- \"admin\"(amq,manage)\n--- \"alice\"(amq,reader)\n--- \"bob\"(writer)\n\nTotal: 3"},
		{"list one", []string{"user", "list", "--user", "bob"}, 0, "--- \"bob\"(writer)\n\nTotal: 1"},
		{"passwd", []string{"user", "passwd", "--user", "alice", "--password", "new-secret"}, 0, `Password of "alice" changed`},
		{"reset roles", []string{"user", "reset", "--user", "bob", "--role", "amq"}, 0, `Roles of "bob" set to amq`},
		{"passwd of nobody", []string{"user", "passwd", "--user", "zed", "--password", "x"}, 1, `no user "zed"; the users are admin, alice, bob`},
		{"passwd with nothing to change", []string{"user", "passwd", "--user", "alice"}, 1, "nothing to change"},
		{"rm", []string{"user", "rm", "--user", "bob"}, 0, `User "bob" removed`},
		{"rm twice", []string{"user", "rm", "--user", "bob"}, 1, `no user "bob"`},
	}
	for _, s := range steps {
		code, out, errOut := runCLI(t, append(s.args, in...)...)
		if code != s.code || !strings.Contains(out+errOut, s.mention) {
			t.Fatalf("%s: exit %d, output:\n%s%s\nwant exit %d mentioning %q", s.name, code, out, errOut, s.code, s.mention)
		}
	}
	path := filepath.Join(dir, "etc", "users.yaml")
	users, err := security.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.Authenticate("alice", "new-secret"); err != nil {
		t.Errorf("alice's new password does not verify: %v", err)
	}
	if _, err := users.Authenticate("alice", "wonder"); err == nil {
		t.Error("alice's old password still verifies")
	}
	if _, ok := users.Lookup("bob"); ok {
		t.Error("bob is still in the file")
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "new-secret") || strings.Contains(string(raw), "wonder") {
		t.Error("the users file holds a clear-text password")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestUserPasswordFromStdin(t *testing.T) {
	dir := userInstance(t)
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"user", "add", "--instance", dir, "--user", "dora", "--password-stdin", "--role", "amq"},
		strings.NewReader("from stdin\n"), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	users, err := security.LoadUsers(filepath.Join(dir, "etc", "users.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.Authenticate("dora", "from stdin"); err != nil {
		t.Fatalf("password read from stdin does not verify: %v", err)
	}
}

func TestUserCommandNeedsAnInstance(t *testing.T) {
	code, _, errOut := runCLI(t, "user", "list", "--instance", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "is not a tandem instance") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
