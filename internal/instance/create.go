package instance

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/fsutil"
	"tandem/internal/security"
)

// Base ports; PortOffset is added to both, as in Artemis.
const (
	baseAcceptorPort = 61616
	baseWebPort      = 8161
)

// Names written into the generated broker.yaml, as in the Artemis lab this
// layout follows.
const (
	acceptorName     = "tandem"
	primaryConnector = "master-connector"
	backupConnector  = "slave-connector"
	// neighbourConnector is the other guessed peer of a primary above the
	// base port, one port down.
	neighbourConnector = "neighbour-connector"
	clusterName        = "static-cluster"
	manageRole         = "manage"
	clusterRole        = "cluster"
	defaultRole        = "amq"
	defaultHost        = "0.0.0.0"
	connectorHost      = "localhost"
	staticPeerPrefix   = "node"
	dlqName            = "DLQ"
	expiryQueueName    = "ExpiryQueue"
	allAddresses       = "#"
	maxDeliveryTries   = 10
	defaultPolicyName  = config.PolicyPage
)

// CreateOptions are the options of Create. They mirror the flags of
// `tandem create`, and errors about them name those flags, since that is how
// a user sets them.
type CreateOptions struct {
	// Dir is the instance directory to create.
	Dir string
	// Name is the broker name; default: the base name of Dir.
	Name string
	// User and Password create a user with Role and the manage role.
	// Both or neither must be given; neither requires AllowAnonymous.
	User, Password string
	// Role is the role of the created user, granted every permission on
	// every address, and the role of anonymous clients; default amq.
	Role string
	// AllowAnonymous lets clients connect without logging in.
	AllowAnonymous bool
	// PortOffset is added to the client port 61616 and the web port 8161.
	PortOffset int
	// Host is the address the client acceptor binds to; default 0.0.0.0.
	Host string
	// DataDir, when set, holds the journal, bindings, paging and large
	// messages directories (the shared mount of a shared store).
	DataDir string
	// Force allows creating into a non-empty directory or over an existing
	// instance; configuration, users and script are replaced, data and
	// logs kept.
	Force bool
	// SharedStore makes the broker one node of a shared-store pair: the
	// primary, or the backup with Backup.
	SharedStore bool
	Backup      bool
	// FailoverOnShutdown makes a graceful stop hand over to the backup.
	FailoverOnShutdown bool
	// NoFailback stops a backup that became live from handing back to a
	// restarted primary (Artemis' allow-failback=false).
	NoFailback bool
	// StaticCluster lists the peers' URLs (tcp://HOST:PORT); without it a
	// shared-store node's peer is assumed on the neighbouring port of
	// localhost.
	StaticCluster []string
	// ClusterUser and ClusterPassword are the credentials a node logs in
	// with on its peers' client ports to announce itself; a peer that
	// requires login refuses an announcement without them. The password is
	// written to broker.yaml in clear (as Artemis' cluster-password is), so
	// it is never taken from Password by default. A cluster user other than
	// User is added to the users file with only the cluster role, which may
	// log in and announce and nothing else.
	ClusterUser, ClusterPassword string
	// NoWeb disables the HTTP console.
	NoWeb bool
	// TLS makes the client port, the cluster connection and the HTTP port
	// use TLS.
	TLS TLSOptions
	// Executable is the tandem binary bin/tandem runs; default: the
	// running binary.
	Executable string
	// Database, when set, keeps the store in PostgreSQL instead of the
	// data directories (tandem create --jdbc).
	Database *DatabaseOptions
}

// DatabaseOptions are the --jdbc-* flags of tandem create, named as
// Artemis' create names them.
type DatabaseOptions struct {
	URL, User, Password                                                              string
	MessageTable, BindingsTable, LargeMessageTable, PageStoreTable, NodeManagerTable string
	LockRenewPeriod, LockExpiration                                                  time.Duration
}

