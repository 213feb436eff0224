package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"tandem/internal/tlsconfig"
)

// WithTLSConfig makes the Conn speak TLS to every broker of its URL with
// cfg (cloned; ServerName defaults to each broker's host). Without it, TLS
// is used for ssl:// and tls:// brokers and for URLs with sslEnabled=true,
// configured by the URL's options: trustStorePath (a PEM file of the CAs
// to trust; the system's by default), verifyHost (default true), trustAll,
// and certPath/keyPath or keyStorePath for a client certificate.
func WithTLSConfig(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// secureScheme reports whether a URL scheme means TLS.
func secureScheme(scheme string) bool {
	switch scheme {
	case "ssl", "tls", "stomp+ssl", "stomp+tls":
		return true
	}
	return false
}

// tlsParams merges the URL's connection-level options with the broker's
// own, which win.
func tlsParams(urlParams, epParams map[string]string) map[string]string {
	out := make(map[string]string, len(urlParams)+len(epParams))
	for k, v := range urlParams {
		if tlsconfig.IsOption(k) {
			out[k] = v
		}
	}
	for k, v := range epParams {
		if tlsconfig.IsOption(k) {
			out[k] = v
		}
	}
	return out
}

// checkTLSOptions reports a bad TLS option of a parsed URL, so that Dial
// fails on a typo before it tries any broker.
func checkTLSOptions(eps []Endpoint, o URLOptions) error {
	for _, ep := range eps {
		if _, err := tlsconfig.Parse(tlsParams(o.Params, ep.Params)); err != nil {
			return problemf("%s: %v", ep, err)
		}
	}
	return nil
}

// tlsFor returns the TLS configuration for ep, or nil when ep is plain
// TCP.
func (c *Conn) tlsFor(ep Endpoint) (*tls.Config, error) {
	if c.cfg.tls != nil {
		cfg := c.cfg.tls.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = ep.Host
		}
		return cfg, nil
	}
	return EndpointTLS(ep, c.opts)
}

// EndpointTLS returns the TLS configuration a client uses for ep of a URL
// parsed with ParseURL (ep's own options over the URL's), or nil when ep is
// plain TCP. Tools that reach a broker's other ports, such as its HTTP
// port, use it to trust the broker as its messaging URL says.
func EndpointTLS(ep Endpoint, o URLOptions) (*tls.Config, error) {
	ts, err := tlsconfig.Parse(tlsParams(o.Params, ep.Params))
	if err != nil {
		return nil, err
	}
	if !ts.Enabled && !secureScheme(ep.Scheme) {
		return nil, nil
	}
	return tlsconfig.Client(ts, ep.Host)
}

// secure runs the TLS handshake on nc when ep calls for TLS, and returns
// the connection to speak STOMP on.
func (c *Conn) secure(ctx context.Context, nc net.Conn, ep Endpoint) (net.Conn, error) {
	cfg, err := c.tlsFor(ep)
	if err != nil || cfg == nil {
		return nc, err
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// inheritTLS gives a backup learned from a broker reached over TLS the same
// transport, unless the broker advertised the backup's TLS settings
// itself: a client that insisted on TLS must not fall back to plain text.
func inheritTLS(from, ep Endpoint) Endpoint {
	fromTLS := secureScheme(from.Scheme) || from.Params["sslEnabled"] == "true"
	if !fromTLS || secureScheme(ep.Scheme) || ep.Params["sslEnabled"] != "" {
		return ep
	}
	ep.Scheme = from.Scheme
	params := map[string]string{}
	for k, v := range from.Params {
		if tlsconfig.IsOption(k) {
			params[k] = v
		}
	}
	for k, v := range ep.Params {
		params[k] = v
	}
	ep.Params = params
	return ep
}
