package pgdb

import (
	"errors"
	"fmt"
	"strings"
)

// The default table names. They are Artemis' (MESSAGES, BINDINGS, ...),
// prefixed so that tandem's tables stand out in a shared database, and in
// lower case, which is how PostgreSQL folds unquoted names anyway.
const (
	DefaultMessages      = "tandem_messages"
	DefaultBindings      = "tandem_bindings"
	DefaultLargeMessages = "tandem_large_messages"
	DefaultPageStore     = "tandem_page_store"
	DefaultNodeManager   = "tandem_node_manager"
)

// VersionTable keeps the schema version of every component. Its name is
// fixed: it is how a tandem finds out what an existing database holds.
const VersionTable = "tandem_schema_version"

// MaxNameLength bounds a configured table name, leaving room for the
// suffixes of the tables derived from it within PostgreSQL's 63 bytes.
const MaxNameLength = 48

// ErrBadName is wrapped by the error about a table name tandem cannot use.
var ErrBadName = errors.New("pgdb: bad table name")

// Tables names tandem's tables, as broker.yaml's *-table-name keys set
// them. Each configured name is a base from which related tables are
// derived (see the methods); docs/database-format.md lists them all.
type Tables struct {
	Messages      string // message-table-name
	Bindings      string // bindings-table-name
	LargeMessages string // large-message-table-name
	PageStore     string // page-store-table-name
	NodeManager   string // node-manager-store-table-name
}

// WithDefaults fills in the default of every name left empty and folds
// every name to lower case.
func (t Tables) WithDefaults() Tables {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return strings.ToLower(s)
	}
	return Tables{
		Messages:      def(t.Messages, DefaultMessages),
		Bindings:      def(t.Bindings, DefaultBindings),
		LargeMessages: def(t.LargeMessages, DefaultLargeMessages),
		PageStore:     def(t.PageStore, DefaultPageStore),
		NodeManager:   def(t.NodeManager, DefaultNodeManager),
	}
}

// Validate checks every name (after WithDefaults) and that no two are the
// same.
func (t Tables) Validate() error {
	seen := map[string]string{}
	for _, n := range []struct{ key, name string }{
		{"message-table-name", t.Messages}, {"bindings-table-name", t.Bindings},
		{"large-message-table-name", t.LargeMessages}, {"page-store-table-name", t.PageStore},
		{"node-manager-store-table-name", t.NodeManager},
	} {
		if err := CheckName(n.name); err != nil {
			return fmt.Errorf("%s: %w", n.key, err)
		}
		if other, dup := seen[n.name]; dup {
			return fmt.Errorf("%w: %s and %s both name %q; give each its own table", ErrBadName, other, n.key, n.name)
		}
		seen[n.name] = n.key
	}
	return nil
}

// CheckName reports whether name can be used, unquoted, as a table name:
// a letter or underscore, then letters, digits and underscores, at most
// MaxNameLength of them. Upper case is accepted and folded.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("%w: %q must be 1 to %d characters", ErrBadName, name, MaxNameLength)
	}
	for i, r := range name {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return fmt.Errorf("%w: %q may hold only letters, digits and '_', and must not start with a digit", ErrBadName, name)
		}
	}
	return nil
}

// Refs is the table of message references (one row per queue holding a
// message).
func (t Tables) Refs() string { return t.Messages + "_refs" }

// Dups is the table of remembered duplicate-detection ids.
func (t Tables) Dups() string { return t.Messages + "_dups" }

// Cursors is the table of page cursors.
func (t Tables) Cursors() string { return t.Messages + "_cursors" }

// Meta is the one-row table of the store's counters (the id block, the
// last group commit).
func (t Tables) Meta() string { return t.Messages + "_meta" }

// Chunks is the table of large message body chunks.
func (t Tables) Chunks() string { return t.LargeMessages + "_chunks" }

// History is the table of activations (one row per epoch).
func (t Tables) History() string { return t.NodeManager + "_history" }

// Fence is the PL/pgSQL function every write transaction calls first.
func (t Tables) Fence() string { return t.NodeManager + "_fence" }
