package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	"tandem/internal/config"
	"tandem/internal/tlsconfig"
)

// acceptorTLS returns the TLS configuration of an acceptor whose URL says
// sslEnabled=true, or nil for a plain acceptor.
func acceptorTLS(a config.Acceptor) (*tls.Config, error) {
	ts, err := tlsconfig.Parse(a.Options)
	if err != nil || !ts.Enabled {
		return nil, err
	}
	return tlsconfig.Server(ts)
}

// dialPeer connects to a peer's client port given as a connector URL
// (tcp://host:port, with sslEnabled=true and trustStorePath, verifyHost,
// certPath/keyPath for a TLS cluster connection), completing the TLS
// handshake when the URL asks for one.
func dialPeer(ctx context.Context, rawURL string, timeout time.Duration) (net.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("connector %q: %w", rawURL, err)
	}
	opts := map[string]string{}
	for k, vs := range u.Query() {
		opts[k] = vs[len(vs)-1]
	}
	ts, err := tlsconfig.Parse(opts)
	if err != nil {
		return nil, fmt.Errorf("connector %q: %w", rawURL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil || !ts.Enabled && u.Scheme != "ssl" && u.Scheme != "tls" {
		return nc, err
	}
	cfg, err := tlsconfig.Client(ts, u.Hostname())
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connector %q: %w", rawURL, err)
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connector %q: TLS handshake: %w", rawURL, err)
	}
	return tc, nil
}
