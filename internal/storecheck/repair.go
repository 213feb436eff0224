package storecheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tandem/internal/fsutil"
	"tandem/internal/journal"
	"tandem/internal/paging"
	"tandem/internal/store/filestore"
)

// Change is one thing Repair did (or, dry, would do).
type Change struct {
	Area   string
	What   string // the file or record
	Action string
	Why    string
}

func (c Change) String() string {
	return fmt.Sprintf("%s: %s %s: %s", c.Area, c.What, c.Action, c.Why)
}

// Repair cuts the store in d back to its last consistent point, keeping
// everything it removes in backupDir (which it creates; it must not exist
// yet, so a repair never mixes its backup with an earlier one's), and
// writes backupDir/REPAIR.txt. With dry set nothing changes: the changes
// Repair would make are returned, those that depend on earlier ones
// estimated from the store as it is. The caller must hold the store lock.
func Repair(d Dirs, backupDir string, dry bool) ([]Change, error) {
	if !dry {
		if _, err := os.Stat(backupDir); err == nil {
			return nil, fmt.Errorf("storecheck: backup directory %s exists already; name a new one", backupDir)
		}
	}
	var changes []Change
	for _, j := range []struct{ area, dir, prefix, sub string }{
		{"bindings journal", d.Bindings, filestore.BindingsPrefix, "bindings"},
		{"messages journal", d.Journal, filestore.MessagesPrefix, "journal"},
	} {
		cuts, err := journal.Repair(j.dir, j.prefix, filepath.Join(backupDir, j.sub), dry)
		for _, c := range cuts {
			changes = append(changes, Change{Area: j.area, What: filepath.Join(j.dir, c.File), Action: c.Action, Why: c.Why})
		}
		if err != nil {
			return changes, fmt.Errorf("repair the %s: %w", j.area, err)
		}
	}
	cuts, err := paging.Repair(d.Paging, filepath.Join(backupDir, "paging"), dry)
	for _, c := range cuts {
		changes = append(changes, Change{Area: "paging", What: c.Path, Action: c.Action, Why: c.Why})
	}
	if err != nil {
		return changes, fmt.Errorf("repair the page files: %w", err)
	}

	// With the journals and page files consistent, what do the messages
	// and the bodies say about each other?
	r, err := Verify(d)
	if err != nil {
		return changes, err
	}
	var ids []uint64
	for id := range r.missing {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		for _, id := range ids {
			changes = append(changes, Change{Area: "messages journal", What: fmt.Sprintf("message %d", id), Action: "deleted",
				Why: "its large body is missing; the record was: " + r.missing[id]})
		}
		if !dry {
			if err := deleteMessages(d.Journal, d.JournalFileSize, ids); err != nil {
				return changes, err
			}
		}
	}
	if len(r.orphans) > 0 {
		bdir := filepath.Join(backupDir, "large-messages")
		if !dry {
			if err := os.MkdirAll(bdir, 0o755); err != nil {
				return changes, fmt.Errorf("storecheck: %w", err)
			}
		}
		for _, name := range r.orphans {
			changes = append(changes, Change{Area: "large messages", What: filepath.Join(d.Large, name), Action: "moved", Why: "no message names it"})
			if !dry {
				if err := os.Rename(filepath.Join(d.Large, name), filepath.Join(bdir, name)); err != nil {
					return changes, fmt.Errorf("storecheck: move %s out: %w", name, err)
				}
			}
		}
		if !dry {
			if err := fsutil.SyncDir(d.Large); err != nil {
				return changes, err
			}
		}
	}
	if !dry && len(changes) > 0 {
		if err := writeLog(backupDir, changes); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// deleteMessages writes the deletion of the given message records to the
// message journal, opened as a broker would open it (which also cuts a
// torn tail) with the highest epoch on disk.
func deleteMessages(dir string, fileSize int64, ids []uint64) error {
	epoch, err := journal.MaxEpoch(dir, filestore.MessagesPrefix)
	if err != nil {
		return fmt.Errorf("storecheck: %w", err)
	}
	j, err := journal.Open(journal.Options{Dir: dir, Prefix: filestore.MessagesPrefix, FileSize: fileSize, Sync: true, Epoch: epoch, BufferedWrites: true},
		func(journal.Record) error { return nil })
	if err != nil {
		return fmt.Errorf("storecheck: open the message journal: %w", err)
	}
	ops := make([]journal.Op, len(ids))
	for i, id := range ids {
		ops[i] = journal.Op{Kind: journal.OpDelete, ID: id}
	}
	err = j.Write(ops, true)
	return errors.Join(err, j.Close())
}

// writeLog writes REPAIR.txt into backupDir.
func writeLog(backupDir string, changes []Change) error {
	var b strings.Builder
	fmt.Fprintf(&b, "tandem data repair, %s\n\n", time.Now().Format(time.RFC3339))
	b.WriteString("Every file removed from the store is kept here, under the directory named\n")
	b.WriteString("after its place (journal, bindings, paging, large-messages); a file that was\n")
	b.WriteString("cut is kept whole. Message records deleted from the journal are listed below.\n\n")
	for _, c := range changes {
		b.WriteString(c.String() + "\n")
	}
	if err := os.MkdirAll(backupDir, 0o755); err != nil {
		return fmt.Errorf("storecheck: %w", err)
	}
	return fsutil.WriteFile(filepath.Join(backupDir, "REPAIR.txt"), []byte(b.String()), 0o644)
}
