package tlsconfig

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseReportsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]string
		want string // substring of the error; "" for none
	}{
		{"no TLS options", map[string]string{"foo": "bar"}, ""},
		{"Artemis keystore", map[string]string{"sslEnabled": "true", "keyStorePath": "k.p12", "keyStorePassword": "x"}, ""},
		{"PEM pair", map[string]string{"sslEnabled": "true", "certPath": "c.pem", "keyPath": "k.pem"}, ""},
		{"bad boolean", map[string]string{"sslEnabled": "yes please"}, `sslEnabled="yes please" must be true or false`},
		{"bad verifyHost", map[string]string{"verifyHost": "maybe"}, `verifyHost="maybe"`},
		{"cert without key", map[string]string{"certPath": "c.pem"}, "certPath and keyPath go together"},
		{"two kinds of certificate", map[string]string{"certPath": "c", "keyPath": "k", "keyStorePath": "s"}, "not both"},
		{"unknown store type", map[string]string{"keyStoreType": "BKS"}, `keyStoreType="BKS" is not a keystore type`},
		{"old protocol", map[string]string{"enabledProtocols": "TLSv1.2,SSLv3"}, `"SSLv3" is not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.opts)
			checkErr(t, err, tc.want, ErrBadOption)
		})
	}
}

func TestParseDefaultsAndProtocols(t *testing.T) {
	s, err := Parse(map[string]string{"enabledProtocols": "TLSv1.3"})
	if err != nil || !s.VerifyHost || s.Enabled || s.MinVersion != tls.VersionTLS13 {
		t.Fatalf("Parse = %+v, %v; want verifyHost on, TLS off, TLS 1.3 minimum", s, err)
	}
	if s, _ := Parse(nil); s.MinVersion != tls.VersionTLS12 {
		t.Fatalf("default minimum version %x, want TLS 1.2", s.MinVersion)
	}
}

func TestCheckServerNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string
	}{
		{"disabled needs nothing", Settings{}, ""},
		{"no certificate", Settings{Enabled: true}, "needs the server's certificate"},
		{"client auth without CAs", Settings{Enabled: true, CertPath: "c", KeyPath: "k", NeedClientAuth: true}, "need trustStorePath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.s.CheckServer(), tc.want, ErrBadOption)
		})
	}
}

// pki is a CA with a server and a client certificate signed by it, and a
// second, unrelated CA.
type pki struct {
	dir                        string
	ca, serverCert, serverKey  string
	clientCert, clientKey      string
	otherCA, otherCert, otherK string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	p := pki{dir: dir}
	path := func(n string) string { return filepath.Join(dir, n) }
	p.ca, p.serverCert, p.serverKey = path("ca.pem"), path("server.pem"), path("server.key")
	p.clientCert, p.clientKey = path("client.pem"), path("client.key")
	p.otherCA, p.otherCert, p.otherK = path("other-ca.pem"), path("other.pem"), path("other.key")
	ca, err := WriteSelfSigned(p.ca, path("ca.key"), SelfSigned{CommonName: "test CA"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cert, key string
		sc        SelfSigned
	}{
		{p.serverCert, p.serverKey, SelfSigned{CommonName: "broker", Hosts: []string{"localhost", "127.0.0.1"}, Issuer: ca}},
		{p.clientCert, p.clientKey, SelfSigned{CommonName: "app", Issuer: ca}},
	} {
		if _, err := WriteSelfSigned(c.cert, c.key, c.sc); err != nil {
			t.Fatal(err)
		}
	}
	other, err := WriteSelfSigned(p.otherCA, path("other-ca.key"), SelfSigned{CommonName: "other CA"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSelfSigned(p.otherCert, p.otherK, SelfSigned{CommonName: "x", Hosts: []string{"localhost"}, Issuer: other}); err != nil {
		t.Fatal(err)
	}
	return p
}

// handshake runs a TLS handshake over a loopback TCP connection between
// server and client configurations and returns the client's error and the
// server's.
func handshake(t *testing.T, server, client *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvDone <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 reports a refused client certificate only on the
			// first read, so read the client's byte.
			_, err = tc.Read(make([]byte, 1))
		}
		srvDone <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		_, clientErr = tc.Write([]byte{1})
		if clientErr == nil {
			// Learn of a refusal the server sends after the handshake.
			tc.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := tc.Read(make([]byte, 1)); err != nil && !isTimeoutOrEOF(err) {
				clientErr = err
			}
		}
	}
	return clientErr, <-srvDone
}

func isTimeoutOrEOF(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "EOF")
}

func TestHandshakes(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name       string
		server     map[string]string
		client     map[string]string
		serverName string
		ok         bool
	}{
		{"trusted CA and matching host", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey},
			map[string]string{"trustStorePath": p.ca}, "localhost", true},
		{"IP address in the certificate", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey},
			map[string]string{"trustStorePath": p.ca}, "127.0.0.1", true},
		{"wrong host refused", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey},
			map[string]string{"trustStorePath": p.ca}, "broker.example.com", false},
		{"wrong host allowed with verifyHost=false", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey},
			map[string]string{"trustStorePath": p.ca, "verifyHost": "false"}, "broker.example.com", true},
		{"untrusted CA refused even with verifyHost=false", map[string]string{"certPath": p.otherCert, "keyPath": p.otherK},
			map[string]string{"trustStorePath": p.ca, "verifyHost": "false"}, "localhost", false},
		{"untrusted CA accepted with trustAll", map[string]string{"certPath": p.otherCert, "keyPath": p.otherK},
			map[string]string{"trustAll": "true"}, "localhost", true},
		{"client certificate required and missing", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey,
			"needClientAuth": "true", "trustStorePath": p.ca}, map[string]string{"trustStorePath": p.ca}, "localhost", false},
		{"client certificate required and given", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey,
			"needClientAuth": "true", "trustStorePath": p.ca},
			map[string]string{"trustStorePath": p.ca, "certPath": p.clientCert, "keyPath": p.clientKey}, "localhost", true},
		{"client certificate from another CA", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey,
			"needClientAuth": "true", "trustStorePath": p.ca},
			map[string]string{"trustStorePath": p.ca, "certPath": p.otherCert, "keyPath": p.otherK}, "localhost", false},
		{"client certificate wanted, not given", map[string]string{"certPath": p.serverCert, "keyPath": p.serverKey,
			"wantClientAuth": "true", "trustStorePath": p.ca}, map[string]string{"trustStorePath": p.ca}, "localhost", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.server["sslEnabled"] = "true"
			ss, err := Parse(tc.server)
			if err != nil {
				t.Fatal(err)
			}
			scfg, err := Server(ss)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := Parse(tc.client)
			if err != nil {
				t.Fatal(err)
			}
			ccfg, err := Client(cs, tc.serverName)
			if err != nil {
				t.Fatal(err)
			}
			cerr, serr := handshake(t, scfg, ccfg)
			if tc.ok && (cerr != nil || serr != nil) {
				t.Fatalf("handshake failed: client %v, server %v", cerr, serr)
			}
			if !tc.ok && cerr == nil && serr == nil {
				t.Fatal("handshake succeeded; want it refused")
			}
		})
	}
}

func TestKeyMaterialErrors(t *testing.T) {
	p := newPKI(t)
	write := func(name string, data []byte) string {
		path := filepath.Join(p.dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cert, _ := os.ReadFile(p.serverCert)
	key, _ := os.ReadFile(p.serverKey)
	combined := write("combined.pem", append(append([]byte{}, key...), cert...)) // key first on purpose
	tests := []struct {
		name string
		s    Settings
		want string
	}{
		{"combined PEM keystore, key first", Settings{KeyStorePath: combined}, ""},
		{"missing file", Settings{KeyStorePath: filepath.Join(p.dir, "nope.p12")}, "keyStorePath"},
		{"Java keystore", Settings{KeyStorePath: write("store.jks", []byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2})}, "keytool -importkeystore"},
		{"garbage", Settings{KeyStorePath: write("garbage", []byte("\x30\x03\x02\x01\x00"))}, "neither PEM nor a PKCS#12"},
		{"certificate without key", Settings{KeyStorePath: p.serverCert}, "holds no private key"},
		{"key of another certificate", Settings{CertPath: p.clientCert, KeyPath: p.serverKey}, "no certificate matches the private key"},
		{"encrypted key", Settings{CertPath: p.serverCert, KeyPath: write("enc.key",
			[]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))}, "the private key is encrypted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.certificate()
			checkErr(t, err, tc.want, ErrKeyMaterial)
		})
	}
	if _, err := loadPool(p.serverKey, ""); err == nil || !strings.Contains(err.Error(), "holds no certificate") {
		t.Fatalf("a key as trust store: %v", err)
	}
}

// TestPKCS12 reads a legacy-encrypted PKCS#12 keystore made by openssl and
// refuses a modern AES one with the conversion command. It needs openssl.
func TestPKCS12(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	p := newPKI(t)
	export := func(name string, extra ...string) string {
		out := filepath.Join(p.dir, name)
		args := append([]string{"pkcs12", "-export", "-in", p.serverCert, "-inkey", p.serverKey, "-out", out, "-passout", "pass:secret"}, extra...)
		if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Skipf("openssl %v: %v\n%s", args, err, b)
		}
		return out
	}
	legacy := export("legacy.p12", "-legacy")
	modern := export("modern.p12")
	if _, err := (Settings{KeyStorePath: legacy, KeyStorePassword: "secret"}).certificate(); err != nil {
		t.Fatalf("legacy PKCS#12: %v", err)
	}
	_, err := (Settings{KeyStorePath: legacy, KeyStorePassword: "wrong"}).certificate()
	checkErr(t, err, "password is wrong", ErrKeyMaterial)
	_, err = (Settings{KeyStorePath: modern, KeyStorePassword: "secret"}).certificate()
	checkErr(t, err, "openssl pkcs12 -in", ErrKeyMaterial)
}

func checkErr(t *testing.T, err error, want string, sentinel error) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, sentinel) {
		t.Fatalf("error %v; want one containing %q and wrapping %v", err, want, sentinel)
	}
}
