package security

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"go.yaml.in/yaml/v3"

	"tandem/internal/fsutil"
)

// Sentinel errors of the users store. Callers match them with errors.Is.
var (
	// ErrBadCredentials is returned for an unknown user and for a wrong
	// password alike, so a client cannot probe which user names exist.
	ErrBadCredentials = errors.New("bad credentials: the user name or password is wrong; check them and log in again")
	// ErrUserExists is returned by AddUser for a name already present.
	ErrUserExists = errors.New("user already exists")
	// ErrUnknownUser is returned by RemoveUser and SetPassword for a name
	// that is not present.
	ErrUnknownUser = errors.New("no such user")
	// ErrInvalidUser reports a user name or role list that cannot be stored.
	ErrInvalidUser = errors.New("invalid user")
	// ErrInvalidUsersFile reports a users file that could not be parsed;
	// the error lists every problem with its file:line.
	ErrInvalidUsersFile = errors.New("invalid users file")
)

// User is one entry of the users file. PasswordHash is an argon2id PHC
// string; the clear password is never kept.
type User struct {
	Name         string
	PasswordHash string
	Roles        []string
}

// Principal is an authenticated identity: the user name (or "anonymous")
// and the roles the permissions are checked against.
type Principal struct {
	User  string
	Roles []string
}

// HasRole reports whether the principal holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Users is the set of users of one broker, safe for concurrent use. The zero
// value is not usable; create one with NewUsers or LoadUsers.
type Users struct {
	mu    sync.RWMutex
	users map[string]User
	// gen counts changes to users, so that a caller that remembers a
	// decision made about a user can tell when to make it again.
	gen atomic.Uint64

	// verify derives and compares a key; tests replace it to count calls.
	verify func(hash, pw string) (bool, error)
	// slots bounds concurrent argon2 derivations: each allocates the
	// hash's memory cost (19 MiB by default), so an unbounded flood of
	// logins could exhaust memory before it exhausts CPU.
	slots chan struct{}

	dummyOnce sync.Once
	dummy     string

	// watch, when set by Watch, names the file to reload on change.
	watch watchPtr
}

// NewUsers returns an empty users set.
func NewUsers() *Users {
	return &Users{
		users:  make(map[string]User),
		verify: VerifyPassword,
		slots:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
	}
}

// AddUser hashes password and adds a user with the given roles.
func (u *Users) AddUser(name, password string, roles []string) error {
	if err := checkUser(name, roles); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.users[name]; ok {
		return fmt.Errorf("%w: %q; remove it first or set its password instead", ErrUserExists, name)
	}
	u.users[name] = User{Name: name, PasswordHash: hash, Roles: normalizeRoles(roles)}
	u.gen.Add(1)
	return nil
}

// RemoveUser deletes a user.
func (u *Users) RemoveUser(name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.users[name]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownUser, name)
	}
	delete(u.users, name)
	u.gen.Add(1)
	return nil
}

// SetPassword replaces a user's password with a fresh hash of password.
// Cached logins with the old password stop working at once, because the
// Authenticator's cache entries remember the hash they were verified against.
func (u *Users) SetPassword(name, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, ok := u.users[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownUser, name)
	}
	usr.PasswordHash = hash
	u.users[name] = usr
	u.gen.Add(1)
	return nil
}

// SetRoles replaces a user's roles.
func (u *Users) SetRoles(name string, roles []string) error {
	if err := checkUser(name, roles); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, ok := u.users[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownUser, name)
	}
	usr.Roles = normalizeRoles(roles)
	u.users[name] = usr
	u.gen.Add(1)
	return nil
}

// Lookup returns a copy of the named user.
func (u *Users) Lookup(name string) (User, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	usr, ok := u.users[name]
	usr.Roles = slices.Clone(usr.Roles)
	return usr, ok
}

// Names returns the user names in sorted order.
func (u *Users) Names() []string {
	u.mu.RLock()
	defer u.mu.RUnlock()
	names := make([]string, 0, len(u.users))
	for n := range u.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Authenticate verifies a user name and password. It returns
// ErrBadCredentials for an empty or unknown user name and for a wrong
// password; an unknown user still pays for one argon2 derivation so that
// the response time does not reveal whether the name exists.
func (u *Users) Authenticate(user, pass string) (Principal, error) {
	if user == "" {
		return Principal{}, ErrBadCredentials
	}
	usr, err := u.authenticateUser(user, pass)
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: usr.Name, Roles: usr.Roles}, nil
}

// verifyLimited runs the verify function under the concurrency bound.
func (u *Users) verifyLimited(hash, pass string) (bool, error) {
	u.slots <- struct{}{}
	defer func() { <-u.slots }()
	return u.verify(hash, pass)
}

// dummyHash is a hash of a random password, verified against when the user
// is unknown. It is computed once, on first need.
func (u *Users) dummyHash() string {
	u.dummyOnce.Do(func() {
		u.dummy, _ = HashPassword(rand.Text())
	})
	return u.dummy
}

