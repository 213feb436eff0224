package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/internal/security"
)

// Marshal renders c as a readable, commented broker.yaml that Parse reads
// back to the same configuration. Every key is written, defaults included,
// so the file doubles as a reference of what can be tuned. Marshal refuses a
// configuration that does not validate, so it never writes a file that
// would stop the broker from starting.
func Marshal(c *Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("refusing to write an invalid configuration: %w", err)
	}
	w := &yamlWriter{}
	w.comment(0, fileHeader)
	w.section("name identifies this broker in logs, in the console and in the cluster topology.")
	w.kv(0, "name", quote(c.Name))

	w.section("acceptors are the client ports. Each speaks every protocol, detected from a\n" +
		"connection's first bytes. Options go in the URL query, as in Artemis.")
	w.line(0, "acceptors:%s", emptyList(len(c.Acceptors)))
	for _, a := range c.Acceptors {
		w.kv(1, "- name", quote(a.Name))
		w.kv(2, "url", quote(a.URL))
	}

	w.section("web serves the console, the management API, metrics and health checks.")
	w.line(0, "web:")
	w.kv(1, "bind", quote(c.Web.Bind))
	w.kv(1, "enabled", strconv.FormatBool(c.Web.Enabled))
	if len(c.Web.TLS) > 0 {
		w.line(1, "tls:")
		for _, k := range slices.Sorted(maps.Keys(c.Web.TLS)) {
			w.kv(2, k, quote(c.Web.TLS[k]))
		}
	}

	w.section("Data directories; relative paths are under the instance directory. With a\n" +
		"shared store all four point at the shared mount, and the journal directory\n" +
		"also holds the lock files that decide which node is live.")
	w.kv(0, "journal-directory", quote(c.JournalDirectory))
	w.kv(0, "bindings-directory", quote(c.BindingsDirectory))
	w.kv(0, "paging-directory", quote(c.PagingDirectory))
	w.kv(0, "large-messages-directory", quote(c.LargeMessagesDirectory))

	w.section("Persistence. journal-type: ASYNCIO writes the journal with direct I/O where\n" +
		"the file system allows it, NIO through the page cache. journal-sync: false\n" +
		"acknowledges sends before they reach the disk: faster, but a crash can lose\n" +
		"confirmed messages. journal-buffer-timeout lets the writer batch records into\n" +
		"one write and sync (an integer counts nanoseconds, as in Artemis).")
	w.kv(0, "persistence-enabled", strconv.FormatBool(c.PersistenceEnabled))
	w.kv(0, "journal-file-size", FormatSize(c.JournalFileSize))
	w.kv(0, "journal-min-files", strconv.Itoa(c.JournalMinFiles))
	w.kv(0, "journal-type", string(c.JournalType))
	w.kv(0, "journal-sync", strconv.FormatBool(c.JournalSync))
	w.kv(0, "journal-buffer-timeout", quote(FormatDuration(c.JournalBufferTimeout)))
	w.kv(0, "journal-compact-min-files", strconv.Itoa(c.JournalCompactMinFiles))
	w.kv(0, "journal-compact-percentage", strconv.Itoa(c.JournalCompactPercentage))
	writeStore(w, c.Store)

	w.section("Limits; -1 means unlimited. Sizes take K, M, G units (KiB = KB = 1024).")
	w.kv(0, "id-cache-size", strconv.Itoa(c.IDCacheSize))
	if c.GlobalMaxSize == 0 {
		w.comment(0, "global-max-size bounds the messages of all addresses together: a size, -1 for\n"+
			"no bound, or a share of the machine's memory (its cgroup limit, when lower).")
		w.kv(0, "global-max-size", strconv.Itoa(c.GlobalMaxSizePercent)+"%")
	} else {
		w.kv(0, "global-max-size", FormatSize(c.GlobalMaxSize))
	}
	w.comment(0, "producer-window-size is the credit a producer gets at a time; a full BLOCK\n"+
		"address withholds it (-1: none, the broker holds each send instead).")
	w.kv(0, "producer-window-size", FormatSize(c.ProducerWindowSize))
	w.kv(0, "max-frame-size", FormatSize(c.MaxFrameSize))
	w.kv(0, "max-connections", strconv.Itoa(c.MaxConnections))
	w.kv(0, "max-connections-per-ip", strconv.Itoa(c.Limits.MaxConnectionsPerIP))
	w.kv(0, "max-connections-per-user", strconv.Itoa(c.Limits.MaxConnectionsPerUser))
	w.kv(0, "max-headers", strconv.Itoa(c.Limits.MaxHeaders))
	w.kv(0, "max-header-size", FormatSize(c.Limits.MaxHeaderSize))
	w.kv(0, "max-subscriptions-per-connection", strconv.Itoa(c.Limits.MaxSubscriptions))
	w.kv(0, "max-destination-name-length", strconv.Itoa(c.Limits.MaxDestinationLength))
	w.kv(0, "handshake-timeout", quote(FormatDuration(c.Limits.HandshakeTimeout)))
	if len(c.WebSocketAllowedOrigins) > 0 {
		w.line(0, "websocket-allowed-origins:")
		for _, o := range c.WebSocketAllowedOrigins {
			w.line(1, "- %s", quote(o))
		}
	}

	w.section("mqtt: what MQTT clients are told and allowed. default-session-expiry is how\n" +
		"long an MQTT 3.1.1 session (Clean Session 0) outlives its connection (-1: for\n" +
		"ever); receive-maximum and topic-alias-maximum are announced to MQTT 5 clients;\n" +
		"server-keep-alive caps the keep-alive (0: the client's); retained-delivery-rate\n" +
		"paces retained messages to a new subscription (messages per second);\n" +
		"close-on-publish-refused closes a 3.1.1 client whose publish is not allowed.")
	w.line(0, "mqtt:")
	w.kv(1, "default-session-expiry", quote(FormatDuration(c.MQTT.DefaultSessionExpiry)))
	w.kv(1, "receive-maximum", strconv.Itoa(c.MQTT.ReceiveMaximum))
	w.kv(1, "topic-alias-maximum", strconv.Itoa(c.MQTT.TopicAliasMaximum))
	w.kv(1, "server-keep-alive", quote(FormatDuration(c.MQTT.ServerKeepAlive)))
	w.kv(1, "retained-delivery-rate", strconv.Itoa(c.MQTT.RetainedDeliveryRate))
	w.kv(1, "close-on-publish-refused", strconv.FormatBool(c.MQTT.CloseOnPublishRefused))

	w.section("security: users-file is relative to this file's directory and holds argon2id\n" +
		"password hashes. Anonymous clients get anonymous-role.")
	w.line(0, "security:")
	w.kv(1, "allow-anonymous", strconv.FormatBool(c.Security.AllowAnonymous))
	w.kv(1, "users-file", quote(c.Security.UsersFile))
	w.kv(1, "anonymous-role", quote(c.Security.AnonymousRole))

	w.section("security-settings grant permissions per address pattern to roles. For an\n" +
		"address only the most specific matching pattern applies. Patterns: words\n" +
		"separated by '.', '*' matches one word, '#' (or '>') zero or more.")
	w.line(0, "security-settings:%s", emptyMap(len(c.SecuritySettings)))
	for _, s := range c.SecuritySettings {
		w.line(1, "%s:", quote(s.Match))
		for _, p := range security.AllPermissions() {
			if roles, ok := s.Permissions[p]; ok {
				w.kv(2, string(p), flowList(roles))
			}
		}
	}

	w.section("address-settings per address pattern. The most specific match wins for each\n" +
		"key it sets; other keys come from less specific matches, then the defaults.\n" +
		"Delays take durations (5s, 100ms) or integers in milliseconds.")
	w.line(0, "address-settings:%s", emptyMap(len(c.AddressSettings)))
	for i := range c.AddressSettings {
		writeAddressSetting(w, &c.AddressSettings[i])
	}

	w.section("addresses and queues created at start (others are auto-created on use).")
	w.line(0, "addresses:%s", emptyList(len(c.Addresses)))
	for _, a := range c.Addresses {
		writeAddress(w, a)
	}

	writeHA(w, c.HA)

	w.section("connectors name the URLs at which this node and its peers are reachable.")
	w.line(0, "connectors:%s", emptyMap(len(c.Connectors)))
	for _, cn := range c.Connectors {
		w.kv(1, quote(cn.Name), quote(cn.URL))
	}

	w.section("cluster-connections link this node to its peers: connector-ref is this\n" +
		"node's connector, static-connectors are the peers'. A backup announces\n" +
		"itself to the live through them.")
	w.line(0, "cluster-connections:%s", emptyList(len(c.ClusterConnections)))
	for _, cc := range c.ClusterConnections {
		w.kv(1, "- name", quote(cc.Name))
		w.kv(2, "connector-ref", quote(cc.ConnectorRef))
		w.kv(2, "static-connectors", flowList(cc.StaticConnectors))
		if cc.User != "" {
			w.kv(2, "user", quote(cc.User))
		}
		if cc.Password != "" {
			w.kv(2, "password", quote(cc.Password))
		}
	}

	w.section("log: level debug, info, warn or error; format text or json; file relative to\n" +
		"the instance directory (\"\" logs to stderr only).")
	w.line(0, "log:")
	w.kv(1, "level", formatLogLevel(c.Log.Level))
	w.kv(1, "format", string(c.Log.Format))
	w.kv(1, "file", quote(c.Log.File))
	return []byte(w.String()), nil
}

