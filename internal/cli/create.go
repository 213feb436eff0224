package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tandem/internal/config"
	"tandem/internal/instance"
	"tandem/internal/pgdb"
)

// createOptions holds the flags of `tandem create`, named as in Artemis'
// `artemis create`.
type createOptions struct {
	dir                string
	name               string
	user, password     string
	role               string
	allowAnonymous     bool
	requireLogin       bool
	portOffset         int
	host               string
	data               string
	force              bool
	sharedStore        bool
	backup             bool
	failoverOnShutdown bool
	allowFailback      bool
	noFailback         bool
	staticCluster      []string
	clusterUser        string
	clusterPassword    string
	noWeb              bool
	tls                instance.TLSOptions
	jdbc               bool
	db                 instance.DatabaseOptions
}

func init() { register(newCreateCommand) }

func newCreateCommand(e *env) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create DIR",
		Short: "Create a broker instance directory",
		Long: `Create a broker instance in DIR, as Artemis' 'artemis create' does:

  DIR/bin/tandem        runs this tandem binary with this instance (bin/tandem run)
  DIR/etc/broker.yaml   the broker configuration, commented, Artemis' names
  DIR/etc/users.yaml    users with argon2id password hashes (mode 0600)
  DIR/data/             journal, bindings, paging, large messages (unless --data)
  DIR/log/              log files

The command is non-interactive: give --user and --password, or
--allow-anonymous for a broker without users. Anonymous access is off
unless --allow-anonymous is given.

A shared-store pair on one host (SCENARIOS.md, lab A):

  tandem create brokers/master --name master --user admin --password admin \
      --allow-anonymous --shared-store --data /mnt/shared/tandem
  tandem create brokers/slave --name slave --user admin --password admin \
      --allow-anonymous --shared-store --backup --port-offset 1 --data /mnt/shared/tandem`,
		Example: `  tandem create brokers/b1 --user admin --password admin
  tandem create /srv/tandem --user admin --password s3cret --host 10.0.0.5 --no-web`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("create takes one argument, the instance directory, e.g. tandem create brokers/master (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = args[0]
			return runCreate(cmd.Context(), o, e.stdout)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.name, "name", "", "broker name (default: the base name of DIR)")
	fs.StringVar(&o.user, "user", "", "user to create; its password is stored hashed in etc/users.yaml")
	fs.StringVar(&o.password, "password", "", "password of --user")
	fs.StringVar(&o.role, "role", "amq", "role of --user (which also gets the manage role) and of anonymous clients; it may do everything on every address")
	fs.BoolVar(&o.allowAnonymous, "allow-anonymous", false, "let clients connect without logging in")
	fs.BoolVar(&o.requireLogin, "require-login", false, "require clients to log in (the default)")
	fs.IntVar(&o.portOffset, "port-offset", 0, "add N to the client port 61616 and the console port 8161")
	fs.StringVar(&o.host, "host", "0.0.0.0", "address the client port binds to")
	fs.StringVar(&o.data, "data", "", "directory for journal, bindings, paging and large messages (the shared mount of a shared store)")
	fs.BoolVar(&o.force, "force", false, "overwrite an existing instance's configuration, users and script (data and logs are kept)")
	fs.BoolVar(&o.sharedStore, "shared-store", false, "make this broker one node of a live/backup pair over a shared store (--data)")
	fs.BoolVar(&o.backup, "backup", false, "with --shared-store: be the backup, which waits for the primary's lock (alias --slave)")
	fs.BoolVar(&o.failoverOnShutdown, "failover-on-shutdown", false, "with --shared-store: a graceful stop of the live also fails over to the backup")
	fs.BoolVar(&o.allowFailback, "allow-failback", false, "with --backup: hand back to the primary when it restarts (the default)")
	fs.BoolVar(&o.noFailback, "no-failback", false, "with --backup: stay live when the primary restarts")
	fs.StringSliceVar(&o.staticCluster, "static-cluster", nil, "peer URLs, comma-separated (tcp://HOST:PORT,...), for the cluster connection")
	fs.StringVar(&o.clusterUser, "cluster-user", "", "user this node logs in as on its peers to announce itself (needed when they require login)")
	fs.StringVar(&o.clusterPassword, "cluster-password", "", "password of --cluster-user; kept in clear in etc/broker.yaml, which is then readable by its owner only")
	fs.BoolVar(&o.noWeb, "no-web", false, "disable the HTTP console")
	fs.StringVar(&o.tls.Key, "ssl-key", "", "TLS on the client port: PEM file with certificate chain and key, or a PKCS#12 keystore")
	fs.StringVar(&o.tls.KeyPassword, "ssl-key-password", "", "password of a PKCS#12 --ssl-key")
	fs.StringVar(&o.tls.Trust, "ssl-trust", "", "PEM file of trusted CAs: for --use-client-auth and for the cluster connection")
	fs.StringVar(&o.tls.TrustPassword, "ssl-trust-password", "", "password of a PKCS#12 --ssl-trust")
	fs.BoolVar(&o.tls.UseClientAuth, "use-client-auth", false, "require client certificates signed by --ssl-trust")
	fs.BoolVar(&o.tls.SelfSigned, "ssl-self-signed", false, "TLS on the client port with a generated self-signed certificate in etc/tls (development)")
	fs.BoolVar(&o.jdbc, "jdbc", false, "keep the store in PostgreSQL (messages, large messages, paging and the live/backup lease) instead of the data directories; needs --jdbc-connection-url")
	fs.StringVar(&o.db.URL, "jdbc-connection-url", "", "with --jdbc: the database URL, postgres://USER:PASSWORD@HOST:5432/DATABASE (Artemis' jdbc:postgresql:// form is read too)")
	fs.StringVar(&o.db.User, "jdbc-user", "", "with --jdbc: the database user, replacing the URL's")
	fs.StringVar(&o.db.Password, "jdbc-password", "", "with --jdbc: the database password, replacing the URL's; broker.yaml is then readable by its owner only")
	fs.StringVar(&o.db.MessageTable, "jdbc-message-table-name", "", "with --jdbc: the messages table (default tandem_messages)")
	fs.StringVar(&o.db.BindingsTable, "jdbc-bindings-table-name", "", "with --jdbc: the bindings table (default tandem_bindings)")
	fs.StringVar(&o.db.LargeMessageTable, "jdbc-large-message-table-name", "", "with --jdbc: the large messages table (default tandem_large_messages)")
	fs.StringVar(&o.db.PageStoreTable, "jdbc-page-store-table-name", "", "with --jdbc: the page store table (default tandem_page_store)")
	fs.StringVar(&o.db.NodeManagerTable, "jdbc-node-manager-table-name", "", "with --jdbc: the lease table (default tandem_node_manager)")
	fs.DurationVar(&o.db.LockRenewPeriod, "jdbc-lock-renew-period", 0, "with --jdbc: how often the live renews its lease (default 500ms)")
	fs.DurationVar(&o.db.LockExpiration, "jdbc-lock-expiration", 0, "with --jdbc: how long a lease lasts unrenewed; a backup takes over this long after the live froze (default 3s)")
	fs.SetNormalizeFunc(createFlagAliases)
	return cmd
}

