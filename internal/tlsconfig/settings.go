package tlsconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBadOption is wrapped by every error about a TLS option's value or a
// combination of options.
var ErrBadOption = errors.New("bad TLS option")

// ErrKeyMaterial is wrapped by every error about reading a certificate, a
// key or a trust store.
var ErrKeyMaterial = errors.New("cannot load TLS key material")

// Settings are the TLS options of one acceptor, connector or client URL.
// The field comments name the URL option each one comes from.
type Settings struct {
	// Enabled is sslEnabled (or implied by an ssl:// or tls:// URL).
	Enabled bool
	// CertPath and KeyPath (certPath, keyPath) are PEM files holding the
	// certificate chain and its private key. They are tandem's spelling;
	// KeyStorePath is Artemis'.
	CertPath, KeyPath string
	// KeyStorePath (keyStorePath) is a PEM file holding both the chain and
	// the key, or a PKCS#12 file; KeyStorePassword (keyStorePassword)
	// decrypts a PKCS#12 file. KeyStoreType (keyStoreType: PEM, PKCS12 or
	// JKS) is optional: the content decides.
	KeyStorePath, KeyStorePassword, KeyStoreType string
	// TrustStorePath (trustStorePath) is a PEM file of CA certificates: on
	// a server the CAs that sign client certificates, on a client the CAs
	// that sign the broker's. A PKCS#12 trust store is read too, with
	// TrustStorePassword (trustStorePassword).
	TrustStorePath, TrustStorePassword string
	// NeedClientAuth (needClientAuth) makes a server refuse clients without
	// a certificate signed by the trust store; WantClientAuth
	// (wantClientAuth) checks a certificate only when one is offered.
	NeedClientAuth, WantClientAuth bool
	// VerifyHost (verifyHost) makes a client check that the broker's
	// certificate names the host it dialled. Default true on clients;
	// false still checks the chain against the trust store.
	VerifyHost bool
	// TrustAll (trustAll) makes a client accept any broker certificate:
	// for tests against a self-signed broker only.
	TrustAll bool
	// MinVersion is the lowest protocol of enabledProtocols (TLSv1.2 or
	// TLSv1.3; default TLSv1.2).
	MinVersion uint16
}

// optionNames lists every option Parse reads, so callers can tell TLS
// options from others.
var optionNames = []string{
	"sslEnabled", "certPath", "keyPath", "keyStorePath", "keyStorePassword", "keyStoreType",
	"trustStorePath", "trustStorePassword", "trustStoreType", "needClientAuth", "wantClientAuth",
	"verifyHost", "trustAll", "enabledProtocols",
}

// IsOption reports whether name is a TLS option Parse reads.
func IsOption(name string) bool { return slices.Contains(optionNames, name) }

// Options returns the names of every TLS option Parse reads.
func Options() []string { return slices.Clone(optionNames) }

// clientOnly are the options that only mean something on a client.
var clientOnly = []string{"verifyHost", "trustAll"}

// ServerOptions returns the names of the options a server's settings take
// (every option but the client-only verifyHost and trustAll).
func ServerOptions() []string {
	return slices.DeleteFunc(slices.Clone(optionNames), func(n string) bool { return slices.Contains(clientOnly, n) })
}

// Parse reads the TLS options among opts (other keys are ignored). A
// boolean that is not true or false, an unknown protocol or keystore type,
// or a half-given certificate is an error wrapping ErrBadOption that names
// the option. Parse reads no files; Server and Client do.
func Parse(opts map[string]string) (Settings, error) {
	s := Settings{VerifyHost: true, MinVersion: tls.VersionTLS12}
	var errs []error
	boolean := func(key string, dst *bool) {
		v, ok := opts[key]
		if !ok {
			return
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q must be true or false", ErrBadOption, key, v))
			return
		}
		*dst = b
	}
	boolean("sslEnabled", &s.Enabled)
	boolean("needClientAuth", &s.NeedClientAuth)
	boolean("wantClientAuth", &s.WantClientAuth)
	boolean("verifyHost", &s.VerifyHost)
	boolean("trustAll", &s.TrustAll)
	s.CertPath, s.KeyPath = opts["certPath"], opts["keyPath"]
	s.KeyStorePath, s.KeyStorePassword = opts["keyStorePath"], opts["keyStorePassword"]
	s.TrustStorePath, s.TrustStorePassword = opts["trustStorePath"], opts["trustStorePassword"]
	for _, key := range []string{"keyStoreType", "trustStoreType"} {
		switch t := strings.ToUpper(opts[key]); t {
		case "", "PEM", "PKCS12", "JKS":
			if key == "keyStoreType" {
				s.KeyStoreType = t
			}
		default:
			errs = append(errs, fmt.Errorf("%w: %s=%q is not a keystore type; expected PEM or PKCS12", ErrBadOption, key, opts[key]))
		}
	}
	if v, ok := opts["enabledProtocols"]; ok {
		s.MinVersion = 0
		for p := range strings.SplitSeq(v, ",") {
			var ver uint16
			switch strings.TrimSpace(p) {
			case "TLSv1.2":
				ver = tls.VersionTLS12
			case "TLSv1.3":
				ver = tls.VersionTLS13
			default:
				errs = append(errs, fmt.Errorf("%w: enabledProtocols=%q: %q is not supported; use TLSv1.2 and/or TLSv1.3", ErrBadOption, v, p))
				continue
			}
			if s.MinVersion == 0 || ver < s.MinVersion {
				s.MinVersion = ver
			}
		}
	}
	if (s.CertPath == "") != (s.KeyPath == "") {
		errs = append(errs, fmt.Errorf("%w: certPath and keyPath go together (a PEM certificate chain and its private key); give both", ErrBadOption))
	}
	if s.CertPath != "" && s.KeyStorePath != "" {
		errs = append(errs, fmt.Errorf("%w: give either certPath/keyPath or keyStorePath, not both", ErrBadOption))
	}
	return s, errors.Join(errs...)
}

// CheckServer reports what an acceptor with these settings lacks: a
// certificate, or a trust store when client certificates are checked.
func (s Settings) CheckServer() error {
	if !s.Enabled {
		return nil
	}
	var errs []error
	if s.CertPath == "" && s.KeyStorePath == "" {
		errs = append(errs, fmt.Errorf("%w: sslEnabled=true needs the server's certificate: keyStorePath (PEM or PKCS#12) or certPath and keyPath (PEM)", ErrBadOption))
	}
	if (s.NeedClientAuth || s.WantClientAuth) && s.TrustStorePath == "" {
		errs = append(errs, fmt.Errorf("%w: needClientAuth/wantClientAuth need trustStorePath, a PEM file of the CAs that sign client certificates", ErrBadOption))
	}
	return errors.Join(errs...)
}

// hasClientCert reports whether the settings name a client certificate.
func (s Settings) hasClientCert() bool { return s.CertPath != "" || s.KeyStorePath != "" }
