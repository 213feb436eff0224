package protocol

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// Topology is a live node's picture of its pair, protocol-neutral: each
// adapter renders it its own way (docs/protocols.md, "Topology").
type Topology struct {
	// NodeID identifies the shared store the pair serves; Epoch is the
	// live's fencing epoch. Both are empty for a standalone broker.
	NodeID string
	Epoch  uint64
	// Live is this node; Backups are the waiting nodes that announced
	// themselves, in announcement order.
	Live    Node
	Backups []Node
}

// Node is one broker of the pair and the endpoints clients reach it on.
type Node struct {
	Name      string
	Endpoints []Endpoint
}

// Endpoint is one acceptor of a node.
type Endpoint struct {
	// URL is tcp://host:port (ssl://host:port with TLS).
	URL string
	// Protocols are the protocol names the acceptor serves (config's
	// spelling: STOMP, AMQP, OPENWIRE, MQTT); empty means every one.
	Protocols []string
}

// Serves reports whether e accepts protocol p.
func (e Endpoint) Serves(p string) bool {
	return len(e.Protocols) == 0 || slices.ContainsFunc(e.Protocols, func(x string) bool { return strings.EqualFold(x, p) })
}

// URLFor returns n's first endpoint URL that serves protocol p, or "".
func (n Node) URLFor(p string) string {
	for _, e := range n.Endpoints {
		if e.Serves(p) {
			return e.URL
		}
	}
	return ""
}

// BackupURLs returns one URL per backup for protocol p, without repeats.
func (t Topology) BackupURLs(p string) []string {
	var out []string
	for _, b := range t.Backups {
		if u := b.URLFor(p); u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// HostPort splits an endpoint URL (tcp://host:port, ssl://host:port) into
// its scheme, host and port, for protocols that announce them apart (AMQP's
// failover-server-list, OpenWire's BrokerInfo).
func HostPort(endpointURL string) (scheme, host, port string, ok bool) {
	u, err := url.Parse(endpointURL)
	if err != nil || u.Host == "" {
		return "", "", "", false
	}
	h, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", "", "", false
	}
	return u.Scheme, h, p, true
}
