package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// ApplyPortOffset adds n to the port of every acceptor, of the web console
// and of this node's own connector (the one its cluster connections name as
// theirs, which peers and clients are told), as `tandem run --port-offset`
// does: the same broker on other ports, beside another one. The peers'
// connectors are left alone. An out-of-range result is an error naming the
// setting.
func (c *Config) ApplyPortOffset(n int) error {
	if n == 0 {
		return nil
	}
	for i, a := range c.Acceptors {
		u, err := shiftURLPort(a.URL, n)
		if err != nil {
			return fmt.Errorf("acceptor %q: %w", a.Name, err)
		}
		c.Acceptors[i].URL = u
	}
	if c.Web.Bind != "" {
		host, port, err := net.SplitHostPort(c.Web.Bind)
		if err != nil {
			return fmt.Errorf("web.bind %q: %w", c.Web.Bind, err)
		}
		p, err := shiftPort(port, n)
		if err != nil {
			return fmt.Errorf("web.bind %q: %w", c.Web.Bind, err)
		}
		c.Web.Bind = net.JoinHostPort(host, p)
	}
	own := map[string]bool{}
	for _, cc := range c.ClusterConnections {
		own[cc.ConnectorRef] = true
	}
	for i, cn := range c.Connectors {
		if !own[cn.Name] {
			continue
		}
		u, err := shiftURLPort(cn.URL, n)
		if err != nil {
			return fmt.Errorf("connector %q: %w", cn.Name, err)
		}
		c.Connectors[i].URL = u
	}
	return nil
}

// shiftURLPort adds n to the port of a tcp://HOST:PORT?options URL.
func shiftURLPort(raw string, n int) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		return "", fmt.Errorf("%q has no port to offset", raw)
	}
	p, err := shiftPort(u.Port(), n)
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	u.Host = net.JoinHostPort(u.Hostname(), p)
	return u.String(), nil
}

// shiftPort adds n to a port number.
func shiftPort(port string, n int) (string, error) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("port %q is not a number", port)
	}
	if p+n < 1 || p+n > 65535 {
		return "", fmt.Errorf("port %d with offset %d is %d, outside 1 to 65535", p, n, p+n)
	}
	return strconv.Itoa(p + n), nil
}
