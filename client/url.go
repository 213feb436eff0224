package client

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/internal/tlsconfig"
)

// DefaultPort is the broker port assumed when a URL names none: tandem, like
// Artemis, serves every protocol on 61616.
const DefaultPort = 61616

// Endpoint is one broker address of a connection URL.
type Endpoint struct {
	// Scheme is the transport, "tcp" (nio and stomp are accepted as
	// synonyms and recorded as written) or "ssl" for TLS (tls, stomp+ssl
	// and stomp+tls are synonyms).
	Scheme string
	// Host is the host name or IP address, without brackets.
	Host string
	// Port is the TCP port.
	Port int
	// Params holds the options written on this address (tcp://h:p?k=v).
	Params map[string]string
}

// Addr returns the address in the host:port form net.Dial takes.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// String returns the endpoint as a URL without its options.
func (e Endpoint) String() string { return e.Scheme + "://" + e.Addr() }

// URLForm says which way of listing brokers a URL used.
type URLForm int

// The URL forms ParseURL understands.
const (
	// FormSingle is one broker: tcp://host:port?options.
	FormSingle URLForm = iota
	// FormFailover is ActiveMQ Classic's failover:(uri,...)?options.
	FormFailover
	// FormList is Artemis' (uri,...)?options.
	FormList
)

// URLOptions are the connection-level options of a URL, normalised across
// the ActiveMQ Classic and Artemis spellings. Fields the URL does not set keep
// the defaults of the broker family whose form the URL uses: Classic's for
// failover:, Artemis' for the others.
type URLOptions struct {
	// Form is the way the URL listed its brokers.
	Form URLForm
	// HA is Artemis' ha option: the client should learn backups from the
	// broker and fail over to them.
	HA bool
	// Randomize says to pick brokers in random order (Classic's randomize,
	// default true for failover:; false otherwise, keeping the written
	// order).
	Randomize bool
	// ReconnectAttempts is how often to try to reconnect after losing an
	// established connection: -1 for ever, 0 never. One attempt tries
	// every known broker once. Classic's
	// maxReconnectAttempts (default -1) or Artemis' reconnectAttempts
	// (default 0).
	ReconnectAttempts int
	// InitialConnectAttempts is how often to try to connect at all before
	// giving up: -1 for ever. Classic's startupMaxReconnectAttempts (the
	// value counts retries, so n means n+1 attempts; unset or -1 means
	// the maxReconnectAttempts limit, so for ever by default) or Artemis'
	// initialConnectAttempts (default 1). One attempt tries every broker
	// of the list once.
	InitialConnectAttempts int
	// ReconnectDelay is the wait before the first reconnect attempt:
	// Classic's initialReconnectDelay (10ms) or Artemis' retryInterval (2s).
	ReconnectDelay time.Duration
	// MaxReconnectDelay caps the wait between attempts: Classic's
	// maxReconnectDelay (30s) or Artemis' maxRetryInterval (2s).
	MaxReconnectDelay time.Duration
	// BackOffMultiplier grows the wait after each failed attempt: Classic's
	// backOffMultiplier (2, or 1 with useExponentialBackOff=false) or
	// Artemis' retryIntervalMultiplier (1).
	BackOffMultiplier float64
	// SendTimeout bounds how long a send may wait for a reconnect; 0 waits
	// for ever. Classic's timeout option (default -1, for ever).
	SendTimeout time.Duration
	// Params holds every option as written, including those not mapped
	// onto the fields above.
	Params map[string]string
}

// Failover reports whether the URL asks the client to reconnect when a
// connection is lost.
func (o URLOptions) Failover() bool {
	return o.Form == FormFailover || o.HA || o.ReconnectAttempts != 0
}

// defaultURLOptions returns the defaults of the broker family behind form.
func defaultURLOptions(form URLForm) URLOptions {
	if form == FormFailover {
		return URLOptions{
			Form: form, Randomize: true, ReconnectAttempts: -1, InitialConnectAttempts: -1,
			ReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 30 * time.Second, BackOffMultiplier: 2,
			Params: map[string]string{},
		}
	}
	return URLOptions{
		Form: form, InitialConnectAttempts: 1,
		ReconnectDelay: 2 * time.Second, MaxReconnectDelay: 2 * time.Second, BackOffMultiplier: 1,
		Params: map[string]string{},
	}
}