// fileHeader opens every generated broker.yaml.
const fileHeader = `tandem broker configuration.

Keys follow Artemis' broker.xml names in kebab-case; docs/configuration.md
documents each one with its default. An unknown key or a bad value stops the
broker at start with "file:line: what is wrong", listing every problem.`

func writeAddressSetting(w *yamlWriter, s *AddressSetting) {
	w.line(1, "%s:%s", quote(s.Match), orEmpty(isEmptySetting(s), " {}"))
	b := func(key string, v *bool) {
		if v != nil {
			w.kv(2, key, strconv.FormatBool(*v))
		}
	}
	str := func(key string, v *string) {
		if v != nil {
			w.kv(2, key, quote(*v))
		}
	}
	dur := func(key string, v *time.Duration) {
		if v != nil {
			w.kv(2, key, quote(FormatDuration(*v)))
		}
	}
	size := func(key string, v *int64) {
		if v != nil {
			w.kv(2, key, FormatSize(*v))
		}
	}
	rt := func(key string, v *RoutingType) {
		if v != nil {
			w.kv(2, key, string(*v))
		}
	}
	b("auto-create-queues", s.AutoCreateQueues)
	b("auto-create-addresses", s.AutoCreateAddresses)
	b("auto-delete-queues", s.AutoDeleteQueues)
	b("auto-delete-addresses", s.AutoDeleteAddresses)
	dur("auto-delete-queues-delay", s.AutoDeleteQueuesDelay)
	if s.AutoDeleteQueuesMessageCount != nil {
		w.kv(2, "auto-delete-queues-message-count", strconv.Itoa(*s.AutoDeleteQueuesMessageCount))
	}
	dur("auto-delete-addresses-delay", s.AutoDeleteAddressesDelay)
	str("dead-letter-address", s.DeadLetterAddress)
	str("expiry-address", s.ExpiryAddress)
	dur("expiry-delay", s.ExpiryDelay)
	if s.MaxDeliveryAttempts != nil {
		w.kv(2, "max-delivery-attempts", strconv.Itoa(*s.MaxDeliveryAttempts))
	}
	dur("redelivery-delay", s.RedeliveryDelay)
	if s.RedeliveryDelayMultiplier != nil {
		w.kv(2, "redelivery-delay-multiplier", formatFloat(*s.RedeliveryDelayMultiplier))
	}
	dur("max-redelivery-delay", s.MaxRedeliveryDelay)
	size("max-size-bytes", s.MaxSizeBytes)
	if s.AddressFullPolicy != nil {
		w.kv(2, "address-full-policy", string(*s.AddressFullPolicy))
	}
	size("page-size-bytes", s.PageSizeBytes)
	b("default-last-value-queue", s.DefaultLastValueQueue)
	b("default-exclusive-queue", s.DefaultExclusiveQueue)
	size("default-consumer-window-size", s.DefaultConsumerWindowSize)
	rt("default-queue-routing-type", s.DefaultQueueRoutingType)
	rt("default-address-routing-type", s.DefaultAddressRoutingType)
	size("min-large-message-size", s.MinLargeMessageSize)
}