// createFlagAliases accepts Artemis' other spellings of create's flags.
func createFlagAliases(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "slave":
		name = "backup"
	case "staticCluster":
		name = "static-cluster"
	case "clusterUser":
		name = "cluster-user"
	case "clusterPassword":
		name = "cluster-password"
	case "jdbc-node-manager-store-table-name":
		name = "jdbc-node-manager-table-name"
	}
	return pflag.NormalizedName(name)
}

// runCreate creates the instance and tells the user what it wrote and how
// to start it.
func runCreate(_ context.Context, o createOptions, out io.Writer) error {
	switch {
	case o.allowAnonymous && o.requireLogin:
		return errors.New("--allow-anonymous and --require-login contradict each other; pass one of them")
	case o.allowFailback && o.noFailback:
		return errors.New("--allow-failback and --no-failback contradict each other; pass one of them")
	case o.allowFailback && !o.backup:
		return errors.New("--allow-failback applies to a backup; add --shared-store --backup or drop --allow-failback")
	case o.user == "" && o.password == "" && !o.allowAnonymous:
		return errors.New("--user and --password are required (tandem create is non-interactive); pass e.g. --user admin --password admin, or --allow-anonymous for a broker without users")
	case !o.jdbc && o.db != (instance.DatabaseOptions{}):
		return errors.New("the --jdbc-* options need --jdbc, which keeps the store in a database")
	}
	var db *instance.DatabaseOptions
	if o.jdbc {
		db = &o.db
	}
	inst, err := instance.Create(instance.CreateOptions{
		Dir:                o.dir,
		Name:               o.name,
		User:               o.user,
		Password:           o.password,
		Role:               o.role,
		AllowAnonymous:     o.allowAnonymous,
		PortOffset:         o.portOffset,
		Host:               o.host,
		DataDir:            o.data,
		Force:              o.force,
		SharedStore:        o.sharedStore,
		Backup:             o.backup,
		FailoverOnShutdown: o.failoverOnShutdown,
		NoFailback:         o.noFailback,
		StaticCluster:      o.staticCluster,
		ClusterUser:        o.clusterUser,
		ClusterPassword:    o.clusterPassword,
		NoWeb:              o.noWeb,
		TLS:                o.tls,
		Database:           db,
	})
	if err != nil {
		return err
	}
	cfg, err := inst.LoadConfig()
	if err != nil {
		return err
	}
	printCreated(out, inst, cfg, o)
	return nil
}

