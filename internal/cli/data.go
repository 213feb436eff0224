package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"tandem/internal/journal"
	"tandem/internal/store/filestore"
)

type dataOptions struct {
	instance string
	config   string
}

func init() { register(newDataCommand) }

func newDataCommand(e *env) *cobra.Command {
	var o dataOptions
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Inspect a broker's journals offline",
		Long: `Inspect a broker's journals without starting it and without changing them.
Use them on a stopped broker, or on a shared store's journal directory.
With store: {type: database} they read the database instead (also while a
broker runs on it, in one consistent snapshot): the lease, the activations,
and every table of the store.`,
	}
	cmd.PersistentFlags().StringVar(&o.instance, "instance", os.Getenv(instanceEnv), "instance directory")
	cmd.PersistentFlags().StringVar(&o.config, "config", "", "broker.yaml naming the journal directories")
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print every journal record, live or dead",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDataPrint(cmd.Context(), o, e.stdout)
		},
	}, &cobra.Command{
		Use:   "verify",
		Short: "Check that the journals are intact and every record decodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDataVerify(cmd.Context(), o, e.stdout)
		},
	})
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

func runDataVerify(ctx context.Context, o dataOptions, out io.Writer) error {
	if cfg, ok := databaseConfig(o); ok {
		return runDataVerifyDatabase(ctx, cfg, out)
	}
	dirs, err := journalDirs(o)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		files, records := 0, 0
		err := journal.Scan(d.dir, d.prefix, func(e journal.ScanEntry) error {
			switch e.Kind {
			case journal.ScanFile:
				files++
			case journal.ScanRecord:
				records++
				if _, derr := filestore.Describe(e.Op); derr != nil {
					errs = append(errs, fmt.Errorf("%s journal: %s at offset %d: record %d does not decode: %w", d.name, e.File, e.Offset, e.Op.ID, derr))
				}
			case journal.ScanTornTail:
				fmt.Fprintf(out, "%s journal: torn write at %s offset %d (recovery will cut it): %v\n", d.name, e.File, e.Offset, e.Err)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s journal: %w", d.name, err))
			continue
		}
		fmt.Fprintf(out, "%s journal: %d files, %d records, OK\n", d.name, files, records)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