// isEmptySetting reports whether an address setting sets nothing, which is
// written as {} so that the pattern still reads back.
func isEmptySetting(s *AddressSetting) bool {
	probe := *s
	probe.Match = ""
	return probe == AddressSetting{}
}

func writeAddress(w *yamlWriter, a Address) {
	w.kv(1, "- name", quote(a.Name))
	rts := make([]string, len(a.RoutingTypes))
	for i, rt := range a.RoutingTypes {
		rts[i] = string(rt)
	}
	w.kv(2, "routing-types", flowList(rts))
	w.line(2, "queues:%s", emptyList(len(a.Queues)))
	for _, q := range a.Queues {
		w.kv(3, "- name", quote(q.Name))
		w.kv(4, "routing-type", string(q.RoutingType))
		w.kv(4, "durable", strconv.FormatBool(q.Durable))
		if q.Filter != "" {
			w.kv(4, "filter", quote(q.Filter))
		}
		w.kv(4, "max-consumers", strconv.Itoa(q.MaxConsumers))
		w.kv(4, "exclusive", strconv.FormatBool(q.Exclusive))
		w.kv(4, "last-value", strconv.FormatBool(q.LastValue))
		if q.LastValueKey != "" {
			w.kv(4, "last-value-key", quote(q.LastValueKey))
		}
	}
}

