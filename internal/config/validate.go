package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"tandem/internal/security"
	"tandem/internal/tlsconfig"
)

// ErrInvalid is wrapped by every *ValidationError, so callers can test for a
// configuration problem with errors.Is without caring about the details.
var ErrInvalid = errors.New("invalid broker configuration")

// Problem is one thing wrong with a configuration, located in its file.
type Problem struct {
	// File is the broker.yaml, "" for a configuration built in code.
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Msg says what is wrong and what is expected.
	Msg string
}

// String formats the problem as "file:line: msg", dropping what is unknown.
func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	case p.File != "":
		return p.File + ": " + p.Msg
	default:
		return p.Msg
	}
}

// ValidationError lists every problem of a configuration, in file order.
type ValidationError struct {
	Problems []Problem
}

// Error returns the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// sortProblems orders problems by line, keeping problems without a line
// last and the relative order of problems on one line.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return la - lb
	})
}

// joinPath appends a key to a path: "security" + "users-file".
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapPath appends a user-chosen key, quoted because patterns contain dots:
// address-settings["orders.#"].
func mapPath(path, key string) string {
	return path + "[" + strconv.Quote(key) + "]"
}

// parentPath drops the last element of a path built by joinPath, mapPath
// or an index, or returns "" at the top.
func parentPath(p string) string {
	last := 0
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			last = i
			i++
		case '[':
			last = i
			if i+1 < len(p) && p[i+1] == '"' {
				q, err := strconv.QuotedPrefix(p[i+1:])
				if err != nil {
					return ""
				}
				i += 1 + len(q)
			} else {
				i++
			}
		default:
			i++
		}
	}
	return p[:last]
}

// lineOf returns the line of path in the file, or of its closest ancestor
// the file spells out, or 0.
func (c *Config) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := c.lines[p]; ok {
			return l
		}
	}
	return 0
}

// validator collects the problems of one Validate call.
type validator struct {
	c     *Config
	probs []Problem
}

// at records a problem with the value at path.
func (v *validator) at(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	v.probs = append(v.probs, Problem{File: v.c.File, Line: v.c.lineOf(path), Msg: msg})
}

// Validate checks the configuration's values and cross-references and
// returns a *ValidationError listing every problem, or nil. Parse and Load
// call it; code that builds or edits a Config calls it before use.
func (c *Config) Validate() error {
	probs := c.validate()
	if len(probs) == 0 {
		return nil
	}
	sortProblems(probs)
	return &ValidationError{Problems: probs}
}

func (c *Config) validate() []Problem {
	v := &validator{c: c}
	if strings.TrimSpace(c.Name) == "" || strings.IndexFunc(c.Name, unicode.IsControl) >= 0 {
		v.at("name", "%q is not a usable broker name; give a short name such as master", c.Name)
	}
	v.acceptors()
	if c.Web.Enabled {
		if err := checkHostPort(strings.TrimPrefix(c.Web.Bind, "http://")); err != nil {
			v.at("web.bind", "%q: %v; expected HOST:PORT such as localhost:8161", c.Web.Bind, err)
		}
		if ts, err := tlsconfig.Parse(c.Web.TLS); err != nil {
			v.at("web.tls", "%v", err)
		} else if ts.Enabled {
			// Load the key material now, so --config-check finds a missing
			// or unreadable certificate before a start does.
			if _, err := tlsconfig.Server(ts); err != nil {
				v.at("web.tls", "%v", err)
			}
		}
	}
	v.storage()
	v.store()
	v.limits()
	v.mqtt()
	v.security()
	seen := make(map[string]bool)
	for i := range c.AddressSettings {
		v.validateAddressSetting(&c.AddressSettings[i], seen)
	}
	v.addresses()
	v.ha()
	v.cluster()
	if _, ok := parseLogFormat(string(c.Log.Format)); !ok {
		v.at("log.format", "%q is not a log format; expected text or json", c.Log.Format)
	}
	return v.probs
}

