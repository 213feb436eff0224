package security

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// newTestUsers returns users with one user, hashed with cheap parameters.
func newTestUsers(t *testing.T, name, pw string, roles ...string) *Users {
	t.Helper()
	u := NewUsers()
	h, err := HashPasswordWith(pw, cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	u.users[name] = User{Name: name, PasswordHash: h, Roles: roles}
	return u
}

func TestUsersAddRemoveSetPassword(t *testing.T) {
	u := NewUsers()
	if err := u.AddUser("admin", "admin", []string{"amq", "manage", "amq"}); err != nil {
		t.Fatal(err)
	}
	if err := u.AddUser("admin", "x", nil); !errors.Is(err, ErrUserExists) {
		t.Fatalf("second AddUser err = %v, want ErrUserExists", err)
	}
	usr, ok := u.Lookup("admin")
	if !ok || !slices.Equal(usr.Roles, []string{"amq", "manage"}) {
		t.Fatalf("Lookup = %+v, %v; want roles [amq manage] without the duplicate", usr, ok)
	}
	p, err := u.Authenticate("admin", "admin")
	if err != nil || p.User != "admin" || !p.HasRole("manage") {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if err := u.SetPassword("admin", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Authenticate("admin", "admin"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password err = %v, want ErrBadCredentials", err)
	}
	if _, err := u.Authenticate("admin", "new"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := u.SetRoles("admin", []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if err := u.RemoveUser("admin"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"remove":   u.RemoveUser("admin"),
		"password": u.SetPassword("admin", "x"),
		"roles":    u.SetRoles("admin", nil),
	} {
		if !errors.Is(err, ErrUnknownUser) {
			t.Errorf("%s of removed user: err = %v, want ErrUnknownUser", name, err)
		}
	}
}

func TestUsersInvalidNames(t *testing.T) {
	u := NewUsers()
	for _, tc := range []struct {
		name  string
		roles []string
	}{{"", nil}, {" admin", nil}, {"ad\nmin", nil}, {"admin", []string{""}}} {
		if err := u.AddUser(tc.name, "pw", tc.roles); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("AddUser(%q, %q) err = %v, want ErrInvalidUser", tc.name, tc.roles, err)
		}
	}
	if err := u.AddUser("x", "", nil); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("empty password err = %v, want ErrEmptyPassword", err)
	}
}

func TestUsersAuthenticateSameErrorForUnknownUser(t *testing.T) {
	u := newTestUsers(t, "admin", "admin", "amq")
	_, errUnknown := u.Authenticate("nobody", "admin")
	_, errWrong := u.Authenticate("admin", "wrong")
	_, errEmpty := u.Authenticate("", "")
	for _, err := range []error{errUnknown, errWrong, errEmpty} {
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
	}
	if errUnknown.Error() != errWrong.Error() {
		t.Fatalf("unknown user and wrong password give different messages: %q vs %q", errUnknown, errWrong)
	}
}

func TestWriteAndLoadUsers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	u := newTestUsers(t, "admin", "topsecret", "amq", "manage")
	if err := u.AddUser("o'brien: \"x\"", "other", []string{"guest"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteUsers(path, u); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode = %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "topsecret") || strings.Contains(string(data), "other\"") {
		t.Fatalf("users file holds a clear password:\n%s", data)
	}
	got, err := LoadUsers(path)
	if err != nil {
		t.Fatalf("LoadUsers: %v\n%s", err, data)
	}
	if !slices.Equal(got.Names(), []string{"admin", "o'brien: \"x\""}) {
		t.Fatalf("names = %q", got.Names())
	}
	if p, err := got.Authenticate("admin", "topsecret"); err != nil || !slices.Equal(p.Roles, []string{"amq", "manage"}) {
		t.Fatalf("Authenticate after reload = %+v, %v", p, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLoadUsersMissing(t *testing.T) {
	_, err := LoadUsers(filepath.Join(t.TempDir(), "users.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "tandem create") {
		t.Fatalf("err = %v, want fs.ErrNotExist with a hint", err)
	}
}

func TestParseUsersProblems(t *testing.T) {
	good, _ := HashPasswordWith("pw", cheapParams)
	tests := []struct {
		name string
		yaml string
		want []string // substrings, one per expected problem, in order
	}{
		{"empty file", "", nil},
		{"null users", "users:\n", nil},
		{"clear password", "users:\n  admin:\n    password: admin\n    roles: [amq]\n",
			[]string{"u.yaml:3: password of user \"admin\": not an argon2id password hash"}},
		{"unknown keys", "users:\n  admin:\n    password: \"" + good + "\"\n    role: [amq]\nextra: 1\n",
			[]string{"u.yaml:4: unknown key \"role\" in user \"admin\"", "u.yaml:5: unknown key \"extra\""}},
		{"roles not a list", "users:\n  a:\n    password: \"" + good + "\"\n    roles: amq\n",
			[]string{"u.yaml:4: roles of user \"a\" must be a list"}},
		{"no password", "users:\n  a:\n    roles: [amq]\n", []string{"u.yaml:3: user \"a\" has no password"}},
		{"not a mapping", "- a\n", []string{"u.yaml:1: expected a mapping"}},
		{"user not a mapping", "users:\n  a: b\n", []string{"u.yaml:2: user \"a\" must be a mapping"}},
		{"syntax", "users: [\n", []string{"u.yaml: yaml:"}},
		{"duplicate user", "users:\n  a: {password: \"" + good + "\"}\n  a: {password: \"" + good + "\"}\n",
			[]string{"u.yaml:3: user \"a\" is defined twice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUsers([]byte(tc.yaml), "u.yaml")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(u.Names()) != 0 {
					t.Fatalf("names = %v", u.Names())
				}
				return
			}
			if !errors.Is(err, ErrInvalidUsersFile) {
				t.Fatalf("err = %v, want ErrInvalidUsersFile", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func FuzzParseUsers(f *testing.F) {
	good, _ := HashPasswordWith("pw", cheapParams)
	f.Add([]byte("users:\n  admin:\n    password: \"" + good + "\"\n    roles: [amq]\n"))
	f.Add([]byte("users: {a: {password: x, roles: [1, [2]]}}"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUsers(data, "f.yaml")
		if err == nil && u == nil {
			t.Fatal("nil users without an error")
		}
	})
}

func TestWatchReloadsTheUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	u := NewUsers()
	if err := u.AddUser("alice", "one", []string{"amq"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteUsers(path, u); err != nil {
		t.Fatal(err)
	}
	live, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	live.Watch(path, time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	auth := NewAuthenticator(false, "", live)
	if _, err := auth.Authenticate("alice", "one"); err != nil {
		t.Fatal(err)
	}
	gen := auth.Generation()
	// Change the password and add a user, as tandem user does.
	if err := u.SetPassword("alice", "two"); err != nil {
		t.Fatal(err)
	}
	if err := u.AddUser("bob", "b", []string{"amq"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteUsers(path, u); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let the check interval pass
	// Generation looks at the file itself: the broker keeps permitted
	// sends until it changes, with no login to trigger the reload.
	if auth.Generation() == gen {
		t.Fatal("the generation did not change when the users file did")
	}
	gen = auth.Generation()
	if _, err := auth.Authenticate("alice", "one"); err == nil {
		t.Fatal("the old password still logs in after the file changed")
	}
	for _, login := range [][2]string{{"alice", "two"}, {"bob", "b"}} {
		if _, err := auth.Authenticate(login[0], login[1]); err != nil {
			t.Fatalf("%s after reload: %v", login[0], err)
		}
	}
	// A broken file is logged and ignored.
	if err := os.WriteFile(path, []byte("users: [not, a, mapping]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := auth.Authenticate("bob", "b"); err != nil {
		t.Fatalf("a broken users file dropped the users read before: %v", err)
	}
	if auth.Generation() != gen {
		t.Fatal("a users file that does not load changed the generation")
	}
	if !strings.Contains(logs.String(), "users_reload_failed") {
		t.Fatalf("no log line about the broken file:\n%s", logs.String())
	}
}