// ParseURL parses a connection URL into its broker addresses and options.
// It accepts tcp://host:port (port defaults to 61616), ActiveMQ Classic's
// failover:(tcp://a:p,tcp://b:p)?options and failover:tcp://a:p,tcp://b:p,
// and Artemis' (tcp://a:p,tcp://b:p)?options. On a single-broker URL the
// query holds the connection options (tcp://h:p?ha=true&reconnectAttempts=-1,
// as Artemis allows). Unknown options are kept in Params; a known option with
// a bad value, or any malformed part, is an error wrapping ErrBadURL that
// names the bad part.
func ParseURL(s string) ([]Endpoint, URLOptions, error) {
	eps, opts, err := parseURL(strings.TrimSpace(s))
	if err != nil {
		// A problem with the only broker of the URL names it already.
		msg := strings.TrimPrefix(err.Error(), strconv.Quote(strings.TrimSpace(s))+": ")
		return nil, URLOptions{}, fmt.Errorf("%w %q: %s", ErrBadURL, s, msg)
	}
	return eps, opts, nil
}

// urlProblem is a plain error whose text ParseURL folds into its own.
type urlProblem string

// Error returns the problem's text.
func (p urlProblem) Error() string { return string(p) }

// problemf formats a urlProblem.
func problemf(format string, args ...any) error { return urlProblem(fmt.Sprintf(format, args...)) }

// parseURL does the work of ParseURL on a trimmed URL; its errors are bare
// descriptions that ParseURL prefixes with the URL.
func parseURL(s string) ([]Endpoint, URLOptions, error) {
	if s == "" {
		return nil, URLOptions{}, problemf("the URL is empty; write tcp://host:port")
	}
	form := FormSingle
	rest := s
	if len(s) >= len("failover:") && strings.EqualFold(s[:len("failover:")], "failover:") {
		form = FormFailover
		rest = strings.TrimPrefix(s[len("failover:"):], "//")
	} else if strings.HasPrefix(s, "(") {
		form = FormList
	}
	if form == FormSingle {
		ep, err := parseEndpoint(s)
		if err != nil {
			return nil, URLOptions{}, err
		}
		opts, err := parseOptions(form, ep.Params)
		if err == nil {
			err = checkTLSOptions([]Endpoint{ep}, opts)
		}
		return []Endpoint{ep}, opts, err
	}

	list, query := rest, ""
	if strings.HasPrefix(rest, "(") {
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return nil, URLOptions{}, problemf("the broker list %q has no closing parenthesis", rest)
		}
		list, query = rest[1:end], rest[end+1:]
		if query != "" && query[0] != '?' {
			return nil, URLOptions{}, problemf("unexpected %q after the closing parenthesis; options go after a '?'", query)
		}
		query = strings.TrimPrefix(query, "?")
	} else if form == FormList {
		return nil, URLOptions{}, problemf("the broker list does not start with '('")
	}
	if strings.TrimSpace(list) == "" {
		return nil, URLOptions{}, problemf("the broker list is empty")
	}
	var eps []Endpoint
	for i, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, URLOptions{}, problemf("broker %d of the list is empty (stray comma?)", i+1)
		}
		ep, err := parseEndpoint(part)
		if err != nil {
			return nil, URLOptions{}, err
		}
		eps = append(eps, ep)
	}
	params, err := parseQuery(query)
	if err != nil {
		return nil, URLOptions{}, err
	}
	opts, err := parseOptions(form, params)
	if err == nil {
		err = checkTLSOptions(eps, opts)
	}
	return eps, opts, err
}