func (v *validator) acceptors() {
	names := make(map[string]bool)
	addrs := make(map[string]string)
	for i, a := range v.c.Acceptors {
		p := fmt.Sprintf("acceptors[%d]", i)
		if a.Name == "" {
			v.at(p+".name", "the acceptor has no name; add one, e.g. name: tandem")
		} else if names[a.Name] {
			v.at(p+".name", "acceptor name %q is used twice; give each acceptor its own name", a.Name)
		}
		names[a.Name] = true
		if err := checkURL(a.URL); err != nil {
			v.at(p+".url", "%q: %v", a.URL, err)
			continue
		}
		if ts, err := tlsconfig.Parse(a.Options); err != nil {
			v.at(p+".url", "%v", err)
		} else if ts.Enabled {
			// Load the key material now, so --config-check finds a missing
			// or unreadable certificate before a start does.
			if _, err := tlsconfig.Server(ts); err != nil {
				v.at(p+".url", "%v", err)
			}
		}
		if list, ok := a.Options["protocols"]; ok {
			for _, name := range strings.Split(list, ",") {
				name = strings.TrimSpace(name)
				if name != "" && !slices.Contains(knownProtocols, strings.ToUpper(name)) {
					v.at(p+".url", "protocols=%s: %q is not a protocol; expected a comma-separated list of %s (tandem speaks %s)",
						list, name, strings.Join(knownProtocols, ", "), strings.Join(SpokenProtocols, ", "))
				}
			}
			if serve, unsupported := a.Protocols(); len(serve) == 0 {
				v.at(p+".url", "protocols=%s: tandem speaks none of %s; list at least one of %s, or remove protocols= to serve them all",
					list, strings.Join(unsupported, ", "), strings.Join(SpokenProtocols, ", "))
			}
		}
		addr := a.Addr()
		if other, dup := addrs[addr]; dup {
			v.at(p+".url", "%s is also the address of acceptor %q; each acceptor needs its own port", addr, other)
		}
		addrs[addr] = a.Name
	}
}

func (v *validator) storage() {
	c := v.c
	if c.PersistenceEnabled {
		for _, d := range []struct{ key, val string }{
			{"journal-directory", c.JournalDirectory}, {"bindings-directory", c.BindingsDirectory},
			{"paging-directory", c.PagingDirectory}, {"large-messages-directory", c.LargeMessagesDirectory},
		} {
			if d.val == "" {
				v.at(d.key, "the directory is empty; give a path (relative paths are under the instance directory) or remove the key for the default")
			}
		}
	}
	if c.JournalFileSize < 64<<10 || c.JournalFileSize > 1<<30 {
		v.at("journal-file-size", "%s is out of range; expected a size from 64KiB to 1GiB (default 10MiB)", FormatSize(c.JournalFileSize))
	}
	if c.JournalMinFiles < 2 {
		v.at("journal-min-files", "%d is too small; expected at least 2", c.JournalMinFiles)
	}
	if c.JournalBufferTimeout < 0 {
		v.at("journal-buffer-timeout", "%v is negative; use 0 to write at once or a duration such as 500us", c.JournalBufferTimeout)
	}
	if c.JournalCompactMinFiles < 0 {
		v.at("journal-compact-min-files", "%d is negative; expected 0 or more (default 10)", c.JournalCompactMinFiles)
	}
	if c.JournalCompactPercentage < 0 || c.JournalCompactPercentage > 100 {
		v.at("journal-compact-percentage", "%d is out of range; expected a percentage from 0 to 100 (default 30)", c.JournalCompactPercentage)
	}
}

