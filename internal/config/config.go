package config

import (
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"tandem/internal/security"
)

// Config is the whole configuration of one broker. Load and Parse return a
// Config with defaults applied and every path absolute; Default returns the
// embedded configuration `tandem run` uses without an instance.
type Config struct {
	// File is the broker.yaml this configuration came from, "" for Default.
	// Problems found by Validate carry it.
	File string
	// BaseDir is the instance directory relative paths were resolved
	// against, "" for Default.
	BaseDir string

	// Name names the broker in logs, in the console and in the topology
	// a live announces to its clients.
	Name string
	// Acceptors are the client listeners. Every acceptor speaks every
	// protocol; the protocol is detected from a connection's first bytes.
	Acceptors []Acceptor
	// Web is the HTTP console, management API and metrics endpoint.
	Web Web

	// The four data directories. With a shared store they all point at
	// the shared mount; the journal directory also holds the HA lock files.
	JournalDirectory       string
	BindingsDirectory      string
	PagingDirectory        string
	LargeMessagesDirectory string

	// JournalFileSize is the size in bytes of each pre-allocated journal file.
	JournalFileSize int64
	// JournalMinFiles is how many journal files are kept pre-allocated.
	JournalMinFiles int
	// JournalType is how the journal writes its files: ASYNCIO (the
	// default) writes directly to the device where the file system allows
	// it, NIO through the page cache. The names are Artemis'.
	JournalType JournalType
	// JournalSync makes a durable write wait for fdatasync before it is
	// confirmed; turning it off trades durability for speed.
	JournalSync bool
	// JournalBufferTimeout is how long the journal writer waits to batch
	// more records into one write and sync (group commit); 0 writes at once.
	JournalBufferTimeout time.Duration
	// JournalCompactMinFiles and JournalCompactPercentage trigger
	// compaction: when at least that many files exist and live data is
	// below that percentage of their size.
	JournalCompactMinFiles   int
	JournalCompactPercentage int

	// IDCacheSize is how many duplicate-detection ids each address
	// remembers.
	IDCacheSize int
	// PersistenceEnabled turns the journal on; without it every message is
	// kept in memory only and a restart loses it.
	PersistenceEnabled bool
	// Store says where persistent messages are kept: the journal (the
	// default) or a database (store.go).
	Store Store
	// GlobalMaxSize bounds the memory of all addresses together, in bytes;
	// -1 means unlimited, and 0 that GlobalMaxSizePercent of the machine's
	// memory applies (the default).
	GlobalMaxSize int64
	// GlobalMaxSizePercent, when GlobalMaxSize is 0, is the share of the
	// machine's memory (or of the broker's cgroup limit, when lower) that
	// bounds all addresses together: global-max-size written as "25%".
	GlobalMaxSizePercent int
	// ProducerWindowSize is the credit, in bytes, a protocol adapter takes
	// from the broker for a producer at a time (Artemis'
	// producer-window-size); -1 takes none.
	ProducerWindowSize int64
	// MaxFrameSize bounds one protocol frame, in bytes.
	MaxFrameSize int64
	// MaxConnections bounds the open client connections; -1 means
	// unlimited.
	MaxConnections int
	// Limits bound what one client may cost the broker.
	Limits Limits
	// WebSocketAllowedOrigins are the origins whose web pages may open
	// STOMP or MQTT WebSockets, besides the broker's own host
	// (websocket-allowed-origins; "*" admits any).
	WebSocketAllowedOrigins []string

	// MQTT configures the MQTT adapter (the mqtt section).
	MQTT MQTT

	Security         Security
	SecuritySettings []SecuritySetting
	AddressSettings  []AddressSetting
	Addresses        []Address
	HA               HAPolicy
	Connectors       []Connector
	// ClusterConnections tell a node how to reach its peers; a backup uses
	// them to announce itself to the live.
	ClusterConnections []ClusterConnection
	Log                Log

	// lines maps a key path such as "acceptors[0].url" to its line in
	// File, so that Validate can report where a bad value was written.
	lines map[string]int
}

// Acceptor is a client listener.
type Acceptor struct {
	Name string
	// URL is tcp://HOST:PORT with optional query options, as in Artemis
	// (e.g. tcp://0.0.0.0:61616?sslEnabled=true).
	URL string
	// Options are the URL's query options; later features (TLS) read
	// them from here.
	Options map[string]string
}