// parseEndpoint parses scheme://host[:port][?options].
func parseEndpoint(s string) (Endpoint, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		// "tcp:/host:port" or "tcp:host:port": a known scheme with its
		// slashes mistyped, to be corrected rather than prefixed again.
		if sch, after, found := strings.Cut(s, ":"); found && knownScheme(strings.ToLower(sch)) {
			return Endpoint{}, problemf("%q: the scheme needs two slashes; write %s://%s", s, sch, strings.TrimLeft(after, "/"))
		}
		return Endpoint{}, problemf("%q has no scheme; write tcp://%s", s, s)
	}
	scheme = strings.ToLower(scheme)
	switch {
	case knownScheme(scheme):
	default:
		return Endpoint{}, problemf("%q: unknown scheme %q; use tcp:// (or ssl:// for TLS)", s, scheme)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	hostport = strings.TrimSuffix(hostport, "/")
	if strings.ContainsAny(hostport, "/@") {
		return Endpoint{}, problemf("%q: a broker address is just host:port, without a path or user", s)
	}
	host, portStr := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, portStr = h, p
		if p == "" {
			return Endpoint{}, problemf("%q: the port after the colon is missing", s)
		}
	} else if strings.Contains(strings.Trim(hostport, "[]"), ":") && !strings.HasPrefix(hostport, "[") {
		return Endpoint{}, problemf("%q: cannot read host and port from %q", s, hostport)
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return Endpoint{}, problemf("%q has no host name", s)
	}
	if strings.ContainsAny(host, "[]<>\"{}|^` \t\r\n") {
		return Endpoint{}, problemf("%q: %q is not a host name or IP address", s, host)
	}
	port := DefaultPort
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return Endpoint{}, problemf("%q: port %q is not a number from 1 to 65535", s, portStr)
		}
		port = p
	}
	params, err := parseQuery(query)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Scheme: scheme, Host: host, Port: port, Params: params}, nil
}

// knownScheme reports whether scheme is a transport ParseURL accepts.
func knownScheme(scheme string) bool {
	switch scheme {
	case "tcp", "nio", "stomp", "ssl", "tls", "stomp+ssl", "stomp+tls":
		return true
	}
	return false
}

// connectionOptions are the URL options parseOptions maps onto URLOptions.
var connectionOptions = []string{
	"ha", "randomize", "maxReconnectAttempts", "reconnectAttempts", "startupMaxReconnectAttempts",
	"initialConnectAttempts", "initialReconnectDelay", "retryInterval", "maxReconnectDelay", "maxRetryInterval",
	"backOffMultiplier", "reconnectDelayExponent", "retryIntervalMultiplier", "useExponentialBackOff", "timeout",
}

// URLOptionNames returns the names of every URL option the client acts on:
// the connection options of URLOptions and the TLS options, sorted.
func URLOptionNames() []string {
	names := append(slices.Clone(connectionOptions), tlsconfig.Options()...)
	slices.Sort(names)
	return names
}

// UnknownOptions returns the options of a parsed URL (on the URL or on one
// of eps) that the client does not act on, sorted. ParseURL keeps them, as
// ActiveMQ clients ignore options meant for other layers, but a tool may
// want to warn that they have no effect.
func UnknownOptions(eps []Endpoint, o URLOptions) []string {
	known := URLOptionNames()
	var out []string
	add := func(params map[string]string) {
		for k := range params {
			if !slices.Contains(known, k) && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	add(o.Params)
	for _, ep := range eps {
		add(ep.Params)
	}
	slices.Sort(out)
	return out
}

// parseQuery parses k=v&k=v. A later repeat of a key wins, as in the Java
// clients.
func parseQuery(q string) (map[string]string, error) {
	params := map[string]string{}
	if q == "" {
		return params, nil
	}
	for kv := range strings.SplitSeq(q, "&") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, problemf("option %q is not of the form name=value", kv)
		}
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, problemf("option %q has a bad %%-escape", kv)
		}
		params[key] = val
	}
	return params, nil
}

