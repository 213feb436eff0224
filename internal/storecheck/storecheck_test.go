package storecheck

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/largemsg"
	"tandem/internal/message"
	"tandem/internal/server"
)

// storeWith runs a broker on a new store in dir and makes it hold plain
// messages, paged messages (some large) and large messages, then stops it.
func storeWith(t *testing.T, dir string) (*config.Config, Dirs) {
	t.Helper()
	cfg := config.Default()
	if err := cfg.ResolvePaths(dir); err != nil {
		t.Fatal(err)
	}
	cfg.Acceptors = []config.Acceptor{{Name: "test", URL: "tcp://127.0.0.1:0"}}
	cfg.SecuritySettings = nil
	cfg.Web.Enabled = false
	cfg.JournalFileSize = 64 << 10
	limit, policy, page, minLarge := int64(8<<10), config.PolicyPage, int64(4<<10), int64(20<<10)
	cfg.AddressSettings = append(cfg.AddressSettings, config.AddressSetting{Match: "#", MinLargeMessageSize: &minLarge},
		config.AddressSetting{Match: "paged", MaxSizeBytes: &limit, AddressFullPolicy: &policy, PageSizeBytes: &page, MinLargeMessageSize: &minLarge})
	s := server.New(cfg, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Broker().NewSession(broker.SessionInfo{User: "test"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(addr string, body []byte, large bool) {
		m := &message.Message{Address: addr, RoutingType: message.Anycast, Durable: true, Body: body}
		if large {
			w, err := sess.CreateLargeBody()
			if err != nil {
				t.Fatal(err)
			}
			w.Write(body)
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			m.Body = nil
			m.SetLarge(&message.Large{ID: w.ID(), Size: int64(len(body))})
		}
		ch := make(chan error, 1)
		sess.Send(m, nil, func(err error) { ch <- err })
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		send("plain", bytes.Repeat([]byte{'p'}, 500), false)
		send("paged", bytes.Repeat([]byte{'q'}, 500), false)
		if i%50 == 0 {
			send("plain", bytes.Repeat([]byte{'L'}, 30<<10), true)
			send("paged", bytes.Repeat([]byte{'M'}, 30<<10), true)
		}
	}
	sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return cfg, Dirs{Journal: cfg.JournalDirectory, Bindings: cfg.BindingsDirectory, Paging: cfg.PagingDirectory,
		Large: cfg.LargeMessagesDirectory, JournalFileSize: cfg.JournalFileSize}
}

func findings(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

func TestVerifyAndRepair(t *testing.T) {
	dir := t.TempDir()
	cfg, d := storeWith(t, dir)
	r, err := Verify(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors() != 0 || len(r.Findings) != 0 {
		t.Fatalf("a healthy store: %v\n%s", r.Summary, findings(r))
	}
	if s := strings.Join(r.Summary, "\n"); !strings.Contains(s, "still to depage") || !strings.Contains(s, "large messages: ") {
		t.Fatalf("summary does not cover paging and large messages:\n%s", s)
	}

	// Damage each part of the store.
	bodies, _ := filepath.Glob(filepath.Join(d.Large, "*"+largemsg.BodySuffix))
	if len(bodies) < 6 {
		t.Fatalf("only %d large bodies", len(bodies))
	}
	var missing string
	for _, b := range bodies { // a body a journal message names
		if owner := bodyOwner(t, d, b); owner == "journal" {
			missing = b
			break
		}
	}
	if missing == "" {
		t.Fatal("no body named by a journal message")
	}
	os.Remove(missing)
	os.WriteFile(filepath.Join(d.Large, largemsg.BodyName(987654)), []byte("orphan"), 0o644)
	pages, _ := filepath.Glob(filepath.Join(d.Paging, "*", "*.page"))
	if len(pages) < 3 {
		t.Fatalf("only %d page files", len(pages))
	}
	flipAt(t, pages[0], 40) // a record of the first page: not a torn tail

	r, err = Verify(d)
	if err != nil {
		t.Fatal(err)
	}
	out := findings(r)
	for _, want := range []string{
		"ERROR: large messages: message ", "which is missing",
		"warning: large messages: 1 bodies no message names", "987654.msg",
		"ERROR: paging: ", "cannot be read",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify of the damaged store does not say %q:\n%s", want, out)
		}
	}

	backup := filepath.Join(t.TempDir(), "repair")
	dry, err := Repair(d, backup, true)
	if err != nil || len(dry) == 0 {
		t.Fatalf("dry run: %v, %v", dry, err)
	}
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a dry run wrote a backup")
	}
	if r2, _ := Verify(d); r2.Errors() != r.Errors() {
		t.Fatal("a dry run changed the store")
	}
	changes, err := Repair(d, backup, false)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(backup, "REPAIR.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if !strings.Contains(string(log), c.What) {
			t.Errorf("REPAIR.txt does not list %v", c)
		}
	}
	for _, kept := range []string{filepath.Join("large-messages", largemsg.BodyName(987654)), filepath.Join("paging", filepath.Base(filepath.Dir(pages[0])), filepath.Base(pages[0]))} {
		if _, err := os.Stat(filepath.Join(backup, kept)); err != nil {
			t.Errorf("the backup lacks %s: %v", kept, err)
		}
	}
	r, err = Verify(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors() != 0 {
		t.Fatalf("errors left after repair:\n%s", findings(r))
	}
	if _, err := Repair(d, backup, false); err == nil {
		t.Error("a second repair reused the backup directory")
	}
	// A broker starts on the repaired store.
	s := server.New(cfg, nil)
	if err := s.Start(); err != nil {
		t.Fatalf("start on the repaired store: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Stop(ctx)
}

// bodyOwner says whether a journal message or a page record names the
// body file at path.
func bodyOwner(t *testing.T, d Dirs, path string) string {
	t.Helper()
	id, ok := largemsg.ParseBodyName(filepath.Base(path))
	if !ok {
		t.Fatal(path)
	}
	live, _ := verifyMessages(&Report{missing: map[uint64]string{}}, d.Journal)
	for _, m := range live {
		if m.large != nil && m.large.ID == id && m.refs > 0 {
			return "journal"
		}
	}
	return "paging"
}

func flipAt(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
