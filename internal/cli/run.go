package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"tandem/internal/config"
	"tandem/internal/instance"
	"tandem/internal/pidfile"
	"tandem/internal/server"
)

// instanceEnv names the environment variable an instance's bin/tandem
// script sets, so every command run through it finds its instance.
const instanceEnv = instance.EnvInstance

type runOptions struct {
	instance    string
	configFile  string
	configCheck bool
	portOffset  int
}

func init() { register(newRunCommand) }

func newRunCommand(e *env) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a broker in the foreground",
		Long: `Run a broker in the foreground until interrupted (Ctrl-C or SIGTERM).

With --instance (or from an instance's bin/tandem script) it runs that
instance, configured by its etc/broker.yaml. Without one it runs the embedded
default broker: data under ./data, anonymous access, loopback only; the
operator commands (queue stat, node status) and the console work on it
without credentials from this machine.

--port-offset N moves the client ports and the console up by N, as
'tandem create --port-offset' does, to run beside another broker. The
process id is kept in the instance's data/tandem.pid (./data/tandem.pid for
the default broker), where 'tandem stop' finds it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd.Context(), o, e)
		},
	}
	cmd.Flags().StringVar(&o.instance, "instance", os.Getenv(instanceEnv), "instance directory created by 'tandem create'")
	cmd.Flags().StringVar(&o.configFile, "config", "", "broker.yaml to use instead of the instance's etc/broker.yaml")
	cmd.Flags().BoolVar(&o.configCheck, "config-check", false, "validate the configuration and exit without starting")
	cmd.Flags().IntVar(&o.portOffset, "port-offset", 0, "add N to the client ports and the console port")
	return cmd
}

// loadConfig finds and loads the configuration a command runs with.
func loadConfig(instance, file string) (*config.Config, error) {
	switch {
	case file != "":
		return config.Load(file)
	case instance != "":
		path := filepath.Join(instance, "etc", "broker.yaml")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s is not a tandem instance (no etc/broker.yaml); create one with 'tandem create %s'", instance, instance)
		}
		return config.Load(path)
	default:
		cfg := config.Default()
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if err := cfg.ResolvePaths(wd); err != nil {
			return nil, err
		}
		return cfg, nil
	}
}

func runRun(ctx context.Context, o runOptions, e *env) error {
	cfg, err := loadConfig(o.instance, o.configFile)
	if err != nil {
		return err
	}
	if err := cfg.ApplyPortOffset(o.portOffset); err != nil {
		return fmt.Errorf("--port-offset %d: %w", o.portOffset, err)
	}
	if o.configCheck {
		where := cfg.File
		if where == "" {
			where = "the embedded default configuration"
		}
		fmt.Fprintf(e.stdout, "configuration OK: %s\n", where)
		return nil
	}
	pid, err := acquirePIDFile(cfg)
	if err != nil {
		return err
	}
	defer pid.Release()
	log, closeLog, err := newLogger(cfg, e.stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	err = server.New(cfg, log).Run(ctx)
	if errors.Is(err, server.ErrLockLost) {
		return &exitError{code: 3, err: err}
	}
	return err
}

// newLogger logs to stderr and, when the configuration names one, to a
// log file as well.
func newLogger(cfg *config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	w := stderr
	closer := func() {}
	if cfg.Log.File != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Log.File), 0o755); err != nil {
			return nil, nil, fmt.Errorf("create log directory: %w", err)
		}
		f, err := os.OpenFile(cfg.Log.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		w = io.MultiWriter(stderr, f)
		closer = func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: cfg.Log.Level}
	var h slog.Handler
	if cfg.Log.Format == config.LogJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("broker", cfg.Name), closer, nil
}

// pidFilePath is where a broker run with cfg keeps its process id: the
// instance's data directory, or ./data for the default broker.
func pidFilePath(cfg *config.Config) string {
	if cfg.BaseDir != "" {
		return filepath.Join(cfg.BaseDir, "data", "tandem.pid")
	}
	return filepath.Join(filepath.Dir(cfg.JournalDirectory), "tandem.pid")
}

// acquirePIDFile records this process as the broker of cfg, refusing a
// second run of the same instance.
func acquirePIDFile(cfg *config.Config) (*pidfile.File, error) {
	path := pidFilePath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	p, err := pidfile.Acquire(path)
	var held *pidfile.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("broker %s is already running as process %d (it holds %s); stop it with 'tandem stop%s', or run this one elsewhere",
			cfg.Name, held.PID, held.Path, instanceArg(cfg))
	}
	return p, err
}

// instanceArg is the --instance argument that names cfg's instance, if any.
func instanceArg(cfg *config.Config) string {
	if cfg.BaseDir == "" {
		return ""
	}
	return " --instance " + cfg.BaseDir
}