func writeHA(w *yamlWriter, ha HAPolicy) {
	w.section("ha-policy: live/backup over a shared store. The primary serves clients; the\n" +
		"backup waits for the primary's lock in the journal directory and takes over\n" +
		"when the primary dies. A graceful stop of the live fails over only with\n" +
		"failover-on-shutdown: true; allow-failback makes a backup hand back to a\n" +
		"restarted primary. Leave ha-policy out for a standalone broker.")
	switch ha.Mode {
	case HAPrimary:
		w.line(0, "ha-policy:")
		w.line(1, "shared-store:")
		w.line(2, "primary:")
		w.kv(3, "failover-on-shutdown", strconv.FormatBool(ha.FailoverOnShutdown))
		writeStandbyReserve(w, ha)
	case HABackup:
		w.line(0, "ha-policy:")
		w.line(1, "shared-store:")
		w.line(2, "backup:")
		w.kv(3, "allow-failback", strconv.FormatBool(ha.AllowFailback))
		w.kv(3, "failover-on-shutdown", strconv.FormatBool(ha.FailoverOnShutdown))
		writeStandbyReserve(w, ha)
	default:
		w.comment(0, "ha-policy:\n  shared-store:\n    primary:\n      failover-on-shutdown: false")
	}
}

// writeStandbyReserve writes standby-reserve, lock-check-period and
// lock-stall-timeout when they are not the defaults.
func writeStandbyReserve(w *yamlWriter, ha HAPolicy) {
	switch {
	case ha.StandbyReserveOff:
		w.kv(3, "standby-reserve", "off")
	case ha.StandbyReserve > 0:
		w.kv(3, "standby-reserve", FormatSize(ha.StandbyReserve))
	}
	if ha.LockCheckPeriod > 0 {
		w.kv(3, "lock-check-period", ha.LockCheckPeriod.String())
	}
	if ha.LockStallTimeout > 0 {
		w.kv(3, "lock-stall-timeout", ha.LockStallTimeout.String())
	}
}

// yamlWriter builds the YAML text line by line with two-space indentation.
type yamlWriter struct{ strings.Builder }

func (w *yamlWriter) line(indent int, format string, args ...any) {
	w.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(w, format, args...)
	w.WriteByte('\n')
}

func (w *yamlWriter) kv(indent int, key, value string) {
	w.line(indent, "%s: %s", key, value)
}

func (w *yamlWriter) comment(indent int, text string) {
	for _, l := range strings.Split(text, "\n") {
		w.line(indent, "%s", strings.TrimRight("# "+l, " "))
	}
}

// section starts a top-level block with a blank line and a comment.
func (w *yamlWriter) section(text string) {
	w.WriteByte('\n')
	w.comment(0, text)
}

// emptyList and emptyMap return the flow form of an empty collection, to
// follow its key on the same line, or "" when the collection has items.
func emptyList(n int) string { return orEmpty(n == 0, " []") }
func emptyMap(n int) string  { return orEmpty(n == 0, " {}") }

func orEmpty(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}

// flowList writes a list of strings in flow style: [a, b].
func flowList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// formatFloat writes a float so that it reads back as a float ("1.0").
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// plainSafe reports whether YAML reads s back as the same string when it
// is written without quotes, inside block and flow collections alike: it
// starts with a letter, digit, '_' or '/' and continues with those or
// ".:@+=?&-", which never start a YAML indicator in that position.
func plainSafe(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '/'
		if !ok && i > 0 {
			ok = strings.ContainsRune(".:@+=?&-", r)
		}
		if !ok {
			return false
		}
	}
	return true
}

// quote writes s as a YAML scalar: plain when that is unambiguous, else
// double-quoted. Words YAML or tandem would read as something other than a
// string (true, no, null, 10, 0x1f) are quoted too.
func quote(s string) string {
	if plainSafe(s) && !ambiguous(s) {
		return s
	}
	return strconv.Quote(s)
}

// ambiguous reports whether a plain scalar would not read back as a string.
func ambiguous(s string) bool {
	if _, ok := parseBool(s); ok {
		return true
	}
	switch strings.ToLower(s) {
	case "null", "~", "y", "n", ".inf", ".nan":
		return true
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	if _, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
		return true
	}
	return slices.Contains([]string{"=", "<<"}, s)
}