func (v *validator) mqtt() {
	m := v.c.MQTT
	if m.ReceiveMaximum < 1 || m.ReceiveMaximum > 65535 {
		v.at("mqtt.receive-maximum", "%d is out of range; expected 1 to 65535 (default %d)", m.ReceiveMaximum, defaultMQTTReceiveMaximum)
	}
	if m.TopicAliasMaximum < 0 || m.TopicAliasMaximum > 65535 {
		v.at("mqtt.topic-alias-maximum", "%d is out of range; expected 0 (no aliases) to 65535 (default %d)", m.TopicAliasMaximum, defaultMQTTTopicAliasMaximum)
	}
	if m.ServerKeepAlive < 0 || m.ServerKeepAlive > 65535*time.Second || m.ServerKeepAlive%time.Second != 0 {
		v.at("mqtt.server-keep-alive", "%s is out of range; expected whole seconds from 0 (accept the client's) to 65535", FormatDuration(m.ServerKeepAlive))
	}
	if m.DefaultSessionExpiry >= 0 && (m.DefaultSessionExpiry%time.Second != 0 || m.DefaultSessionExpiry >= math.MaxUint32*time.Second) {
		v.at("mqtt.default-session-expiry", "%s is out of range; expected whole seconds below 2^32, or -1 for ever", FormatDuration(m.DefaultSessionExpiry))
	}
	if m.RetainedDeliveryRate < 1 {
		v.at("mqtt.retained-delivery-rate", "%d is too small; expected at least 1 message per second (default %d)", m.RetainedDeliveryRate, defaultMQTTRetainedDeliveryRate)
	}
}

func (v *validator) limits() {
	c := v.c
	if c.IDCacheSize < 0 {
		v.at("id-cache-size", "%d is negative; expected 0 or more (default 20000)", c.IDCacheSize)
	}
	switch {
	case c.GlobalMaxSize < -1:
		v.at("global-max-size", "%d is out of range; use -1 for unlimited, a size such as 1GiB or a percentage of memory such as 25%%", c.GlobalMaxSize)
	case c.GlobalMaxSize == 0 && (c.GlobalMaxSizePercent < 1 || c.GlobalMaxSizePercent > 100):
		v.at("global-max-size", "%d%% of memory is out of range; expected 1%% to 100%%", c.GlobalMaxSizePercent)
	}
	if c.ProducerWindowSize < -1 || c.ProducerWindowSize == 0 || c.ProducerWindowSize > 1<<30 {
		v.at("producer-window-size", "%d is out of range; use a size from 1 byte to 1GiB (default 64KiB), or -1 for no producer flow control", c.ProducerWindowSize)
	}
	if c.MaxFrameSize < 1<<10 {
		v.at("max-frame-size", "%s is too small; expected at least 1KiB (default 100MiB)", FormatSize(c.MaxFrameSize))
	}
	if c.MaxConnections < -1 || c.MaxConnections == 0 {
		v.at("max-connections", "%d is out of range; use -1 for unlimited or a positive count", c.MaxConnections)
	}
	l := c.Limits
	for _, n := range []struct {
		key string
		val int
	}{{"max-connections-per-ip", l.MaxConnectionsPerIP}, {"max-connections-per-user", l.MaxConnectionsPerUser}} {
		if n.val < -1 || n.val == 0 {
			v.at(n.key, "%d is out of range; use -1 for unlimited or a positive count", n.val)
		}
	}
	for _, n := range []struct {
		key      string
		val, min int
		def      string
	}{
		{"max-headers", l.MaxHeaders, 8, "1000"},
		{"max-subscriptions-per-connection", l.MaxSubscriptions, 1, "1000"},
		{"max-destination-name-length", l.MaxDestinationLength, 16, "1024"},
	} {
		if n.val < n.min {
			v.at(n.key, "%d is too small; expected at least %d (default %s)", n.val, n.min, n.def)
		}
	}
	if l.MaxHeaderSize < 256 || l.MaxHeaderSize > c.MaxFrameSize {
		v.at("max-header-size", "%s is out of range; expected from 256 bytes up to max-frame-size (default 64KiB)", FormatSize(l.MaxHeaderSize))
	}
	if l.HandshakeTimeout < 100*time.Millisecond || l.HandshakeTimeout > 10*time.Minute {
		v.at("handshake-timeout", "%v is out of range; expected from 100ms to 10m (default 10s; an integer counts seconds, as in Artemis)", l.HandshakeTimeout)
	}
}