// printCreated describes the new instance from the configuration it holds,
// so what the user reads is what the broker will do.
func printCreated(out io.Writer, inst *instance.Instance, cfg *config.Config, o createOptions) {
	rel := func(p string) string {
		if r, err := filepath.Rel(inst.Dir, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	users := "no users: clients connect anonymously"
	if o.user != "" {
		users = fmt.Sprintf("user %s (roles %s, %s), password hashed", o.user, o.role, "manage")
		if o.role == "manage" {
			users = fmt.Sprintf("user %s (role manage), password hashed", o.user)
		}
	}
	fmt.Fprintf(out, "Creating tandem instance at: %s\n\n", inst.Dir)
	fmt.Fprintf(out, "  %-18s runs tandem with this instance\n", rel(inst.ScriptPath()))
	fmt.Fprintf(out, "  %-18s broker configuration\n", rel(inst.ConfigPath()))
	fmt.Fprintf(out, "  %-18s %s\n", rel(inst.UsersPath()), users)
	data := "journal, bindings, paging, large messages"
	if cfg.Database() {
		data = "instance data; the store is in the database"
	} else if rel(cfg.JournalDirectory) == cfg.JournalDirectory {
		data = "instance data; the store is under " + filepath.Dir(cfg.JournalDirectory)
	}
	fmt.Fprintf(out, "  %-18s %s\n", rel(inst.DataDir)+"/", data)
	fmt.Fprintf(out, "  %-18s logs\n\n", rel(inst.LogDir)+"/")

	fmt.Fprintf(out, "Broker %q\n", cfg.Name)
	for _, a := range cfg.Acceptors {
		fmt.Fprintf(out, "  clients:  %s\n", a.URL)
	}
	if cfg.Web.Enabled {
		fmt.Fprintf(out, "  console:  http://%s\n", cfg.Web.Bind)
	}
	if cfg.Database() {
		fmt.Fprintf(out, "  store:    database %s (tables %s, ...)\n", pgdb.Redact(cfg.Store.URL), cfg.Store.MessageTable)
	} else {
		fmt.Fprintf(out, "  journal:  %s\n", rel(cfg.JournalDirectory))
	}
	login := "required"
	if cfg.Security.AllowAnonymous {
		login = "optional (anonymous clients get role " + cfg.Security.AnonymousRole + ")"
	}
	fmt.Fprintf(out, "  login:    %s\n", login)
	switch cfg.HA.Mode {
	case config.HAPrimary:
		fmt.Fprintf(out, "  HA:       %s primary (failover-on-shutdown: %t)\n", haKind(cfg), cfg.HA.FailoverOnShutdown)
	case config.HABackup:
		fmt.Fprintf(out, "  HA:       %s backup (allow-failback: %t, failover-on-shutdown: %t)\n", haKind(cfg), cfg.HA.AllowFailback, cfg.HA.FailoverOnShutdown)
	}
	for _, cc := range cfg.ClusterConnections {
		as := "anonymously"
		if cc.User != "" {
			as = "as user " + cc.User
		}
		fmt.Fprintf(out, "  cluster:  %s, peers %s, announcing %s\n", cc.Name, peerURLs(cfg, cc.StaticConnectors), as)
		if len(o.staticCluster) == 0 {
			fmt.Fprintf(out, "  note:     the peers are guessed from the neighbouring ports; if the other node of the\n"+
				"            pair is elsewhere, name it with --static-cluster tcp://HOST:PORT\n")
		}
		if cc.User == "" && !cfg.Security.AllowAnonymous {
			fmt.Fprintf(out, "  note:     peers that require login refuse an anonymous announcement; pass\n"+
				"            --cluster-user and --cluster-password (the same on every node) so clients\n"+
				"            given only the live's URL learn this node's address\n")
		}
	}
	fmt.Fprintf(out, "\nYou can now start the broker by executing:\n\n   %q run\n\n", inst.ScriptPath())
	fmt.Fprintf(out, "Check its configuration without starting it:\n\n   %q run --config-check\n", inst.ScriptPath())
}

// peerURLs lists the URLs of the named connectors.
func peerURLs(cfg *config.Config, names []string) string {
	urls := make([]string, 0, len(names))
	for _, n := range names {
		for _, c := range cfg.Connectors {
			if c.Name == n {
				urls = append(urls, c.URL)
			}
		}
	}
	return strings.Join(urls, ", ")
}

// haKind names what a pair shares.
func haKind(cfg *config.Config) string {
	if cfg.Database() {
		return fmt.Sprintf("shared-store (database, lease %v renewed every %v)", cfg.Store.LockExpiration, cfg.Store.LockRenewPeriod)
	}
	return "shared-store"
}
