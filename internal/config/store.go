package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// StoreType says where a broker keeps its messages.
type StoreType string

// The store types. Artemis calls them file-store and database-store; both
// spellings are read.
const (
	// StoreFile keeps messages in the journal, paging and large-messages
	// directories.
	StoreFile StoreType = "file"
	// StoreDatabase keeps everything in PostgreSQL: messages, large
	// messages, paged messages and the lease that decides which node of a
	// pair is live.
	StoreDatabase StoreType = "database"
)

// The database store's defaults. They repeat internal/pgdb's table names
// and internal/ha/dblease's lease timings, which this package cannot import
// (they pull in the PostgreSQL driver); docs/ha.md explains the timings.
const (
	DefaultMessageTable      = "tandem_messages"
	DefaultBindingsTable     = "tandem_bindings"
	DefaultLargeMessageTable = "tandem_large_messages"
	DefaultPageStoreTable    = "tandem_page_store"
	DefaultNodeManagerTable  = "tandem_node_manager"
	DefaultLockExpiration    = 3 * time.Second
	DefaultLockRenewPeriod   = 500 * time.Millisecond
	minLockExpiration        = 500 * time.Millisecond
	maxTableName             = 48
)

// Store is the store section of broker.yaml. Its keys are Artemis'
// database-store names.
type Store struct {
	Type StoreType
	// URL is the database's connection URL (url, or Artemis'
	// jdbc-connection-url; a jdbc:postgresql:// URL is read as
	// postgresql://).
	URL string
	// User and Password (jdbc-user, jdbc-password), when set, replace
	// those of the URL.
	User, Password string
	// The table names (message-table-name, ...). Each is a base from which
	// related tables are named (docs/database-format.md).
	MessageTable, BindingsTable, LargeMessageTable, PageStoreTable, NodeManagerTable string
	// LockExpiration is how long a lease lasts after its last renewal
	// (jdbc-lock-expiration), LockRenewPeriod how often the live renews it
	// (jdbc-lock-renew-period).
	LockExpiration, LockRenewPeriod time.Duration
}

// Database reports whether the broker keeps its messages in a database.
func (c *Config) Database() bool { return c.Store.Type == StoreDatabase }

func defaultStore() Store {
	return Store{
		Type: StoreFile, MessageTable: DefaultMessageTable, BindingsTable: DefaultBindingsTable,
		LargeMessageTable: DefaultLargeMessageTable, PageStoreTable: DefaultPageStoreTable,
		NodeManagerTable: DefaultNodeManagerTable, LockExpiration: DefaultLockExpiration,
		LockRenewPeriod: DefaultLockRenewPeriod,
	}
}

func parseStoreType(s string) (StoreType, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "file", "file-store":
		return StoreFile, true
	case "database", "database-store", "jdbc":
		return StoreDatabase, true
	}
	return "", false
}

// store decodes the store section.
func (d *decoder) store(n *yaml.Node, path string, s *Store) {
	ms := d.durationIn(time.Millisecond, "milliseconds")
	urlKey := ""
	setURL := func(key string) handler {
		return func(v *yaml.Node, p string) {
			if urlKey != "" {
				d.problem(d.deref(v).Line, p, "the URL is given twice (%s and %s); keep one", urlKey, key)
				return
			}
			urlKey = key
			if u, ok := d.str(v, p); ok {
				s.URL = u
			}
		}
	}
	d.mapping(n, path, map[string]handler{
		"type":                          to(&s.Type, enum(d, parseStoreType, "file or database")),
		"url":                           setURL("url"),
		"jdbc-connection-url":           setURL("jdbc-connection-url"),
		"jdbc-user":                     to(&s.User, d.str),
		"jdbc-password":                 to(&s.Password, d.str),
		"message-table-name":            to(&s.MessageTable, d.str),
		"bindings-table-name":           to(&s.BindingsTable, d.str),
		"large-message-table-name":      to(&s.LargeMessageTable, d.str),
		"page-store-table-name":         to(&s.PageStoreTable, d.str),
		"node-manager-store-table-name": to(&s.NodeManagerTable, d.str),
		"jdbc-lock-expiration":          to(&s.LockExpiration, ms),
		"jdbc-lock-renew-period":        to(&s.LockRenewPeriod, ms),
	})
}