func (v *validator) security() {
	c := v.c
	if c.Security.AllowAnonymous && strings.TrimSpace(c.Security.AnonymousRole) == "" {
		v.at("security.anonymous-role", "anonymous access is allowed but the anonymous role is empty; name a role, e.g. guest")
	}
	if !c.Security.AllowAnonymous && c.Security.UsersFile == "" {
		v.at("security", "anonymous access is off and there is no users-file, so nobody could log in; set users-file or allow-anonymous: true")
	}
	seen := make(map[string]bool)
	for _, s := range c.SecuritySettings {
		p := mapPath("security-settings", s.Match)
		if _, err := security.ParsePattern(s.Match); err != nil {
			v.at(p, "%v", err)
		}
		if seen[s.Match] {
			v.at(p, "the pattern %q appears twice; merge the two entries", s.Match)
		}
		seen[s.Match] = true
		for _, perm := range sortedPerms(s.Permissions) {
			pp := joinPath(p, string(perm))
			if _, err := security.ParsePermission(string(perm)); err != nil {
				v.at(pp, "%v", err)
			}
			for _, r := range s.Permissions[perm] {
				if strings.TrimSpace(r) == "" {
					v.at(pp, "a role name is empty; remove it or name the role")
				}
			}
		}
	}
}

// sortedPerms returns the permissions of a setting in a stable order.
func sortedPerms(m map[security.Permission][]string) []security.Permission {
	out := make([]security.Permission, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// routingType checks an optional routing type.
func (v *validator) routingType(path string, rt *RoutingType) {
	if rt == nil {
		return
	}
	if *rt != Anycast && *rt != Multicast {
		v.at(path, "%q is not a routing type; expected ANYCAST or MULTICAST", *rt)
	}
}

func (v *validator) addresses() {
	addrNames := make(map[string]bool)
	queueNames := make(map[string]string)
	for i, a := range v.c.Addresses {
		p := fmt.Sprintf("addresses[%d]", i)
		if a.Name == "" {
			v.at(p+".name", "the address has no name; add one")
		} else if addrNames[a.Name] {
			v.at(p+".name", "address %q is defined twice; merge the two entries", a.Name)
		}
		addrNames[a.Name] = true
		if len(a.RoutingTypes) == 0 {
			v.at(p+".routing-types", "no routing type; expected ANYCAST, MULTICAST or both")
		}
		for j, rt := range a.RoutingTypes {
			v.routingType(fmt.Sprintf("%s.routing-types[%d]", p, j), &rt)
			if slices.Index(a.RoutingTypes, rt) != j {
				v.at(p+".routing-types", "%s is listed twice; list it once", rt)
			}
		}
		for j, q := range a.Queues {
			qp := fmt.Sprintf("%s.queues[%d]", p, j)
			switch other, dup := queueNames[q.Name]; {
			case q.Name == "":
				v.at(qp+".name", "the queue has no name; add one")
			case dup:
				v.at(qp+".name", "queue %q is also defined on address %q; queue names are unique across the broker", q.Name, other)
			}
			queueNames[q.Name] = a.Name
			v.routingType(qp+".routing-type", &q.RoutingType)
			if !slices.Contains(a.RoutingTypes, q.RoutingType) {
				v.at(qp+".routing-type", "%s is not a routing type of address %q (%v); add it to the address's routing-types or change the queue's", q.RoutingType, a.Name, a.RoutingTypes)
			}
			if q.MaxConsumers < -1 {
				v.at(qp+".max-consumers", "%d is out of range; use -1 for unlimited or a count", q.MaxConsumers)
			}
		}
	}
}

func (v *validator) ha() {
	c := v.c
	if c.HA.Mode < HANone || c.HA.Mode > HABackup {
		v.at("ha-policy", "unknown HA mode %d; expected none, primary or backup", c.HA.Mode)
		return
	}
	if c.HA.Mode != HANone && !c.PersistenceEnabled {
		v.at("ha-policy", "shared-store high availability needs the journal; set persistence-enabled: true or remove ha-policy")
	}
	if c.HA.Mode == HAPrimary && c.HA.AllowFailback {
		v.at("ha-policy", "allow-failback applies to a backup only; remove it from the primary")
	}
	period := c.HA.LockCheckPeriod
	if period < 0 || period > MaxLockCheckPeriod {
		v.at("ha-policy.shared-store.lock-check-period", "%v is outside (0, %v]; a longer period lets a node that lost the store go on believing it is live", period, MaxLockCheckPeriod)
	}
	if period <= 0 {
		period = DefaultLockCheckPeriod
	}
	if st := c.HA.LockStallTimeout; st != 0 && (st < MinLockStallPeriods*period || st > MaxLockStallTimeout) {
		v.at("ha-policy.shared-store.lock-stall-timeout", "%v is outside [%v, %v]: at least %d lock check periods, so that one slow check does not stop the live, and at most %v, so that a hung live stops well inside an NFS lease (docs/ha.md 3.3)",
			st, MinLockStallPeriods*period, MaxLockStallTimeout, MinLockStallPeriods, MaxLockStallTimeout)
	}
}

func (v *validator) cluster() {
	c := v.c
	names := make(map[string]bool)
	for _, cn := range c.Connectors {
		p := mapPath("connectors", cn.Name)
		if cn.Name == "" {
			v.at(p, "a connector has an empty name; name it, e.g. master-connector")
		}
		if names[cn.Name] {
			v.at(p, "connector %q is defined twice; keep one", cn.Name)
		}
		names[cn.Name] = true
		if err := checkURL(cn.URL); err != nil {
			v.at(p, "%q: %v", cn.URL, err)
		} else if _, _, opts, _ := splitURL(cn.URL); opts != nil {
			if _, err := tlsconfig.Parse(opts); err != nil {
				v.at(p, "%q: %v", cn.URL, err)
			}
		}
	}
	ccNames := make(map[string]bool)
	for i, cc := range c.ClusterConnections {
		p := fmt.Sprintf("cluster-connections[%d]", i)
		if cc.Name == "" {
			v.at(p+".name", "the cluster connection has no name; add one, e.g. static-cluster")
		} else if ccNames[cc.Name] {
			v.at(p+".name", "cluster connection %q is defined twice; give each its own name", cc.Name)
		}
		ccNames[cc.Name] = true
		switch {
		case cc.ConnectorRef == "":
			v.at(p+".connector-ref", "no connector-ref; name the connector of this node from connectors")
		case !names[cc.ConnectorRef]:
			v.at(p+".connector-ref", "connector %q is not defined; add it under connectors (defined: %s)", cc.ConnectorRef, connectorList(c.Connectors))
		}
		if len(cc.StaticConnectors) == 0 {
			v.at(p+".static-connectors", "no static-connectors; list the connectors of the peer nodes")
		}
		for j, s := range cc.StaticConnectors {
			sp := fmt.Sprintf("%s.static-connectors[%d]", p, j)
			switch {
			case !names[s]:
				v.at(sp, "connector %q is not defined; add it under connectors (defined: %s)", s, connectorList(c.Connectors))
			case s == cc.ConnectorRef:
				v.at(sp, "connector %q is this node's own connector-ref; list only the peers' connectors", s)
			}
		}
		if cc.Password != "" && cc.User == "" {
			v.at(p+".password", "a password without a user; set user too")
		}
	}
}

// connectorList names the defined connectors for messages.
func connectorList(cs []Connector) string {
	if len(cs) == 0 {
		return "none"
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// checkURL validates a tcp://HOST:PORT URL.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("the URL is empty; expected tcp://HOST:PORT")
	}
	host, port, _, err := splitURL(raw)
	if err != nil {
		if errors.Is(err, errNotTCP) || errors.Is(err, errNoPort) {
			return err
		}
		return fmt.Errorf("not a URL (%v); expected tcp://HOST:PORT", err)
	}
	return checkHostPort(net.JoinHostPort(host, port))
}

// checkHostPort validates HOST:PORT with a port from 0 to 65535 (0 asks the
// system for a free port, which tests use).
func checkHostPort(hp string) error {
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return errors.New("not HOST:PORT")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}
