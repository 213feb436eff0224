package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"tandem/internal/security"
)

// userOptions are the flags of tandem user and its subcommands.
type userOptions struct {
	instance, config string
	user, password   string
	passwordStdin    bool
	roles            []string
}

func init() { register(newUserCommand) }

func newUserCommand(e *env) *cobra.Command {
	var o userOptions
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add, remove, list users and change their passwords and roles",
		Long: `Edit the broker's users file (security.users-file in broker.yaml, etc/users.yaml
by default). Passwords are stored as argon2id hashes, never in clear text.
A running broker picks up the change within a few seconds.

The user is named with --user (or Artemis' --user-command-user); the password
with --password (--user-command-password) or, to keep it out of the process
list and the shell history, on standard input with --password-stdin.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.instance, "instance", os.Getenv(instanceEnv), "instance directory")
	pf.StringVar(&o.config, "config", "", "broker.yaml naming the users file")
	pf.StringVar(&o.user, "user", "", "the user to add, remove, list or change")
	pf.StringVar(&o.user, "user-command-user", "", "the same as --user (Artemis' spelling)")
	pf.StringVar(&o.password, "password", "", "the new password")
	pf.StringVar(&o.password, "user-command-password", "", "the same as --password (Artemis' spelling)")
	pf.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	pf.StringSliceVar(&o.roles, "role", nil, "roles, comma-separated (add: required; passwd/reset: replace the roles)")

	run := func(fn func(*security.Users, userOptions, io.Writer) (bool, error)) func(*cobra.Command, []string) error {
		return func(*cobra.Command, []string) error { return runUser(o, e, fn) }
	}
	cmd.AddCommand(&cobra.Command{
		Use: "add", Short: "Add a user with a password and roles", Args: cobra.NoArgs, RunE: run(userAdd),
	}, &cobra.Command{
		Use: "rm", Aliases: []string{"remove"}, Short: "Remove a user", Args: cobra.NoArgs, RunE: run(userRemove),
	}, &cobra.Command{
		Use: "list", Short: "List users and their roles (one user with --user)", Args: cobra.NoArgs, RunE: run(userList),
	}, &cobra.Command{
		Use: "passwd", Aliases: []string{"reset"}, Short: "Change a user's password and, with --role, its roles",
		Args: cobra.NoArgs, RunE: run(userPasswd),
	})
	return cmd
}

// runUser loads the users file, applies fn, and writes the file back when
// fn changed it. The password comes from standard input if asked.
func runUser(o userOptions, e *env, fn func(*security.Users, userOptions, io.Writer) (bool, error)) error {
	cfg, err := loadConfig(o.instance, o.config)
	if err != nil {
		return err
	}
	path := cfg.Security.UsersFile
	if path == "" {
		return errors.New("this broker has no users file (security.users-file is empty in broker.yaml); set it, e.g. users-file: users.yaml")
	}
	if o.passwordStdin {
		if o.password != "" {
			return errors.New("--password and --password-stdin exclude each other; give one")
		}
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
		o.password = strings.TrimRight(line, "\r\n")
	}
	users, err := security.LoadUsers(path)
	if errors.Is(err, fs.ErrNotExist) {
		users = security.NewUsers()
	} else if err != nil {
		return err
	}
	changed, err := fn(users, o, e.stdout)
	if err != nil || !changed {
		return err
	}
	if err := security.WriteUsers(path, users); err != nil {
		return err
	}
	return nil
}

func needUser(o userOptions) error {
	if o.user == "" {
		return errors.New("--user is required: name the user, e.g. --user alice")
	}
	return nil
}

func needPassword(o userOptions) error {
	if o.password == "" {
		return errors.New("a password is required: pass --password PW, or --password-stdin and the password on standard input")
	}
	return nil
}

func userAdd(users *security.Users, o userOptions, out io.Writer) (bool, error) {
	if err := needUser(o); err != nil {
		return false, err
	}
	if err := needPassword(o); err != nil {
		return false, err
	}
	if len(o.roles) == 0 {
		return false, errors.New("--role is required: give the user's roles, e.g. --role amq (roles are granted permissions in security-settings)")
	}
	if err := users.AddUser(o.user, o.password, o.roles); err != nil {
		if errors.Is(err, security.ErrUserExists) {
			return false, fmt.Errorf("user %q already exists; change its password with 'tandem user passwd' or remove it with 'tandem user rm'", o.user)
		}
		return false, err
	}
	fmt.Fprintf(out, "User %q added with roles %s\n", o.user, strings.Join(o.roles, ","))
	return true, nil
}

func userRemove(users *security.Users, o userOptions, out io.Writer) (bool, error) {
	if err := needUser(o); err != nil {
		return false, err
	}
	if err := users.RemoveUser(o.user); err != nil {
		return false, unknownUser(err, o.user, users)
	}
	fmt.Fprintf(out, "User %q removed\n", o.user)
	return true, nil
}

func userPasswd(users *security.Users, o userOptions, out io.Writer) (bool, error) {
	if err := needUser(o); err != nil {
		return false, err
	}
	if o.password == "" && len(o.roles) == 0 {
		return false, errors.New("nothing to change: give a new --password (or --password-stdin), --role, or both")
	}
	if _, ok := users.Lookup(o.user); !ok {
		return false, unknownUser(security.ErrUnknownUser, o.user, users)
	}
	if o.password != "" {
		if err := users.SetPassword(o.user, o.password); err != nil {
			return false, err
		}
		fmt.Fprintf(out, "Password of %q changed\n", o.user)
	}
	if len(o.roles) > 0 {
		if err := users.SetRoles(o.user, o.roles); err != nil {
			return false, err
		}
		fmt.Fprintf(out, "Roles of %q set to %s\n", o.user, strings.Join(o.roles, ","))
	}
	return true, nil
}

// userList prints users as Artemis' user list does: --- "name"(roles),
// then the total.
func userList(users *security.Users, o userOptions, out io.Writer) (bool, error) {
	names := users.Names()
	if o.user != "" {
		if _, ok := users.Lookup(o.user); !ok {
			return false, unknownUser(security.ErrUnknownUser, o.user, users)
		}
		names = []string{o.user}
	}
	for _, n := range names {
		u, _ := users.Lookup(n)
		fmt.Fprintf(out, "--- %q(%s)\n", n, strings.Join(u.Roles, ","))
	}
	fmt.Fprintf(out, "\nTotal: %d\n", len(names))
	return false, nil
}

// unknownUser explains a missing user and lists who exists.
func unknownUser(err error, name string, users *security.Users) error {
	if !errors.Is(err, security.ErrUnknownUser) {
		return err
	}
	known := users.Names()
	if len(known) == 0 {
		return fmt.Errorf("no user %q: the users file has no users yet; add one with 'tandem user add'", name)
	}
	return fmt.Errorf("no user %q; the users are %s", name, strings.Join(known, ", "))
}
