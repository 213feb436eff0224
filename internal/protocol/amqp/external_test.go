package amqp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	"tandem/internal/store/memstore"
	"tandem/internal/tlsconfig"
)

// certAuth admits the certificate whose common name is "app".
type certAuth struct{ testAuth }

func (certAuth) AuthenticateCertificate(_ string, cert *x509.Certificate) (protocol.Identity, error) {
	if cert.Subject.CommonName == "app" {
		return protocol.Identity{User: "app", Roles: []string{"amq"}}, nil
	}
	return protocol.Identity{}, errors.New("unknown certificate")
}

// TestSASLExternal logs in with a TLS client certificate: EXTERNAL is
// offered only to a client that presented one the CA signed, and the
// certificate's name decides the user.
func TestSASLExternal(t *testing.T) {
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	ca, err := tlsconfig.WriteSelfSigned(path("ca.pem"), path("ca-key.pem"), tlsconfig.SelfSigned{CommonName: "test CA"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name string }{{"broker"}, {"app"}, {"stranger"}} {
		hosts := []string(nil)
		if c.name == "broker" {
			hosts = []string{"127.0.0.1"}
		}
		if _, err := tlsconfig.WriteSelfSigned(path(c.name+".pem"), path(c.name+"-key.pem"),
			tlsconfig.SelfSigned{CommonName: c.name, Hosts: hosts, Issuer: ca}); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(path("ca.pem"))
	pool.AppendCertsFromPEM(caPEM)
	pair := func(name string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(path(name+".pem"), path(name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{Env: protocol.Env{Broker: b, Auth: certAuth{testAuth{noAnonymous: true}}}, TLSState: listener.TLSState})
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{srv},
		TLS: &tls.Config{Certificates: []tls.Certificate{pair("broker")}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	dial := func(cert *tls.Certificate) error {
		cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c, err := goamqp.Dial(testCtx(t), "amqps://"+ln.Addr().String(), &goamqp.ConnOptions{TLSConfig: cfg,
			SASLType: goamqp.SASLTypeExternal("")})
		if err != nil {
			return err
		}
		defer c.Close()
		s, err := c.NewSession(testCtx(t), nil)
		if err != nil {
			return err
		}
		snd, err := s.NewSender(testCtx(t), "ext", nil)
		if err != nil {
			return err
		}
		return snd.Send(testCtx(t), goamqp.NewMessage([]byte("x")), nil)
	}
	app, stranger := pair("app"), pair("stranger")
	if err := dial(&app); err != nil {
		t.Fatalf("EXTERNAL with the app's certificate: %v", err)
	}
	if err := dial(&stranger); err == nil {
		t.Fatal("EXTERNAL with a certificate naming no user was accepted")
	}
	if err := dial(nil); err == nil {
		t.Fatal("EXTERNAL without a certificate was accepted")
	}
}
