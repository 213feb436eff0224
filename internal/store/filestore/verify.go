package filestore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"tandem/internal/store"
)

// replayCheck is a copy of a store's journals taken before a followed Open,
// to compare what the follower recovered with a full replay
// (Options.VerifyFollower).
type replayCheck struct {
	dir  string
	opts Options
}

// copyForCheck copies the journal files of both journals into a new
// temporary directory.
func copyForCheck(opts Options) (*replayCheck, error) {
	dir, err := os.MkdirTemp("", "tandem-verify-")
	if err != nil {
		return nil, fmt.Errorf("verify the follower: %w", err)
	}
	c := &replayCheck{dir: dir, opts: opts}
	for _, src := range []struct{ dir, prefix string }{{opts.JournalDir, MessagesPrefix}, {opts.BindingsDir, BindingsPrefix}} {
		if err := copyJournal(src.dir, src.prefix, dir); err != nil {
			c.remove()
			return nil, fmt.Errorf("verify the follower: copy %s: %w", src.dir, err)
		}
	}
	return c, nil
}

func copyJournal(from, prefix, to string) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix+"-") && !strings.HasPrefix(e.Name(), prefix+".") {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (c *replayCheck) remove() { os.RemoveAll(c.dir) }

// compare replays the copy in full and compares its state with got.
func (c *replayCheck) compare(got *store.State) error {
	ref, err := Open(Options{JournalDir: c.dir, BindingsDir: c.dir, FileSize: c.opts.FileSize, MinFiles: c.opts.MinFiles,
		Epoch: c.opts.Epoch, BufferedWrites: true, CompactMinFiles: -1, CompactPercentage: -1})
	if err != nil {
		return fmt.Errorf("verify the follower: full replay of a copy: %w", err)
	}
	defer ref.Close()
	want, err := ref.Load()
	if err != nil {
		return err
	}
	if diff := DiffStates(got, want); diff != "" {
		return fmt.Errorf("verify the follower: the followed state differs from a full replay: %s", diff)
	}
	return nil
}

// DiffStates describes the first difference between two recovered states,
// or returns "" when they are the same.
func DiffStates(a, b *store.State) string {
	if a.NextID != b.NextID {
		return fmt.Sprintf("next id %d, full replay %d", a.NextID, b.NextID)
	}
	if d := diffList("address", a.Addresses, b.Addresses); d != "" {
		return d
	}
	if d := diffList("queue", a.Queues, b.Queues); d != "" {
		return d
	}
	if d := diffList("message", a.Messages, b.Messages); d != "" {
		return d
	}
	if d := diffList("duplicate id", a.DuplicateIDs, b.DuplicateIDs); d != "" {
		return d
	}
	return diffList("page cursor", a.PageCursors, b.PageCursors)
}

func diffList[T any](what string, a, b []T) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return fmt.Sprintf("%s %d of %d: %+v, full replay %+v", what, i, len(a), a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d %ss, full replay %d", len(a), what, len(b))
	}
	return ""
}