// Create writes a new instance directory and returns it. It refuses a
// non-empty directory unless Force is set, and fails if the broker.yaml it
// generated does not load, which would be a bug.
func Create(opts CreateOptions) (*Instance, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", o.Dir, err)
	}
	if err := checkTarget(dir, o.Force); err != nil {
		return nil, err
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = executable(); err != nil {
			return nil, err
		}
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", o.Executable, err)
	}
	if o.DataDir != "" {
		if o.DataDir, err = filepath.Abs(o.DataDir); err != nil {
			return nil, fmt.Errorf("resolve --data %s: %w", o.DataDir, err)
		}
	}

	cfg := brokerConfig(o)
	if err := applyTLS(cfg, o, at(dir)); err != nil {
		return nil, err
	}
	yml, err := config.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("generate broker.yaml (a tandem bug; please report it): %w", err)
	}
	users := security.NewUsers()
	if o.User != "" {
		if err := users.AddUser(o.User, o.Password, userRoles(o.Role)); err != nil {
			return nil, fmt.Errorf("--user %s: %w", o.User, err)
		}
	}
	if o.ClusterUser != "" && o.ClusterUser != o.User {
		if err := users.AddUser(o.ClusterUser, o.ClusterPassword, []string{clusterRole}); err != nil {
			return nil, fmt.Errorf("--cluster-user %s: %w", o.ClusterUser, err)
		}
	}

	inst := at(dir)
	for _, d := range []string{inst.Dir, inst.BinDir, inst.EtcDir, inst.DataDir, inst.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create instance directory: %w", err)
		}
	}
	// The store's directories are made now, at creation, as Artemis does. At
	// run time a shared-store node refuses a missing journal directory rather
	// than create one, because a missing directory usually means the shared
	// mount is not there, and a local copy would make a second live.
	store := filepath.Join(inst.DataDir)
	if o.DataDir != "" {
		store = o.DataDir
	}
	for _, sub := range []string{"journal", "bindings", "paging", "large-messages"} {
		if err := os.MkdirAll(filepath.Join(store, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create the data directory %s (check --data): %w", filepath.Join(store, sub), err)
		}
	}
	if err := fsutil.WriteFile(inst.ScriptPath(), script(dir, exe), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", inst.ScriptPath(), err)
	}
	// broker.yaml holds the cluster password in clear when there is a
	// cluster connection (as Artemis' broker.xml does), so only the
	// broker's user may read it then.
	mode := os.FileMode(0o644)
	if cfgHasSecret(cfg) {
		mode = 0o600
	}
	if err := fsutil.WriteFile(inst.ConfigPath(), yml, mode); err != nil {
		return nil, fmt.Errorf("write %s: %w", inst.ConfigPath(), err)
	}
	if err := security.WriteUsers(inst.UsersPath(), users); err != nil {
		return nil, fmt.Errorf("write %s: %w", inst.UsersPath(), err)
	}
	if _, err := inst.LoadConfig(); err != nil {
		return nil, fmt.Errorf("the generated %s does not load (a tandem bug; please report it): %w", inst.ConfigPath(), err)
	}
	return inst, nil
}

// withDefaults checks the options and fills in their defaults.
func (o CreateOptions) withDefaults() (CreateOptions, error) {
	bad := func(format string, args ...any) (CreateOptions, error) {
		return o, &userError{ErrInvalidOptions, fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(o.Dir) == "" {
		return bad("no instance directory given; name one, e.g. tandem create brokers/master")
	}
	if o.Name == "" {
		abs, err := filepath.Abs(o.Dir)
		if err != nil {
			return o, fmt.Errorf("resolve %s: %w", o.Dir, err)
		}
		o.Name = filepath.Base(abs)
	}
	if o.Role == "" {
		o.Role = defaultRole
	}
	if o.Host == "" {
		o.Host = defaultHost
	}
	switch {
	case (o.User == "") != (o.Password == ""):
		return bad("--user and --password go together; pass both, e.g. --user admin --password admin")
	case o.User == "" && !o.AllowAnonymous:
		return bad("--user and --password are required (tandem create is non-interactive); pass e.g. --user admin --password admin, or --allow-anonymous for a broker without users")
	case o.PortOffset < 0 || baseAcceptorPort+o.PortOffset > 65535:
		return bad("--port-offset %d is out of range; expected 0 to %d", o.PortOffset, 65535-baseAcceptorPort)
	case o.Backup && !o.SharedStore && o.Database != nil:
		return bad("--backup needs --shared-store: with --jdbc the database is the shared store; add --shared-store to both nodes of the pair")
	case o.Backup && !o.SharedStore:
		return bad("--backup needs --shared-store: a backup waits for the primary's lock on the shared store")
	case o.FailoverOnShutdown && !o.SharedStore:
		return bad("--failover-on-shutdown needs --shared-store: only a shared-store pair has a backup to fail over to")
	case o.NoFailback && !o.Backup:
		return bad("--no-failback applies to a backup; add --backup or drop --no-failback")
	case (o.ClusterUser == "") != (o.ClusterPassword == ""):
		return bad("--cluster-user and --cluster-password go together; pass both, or neither to use --user and --password")
	case o.Database != nil && strings.TrimSpace(o.Database.URL) == "":
		return bad("--jdbc needs --jdbc-connection-url, e.g. --jdbc-connection-url postgres://tandem:secret@db:5432/tandem")
	case strings.ContainsAny(o.Name, "\n\r"):
		return bad("--name %q spans lines; choose a one-line name", o.Name)
	}
	if net.ParseIP(o.Host) == nil && !validHostname(o.Host) {
		return bad("--host %q is not an IP address or host name", o.Host)
	}
	if o.Database != nil {
		c := config.Default()
		c.Store = databaseStore(o.Database)
		if err := c.Validate(); err != nil {
			msg := strings.ReplaceAll(err.Error(), "store.url", "--jdbc-connection-url")
			return bad("%s", strings.ReplaceAll(msg, "store.", "--jdbc-"))
		}
	}
	if msg := o.TLS.check(); msg != "" {
		return bad("%s", msg)
	}
	for _, u := range o.StaticCluster {
		if err := checkPeerURL(u); err != nil {
			return bad("--static-cluster %q: %v", u, err)
		}
	}
	return o, nil
}

// validHostname accepts DNS-style names (letters, digits, '-', '.').
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	return strings.IndexFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.')
	}) < 0
}