// store validates the store section.
func (v *validator) store() {
	s := &v.c.Store
	switch s.Type {
	case StoreFile:
		if s.URL != "" {
			v.at("store.url", "a database URL is set but store.type is file; set type: database to use it, or remove the URL")
		}
		return
	case StoreDatabase:
	default:
		v.at("store.type", "%q is not a store type; expected file or database", s.Type)
		return
	}
	if !v.c.PersistenceEnabled {
		v.at("persistence-enabled", "a database store needs persistence-enabled: true")
	}
	if s.URL == "" {
		v.at("store", "type database needs url (or jdbc-connection-url), e.g. postgres://tandem:secret@db.example:5432/tandem")
	} else if msg := checkDatabaseURL(s.URL); msg != "" {
		v.at("store.url", "%s", msg)
	}
	seen := map[string]string{}
	for _, t := range []struct{ key, name string }{
		{"message-table-name", s.MessageTable}, {"bindings-table-name", s.BindingsTable},
		{"large-message-table-name", s.LargeMessageTable}, {"page-store-table-name", s.PageStoreTable},
		{"node-manager-store-table-name", s.NodeManagerTable},
	} {
		p := "store." + t.key
		if !tableName(t.name) {
			v.at(p, "%q is not a table name tandem can use: 1 to %d letters, digits and '_', not starting with a digit", t.name, maxTableName)
			continue
		}
		lower := strings.ToLower(t.name)
		if other, dup := seen[lower]; dup {
			v.at(p, "%q is also %s; each table needs its own name", t.name, other)
		}
		seen[lower] = t.key
	}
	switch {
	case s.LockExpiration < minLockExpiration:
		v.at("store.jdbc-lock-expiration", "%v is too short; the lease needs at least %v (default %v)", s.LockExpiration, minLockExpiration, DefaultLockExpiration)
	case s.LockRenewPeriod <= 0 || s.LockRenewPeriod > s.LockExpiration/2:
		v.at("store.jdbc-lock-renew-period", "%v must be positive and at most half of jdbc-lock-expiration (%v), so that the live renews several times per lease", s.LockRenewPeriod, s.LockExpiration)
	}
}

// checkDatabaseURL returns what is wrong with a PostgreSQL URL, or "".
// Key=value connection strings are accepted as they are.
func checkDatabaseURL(raw string) string {
	s := strings.TrimPrefix(strings.TrimSpace(raw), "jdbc:")
	if !strings.Contains(s, "://") {
		if strings.Contains(s, "=") {
			return ""
		}
		return "expected a PostgreSQL URL such as postgres://USER:PASSWORD@HOST:5432/DATABASE"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "the URL does not parse: " + err.Error()
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "scheme " + strconv.Quote(u.Scheme) + " is not PostgreSQL's; tandem's database store speaks PostgreSQL (postgres://...)"
	}
	return ""
}

// tableName reports whether s is usable as an unquoted table name.
func tableName(s string) bool {
	if s == "" || len(s) > maxTableName {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// writeStore writes the store section.
func writeStore(w *yamlWriter, s Store) {
	w.section("store: where messages are kept. type: file keeps them in the directories above;\n" +
		"type: database keeps everything (messages, large messages, paged messages, and the\n" +
		"lease that decides which node of a pair is live) in PostgreSQL, so that a live/backup\n" +
		"pair shares nothing but the database. Keys are Artemis' database-store names;\n" +
		"jdbc-lock-* take durations (an integer counts milliseconds).")
	w.line(0, "store:")
	w.kv(1, "type", string(s.Type))
	if s.Type != StoreDatabase {
		return
	}
	w.kv(1, "url", quote(s.URL))
	if s.User != "" {
		w.kv(1, "jdbc-user", quote(s.User))
	}
	if s.Password != "" {
		w.kv(1, "jdbc-password", quote(s.Password))
	}
	w.kv(1, "message-table-name", quote(s.MessageTable))
	w.kv(1, "bindings-table-name", quote(s.BindingsTable))
	w.kv(1, "large-message-table-name", quote(s.LargeMessageTable))
	w.kv(1, "page-store-table-name", quote(s.PageStoreTable))
	w.kv(1, "node-manager-store-table-name", quote(s.NodeManagerTable))
	w.kv(1, "jdbc-lock-renew-period", quote(FormatDuration(s.LockRenewPeriod)))
	w.kv(1, "jdbc-lock-expiration", quote(FormatDuration(s.LockExpiration)))
}