// Addr returns the acceptor's host:port to listen on, or "" when URL is not
// a valid acceptor URL (Validate reports that).
func (a Acceptor) Addr() string {
	host, port, _, err := splitURL(a.URL)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// Protocol names as Artemis spells them in an acceptor's protocols= option.
const (
	ProtocolSTOMP    = "STOMP"
	ProtocolOpenWire = "OPENWIRE"
	ProtocolAMQP     = "AMQP"
	ProtocolMQTT     = "MQTT"
	ProtocolCore     = "CORE"
	ProtocolHornetQ  = "HORNETQ"
)

// SpokenProtocols are the protocols tandem serves, in the order an acceptor
// without protocols= offers them. A protocol is listed here once its
// adapter is registered in internal/server.
var SpokenProtocols = []string{ProtocolSTOMP, ProtocolOpenWire, ProtocolAMQP, ProtocolMQTT}

// knownProtocols are every name Artemis accepts in protocols=; the ones
// tandem does not speak are refused or skipped with a clear message.
var knownProtocols = []string{ProtocolSTOMP, ProtocolOpenWire, ProtocolAMQP, ProtocolMQTT, ProtocolCore, ProtocolHornetQ}

// Protocols returns the protocols the acceptor serves: the ones its
// protocols= option lists that tandem speaks (upper-cased, in the listed
// order), or every spoken protocol when the option is absent. unsupported
// lists the names it gave that are Artemis protocols tandem does not speak
// (CORE, HORNETQ, and any not yet implemented).
func (a Acceptor) Protocols() (serve, unsupported []string) {
	v, ok := a.Options["protocols"]
	if !ok || strings.TrimSpace(v) == "" {
		return append([]string(nil), SpokenProtocols...), nil
	}
	for _, name := range strings.Split(v, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "" || slices.Contains(serve, name) {
			continue
		}
		if slices.Contains(SpokenProtocols, name) {
			serve = append(serve, name)
		} else {
			unsupported = append(unsupported, name)
		}
	}
	return serve, unsupported
}

// Limits bound what one client may cost the broker, so that a flood of
// connections or of oversized frames cannot exhaust its memory. Each is a
// top-level key of broker.yaml.
type Limits struct {
	// MaxConnectionsPerIP (max-connections-per-ip) bounds the open
	// connections from one client address; -1 means unlimited.
	MaxConnectionsPerIP int
	// MaxConnectionsPerUser (max-connections-per-user) bounds the open
	// connections of one user, anonymous clients counting as one; -1
	// means unlimited.
	MaxConnectionsPerUser int
	// MaxHeaders (max-headers) bounds the header lines of one frame.
	MaxHeaders int
	// MaxHeaderSize (max-header-size) bounds one header line in bytes.
	MaxHeaderSize int64
	// MaxSubscriptions (max-subscriptions-per-connection) bounds the
	// subscriptions of one connection.
	MaxSubscriptions int
	// MaxDestinationLength (max-destination-name-length) bounds an address
	// name in bytes.
	MaxDestinationLength int
	// HandshakeTimeout (handshake-timeout) bounds how long a new
	// connection may take to identify its protocol, finish its TLS
	// handshake and log in.
	HandshakeTimeout time.Duration
}

// MQTT configures what MQTT clients are told and allowed, the mqtt section
// of broker.yaml (docs/mqtt.md, "Sessions and delivery"). Artemis sets the
// same values as acceptor URL options of similar names.
type MQTT struct {
	// DefaultSessionExpiry (default-session-expiry) is how long the
	// session of an MQTT 3.1 or 3.1.1 client that connected with Clean
	// Session 0 outlives its connection, since those versions cannot say;
	// negative means for ever (Artemis' defaultMqttSessionExpiryInterval,
	// -1 by default). An MQTT 5 client sets its own.
	DefaultSessionExpiry time.Duration
	// ReceiveMaximum (receive-maximum) is tandem's MQTT 5 Receive Maximum:
	// how many QoS 1 and 2 PUBLISHes a client may have unacknowledged
	// towards the broker; one more is refused with DISCONNECT 0x93.
	ReceiveMaximum int
	// TopicAliasMaximum (topic-alias-maximum) is how many topic aliases an
	// MQTT 5 client may set up towards the broker; 0 refuses them.
	TopicAliasMaximum int
	// ServerKeepAlive (server-keep-alive), when positive, is the longest
	// keep-alive tandem accepts: a client asking for longer, or for none,
	// gets this one (MQTT 5 clients are told in CONNACK). 0 accepts the
	// client's.
	ServerKeepAlive time.Duration
	// RetainedDeliveryRate (retained-delivery-rate) bounds how many
	// retained messages per second are copied to a new subscription, so
	// that subscribing to '#' over a large retained set cannot stall the
	// broker; the rest follow at that rate.
	RetainedDeliveryRate int
	// CloseOnPublishRefused (close-on-publish-refused) makes tandem close
	// the connection of an MQTT 3.1.1 client that publishes where it may
	// not, as Artemis does by default (3.1.1 has no way to say no); false
	// acknowledges and drops the message. MQTT 5 clients get reason 0x87.
	CloseOnPublishRefused bool
}

// Web configures the HTTP console.
type Web struct {
	// Bind is host:port; a leading http:// is accepted and dropped.
	Bind    string
	Enabled bool
	// TLS holds the HTTP port's TLS options, by the names acceptor URLs
	// use (sslEnabled, keyStorePath, certPath, keyPath, trustStorePath,
	// needClientAuth...); empty or without sslEnabled=true, the port
	// serves plain HTTP.
	TLS map[string]string
}

// Security configures authentication.
type Security struct {
	// AllowAnonymous lets clients connect without a user name; they get
	// AnonymousRole.
	AllowAnonymous bool
	// UsersFile is the users file, absolute after Load; "" means no users.
	UsersFile string
	// AnonymousRole is the role of anonymous clients.
	AnonymousRole string
}

// SecuritySetting grants permissions on the addresses matching Match: one
// entry of security-settings, evaluated by security.Permissions.
type SecuritySetting struct {
	Match       string
	Permissions map[security.Permission][]string
}

// SecurityRules converts the security settings for security.NewPermissions.
func (c *Config) SecurityRules() []security.Rule {
	rules := make([]security.Rule, 0, len(c.SecuritySettings))
	for _, s := range c.SecuritySettings {
		roles := make(map[security.Permission][]string, len(s.Permissions))
		for p, r := range s.Permissions {
			roles[p] = slices.Clone(r)
		}
		rules = append(rules, security.Rule{Match: s.Match, Roles: roles})
	}
	return rules
}

// RoutingType says how an address routes a message to its queues:
// ANYCAST to one queue (point-to-point), MULTICAST to every queue
// (publish/subscribe).
type RoutingType string

// The routing types.
const (
	Anycast   RoutingType = "ANYCAST"
	Multicast RoutingType = "MULTICAST"
)

// JournalType says how the journal writes its files.
type JournalType string

// The journal types, with Artemis' names. Artemis' ASYNCIO submits O_DIRECT
// writes through Linux AIO; tandem's writes with O_DIRECT from its journal
// writer goroutine, which already batches every pending record into one
// write.
const (
	// JournalASYNCIO writes frames with direct I/O where the file system
	// supports it, and through the page cache where it does not.
	JournalASYNCIO JournalType = "ASYNCIO"
	// JournalNIO writes frames through the page cache.
	JournalNIO JournalType = "NIO"
)

// AddressFullPolicy says what happens when an address reaches max-size-bytes.
type AddressFullPolicy string

// The address-full policies, as in Artemis.
const (
	// PolicyPage writes further messages to page files on disk.
	PolicyPage AddressFullPolicy = "PAGE"
	// PolicyBlock makes producers wait for room.
	PolicyBlock AddressFullPolicy = "BLOCK"
	// PolicyFail rejects further sends with an error.
	PolicyFail AddressFullPolicy = "FAIL"
	// PolicyDrop drops further messages silently.
	PolicyDrop AddressFullPolicy = "DROP"
)

// Address is an address created at start, with its queues.
type Address struct {
	Name         string
	RoutingTypes []RoutingType
	Queues       []Queue
}

// Queue is a queue created at start on its address.
type Queue struct {
	Name        string
	RoutingType RoutingType
	Durable     bool
	// Filter is a JMS selector; only matching messages enter the queue.
	Filter string
	// MaxConsumers bounds the consumers of the queue; -1 is unlimited.
	MaxConsumers int
	// Exclusive delivers every message to one consumer at a time.
	Exclusive bool
	// LastValue keeps only the newest message per LastValueKey value.
	LastValue    bool
	LastValueKey string
}

// HAMode is a broker's role in a shared-store pair.
type HAMode int

// The HA modes.
const (
	// HANone is a standalone broker.
	HANone HAMode = iota
	// HAPrimary is the live of a shared-store pair (Artemis' master).
	HAPrimary
	// HABackup waits for the primary's lock (Artemis' slave).
	HABackup
)

// String returns the mode's name as written in broker.yaml.
func (m HAMode) String() string {
	switch m {
	case HAPrimary:
		return "primary"
	case HABackup:
		return "backup"
	default:
		return "none"
	}
}

// HAPolicy is the shared-store high-availability policy.
type HAPolicy struct {
	Mode HAMode
	// FailoverOnShutdown makes a graceful stop of the live hand over to the
	// backup; without it only a crash fails over (Artemis semantics).
	FailoverOnShutdown bool
	// AllowFailback makes a backup that became live hand back to the
	// primary when the primary restarts. It only applies to a backup.
	AllowFailback bool
	// StandbyReserve is the most memory a waiting node faults in ahead for
	// the journal it will replay when it takes over (standby-reserve: a
	// size); 0 means auto (the journal's size on disk, up to a quarter of
	// the machine's memory) and StandbyReserveOff turns it off.
	StandbyReserve    int64
	StandbyReserveOff bool
	// LockCheckPeriod is how often the live checks that it still holds the
	// store (lock-check-period); 0 means the default, 500 ms.
	LockCheckPeriod time.Duration
	// LockStallTimeout is how long the live's lock monitor may go without
	// completing a check before the live fences itself and stops
	// (lock-stall-timeout); 0 means the default, 5 s. See docs/ha.md 3.3.
	LockStallTimeout time.Duration
}

// The bounds of lock-check-period and lock-stall-timeout; internal/ha
// enforces the same ones.
const (
	MaxLockCheckPeriod     = time.Second
	DefaultLockCheckPeriod = 500 * time.Millisecond
	MinLockStallPeriods    = 4
	MaxLockStallTimeout    = 30 * time.Second
)

// Connector names a URL at which a node (this one or a peer) is reachable.
type Connector struct {
	Name string
	URL  string
}

// ClusterConnection links this node to its peers.
type ClusterConnection struct {
	Name string
	// ConnectorRef names the connector peers use to reach this node.
	ConnectorRef string
	// StaticConnectors name the connectors of the peers.
	StaticConnectors []string
	User, Password   string
}

// LogFormat is the format of log lines.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Log configures the broker's log.
type Log struct {
	Level  slog.Level
	Format LogFormat
	// File is the log file, absolute after Load; "" logs to stderr only.
	File string
}

// Default values shared by Default and by Parse for keys a file leaves out.
const (
	defaultName            = "tandem"
	defaultAcceptorURL     = "tcp://127.0.0.1:61616"
	defaultWebBind         = "localhost:8161"
	defaultJournalFileSize = 10 << 20
	defaultMaxFrameSize    = 100 << 20
	// defaultProducerWindowSize is Artemis' producer-window-size.
	defaultProducerWindowSize = 64 << 10
	// The client limits' defaults are the STOMP codec's and server's.
	defaultMaxHeaders           = 1000
	defaultMaxHeaderSize        = 64 << 10
	defaultMaxSubscriptions     = 1000
	defaultMaxDestinationLength = 1024
	defaultHandshakeTimeout     = 10 * time.Second
	defaultAnonymousRole        = "guest"
	defaultUsersFile            = "users.yaml"
	defaultLogFile              = "log/tandem.log"
	defaultIDCacheSize          = 20000
	defaultCompactMinFiles      = 10
	defaultCompactPercent       = 30
	defaultJournalMinFiles      = 2
	defaultDataDir              = "data"
	journalDirName              = "journal"
	bindingsDirName             = "bindings"
	pagingDirName               = "paging"
	largeMessagesDirName        = "large-messages"
	defaultSecurityAllMatch     = "#"
	// MQTT's: Artemis keeps 3.1.1 sessions for ever and closes a 3.1.1
	// client whose publish is refused.
	defaultMQTTSessionExpiry        = -time.Second
	defaultMQTTReceiveMaximum       = 1000
	defaultMQTTTopicAliasMaximum    = 64
	defaultMQTTRetainedDeliveryRate = 1000
)

// Default returns the embedded configuration of a broker run without an
// instance: named "tandem", one acceptor on tcp://127.0.0.1:61616 (loopback
// only, since nothing protects it), the console on localhost:8161, anonymous
// access with role "guest" allowed to do everything, logs on stderr, and data
// under ./data. Its directories are relative (data/journal, ...);
// ResolvePaths makes them absolute.
func Default() *Config {
	c := baseDefaults()
	c.Security = Security{AllowAnonymous: true, AnonymousRole: defaultAnonymousRole}
	c.Log.File = ""
	return c
}

// baseDefaults are the values of every key a broker.yaml leaves out.
func baseDefaults() *Config {
	return &Config{
		Name:                     defaultName,
		Acceptors:                []Acceptor{{Name: defaultName, URL: defaultAcceptorURL, Options: map[string]string{}}},
		Web:                      Web{Bind: defaultWebBind, Enabled: true},
		JournalDirectory:         defaultDataDir + "/" + journalDirName,
		BindingsDirectory:        defaultDataDir + "/" + bindingsDirName,
		PagingDirectory:          defaultDataDir + "/" + pagingDirName,
		LargeMessagesDirectory:   defaultDataDir + "/" + largeMessagesDirName,
		JournalFileSize:          defaultJournalFileSize,
		JournalMinFiles:          defaultJournalMinFiles,
		JournalType:              JournalASYNCIO,
		JournalSync:              true,
		JournalCompactMinFiles:   defaultCompactMinFiles,
		JournalCompactPercentage: defaultCompactPercent,
		IDCacheSize:              defaultIDCacheSize,
		PersistenceEnabled:       true,
		Store:                    defaultStore(),
		GlobalMaxSizePercent:     DefaultGlobalMaxSizePercent,
		ProducerWindowSize:       defaultProducerWindowSize,
		MaxFrameSize:             defaultMaxFrameSize,
		MaxConnections:           -1,
		Limits: Limits{MaxConnectionsPerIP: -1, MaxConnectionsPerUser: -1, MaxHeaders: defaultMaxHeaders,
			MaxHeaderSize: defaultMaxHeaderSize, MaxSubscriptions: defaultMaxSubscriptions,
			MaxDestinationLength: defaultMaxDestinationLength, HandshakeTimeout: defaultHandshakeTimeout},
		MQTT: MQTT{DefaultSessionExpiry: defaultMQTTSessionExpiry, ReceiveMaximum: defaultMQTTReceiveMaximum,
			TopicAliasMaximum: defaultMQTTTopicAliasMaximum, RetainedDeliveryRate: defaultMQTTRetainedDeliveryRate,
			CloseOnPublishRefused: true},
		Security:         Security{UsersFile: defaultUsersFile, AnonymousRole: defaultAnonymousRole},
		SecuritySettings: []SecuritySetting{AllowAll(defaultSecurityAllMatch, defaultAnonymousRole)},
		Log:              Log{Level: slog.LevelInfo, Format: LogText, File: defaultLogFile},
	}
}

// AllowAll returns a security setting granting every permission on match to
// roles; tandem create and the defaults use it.
func AllowAll(match string, roles ...string) SecuritySetting {
	perms := make(map[security.Permission][]string)
	for _, p := range security.AllPermissions() {
		perms[p] = slices.Clone(roles)
	}
	return SecuritySetting{Match: match, Permissions: perms}
}

// splitURL parses a tcp://HOST:PORT?opts URL into host, port and options.
func splitURL(raw string) (host, port string, opts map[string]string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", nil, err
	}
	if u.Scheme != "tcp" {
		return "", "", nil, errNotTCP
	}
	if u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return "", "", nil, errNotTCP
	}
	host, port = u.Hostname(), u.Port()
	if port == "" || strings.HasSuffix(u.Host, ":") {
		return "", "", nil, errNoPort
	}
	opts = make(map[string]string)
	for k, vs := range u.Query() {
		opts[k] = vs[len(vs)-1]
	}
	return host, port, opts, nil
}

// DefaultGlobalMaxSizePercent is the share of the machine's memory that
// bounds the messages of all addresses together when global-max-size is not
// set. Artemis takes half of the JVM's heap, which a default JVM sizes at a
// quarter of the machine: an eighth in all. A Go broker has no heap bound of
// its own, and between two collections its heap grows to about twice its
// live data (GOGC=100); with a quarter of memory in messages (counted with
// their bookkeeping, broker.RefOverhead) the process stays near half of
// memory, leaving the rest to the page cache the journal and the page files
// read through, and to other processes.
const DefaultGlobalMaxSizePercent = 25

// GlobalMaxSizeFor resolves global-max-size on a machine with memory bytes
// (0 when unknown): the bytes it bounds the brokers' messages to, or -1 for
// no bound. A share of unknown memory falls back to 1 GiB.
func (c *Config) GlobalMaxSizeFor(memory int64) int64 {
	switch {
	case c.GlobalMaxSize != 0:
		return c.GlobalMaxSize
	case memory <= 0:
		return 1 << 30
	}
	return max(memory*int64(c.GlobalMaxSizePercent)/100, 1<<20)
}
