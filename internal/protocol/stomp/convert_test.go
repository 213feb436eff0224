package stomp

import (
	"fmt"
	"testing"

	"tandem/internal/message"
	wire "tandem/internal/wire/stomp"
)

// TestToMessageInternsBoundedKeys sends messages whose property names are
// partly repeated and partly new on every message: every message keeps its
// own properties exactly, and the connection's table of shared names stops
// growing at its bound.
func TestToMessageInternsBoundedKeys(t *testing.T) {
	c := &conn{}
	d := destination{address: "orders", rt: message.Anycast}
	for i := range 200 {
		f := &wire.Frame{Command: wire.CmdSend, Body: []byte("b")}
		f.Headers.Add("destination", "/queue/orders")
		f.Headers.Add("content-type", "text/plain")
		f.Headers.Add("region", fmt.Sprint("eu-", i))
		f.Headers.Add(fmt.Sprint("key-", i), fmt.Sprint("value-", i))
		f.Headers.Add("region", "ignored: only the first occurrence counts")
		m, err := c.toMessage(f, d)
		if err != nil {
			t.Fatal(err)
		}
		want := []message.Property{{Key: "region", Value: fmt.Sprint("eu-", i)}, {Key: fmt.Sprint("key-", i), Value: fmt.Sprint("value-", i)}}
		if fmt.Sprint(m.Properties) != fmt.Sprint(want) || m.ContentType() != "text/plain" {
			t.Fatalf("message %d: properties %v, content type %q; want %v, text/plain", i, m.Properties, m.ContentType(), want)
		}
	}
	if len(c.keys) > internMax {
		t.Fatalf("the connection interned %d names, more than its bound %d", len(c.keys), internMax)
	}
	if _, ok := c.keys["region"]; !ok {
		t.Fatal("a name every message carries was not interned")
	}
}
