package client

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/tlsconfig"
)

// tlsFake is a fake broker behind TLS with a certificate for 127.0.0.1 in
// certPath, which is also the CA a client must trust.
func tlsFake(t *testing.T) (s *fakeServer, certPath string) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "broker.key")
	if _, err := tlsconfig.WriteSelfSigned(certPath, keyPath, tlsconfig.SelfSigned{CommonName: "broker", Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconfig.Server(tlsconfig.Settings{Enabled: true, CertPath: certPath, KeyPath: keyPath, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	s = newFakeServer(t, func(fs *fakeServer) {
		fs.raw = func(nc net.Conn) { fs.handshake(tls.Server(nc, cfg)) }
	})
	return s, certPath
}

func TestDialTLS(t *testing.T) {
	s, ca := tlsFake(t)
	plain := newFakeServer(t, nil)
	tests := []struct {
		name string
		url  string
		opts []Option
		want string // "" for success, else a substring of the error
	}{
		{"ssl scheme with the CA", "ssl://" + s.addr + "?trustStorePath=" + ca, nil, ""},
		{"tls scheme with the CA", "tls://" + s.addr + "?trustStorePath=" + ca, nil, ""},
		{"Artemis sslEnabled", "tcp://" + s.addr + "?sslEnabled=true&trustStorePath=" + ca, nil, ""},
		{"failover list with the CA after the list", "failover:(ssl://" + s.addr + ")?trustStorePath=" + ca + "&maxReconnectAttempts=0", nil, ""},
		{"unknown CA refused", "ssl://" + s.addr, nil, "certificate"},
		{"trustAll", "ssl://" + s.addr + "?trustAll=true", nil, ""},
		{"WithTLSConfig", "tcp://" + s.addr, []Option{WithTLSConfig(&tls.Config{InsecureSkipVerify: true})}, ""},
		{"missing trust store", "ssl://" + s.addr + "?trustStorePath=/nonexistent.pem", nil, "trustStorePath"},
		{"plain client at a TLS port", "tcp://" + s.addr, []Option{WithConnectTimeout(500 * time.Millisecond)}, "connect to"},
		{"TLS client at a plain port", "ssl://" + plain.addr + "?trustAll=true", []Option{WithConnectTimeout(time.Second)}, "TLS handshake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, tc.url, tc.opts...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Dial(%s): %v", tc.url, err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("Dial(%s) succeeded; want an error mentioning %q", tc.url, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial(%s): %v; want it to mention %q", tc.url, err, tc.want)
			}
		})
	}
}

func TestLearnedBackupInheritsTLS(t *testing.T) {
	from := Endpoint{Scheme: "ssl", Host: "a", Port: 1, Params: map[string]string{"trustStorePath": "ca.pem", "other": "x"}}
	got := inheritTLS(from, Endpoint{Scheme: "tcp", Host: "b", Port: 2, Params: map[string]string{}})
	if got.Scheme != "ssl" || got.Params["trustStorePath"] != "ca.pem" || got.Params["other"] != "" {
		t.Fatalf("backup learned over TLS: %+v", got)
	}
	own := Endpoint{Scheme: "tcp", Host: "b", Port: 2, Params: map[string]string{"sslEnabled": "false"}}
	if got := inheritTLS(from, own); got.Scheme != "tcp" || got.Params["trustStorePath"] != "" {
		t.Fatalf("a backup that states its own transport was changed: %+v", got)
	}
	if got := inheritTLS(Endpoint{Scheme: "tcp"}, Endpoint{Scheme: "tcp", Params: map[string]string{}}); got.Scheme != "tcp" {
		t.Fatalf("backup learned over plain TCP: %+v", got)
	}
}
