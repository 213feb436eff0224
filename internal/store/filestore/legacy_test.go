package filestore

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"tandem/internal/message"
	"tandem/internal/store"
)

// unpackLegacy unpacks a store written by an earlier release into a
// temporary directory and returns its path.
func unpackLegacy(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Clean(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLegacyStoreReplays opens a store written by release d575a2c, whose
// messages use encodings 1 and 2 with text-only properties, and checks
// every recovered field, then writes to it with today's encoding and
// replays both together.
func TestLegacyStoreReplays(t *testing.T) {
	dir := unpackLegacy(t, "legacy-d575a2c.tar.gz")
	opts := Options{JournalDir: filepath.Join(dir, "journal"), BindingsDir: filepath.Join(dir, "bindings"),
		FileSize: 64 << 10, MinFiles: 2, Sync: true}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Addresses) != 1 || st.Addresses[0].Name != "orders" || len(st.Queues) != 2 ||
		st.Queues[1].Filter != "color = 'red'" {
		t.Fatalf("bindings: %+v %+v", st.Addresses, st.Queues)
	}
	if len(st.Messages) != 2 {
		t.Fatalf("recovered %d messages, want 2", len(st.Messages))
	}
	m1 := st.Messages[0].Message
	if string(m1.Body) != "plain body" || m1.Priority != 7 || !m1.Durable || m1.Timestamp != 1700000000000 ||
		m1.Expiration != 1800000000000 || m1.BodyKind != message.BodyBytes {
		t.Fatalf("first message: %+v", m1)
	}
	if m1.ContentType() != "text/plain" || m1.CorrelationID() != "c-1" || m1.ReplyTo() != "/queue/replies" || m1.Type() != "order" {
		t.Fatalf("first message headers: %+v", *m1.Extra)
	}
	// JMSXGroupID and JMSXGroupSeq were properties then; they are fields now.
	if m1.GroupID() != "g1" || m1.GroupSeq() != 3 {
		t.Fatalf("group of the first message: %q %d", m1.GroupID(), m1.GroupSeq())
	}
	want := []message.Property{{Key: "color", Value: "red"}, {Key: "weight", Value: "2.5"}}
	if len(m1.Properties) != len(want) || m1.Properties[0] != want[0] || m1.Properties[1] != want[1] {
		t.Fatalf("first message properties: %+v", m1.Properties)
	}
	refs := st.Messages[0].Refs
	if len(refs) != 1 || refs[0].DeliveryCount != 2 {
		t.Fatalf("first message refs: %+v (the subscription acked it; the queue delivered it twice)", refs)
	}
	m2 := st.Messages[1].Message
	if l := m2.Large(); l == nil || l.ID != 4242 || l.Size != 1<<20 {
		t.Fatalf("second message's large body: %+v", m2.Large())
	}
	if len(st.DuplicateIDs) != 1 || st.DuplicateIDs[0].ID != "dup-1" {
		t.Fatalf("duplicate ids: %+v", st.DuplicateIDs)
	}
	if len(st.PageCursors) != 1 || st.PageCursors[0].Page != 3 || st.PageCursors[0].Offset != 100 {
		t.Fatalf("page cursors: %+v", st.PageCursors)
	}

	// Today's encoding beside the old one, across a reopen.
	m3 := &message.Message{ID: s.NewID(), Address: "orders", Durable: true, BodyKind: message.BodyText, Body: []byte("typed"),
		Properties: []message.Property{message.Int64("n", message.KindInt, 42), message.Bool("ok", true)}}
	m3.EditExtra(func(x *message.Extra) { x.MessageID, x.GroupID = "ID:client-1", "g2" })
	var b store.Batch
	b.AddMessage(m3)
	b.AddRef(m3.ID, st.Queues[0].ID)
	done := make(chan error, 1)
	s.Commit(&b, true, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Messages) != 3 {
		t.Fatalf("after a new write, %d messages, want 3", len(st.Messages))
	}
	got := st.Messages[2].Message
	if got.BodyKind != message.BodyText || got.MessageID() != "ID:client-1" || got.GroupID() != "g2" ||
		got.Properties[0].Kind != message.KindInt || got.Properties[1].Kind != message.KindBool {
		t.Fatalf("new message after reopen: %+v %+v", got, got.Properties)
	}
	if st.Messages[0].Message.GroupID() != "g1" {
		t.Fatal("the old message lost its group after a second replay")
	}
}
