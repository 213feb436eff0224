package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"tandem/internal/pidfile"
)

type stopOptions struct {
	instance   string
	configFile string
	timeout    time.Duration
}

func init() { register(newStopCommand) }

func newStopCommand(e *env) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop a running broker gracefully, as Ctrl-C does",
		Long: `Stop the broker of an instance (--instance, or the instance whose
bin/tandem runs this; without one, the default broker of ./data) as Ctrl-C
or SIGTERM does: it closes its clients, syncs and closes the journal, and
exits. On the live node of a shared-store pair, the backup takes over only
with failover-on-shutdown (docs/ha.md); a waiting backup just exits.

It finds the broker through the process id in data/tandem.pid, which the
broker holds locked while it runs, and waits until it exited.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStop(cmd.Context(), o, e) },
	}
	cmd.Flags().StringVar(&o.instance, "instance", os.Getenv(instanceEnv), "instance directory created by 'tandem create'")
	cmd.Flags().StringVar(&o.configFile, "config", "", "broker.yaml the broker was run with instead of the instance's")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the broker to exit")
	return cmd
}

func runStop(ctx context.Context, o stopOptions, e *env) error {
	cfg, err := loadConfig(o.instance, o.configFile)
	if err != nil {
		return err
	}
	path := pidFilePath(cfg)
	pid, err := pidfile.Running(path)
	if errors.Is(err, pidfile.ErrNotRunning) {
		return fmt.Errorf("broker %s is not running: no process holds %s", cfg.Name, path)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Stopping broker %s (process %d)\n", cfg.Name, pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal process %d: %w", pid, err)
	}
	deadline := time.Now().Add(o.timeout)
	for {
		if _, err := pidfile.Running(path); errors.Is(err, pidfile.ErrNotRunning) {
			fmt.Fprintf(e.stdout, "Broker %s stopped\n", cfg.Name)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker %s (process %d) still runs %v after SIGTERM; kill -9 %d stops it at once (a live node's backup then takes over)",
				cfg.Name, pid, o.timeout, pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
