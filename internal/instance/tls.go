package instance

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"tandem/internal/config"
	"tandem/internal/tlsconfig"
)

// TLSOptions are the TLS flags of `tandem create`, named after Artemis'
// (--ssl-key, --ssl-key-password, --ssl-trust, --ssl-trust-password,
// --use-client-auth) plus tandem's --ssl-self-signed.
type TLSOptions struct {
	// Key is a PEM file (certificate chain and key) or a PKCS#12 keystore
	// for the client port; KeyPassword decrypts a PKCS#12 file.
	Key, KeyPassword string
	// Trust is a PEM file of CA certificates: the CAs whose client
	// certificates are accepted with UseClientAuth, and the CAs the
	// cluster connection trusts when it dials the peer.
	Trust, TrustPassword string
	// UseClientAuth requires clients to present a certificate signed by
	// Trust.
	UseClientAuth bool
	// SelfSigned generates etc/tls/broker.pem and etc/tls/broker-key.pem
	// for development, instead of Key.
	SelfSigned bool
}

// Enabled reports whether any TLS flag asks for TLS.
func (t TLSOptions) Enabled() bool { return t.Key != "" || t.SelfSigned }

// check reports contradictory or incomplete TLS flags.
func (t TLSOptions) check() string {
	switch {
	case t.Key != "" && t.SelfSigned:
		return "--ssl-key and --ssl-self-signed exclude each other; give your own key or let tandem generate one"
	case !t.Enabled() && (t.Trust != "" || t.UseClientAuth || t.KeyPassword != ""):
		return "--ssl-trust, --ssl-key-password and --use-client-auth need TLS; add --ssl-key FILE or --ssl-self-signed"
	case t.UseClientAuth && t.Trust == "":
		return "--use-client-auth needs --ssl-trust, a PEM file of the CAs that sign client certificates"
	}
	return ""
}

// applyTLS turns the client acceptor, the connectors and the HTTP port of c
// into TLS ones, generating a self-signed certificate under inst's etc/tls
// when asked.
// Key and trust paths are written absolute, so the broker finds them
// whatever its working directory.
func applyTLS(c *config.Config, o CreateOptions, inst *Instance) error {
	t := o.TLS
	if !t.Enabled() {
		return nil
	}
	server := url.Values{"sslEnabled": {"true"}}
	client := url.Values{"sslEnabled": {"true"}}
	if t.SelfSigned {
		dir := filepath.Join(inst.EtcDir, "tls")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		cert, key := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "broker-key.pem")
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		if ip := net.ParseIP(o.Host); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, o.Host)
		}
		if _, err := tlsconfig.WriteSelfSigned(cert, key, tlsconfig.SelfSigned{CommonName: o.Name, Hosts: hosts}); err != nil {
			return fmt.Errorf("--ssl-self-signed: %w", err)
		}
		server.Set("certPath", cert)
		server.Set("keyPath", key)
		// Each node of a pair generates its own certificate, so the peer's
		// is unknown here: the cluster connection encrypts without checking
		// it. Replace trustAll with trustStorePath for production.
		client.Set("trustAll", "true")
	} else {
		abs, err := filepath.Abs(t.Key)
		if err != nil {
			return fmt.Errorf("--ssl-key %s: %w", t.Key, err)
		}
		server.Set("keyStorePath", abs)
		if t.KeyPassword != "" {
			server.Set("keyStorePassword", t.KeyPassword)
		}
	}
	if t.Trust != "" {
		abs, err := filepath.Abs(t.Trust)
		if err != nil {
			return fmt.Errorf("--ssl-trust %s: %w", t.Trust, err)
		}
		client.Del("trustAll")
		client.Set("trustStorePath", abs)
		if t.UseClientAuth {
			server.Set("needClientAuth", "true")
			server.Set("trustStorePath", abs)
		}
		if t.TrustPassword != "" {
			client.Set("trustStorePassword", t.TrustPassword)
			server.Set("trustStorePassword", t.TrustPassword)
		}
	}
	for i := range c.Acceptors {
		c.Acceptors[i].URL = withQuery(c.Acceptors[i].URL, server)
		for k, v := range server {
			c.Acceptors[i].Options[k] = v[0]
		}
	}
	for i := range c.Connectors {
		c.Connectors[i].URL = withQuery(c.Connectors[i].URL, client)
	}
	// As with Artemis' create, the key also secures the HTTP port: the
	// console and management API serve HTTPS with the same certificate.
	if c.Web.Enabled {
		c.Web.TLS = make(map[string]string, len(server))
		for k, v := range server {
			c.Web.TLS[k] = v[0]
		}
	}
	return nil
}

// withQuery appends options to a tcp://host:port URL. The values are
// escaped, except for '/' which paths are full of and which a query may
// hold as it is.
func withQuery(raw string, v url.Values) string {
	return raw + "?" + strings.ReplaceAll(v.Encode(), "%2F", "/")
}
