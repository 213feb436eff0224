package amqp

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Endpoint is one broker of a URL.
type Endpoint struct {
	// Host and Port say where it listens; TLS whether the connection
	// starts with a TLS handshake (amqps://, ssl://).
	Host string
	Port string
	TLS  bool
	// User and Password come from the URL's user info, if any.
	User, Password string
}

// Addr returns host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, e.Port) }

// String returns the endpoint as a URL.
func (e Endpoint) String() string {
	scheme := "amqp"
	if e.TLS {
		scheme = "amqps"
	}
	return scheme + "://" + e.Addr()
}

// DefaultPort is the port of an endpoint that names none: tandem's
// multi-protocol port, which speaks AMQP.
const DefaultPort = "61616"

// ParseURL reads a broker URL: amqp://host:port, tcp://host:port,
// amqps://host:port or ssl://host:port (TLS), host:port, or a list of
// those as failover:(a,b) or (a,b), tried in order. Query options are
// ignored.
func ParseURL(s string) ([]Endpoint, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty broker URL")
	}
	rest := strings.TrimPrefix(s, "failover:")
	if strings.HasPrefix(rest, "(") {
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return nil, fmt.Errorf("broker URL %q: no closing parenthesis", s)
		}
		var out []Endpoint
		for _, part := range strings.Split(rest[1:end], ",") {
			e, err := parseEndpoint(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("broker URL %q: %w", s, err)
			}
			out = append(out, e)
		}
		return out, nil
	}
	e, err := parseEndpoint(rest)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %w", s, err)
	}
	return []Endpoint{e}, nil
}

func parseEndpoint(s string) (Endpoint, error) {
	if !strings.Contains(s, "://") {
		s = "amqp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, err
	}
	var e Endpoint
	switch u.Scheme {
	case "amqp", "tcp":
	case "amqps", "ssl", "tls":
		e.TLS = true
	default:
		return Endpoint{}, fmt.Errorf("scheme %q is not amqp, amqps, tcp or ssl", u.Scheme)
	}
	e.Host, e.Port = u.Hostname(), u.Port()
	if e.Host == "" {
		return Endpoint{}, fmt.Errorf("%q names no host", s)
	}
	if e.Port == "" {
		e.Port = DefaultPort
	}
	if u.User != nil {
		e.User = u.User.Username()
		e.Password, _ = u.User.Password()
	}
	return e, nil
}

// Destination maps a destination as the tandem commands write it onto
// an address and capabilities: queue://X is X with capability queue,
// topic://X is X with capability topic, anything else is sent as written,
// without capabilities.
func Destination(dest string) (address string, capabilities []string) {
	switch {
	case strings.HasPrefix(dest, "queue://"):
		return dest[len("queue://"):], []string{"queue"}
	case strings.HasPrefix(dest, "topic://"):
		return dest[len("topic://"):], []string{"topic"}
	}
	return dest, nil
}