// parseOptions maps the known Classic and Artemis options onto URLOptions.
// Both spellings are honoured in every form, so a user who mixes them up
// still gets what they meant.
func parseOptions(form URLForm, params map[string]string) (URLOptions, error) {
	o := defaultURLOptions(form)
	o.Params = params
	expBackOff := true
	startup := false // startupMaxReconnectAttempts or initialConnectAttempts given
	for k, v := range params {
		var err error
		switch k {
		case "ha":
			o.HA, err = parseBool(k, v)
		case "randomize":
			o.Randomize, err = parseBool(k, v)
		case "maxReconnectAttempts", "reconnectAttempts":
			o.ReconnectAttempts, err = parseAttempts(k, v)
		case "startupMaxReconnectAttempts":
			o.InitialConnectAttempts, err = parseAttempts(k, v)
			if err == nil && o.InitialConnectAttempts >= 0 {
				o.InitialConnectAttempts++ // Classic counts retries, we count attempts
				startup = true
			}
		case "initialConnectAttempts":
			o.InitialConnectAttempts, err = parseAttempts(k, v)
			startup = true
		case "initialReconnectDelay", "retryInterval":
			o.ReconnectDelay, err = parseMillis(k, v)
		case "maxReconnectDelay", "maxRetryInterval":
			o.MaxReconnectDelay, err = parseMillis(k, v)
		case "backOffMultiplier", "reconnectDelayExponent", "retryIntervalMultiplier":
			o.BackOffMultiplier, err = parseMultiplier(k, v)
		case "useExponentialBackOff":
			expBackOff, err = parseBool(k, v)
		case "timeout":
			o.SendTimeout, err = parseMillis(k, v)
		}
		if err != nil {
			return URLOptions{}, err
		}
	}
	if !expBackOff {
		o.BackOffMultiplier = 1
	}
	if form == FormFailover && !startup {
		// Classic: without startupMaxReconnectAttempts (or with -1) the
		// first connection is bound by maxReconnectAttempts, which also
		// counts retries.
		o.InitialConnectAttempts = o.ReconnectAttempts
		if o.ReconnectAttempts >= 0 {
			o.InitialConnectAttempts++
		}
	}
	return o, nil
}

// parseBool reads a true/false option.
func parseBool(k, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, problemf("option %s=%q must be true or false", k, v)
	}
	return b, nil
}

// parseAttempts reads an attempt count: a whole number, -1 for no limit.
func parseAttempts(k, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < -1 {
		return 0, problemf("option %s=%q must be a whole number, or -1 for no limit", k, v)
	}
	return n, nil
}

// parseMillis reads a duration in milliseconds; -1 (no limit) becomes 0.
func parseMillis(k, v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < -1 || n > int64(24*time.Hour/time.Millisecond) {
		return 0, problemf("option %s=%q must be a number of milliseconds", k, v)
	}
	if n < 0 {
		return 0, nil
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parseMultiplier reads a back-off multiplier of at least 1.
func parseMultiplier(k, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 1 || f > 1000 {
		return 0, problemf("option %s=%q must be a number of at least 1", k, v)
	}
	return f, nil
}

// NormalizeDestination turns a destination as users write it into the
// STOMP form the broker expects: queue://X and a bare X become /queue/X,
// topic://X becomes /topic/X, temp-queue://X and temp-topic://X become
// /temp-queue/X and /temp-topic/X, and a name starting with a slash (such as
// /queue/X or /topic/X) is used unchanged.
func NormalizeDestination(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("%w: the destination name is empty", ErrBadDestination)
	}
	if strings.HasPrefix(name, "/") {
		return name, nil
	}
	scheme, rest, ok := strings.Cut(name, "://")
	if !ok {
		return "/queue/" + name, nil
	}
	switch strings.ToLower(scheme) {
	case "queue", "topic", "temp-queue", "temp-topic":
	default:
		return "", fmt.Errorf("%w %q: unknown kind %q; write queue://NAME or topic://NAME", ErrBadDestination, name, scheme)
	}
	if rest == "" {
		return "", fmt.Errorf("%w %q: the name after %s:// is empty", ErrBadDestination, name, scheme)
	}
	return "/" + strings.ToLower(scheme) + "/" + rest, nil
}
