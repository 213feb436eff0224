package instance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateRefusesIncompleteTLSFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	tests := []struct {
		name string
		tls  TLSOptions
		want string
	}{
		{"key and self-signed", TLSOptions{Key: "k.pem", SelfSigned: true}, "--ssl-key and --ssl-self-signed exclude each other"},
		{"trust without TLS", TLSOptions{Trust: "ca.pem"}, "need TLS; add --ssl-key FILE or --ssl-self-signed"},
		{"client auth without trust", TLSOptions{SelfSigned: true, UseClientAuth: true}, "--use-client-auth needs --ssl-trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Create(CreateOptions{Dir: dir, AllowAnonymous: true, Executable: fakeExe, TLS: tc.tls})
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidOptions containing %q", err, tc.want)
			}
		})
	}
}

func TestCreateSelfSignedTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	inst, err := Create(CreateOptions{Dir: dir, AllowAnonymous: true, Executable: fakeExe, SharedStore: true,
		DataDir: filepath.Join(t.TempDir(), "shared"), TLS: TLSOptions{SelfSigned: true}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := inst.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Acceptors[0]
	if a.Options["sslEnabled"] != "true" || a.Options["certPath"] != filepath.Join(inst.EtcDir, "tls", "broker.pem") {
		t.Fatalf("acceptor %s is not a TLS acceptor with the generated certificate", a.URL)
	}
	if fi, err := os.Stat(filepath.Join(inst.EtcDir, "tls", "broker-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key: %v, mode %v; want mode 0600", err, fi.Mode())
	}
	for _, c := range cfg.Connectors {
		if !strings.Contains(c.URL, "sslEnabled=true") {
			t.Errorf("connector %s does not use TLS", c.URL)
		}
	}
}