// checkPeerURL validates one --static-cluster URL.
func checkPeerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "tcp" || u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("expected tcp://HOST:PORT, e.g. tcp://broker2:61616")
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", u.Port())
	}
	return nil
}

// userRoles returns the roles of the created user: its role plus manage,
// so that the same account can use the console.
func userRoles(role string) []string {
	if role == manageRole {
		return []string{role}
	}
	return []string{role, manageRole}
}

// brokerConfig builds the configuration of the new instance. Paths under
// the instance stay relative so the instance can be moved.
func brokerConfig(o CreateOptions) *config.Config {
	c := config.Default()
	c.Name = o.Name
	port := baseAcceptorPort + o.PortOffset
	c.Acceptors = []config.Acceptor{{
		Name:    acceptorName,
		URL:     "tcp://" + net.JoinHostPort(o.Host, strconv.Itoa(port)),
		Options: map[string]string{},
	}}
	c.Web = config.Web{Bind: net.JoinHostPort("localhost", strconv.Itoa(baseWebPort+o.PortOffset)), Enabled: !o.NoWeb}

	data := dataDirName
	if o.DataDir != "" {
		data = o.DataDir
	}
	c.JournalDirectory = filepath.Join(data, "journal")
	c.BindingsDirectory = filepath.Join(data, "bindings")
	c.PagingDirectory = filepath.Join(data, "paging")
	c.LargeMessagesDirectory = filepath.Join(data, "large-messages")

	c.Security = config.Security{AllowAnonymous: o.AllowAnonymous, UsersFile: usersName, AnonymousRole: o.Role}
	all := config.AllowAll(allAddresses, o.Role)
	if o.Role != manageRole {
		all.Permissions[security.PermManage] = []string{o.Role, manageRole}
	}
	c.SecuritySettings = []config.SecuritySetting{all}
	c.AddressSettings = []config.AddressSetting{defaultAddressSetting()}
	c.Addresses = []config.Address{anycastQueue(dlqName), anycastQueue(expiryQueueName)}

	if o.SharedStore {
		c.HA = config.HAPolicy{Mode: config.HAPrimary, FailoverOnShutdown: o.FailoverOnShutdown}
		if o.Backup {
			c.HA = config.HAPolicy{Mode: config.HABackup, FailoverOnShutdown: o.FailoverOnShutdown, AllowFailback: !o.NoFailback}
		}
	}
	if db := o.Database; db != nil {
		c.Store = databaseStore(db)
	}
	c.Connectors, c.ClusterConnections = cluster(o, port)
	c.Log = config.Log{Level: c.Log.Level, Format: config.LogText, File: filepath.Join(logDirName, logFileName)}
	return c
}

// cluster returns the connectors and cluster connection of the new node.
// A shared-store pair on one host sits on neighbouring ports, as in the
// Artemis lab: the primary's peer listens one port up, the backup's one port
// down. --static-cluster replaces that guess with explicit peers.
func cluster(o CreateOptions, port int) ([]config.Connector, []config.ClusterConnection) {
	host := connectorHost
	if ip := net.ParseIP(o.Host); (ip == nil && o.Host != "") || (ip != nil && !ip.IsUnspecified()) {
		host = o.Host
	}
	self := config.Connector{Name: acceptorName, URL: "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))}
	if o.SharedStore {
		self.Name = primaryConnector
		if o.Backup {
			self.Name = backupConnector
		}
	}
	peers := o.peers()
	connectors := append([]config.Connector{self}, peers...)
	if len(peers) == 0 {
		return connectors, nil
	}
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.Name
	}
	return connectors, []config.ClusterConnection{{
		Name: clusterName, ConnectorRef: self.Name, StaticConnectors: names,
		User: o.ClusterUser, Password: o.ClusterPassword,
	}}
}

