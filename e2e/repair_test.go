package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRepairDamagedJournal: a broker refuses a journal damaged in the
// middle; `tandem data verify` says where and exits non-zero; `tandem data
// repair --dry-run` changes nothing; `tandem data repair` cuts the journal
// back to before the damage, keeping what it removed; the broker then
// starts and serves the messages written before the damage, in order.
func TestRepairDamagedJournal(t *testing.T) {
	in := create(t, "b1")
	replaceInConfig(t, in, [2]string{"journal-file-size: 10MiB", "journal-file-size: 64KiB"})
	p := start(t, in)
	waitListening(t, in.addr(), 30*time.Second)
	const sent = 3000
	mustTandem(t, cli("producer", "--message-count", fmt.Sprint(sent), "--url", in.url())...)
	p.stop()

	journal := filepath.Join(in.dir, "data", "journal")
	files, _ := filepath.Glob(filepath.Join(journal, "tandem-data-*.tj"))
	if len(files) < 3 {
		t.Fatalf("only %d journal files", len(files))
	}
	damage(t, files[0], 20000, 64)

	if r := tandem(t, "run", "--instance", in.dir); r.code == 0 || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("a broker started on the damaged journal (exit %d):\n%s", r.code, r.stderr)
	}
	v := tandem(t, "data", "verify", "--instance", in.dir)
	if v.code == 0 || !strings.Contains(v.stdout, "ERROR: messages journal") || !strings.Contains(v.stderr, "data repair --dry-run") {
		t.Fatalf("verify of the damaged journal (exit %d):\n%s%s", v.code, v.stdout, v.stderr)
	}
	before := dirDigest(t, journal)
	dry := mustTandem(t, "data", "repair", "--instance", in.dir, "--dry-run")
	if !strings.Contains(dry.stdout, "changes; run without --dry-run") || dirDigest(t, journal) != before {
		t.Fatalf("dry run:\n%s", dry.stdout)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	rep := mustTandem(t, "data", "repair", "--instance", in.dir, "--backup", backup)
	if !strings.Contains(rep.stdout, "REPAIR.txt") {
		t.Fatalf("repair printed:\n%s", rep.stdout)
	}
	if kept, _ := filepath.Glob(filepath.Join(backup, "journal", "tandem-data-*.tj")); len(kept) < 2 {
		t.Fatalf("the backup keeps %d journal files, want the cut one and those after it", len(kept))
	}
	v = mustTandem(t, "data", "verify", "--instance", in.dir)
	m := regexp.MustCompile(`(\d+) live messages, OK`).FindStringSubmatch(v.stdout)
	if m == nil {
		t.Fatalf("verify after repair:\n%s", v.stdout)
	}
	live, _ := strconv.Atoi(m[1])
	if live <= 0 || live >= sent {
		t.Fatalf("%d messages after repair, want some but fewer than the %d sent", live, sent)
	}

	start(t, in)
	waitListening(t, in.addr(), 30*time.Second)
	r := mustTandem(t, cli("consumer", "--verbose", "--message-count", fmt.Sprint(live), "--url", in.url())...)
	if !strings.Contains(r.stdout, fmt.Sprintf("Consumed: %d messages", live)) {
		t.Fatalf("consumer after repair:\n%s", r.stdout)
	}
	// The survivors are the first messages sent, in order.
	for _, i := range []int{0, live / 2, live - 1} {
		if !strings.Contains(r.stdout, "Received test message: "+strconv.Itoa(i)+"\n") {
			t.Fatalf("message %d missing after repair:\n%.2000s", i, r.stdout)
		}
	}
}

// damage overwrites n bytes of path at off.
func damage(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", n)), off); err != nil {
		t.Fatal(err)
	}
}

// dirDigest is the names, sizes and modification times of dir's files,
// but for the store lock file, which every tool that takes the lock writes.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		if e.Name() == "tandem.lock" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %d\n", e.Name(), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}
