package config

import (
	"strings"
	"testing"
)

func TestApplyPortOffset(t *testing.T) {
	c := Default()
	c.Acceptors = append(c.Acceptors, Acceptor{Name: "tls", URL: "tcp://0.0.0.0:61617?sslEnabled=true"})
	c.Connectors = []Connector{{Name: "self", URL: "tcp://localhost:61616"}, {Name: "peer", URL: "tcp://localhost:61618"}}
	c.ClusterConnections = []ClusterConnection{{Name: "c", ConnectorRef: "self", StaticConnectors: []string{"peer"}}}
	if err := c.ApplyPortOffset(100); err != nil {
		t.Fatal(err)
	}
	got := []string{c.Acceptors[0].URL, c.Acceptors[1].URL, c.Web.Bind, c.Connectors[0].URL, c.Connectors[1].URL}
	want := []string{"tcp://127.0.0.1:61716", "tcp://0.0.0.0:61717?sslEnabled=true", "localhost:8261", "tcp://localhost:61716", "tcp://localhost:61618"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after offset 100:\n got %v\nwant %v", got, want)
	}
	if c.Acceptors[0].Addr() != "127.0.0.1:61716" {
		t.Fatalf("Addr() = %q", c.Acceptors[0].Addr())
	}
	if err := Default().ApplyPortOffset(4000); err == nil || !strings.Contains(err.Error(), "outside 1 to 65535") {
		t.Fatalf("offset past the last port: %v", err)
	}
}