// peers returns the connectors of the new node's peers: the other node of a
// shared-store pair on a neighbouring port of this host (the primary's peer
// one port up, the backup's one port down, as in the Artemis lab; a
// primary above the base port also tries one port down, where the first
// node of a Classic-style pair of primaries is), or the --static-cluster
// URLs, which replace that guess. A waiting node announces itself to each
// in turn, so a guess with no broker behind it costs only a refused dial.
func (o CreateOptions) peers() []config.Connector {
	var peers []config.Connector
	if len(o.StaticCluster) > 0 {
		for i, u := range o.StaticCluster {
			peers = append(peers, config.Connector{Name: staticPeerPrefix + strconv.Itoa(i), URL: u})
		}
		return peers
	}
	if o.SharedStore {
		port := baseAcceptorPort + o.PortOffset
		at := func(name string, p int) config.Connector {
			return config.Connector{Name: name, URL: "tcp://" + net.JoinHostPort(connectorHost, strconv.Itoa(p))}
		}
		switch {
		case o.Backup && port > baseAcceptorPort:
			peers = []config.Connector{at(primaryConnector, port-1)}
		case o.Backup:
			peers = []config.Connector{at(primaryConnector, port+1)}
		case port > baseAcceptorPort:
			// A primary above the base port may be the second node of the
			// pair (two primaries, Classic style, or a backup created
			// first): its peer is then one port down.
			peers = []config.Connector{at(backupConnector, port+1), at(neighbourConnector, port-1)}
		default:
			peers = []config.Connector{at(backupConnector, port+1)}
		}
	}
	return peers
}

// cfgHasSecret reports whether c holds a password in clear.
func cfgHasSecret(c *config.Config) bool {
	for _, cc := range c.ClusterConnections {
		if cc.Password != "" {
			return true
		}
	}
	if c.Store.Password != "" {
		return true
	}
	if u, err := url.Parse(strings.TrimPrefix(c.Store.URL, "jdbc:")); err == nil {
		if _, ok := u.User.Password(); ok || u.Query().Has("password") {
			return true
		}
	} else if strings.Contains(c.Store.URL, "password") {
		return true
	}
	return false
}

// databaseStore is the store section of --jdbc.
func databaseStore(db *DatabaseOptions) config.Store {
	s := config.Default().Store
	s.Type, s.URL, s.User, s.Password = config.StoreDatabase, db.URL, db.User, db.Password
	for _, f := range []struct {
		dst *string
		v   string
	}{{&s.MessageTable, db.MessageTable}, {&s.BindingsTable, db.BindingsTable}, {&s.LargeMessageTable, db.LargeMessageTable},
		{&s.PageStoreTable, db.PageStoreTable}, {&s.NodeManagerTable, db.NodeManagerTable}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if db.LockRenewPeriod > 0 {
		s.LockRenewPeriod = db.LockRenewPeriod
	}
	if db.LockExpiration > 0 {
		s.LockExpiration = db.LockExpiration
	}
	return s
}

// defaultAddressSetting is the "#" entry Artemis' create writes, spelled
// out so users see what they can tune.
func defaultAddressSetting() config.AddressSetting {
	t, zero := true, time.Duration(0)
	dla, exp := dlqName, expiryQueueName
	attempts, unlimited := maxDeliveryTries, int64(-1)
	policy := defaultPolicyName
	return config.AddressSetting{
		Match:               allAddresses,
		DeadLetterAddress:   &dla,
		ExpiryAddress:       &exp,
		MaxDeliveryAttempts: &attempts,
		RedeliveryDelay:     &zero,
		MaxSizeBytes:        &unlimited,
		AddressFullPolicy:   &policy,
		AutoCreateQueues:    &t,
		AutoCreateAddresses: &t,
	}
}

// anycastQueue is an address with one durable anycast queue of the same
// name, as Artemis creates DLQ and ExpiryQueue.
func anycastQueue(name string) config.Address {
	return config.Address{
		Name:         name,
		RoutingTypes: []config.RoutingType{config.Anycast},
		Queues:       []config.Queue{{Name: name, RoutingType: config.Anycast, Durable: true, MaxConsumers: -1}},
	}
}
