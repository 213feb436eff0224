package stomp

import (
	"regexp"
	"strings"
	"testing"
)

// TestMessageFrameHeaders pins the MESSAGE frame a delivery becomes: its
// headers in order, their values (numbers, escaped ids, the fields a SEND
// set, the properties it carried) and its body.
func TestMessageFrameHeaders(t *testing.T) {
	addr := startServer(t, Options{})
	c := dial(t, addr)
	c.connect()
	c.send("SEND", "payload", "destination", "/queue/shape", "content-type", "text/plain", "persistent", "true",
		"priority", "7", "correlation-id", "corr:1", "reply-to", "/queue/replies", "type", "order",
		"JMSXGroupID", "g1", "JMSXGroupSeq", "3", "colour", "blue", "multi\nline", "x", "receipt", "r1")
	c.expect("RECEIPT")
	c.send("SUBSCRIBE", "", "id", "sub-1", "destination", "/queue/shape", "ack", "client-individual")
	m := c.expect("MESSAGE")
	var got []string
	for _, h := range m.Headers {
		got = append(got, h.Key+"="+h.Value)
	}
	want := []string{
		"subscription=sub-1", `message-id=ID:\d+`, "destination=/queue/shape", `ack=\d+\.\d+`,
		"content-type=text/plain", "expires=0", "priority=7", `timestamp=\d{13}`, "persistent=true",
		"delivery-count=1", "correlation-id=corr:1", "reply-to=/queue/replies", "type=order",
		"JMSXGroupID=g1", "JMSXGroupSeq=3", "colour=blue", "multi\nline=x", "content-length=7",
	}
	if len(got) != len(want) {
		t.Fatalf("MESSAGE headers\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !regexp.MustCompile(`^` + want[i] + `$`).MatchString(got[i]) {
			t.Errorf("header %d is %q, want %q", i, got[i], want[i])
		}
	}
	if string(m.Body) != "payload" {
		t.Fatalf("body %q", m.Body)
	}
	// The ack id the frame carries acknowledges the message.
	c.send("ACK", "", "id", header(t, m, "ack"), "receipt", "r2")
	c.expect("RECEIPT")
}