// checkUser validates a user name and its roles.
func checkUser(name string, roles []string) error {
	if name == "" {
		return fmt.Errorf("%w: the user name is empty; choose a non-empty name", ErrInvalidUser)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: user name %q has control characters or surrounding spaces; choose a plain name", ErrInvalidUser, name)
	}
	for _, r := range roles {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("%w: user %q has an empty role name; remove it or name the role", ErrInvalidUser, name)
		}
	}
	return nil
}

// normalizeRoles returns roles without duplicates, in first-seen order.
func normalizeRoles(roles []string) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// usersFileError lists every problem found in a users file.
type usersFileError struct{ problems []string }

func (e *usersFileError) Error() string { return strings.Join(e.problems, "\n") }
func (e *usersFileError) Unwrap() error { return ErrInvalidUsersFile }

// LoadUsers reads a users file. Every problem in the file is reported, each
// as "path:line: what is wrong"; the error wraps ErrInvalidUsersFile, or
// fs.ErrNotExist when the file is missing.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("users file %s does not exist; create the instance with tandem create, or point security.users-file in broker.yaml at the right file: %w", path, err)
		}
		return nil, fmt.Errorf("read users file: %w", err)
	}
	return ParseUsers(data, path)
}

// ParseUsers parses the contents of a users file; filename only labels
// the problems.
func ParseUsers(data []byte, filename string) (*Users, error) {
	users := NewUsers()
	var probs []string
	addf := func(line int, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("%s:%d: ", filename, line)+fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &usersFileError{[]string{fmt.Sprintf("%s: %v; fix the YAML syntax", filename, err)}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return users, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		addf(root.Line, "expected a mapping with a \"users\" key")
		return nil, &usersFileError{probs}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "users" {
			addf(k.Line, "unknown key %q (expected \"users\")", k.Value)
			continue
		}
		parseUserMap(v, users, addf)
	}
	if len(probs) > 0 {
		return nil, &usersFileError{probs}
	}
	return users, nil
}

// parseUserMap reads the "users:" mapping into users.
func parseUserMap(v *yaml.Node, users *Users, addf func(int, string, ...any)) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		addf(v.Line, "users must be a mapping of user name to {password, roles}")
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, uv := v.Content[i], v.Content[i+1]
		name := k.Value
		if _, dup := users.users[name]; dup {
			addf(k.Line, "user %q is defined twice; keep one entry", name)
			continue
		}
		if uv.Kind != yaml.MappingNode {
			addf(uv.Line, "user %q must be a mapping with password and roles", name)
			continue
		}
		usr := User{Name: name}
		sawPassword := false
		for j := 0; j+1 < len(uv.Content); j += 2 {
			fk, fv := uv.Content[j], uv.Content[j+1]
			switch fk.Value {
			case "password":
				sawPassword = true
				if fv.Kind != yaml.ScalarNode {
					addf(fv.Line, "password of user %q must be a string", name)
					continue
				}
				if err := CheckHash(fv.Value); err != nil {
					addf(fv.Line, "password of user %q: %v; passwords are stored only as argon2id hashes, set it again with a tandem command that hashes it (e.g. tandem create --force)", name, err)
					continue
				}
				usr.PasswordHash = fv.Value
			case "roles":
				if fv.Kind != yaml.SequenceNode {
					addf(fv.Line, "roles of user %q must be a list, e.g. [amq]", name)
					continue
				}
				for _, r := range fv.Content {
					if r.Kind != yaml.ScalarNode || strings.TrimSpace(r.Value) == "" {
						addf(r.Line, "role of user %q must be a non-empty string", name)
						continue
					}
					usr.Roles = append(usr.Roles, r.Value)
				}
			default:
				addf(fk.Line, "unknown key %q in user %q (expected password, roles)", fk.Value, name)
			}
		}
		if !sawPassword {
			addf(uv.Line, "user %q has no password", name)
		}
		if err := checkUser(name, usr.Roles); err != nil {
			addf(k.Line, "%v", err)
		}
		usr.Roles = normalizeRoles(usr.Roles)
		users.users[name] = usr
	}
}

// WriteUsers writes users to path atomically (a temporary file renamed into
// place) with mode 0600, because even hashes are worth keeping from other
// local accounts.
func WriteUsers(path string, users *Users) error {
	data, err := MarshalUsers(users)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write users file: %w", err)
	}
	return nil
}

// MarshalUsers renders users in the users file format, sorted by name.
func MarshalUsers(users *Users) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	list := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "users"}, list)
	for _, name := range users.Names() {
		usr, _ := users.Lookup(name)
		roles := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, r := range usr.Roles {
			roles.Content = append(roles.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: r})
		}
		entry := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "password"},
			{Kind: yaml.ScalarNode, Value: usr.PasswordHash, Style: yaml.DoubleQuotedStyle},
			{Kind: yaml.ScalarNode, Value: "roles"}, roles,
		}}
		list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, entry)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}, HeadComment: usersFileHeader}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode users file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode users file: %w", err)
	}
	return []byte(b.String()), nil
}

// usersFileHeader explains the file to whoever opens it.
const usersFileHeader = `tandem users file.
Passwords are argon2id hashes ($argon2id$v=19$m=...,t=...,p=...$salt$hash),
never clear text: a clear-text password here stops the broker from starting.
Roles are matched against security-settings in broker.yaml.`
