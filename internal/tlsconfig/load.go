package tlsconfig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/pkcs12"
)

// Server builds the TLS configuration of an acceptor (or of the HTTP
// port) from s, reading its certificate and trust store now. It fails with
// ErrBadOption when the settings are incomplete and ErrKeyMaterial when a
// file cannot be read or decoded.
func Server(s Settings) (*tls.Config, error) {
	if err := s.CheckServer(); err != nil {
		return nil, err
	}
	cert, err := s.certificate()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: s.MinVersion}
	if s.NeedClientAuth || s.WantClientAuth {
		pool, err := loadPool(s.TrustStorePath, s.TrustStorePassword)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if s.NeedClientAuth {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// Client builds the TLS configuration for dialling serverName (a host name
// or IP address) with settings s. Without a trust store the system's CAs
// are trusted. With verifyHost=false the broker's chain is still checked
// against the trust store, only its host name is not; trustAll=true checks
// nothing.
func Client(s Settings, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: s.MinVersion}
	if s.TrustStorePath != "" {
		pool, err := loadPool(s.TrustStorePath, s.TrustStorePassword)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.hasClientCert() {
		cert, err := s.certificate()
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch {
	case s.TrustAll:
		cfg.InsecureSkipVerify = true
	case !s.VerifyHost:
		// crypto/tls checks the chain and the name together; skipping both
		// and checking the chain here is the only way to skip just the name.
		cfg.InsecureSkipVerify = true
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}

// certificate loads the certificate chain and key s names.
func (s Settings) certificate() (tls.Certificate, error) {
	if s.CertPath != "" {
		certPEM, err := readFile("certPath", s.CertPath)
		if err != nil {
			return tls.Certificate{}, err
		}
		keyPEM, err := readFile("keyPath", s.KeyPath)
		if err != nil {
			return tls.Certificate{}, err
		}
		return pairFromPEM(s.CertPath, append(append(certPEM, '\n'), keyPEM...))
	}
	data, err := readFile("keyStorePath", s.KeyStorePath)
	if err != nil {
		return tls.Certificate{}, err
	}
	blocks, err := storeBlocks(s.KeyStorePath, data, s.KeyStorePassword)
	if err != nil {
		return tls.Certificate{}, err
	}
	var buf bytes.Buffer
	for _, b := range blocks {
		pem.Encode(&buf, b)
	}
	return pairFromPEM(s.KeyStorePath, buf.Bytes())
}

func readFile(option, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyMaterial, option, err)
	}
	return b, nil
}

// storeBlocks decodes a key or trust store of any supported kind into PEM
// blocks, telling the kinds apart by their content.
func storeBlocks(path string, data []byte, password string) ([]*pem.Block, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfe, 0xed}), bytes.HasPrefix(data, []byte{0xce, 0xce, 0xce, 0xce}):
		return nil, fmt.Errorf("%w: %s is a Java keystore (JKS/JCEKS), which tandem cannot read; convert it to PEM: "+
			"keytool -importkeystore -srckeystore %s -destkeystore store.p12 -deststoretype PKCS12, then "+
			"openssl pkcs12 -in store.p12 -out store.pem -noenc, and set keyStorePath (or trustStorePath) to store.pem",
			ErrKeyMaterial, path, path)
	case bytes.Contains(data, []byte("-----BEGIN")):
		var blocks []*pem.Block
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			blocks = append(blocks, b)
		}
		return blocks, nil
	}
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("%w: %s: the PKCS#12 password is wrong (keyStorePassword or trustStorePassword)", ErrKeyMaterial, path)
		}
		return nil, fmt.Errorf("%w: %s is neither PEM nor a PKCS#12 file tandem can decode (%v); PKCS#12 files with "+
			"AES encryption (the default of OpenSSL 3 and recent Java) are not supported: convert with "+
			"openssl pkcs12 -in %s -out store.pem -noenc and use the PEM file", ErrKeyMaterial, path, err, path)
	}
	return blocks, nil
}

// pairFromPEM finds the private key and the certificate that matches it
// among the PEM blocks, in any order, and keeps the other certificates as
// the chain.
func pairFromPEM(path string, data []byte) (tls.Certificate, error) {
	var (
		key   crypto.Signer
		certs []*x509.Certificate
		raw   [][]byte
	)
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: %s: a certificate does not parse: %w", ErrKeyMaterial, path, err)
			}
			certs, raw = append(certs, c), append(raw, b.Bytes)
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return tls.Certificate{}, fmt.Errorf("%w: %s: the private key is encrypted; tandem reads unencrypted PEM keys "+
				"(protect the file with its permissions): openssl pkey -in KEY -out key.pem", ErrKeyMaterial, path)
		case bytes.HasSuffix([]byte(b.Type), []byte("PRIVATE KEY")):
			k, err := parseKey(b.Bytes)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: %s: the private key does not parse: %w", ErrKeyMaterial, path, err)
			}
			key = k
		}
	}
	if key == nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s holds no private key (PEM block \"PRIVATE KEY\")", ErrKeyMaterial, path)
	}
	for i, c := range certs {
		pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(key.Public()) {
			continue
		}
		chain := [][]byte{raw[i]}
		for j := range raw {
			if j != i {
				chain = append(chain, raw[j])
			}
		}
		return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: c}, nil
	}
	return tls.Certificate{}, fmt.Errorf("%w: %s: no certificate matches the private key (%d certificates found)", ErrKeyMaterial, path, len(certs))
}

// parseKey reads a PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) private key.
func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}

// loadPool reads the CA certificates of a trust store.
func loadPool(path, password string) (*x509.CertPool, error) {
	data, err := readFile("trustStorePath", path)
	if err != nil {
		return nil, err
	}
	blocks, err := storeBlocks(path, data, password)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: a certificate does not parse: %w", ErrKeyMaterial, path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: trustStorePath %s holds no certificate (PEM block \"CERTIFICATE\")", ErrKeyMaterial, path)
	}
	return pool, nil
}
