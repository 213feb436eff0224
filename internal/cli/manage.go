package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"tandem/client"
	"tandem/internal/web"
)

// The management commands (queue, address, node) talk to the broker's
// JSON API over HTTP. They take the messaging URL users already type and
// find the HTTP port from it: a broker's HTTP port is its client port
// minus 61616 plus 8161, because both are offset by the same --port-offset
// (docs/management.md). --http-url overrides that for brokers whose ports
// were edited apart.
const (
	baseClientPort = 61616
	baseHTTPPort   = 8161
)

// errNoLiveNode is returned when none of the URL's nodes is live.
var errNoLiveNode = errors.New("no live node")

// mgmtFlags are the flags every management command shares.
type mgmtFlags struct {
	url      string
	httpURL  string
	user     string
	password string
	json     bool
	timeout  time.Duration
	// tls holds, per derived base URL, the TLS settings of the messaging
	// URL it came from: a broker whose client port speaks TLS is expected
	// to serve HTTPS (web.tls, as tandem create --ssl-* writes it) and is
	// trusted the same way.
	tls map[string]*tls.Config
}

func (f *mgmtFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "tcp://localhost:61616", "broker URL as producer and consumer take it: tcp://host:port, failover:(tcp://a,tcp://b) or (tcp://a,tcp://b)?ha=true")
	fs.StringVar(&f.httpURL, "http-url", "", "management URL(s), comma-separated, e.g. http://host:8161; overrides the one derived from --url")
	fs.StringVar(&f.user, "user", "", "user name (reading needs any user; changes need the manage role)")
	fs.StringVar(&f.password, "password", "", "password")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table, for scripts")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "how long to wait for each node's answer")
}

// httpBases returns the management base URLs of the nodes the flags name.
func (f *mgmtFlags) httpBases() ([]string, error) {
	if f.httpURL != "" {
		var out []string
		for _, u := range strings.Split(f.httpURL, ",") {
			u = strings.TrimRight(strings.TrimSpace(u), "/")
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return nil, fmt.Errorf("--http-url %q must start with http:// or https://", u)
			}
			out = append(out, u)
		}
		return out, nil
	}
	eps, opts, err := client.ParseURL(f.url)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", f.url, err)
	}
	out := make([]string, 0, len(eps))
	for _, ep := range eps {
		port := ep.Port - baseClientPort + baseHTTPPort
		if port <= 0 || port > 65535 {
			return nil, fmt.Errorf("cannot derive the HTTP port of %s: its port %d is not 61616 plus a port offset; pass --http-url http://%s:PORT",
				ep, ep.Port, ep.Host)
		}
		cfg, err := client.EndpointTLS(ep, opts)
		if err != nil {
			return nil, fmt.Errorf("--url %q: %w", f.url, err)
		}
		base := "http://" + net.JoinHostPort(ep.Host, strconv.Itoa(port))
		if cfg != nil {
			base = "https://" + net.JoinHostPort(ep.Host, strconv.Itoa(port))
			if f.tls == nil {
				f.tls = make(map[string]*tls.Config)
			}
			f.tls[base] = cfg
		}
		out = append(out, base)
	}
	return out, nil
}

// apiClient calls one node's management API.
type apiClient struct {
	base     string
	user     string
	password string
	http     *http.Client
}

func (f *mgmtFlags) client(base string) *apiClient {
	hc := &http.Client{Timeout: f.timeout}
	if cfg := f.tls[base]; cfg != nil {
		hc.Transport = &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}
	}
	return &apiClient{base: base, user: f.user, password: f.password, http: hc}
}

// apiError is a non-2xx answer of the API.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.msg, e.status) }

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", c.base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		if resp.StatusCode == http.StatusUnauthorized && c.user == "" {
			e.Error += " (pass --user and --password)"
		}
		return &apiError{status: resp.StatusCode, msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s%s answered something that is not the expected JSON: %w", c.base, path, err)
	}
	return nil
}

// nodeProbe is what one node said when asked who it is.
type nodeProbe struct {
	base string
	node web.NodeJSON
	err  error
}

// probe asks every node for /api/node.
func (f *mgmtFlags) probe(ctx context.Context) ([]nodeProbe, error) {
	bases, err := f.httpBases()
	if err != nil {
		return nil, err
	}
	out := make([]nodeProbe, len(bases))
	done := make(chan struct{}, len(bases))
	for i, b := range bases {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i].base = b
			out[i].err = f.client(b).do(ctx, http.MethodGet, "/api/node", nil, &out[i].node)
		}()
	}
	for range bases {
		<-done
	}
	return out, nil
}

// live returns a client for the live node among those the flags name. An
// authentication failure is reported as such rather than as "no live
// node", since it would be the same on every node.
func (f *mgmtFlags) live(ctx context.Context) (*apiClient, error) {
	probes, err := f.probe(ctx)
	if err != nil {
		return nil, err
	}
	var states []string
	for _, p := range probes {
		var ae *apiError
		switch {
		case errors.As(p.err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden):
			return nil, fmt.Errorf("%s: %w", p.base, p.err)
		case p.err != nil:
			states = append(states, fmt.Sprintf("%s is down (%v)", p.base, p.err))
		case p.node.Ready:
			return f.client(p.base), nil
		default:
			states = append(states, fmt.Sprintf("%s is a %s (%s)", p.base, p.node.Role, p.node.State))
		}
	}
	return nil, fmt.Errorf("%w among the nodes of %s: %s", errNoLiveNode, f.url, strings.Join(states, "; "))
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// queuePath is the API path of a queue, escaped: a slash or a '#' in the
// name is percent-encoded, and so are the dots of a name made only of dots,
// which would otherwise be read as "this" or "parent" directory.
func queuePath(name string) string { return "/api/queues/" + pathSegment(name) }

// pathSegment escapes name as one segment of a URL path.
func pathSegment(name string) string {
	s := url.PathEscape(name)
	if strings.Trim(s, ".") == "" {
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	return s
}
