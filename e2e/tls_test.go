package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/client"
	"tandem/internal/tlsconfig"
)

// TestTLSClientPort creates a broker with --ssl-self-signed and checks
// that clients with the certificate as trust store produce and consume
// over ssl://, while plain-text clients and clients that do not trust the
// certificate are refused.
func TestTLSClientPort(t *testing.T) {
	in := create(t, "tls", "--ssl-self-signed")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ca := filepath.Join(in.dir, "etc", "tls", "broker.pem")
	port := 61616 + in.offset
	sslURL := fmt.Sprintf("ssl://localhost:%d?trustStorePath=%s", port, ca)

	r := mustTandem(t, cli("producer", "--message-count", "10", "--url", sslURL)...)
	if !strings.Contains(r.stdout, "Produced: 10 messages") {
		t.Fatalf("producer over TLS printed:\n%s", r.stdout)
	}
	artemisURL := fmt.Sprintf("tcp://localhost:%d?sslEnabled=true&trustStorePath=%s", port, ca)
	r = mustTandem(t, cli("consumer", "--message-count", "10", "--url", artemisURL)...)
	if !strings.Contains(r.stdout, "Consumed: 10 messages") {
		t.Fatalf("consumer over TLS printed:\n%s", r.stdout)
	}

	refused := []struct{ name, url, mention string }{
		{"plain text", in.url(), "connect to"},
		{"unknown CA", fmt.Sprintf("ssl://localhost:%d", port), "certificate"},
	}
	for _, tc := range refused {
		r := tandem(t, cli("producer", "--message-count", "1", "--url", tc.url)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.mention) {
			t.Errorf("%s: exit %d, stderr %q; want a failure mentioning %q", tc.name, r.code, r.stderr, tc.mention)
		}
	}
	p.waitLog("TLS handshake failed", 5*time.Second)

	// The HTTP port serves HTTPS with the same certificate: the operator
	// commands find it from the TLS messaging URL and trust it the same way,
	// and plain HTTP gets nowhere.
	r = mustTandem(t, cli("queue", "stat", "--url", sslURL)...)
	if !strings.Contains(r.stdout, "|DLQ ") {
		t.Fatalf("queue stat over HTTPS printed:\n%s", r.stdout)
	}
	web := fmt.Sprintf("localhost:%d", 8161+in.offset)
	if resp, err := http.Get("http://" + web + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the HTTP port answered plain HTTP although create was given a TLS key")
		}
	}
}

// TestTLSClientCertificates requires client certificates signed by a CA
// (--use-client-auth): a client with one gets in, a client without one or
// with one from another CA does not.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	ca, err := tlsconfig.WriteSelfSigned(path("ca.pem"), path("ca-key.pem"), tlsconfig.SelfSigned{CommonName: "test CA"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlsconfig.WriteSelfSigned(path("other-ca.pem"), path("other-ca-key.pem"), tlsconfig.SelfSigned{CommonName: "other CA"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		issuer *tlsconfig.Issuer
		hosts  []string
	}{{"broker", ca, []string{"localhost", "127.0.0.1"}}, {"app", ca, nil}, {"intruder", other, nil}} {
		if _, err := tlsconfig.WriteSelfSigned(path(c.name+".pem"), path(c.name+"-key.pem"),
			tlsconfig.SelfSigned{CommonName: c.name, Hosts: c.hosts, Issuer: c.issuer}); err != nil {
			t.Fatal(err)
		}
	}
	// --ssl-key takes one PEM file with the chain and the key.
	cert, _ := os.ReadFile(path("broker.pem"))
	key, _ := os.ReadFile(path("broker-key.pem"))
	if err := os.WriteFile(path("broker-store.pem"), append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	in := create(t, "mtls", "--ssl-key", path("broker-store.pem"), "--ssl-trust", path("ca.pem"), "--use-client-auth")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	base := fmt.Sprintf("ssl://localhost:%d?trustStorePath=%s", 61616+in.offset, path("ca.pem"))
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"certificate from the trusted CA", base + "&certPath=" + path("app.pem") + "&keyPath=" + path("app-key.pem"), true},
		{"no certificate", base, false},
		{"certificate from another CA", base + "&certPath=" + path("intruder.pem") + "&keyPath=" + path("intruder-key.pem"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, tc.url, client.WithCredentials("admin", "admin"))
			if err == nil {
				err = c.Send(ctx, "queue://mtls", []byte("x"))
				c.Close()
			}
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("a client without a trusted certificate could send")
			}
		})
	}
}

// TestTLSPairFailover runs a shared-store pair with TLS on the client ports
// and on the cluster connection: the backup announces itself over TLS, a
// client that knows only the live learns the backup and fails over to it
// when the live is killed, staying on TLS.
func TestTLSPairFailover(t *testing.T) {
	p := newPair(t, []string{"--ssl-self-signed"}, []string{"--ssl-self-signed"})
	master := start(t, p.master)
	waitListening(t, p.master.addr(), 20*time.Second)
	slave := start(t, p.slave)
	slave.waitLog("waiting for the live lock", 20*time.Second)
	master.waitLog("backup announced", 20*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Each node has its own self-signed certificate, so the client trusts
	// any (a client of a real pair names the CA that signed both).
	url := fmt.Sprintf("failover:(ssl://localhost:%d)?trustAll=true&maxReconnectDelay=200", 61616+p.master.offset)
	c := dialAdmin(t, ctx, url)
	if err := c.Send(ctx, "queue://tlsha", []byte("before")); err != nil {
		t.Fatal(err)
	}
	master.kill()
	if err := c.Send(ctx, "queue://tlsha", []byte("after")); err != nil {
		t.Fatalf("send after the live died: %v", err)
	}
	// The backup advertises its connector, tcp://...?sslEnabled=true.
	if ep := c.Endpoint(); ep.Scheme != "ssl" && ep.Params["sslEnabled"] != "true" || ep.Port != 61616+p.slave.offset {
		t.Fatalf("after failover the client is on %s; want ssl to the backup", ep)
	}
	sub, err := c.Subscribe(ctx, "queue://tlsha", client.WithAckMode(client.AckClientIndividual))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before", "after"} {
		m, err := sub.Receive(ctx)
		if err != nil || string(m.Body) != want {
			t.Fatalf("received %v %v, want %q", m, err, want)
		}
		m.Ack(ctx)
	}
}
