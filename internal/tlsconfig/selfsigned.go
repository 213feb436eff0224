package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// SelfSigned describes a certificate to generate with WriteSelfSigned.
type SelfSigned struct {
	// CommonName names the subject, e.g. the broker's name.
	CommonName string
	// Hosts are the DNS names and IP addresses the certificate is valid
	// for; clients with verifyHost=true check the one they dial.
	Hosts []string
	// ValidFor is the lifetime; default one year.
	ValidFor time.Duration
	// Issuer signs the new certificate; nil makes it self-signed (and its
	// own CA, so a client can trust it through trustStorePath).
	Issuer *Issuer
}

// Issuer is a CA that WriteSelfSigned can sign with, as returned by it.
type Issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// WriteSelfSigned generates an ECDSA P-256 key and a certificate for sc,
// writes the certificate to certPath and the key to keyPath (mode 0600),
// both PEM, and returns the pair as an Issuer for signing further
// certificates (client certificates in tests, for instance).
func WriteSelfSigned(certPath, keyPath string, sc SelfSigned) (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate a serial number: %w", err)
	}
	if sc.ValidFor <= 0 {
		sc.ValidFor = 365 * 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: sc.CommonName, Organization: []string{"tandem"}},
		NotBefore:    now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:     now.Add(sc.ValidFor),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// A self-signed certificate is its own CA so that clients can name
		// it as their trust store.
		IsCA:                  sc.Issuer == nil,
		BasicConstraintsValid: true,
	}
	for _, h := range sc.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	parent, signer := tmpl, key
	if sc.Issuer != nil {
		parent, signer = sc.Issuer.cert, sc.Issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("create the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("read back the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("write the key: %w", err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("write the certificate: %w", err)
	}
	return &Issuer{cert: cert, key: key}, nil
}
