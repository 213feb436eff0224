package message

import (
	"testing"
	"unsafe"
)

// TestMessageSize guards the in-memory cost of a queued message: every
// queued message carries one Message, and 112 bytes is a Go size class.
func TestMessageSize(t *testing.T) {
	if n := unsafe.Sizeof(Message{}); n > 112 {
		t.Fatalf("Message is %d bytes, want at most 112: keep what most messages lack in Extra", n)
	}
}

func TestExtra(t *testing.T) {
	m := &Message{Body: []byte("x")}
	if m.ContentType() != "" || m.CorrelationID() != "" || m.ReplyTo() != "" || m.Type() != "" || m.Large() != nil {
		t.Fatal("a message without Extra reports headers")
	}
	m.SetHeaders("text/plain", "c-1", "/queue/r", "order")
	if m.ContentType() != "text/plain" || m.CorrelationID() != "c-1" || m.ReplyTo() != "/queue/r" || m.Type() != "order" {
		t.Fatalf("headers after SetHeaders: %+v", *m.Extra)
	}

	// A clone shares Extra; setting its large body must not touch the original.
	c := m.Clone()
	c.SetLarge(&Large{ID: 7, Size: 100})
	if m.Large() != nil {
		t.Fatal("SetLarge on a clone changed the original's Extra")
	}
	if c.Large().ID != 7 || c.ContentType() != "text/plain" || c.BodySize() != 100 {
		t.Fatalf("clone after SetLarge: %+v, body size %d", *c.Extra, c.BodySize())
	}

	// Clearing everything leaves no Extra behind.
	m.SetHeaders("", "", "", "")
	if m.Extra != nil {
		t.Fatalf("Extra %+v left after clearing every field", *m.Extra)
	}
}
