// Package tlsconfig turns Artemis-style TLS options, as written in acceptor,
// connector and client URLs (sslEnabled, keyStorePath, trustStorePath,
// needClientAuth, verifyHost, ...), into *tls.Config values for servers and
// clients, and generates self-signed certificates for development.
//
// Key material is read from PEM files (a certificate chain and a private
// key, in one file or two) or from PKCS#12 files that use the legacy
// encryption golang.org/x/crypto/pkcs12 understands. Java keystores (JKS)
// are recognised and refused with the command that converts them. The
// package imports nothing from tandem, so the server, the web console and
// the Go client all build their TLS settings the same way.
package tlsconfig
