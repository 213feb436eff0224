package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"tandem/internal/config"
	"tandem/internal/ha"
	"tandem/internal/journal"
	"tandem/internal/store/filestore"
	"tandem/internal/storecheck"
	"tandem/internal/storelock"
)

type dataOptions struct {
	instance string
	config   string
	backup   string
	dryRun   bool
}

func init() { register(newDataCommand) }

func newDataCommand(e *env) *cobra.Command {
	var o dataOptions
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Inspect and repair a broker's store offline",
		Long: `Inspect a broker's store (journals, page files, large-message bodies) without
starting it, and repair one that a broker refuses to start on.
Use them on a stopped broker, or on a stopped shared store.
With store: {type: database}, print and verify read the database instead
(also while a broker runs on it, in one consistent snapshot): the lease, the
activations, and every table of the store.`,
	}
	cmd.PersistentFlags().StringVar(&o.instance, "instance", os.Getenv(instanceEnv), "instance directory")
	cmd.PersistentFlags().StringVar(&o.config, "config", "", "broker.yaml naming the store's directories")
	repair := &cobra.Command{
		Use:   "repair",
		Short: "Cut a damaged store back to its last consistent point, keeping a backup",
		Long: `Cut a store that a broker refuses to start on back to its last consistent
point, and keep everything removed in a backup directory with a REPAIR.txt
that says what was removed and why:

  - each journal is cut at its first corruption: the damaged file is cut
    after its last good record (a copy kept), later files are moved out;
  - each address's page files are cut the same way;
  - messages whose large body is missing are deleted from the journal;
  - large bodies no message names are moved out.

Messages written after the corruption are in the backup, not in the store.
Run 'tandem data verify' first, stop the broker (and, on a shared store,
both nodes), and use --dry-run to see what would change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDataRepair(cmd.Context(), o, e.stdout)
		},
	}
	repair.Flags().StringVar(&o.backup, "backup", "", "directory for what the repair removes (default: repair-backup-TIME beside the journal directory)")
	repair.Flags().BoolVar(&o.dryRun, "dry-run", false, "only say what would change")
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print every journal record, live or dead",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDataPrint(cmd.Context(), o, e.stdout)
		},
	}, &cobra.Command{
		Use:   "verify",
		Short: "Check the journals, page files and large-message bodies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDataVerify(cmd.Context(), o, e.stdout)
		},
	}, repair)
	return cmd
}

type journalDir struct{ name, dir, prefix string }

func journalDirs(o dataOptions) ([]journalDir, error) {
	cfg, err := loadConfig(o.instance, o.config)
	if err != nil {
		return nil, err
	}
	return []journalDir{
		{"bindings", cfg.BindingsDirectory, filestore.BindingsPrefix},
		{"messages", cfg.JournalDirectory, filestore.MessagesPrefix},
	}, nil
}

func runDataPrint(ctx context.Context, o dataOptions, out io.Writer) error {
	if cfg, ok := databaseConfig(o); ok {
		return runDataPrintDatabase(ctx, cfg, out)
	}
	dirs, err := journalDirs(o)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		fmt.Fprintf(out, "== %s journal in %s\n", d.name, d.dir)
		err := journal.Scan(d.dir, d.prefix, func(e journal.ScanEntry) error {
			switch e.Kind {
			case journal.ScanFile:
				fmt.Fprintf(out, "-- %s seq=%d epoch=%d size=%d end=%d\n", e.File, e.Header.Seq, e.Header.Epoch, e.Size, e.End)
			case journal.ScanRecord:
				line, derr := filestore.Describe(e.Op)
				if derr != nil {
					line += " (undecodable: " + derr.Error() + ")"
				}
				fmt.Fprintf(out, "%s@%d %s\n", e.File, e.Offset, line)
			default:
				fmt.Fprintf(out, "%s@%d %s: %v\n", e.File, e.Offset, e.Kind, e.Err)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s journal: %w", d.name, err))
		}
	}
	return errors.Join(errs...)
}

func storeDirs(o dataOptions) (*config.Config, storecheck.Dirs, error) {
	cfg, err := loadConfig(o.instance, o.config)
	if err != nil {
		return nil, storecheck.Dirs{}, err
	}
	return cfg, storecheck.Dirs{Journal: cfg.JournalDirectory, Bindings: cfg.BindingsDirectory, Paging: cfg.PagingDirectory,
		Large: cfg.LargeMessagesDirectory, JournalFileSize: cfg.JournalFileSize}, nil
}

func runDataVerify(ctx context.Context, o dataOptions, out io.Writer) error {
	if cfg, ok := databaseConfig(o); ok {
		return runDataVerifyDatabase(ctx, cfg, out)
	}
	_, d, err := storeDirs(o)
	if err != nil {
		return err
	}
	if h, held, err := storelock.InUse(d.Journal); err == nil && held {
		fmt.Fprintf(out, "note: the store is in use by %s; a running broker's files may show writes in progress\n", h)
	}
	r, err := storecheck.Verify(d)
	if err != nil {
		return err
	}
	for _, f := range r.Findings {
		fmt.Fprintln(out, f)
	}
	for _, l := range r.Summary {
		fmt.Fprintln(out, l)
	}
	if n := r.Errors(); n > 0 {
		return fmt.Errorf("the store has %d problems a start refuses or that damage messages; 'tandem data repair --dry-run' shows what a repair would remove", n)
	}
	return nil
}

func runDataRepair(_ context.Context, o dataOptions, out io.Writer) error {
	cfg, d, err := storeDirs(o)
	if err != nil {
		return err
	}
	if cfg.Database() {
		return errors.New("tandem data repair works on a file store; a database store's writes are transactions, which PostgreSQL itself recovers: run 'tandem data verify' to check it")
	}
	// Nothing may serve the store meanwhile: take its lock like a broker,
	// and on a shared store the live lock, so no waiting node activates.
	lock, err := storelock.Acquire([]string{d.Journal, d.Bindings, d.Paging, d.Large}, storelock.Self(cfg.BaseDir, cfg.Name, "tandem data repair"))
	if err != nil {
		return err
	}
	defer lock.Release()
	if _, err := ha.ReadRecord(d.Journal); err == nil {
		live, err := ha.LockOffline(d.Journal)
		if err != nil {
			return fmt.Errorf("%w (a live node of the shared store serves it)", err)
		}
		defer live.Close()
	}
	backup := o.backup
	if backup == "" {
		backup = filepath.Join(filepath.Dir(filepath.Clean(d.Journal)), "repair-backup-"+time.Now().Format("20060102-150405"))
	}
	changes, err := storecheck.Repair(d, backup, o.dryRun)
	verb := "removed"
	if o.dryRun {
		verb = "would remove"
	}
	for _, c := range changes {
		fmt.Fprintln(out, c)
	}
	if err != nil {
		if len(changes) > 0 && !o.dryRun {
			fmt.Fprintf(out, "the repair stopped half way; what it removed is in %s\n", backup)
		}
		return err
	}
	switch {
	case len(changes) == 0:
		fmt.Fprintln(out, "nothing to repair")
	case o.dryRun:
		fmt.Fprintf(out, "%d changes; run without --dry-run to make them (the removed data goes to %s)\n", len(changes), backup)
	default:
		fmt.Fprintf(out, "%d changes; what the repair %s is in %s (see REPAIR.txt there)\n", len(changes), verb, backup)
	}
	return nil
}
