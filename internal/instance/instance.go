package instance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"tandem/internal/config"
)

// EnvInstance names the environment variable an instance's bin/tandem
// script sets to the instance directory; tandem commands use it as the
// default of --instance.
const EnvInstance = "TANDEM_INSTANCE"

// Names of the parts of an instance directory.
const (
	binDirName  = "bin"
	etcDirName  = "etc"
	dataDirName = "data"
	logDirName  = "log"
	scriptName  = "tandem"
	configName  = "broker.yaml"
	usersName   = "users.yaml"
	logFileName = "tandem.log"
)

// Sentinel errors of Locate and Create.
var (
	// ErrNotInstance reports a directory without etc/broker.yaml.
	ErrNotInstance = errors.New("not a tandem instance")
	// ErrExists reports an existing instance that Create would overwrite.
	ErrExists = errors.New("instance already exists")
	// ErrNotEmpty reports a non-empty directory that is not an instance.
	ErrNotEmpty = errors.New("directory is not empty")
	// ErrInvalidOptions reports create options that contradict each other
	// or cannot be used.
	ErrInvalidOptions = errors.New("invalid create options")
)

// userError is an error whose message is complete for the user of the
// command line, while callers still match its sentinel with errors.Is.
type userError struct {
	sentinel error
	msg      string
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.sentinel }

// Instance is an instance directory. All paths are absolute.
type Instance struct {
	// Dir is the instance directory.
	Dir string
	// BinDir holds the bin/tandem script.
	BinDir string
	// EtcDir holds broker.yaml and users.yaml.
	EtcDir string
	// DataDir is the instance's own data directory; a shared-store
	// instance keeps its journal elsewhere (see the configuration).
	DataDir string
	// LogDir holds the log file.
	LogDir string
}

// at returns the Instance laid out under the absolute directory dir.
func at(dir string) *Instance {
	return &Instance{
		Dir:     dir,
		BinDir:  filepath.Join(dir, binDirName),
		EtcDir:  filepath.Join(dir, etcDirName),
		DataDir: filepath.Join(dir, dataDirName),
		LogDir:  filepath.Join(dir, logDirName),
	}
}

// ConfigPath returns the path of etc/broker.yaml.
func (i *Instance) ConfigPath() string { return filepath.Join(i.EtcDir, configName) }

// UsersPath returns the path of etc/users.yaml, the users file Create
// writes; a broker.yaml may point security.users-file elsewhere.
func (i *Instance) UsersPath() string { return filepath.Join(i.EtcDir, usersName) }

// ScriptPath returns the path of bin/tandem.
func (i *Instance) ScriptPath() string { return filepath.Join(i.BinDir, scriptName) }

// LoadConfig loads the instance's broker.yaml.
func (i *Instance) LoadConfig() (*config.Config, error) { return config.Load(i.ConfigPath()) }

// Locate returns the instance in dir. It fails with an error wrapping
// ErrNotInstance when dir has no etc/broker.yaml.
func Locate(dir string) (*Instance, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("locate instance %s: %w", dir, err)
	}
	inst := at(abs)
	if !isInstance(abs) {
		return nil, &userError{ErrNotInstance, fmt.Sprintf("%s is not a tandem instance (no etc/broker.yaml); create one with 'tandem create %s' or point --instance (or %s) at one",
			dir, dir, EnvInstance)}
	}
	return inst, nil
}

// isInstance reports whether dir holds etc/broker.yaml.
func isInstance(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, etcDirName, configName))
	return err == nil && st.Mode().IsRegular()
}

// checkTarget decides whether Create may write into dir: a missing or empty
// directory is fine; an existing instance or any other content needs force.
func checkTarget(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
			return fmt.Errorf("%s exists and is not a directory; choose another path for the instance", dir)
		}
		return fmt.Errorf("read %s: %w", dir, err)
	case len(entries) == 0 || force:
		return nil
	case isInstance(dir):
		return &userError{ErrExists, dir + " already holds a tandem instance; pass --force to overwrite it (its configuration and users are replaced, data and logs are kept)"}
	default:
		return &userError{ErrNotEmpty, dir + " is not empty and does not hold a tandem instance; choose a new or empty directory, or pass --force to create the instance in it anyway"}
	}
}

// shQuote quotes s for a POSIX shell: inside single quotes, where an
// embedded single quote is written by closing the quotes, escaping it with
// a backslash and reopening them.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// script returns the bin/tandem script for an instance in dir that runs the
// tandem binary at exe.
func script(dir, exe string) []byte {
	return []byte(`#!/bin/sh
# bin/tandem runs tandem for the broker instance in this directory.
#
# It runs the tandem binary that created the instance, with TANDEM_INSTANCE
# set to the instance directory. Every tandem command takes TANDEM_INSTANCE
# as the default of --instance, so the usual arguments work unchanged:
#
#   bin/tandem run                   start this broker in the foreground
#   bin/tandem run --config-check    check etc/broker.yaml and exit
#
# An explicit --instance still wins. After moving the instance or upgrading
# tandem, edit the two paths below.
TANDEM_INSTANCE=` + shQuote(dir) + `
export TANDEM_INSTANCE
exec ` + shQuote(exe) + ` "$@"
`)
}

// executable returns the absolute path of the running tandem binary with
// symbolic links resolved: the script names the binary that created the
// instance, not a link that a later upgrade may repoint.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the tandem binary to write into bin/tandem: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Abs(exe)
}
