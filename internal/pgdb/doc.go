// Package pgdb holds what the PostgreSQL store (internal/store/pgstore)
// and the database lease (internal/ha/dblease) share: the names of
// tandem's tables, connecting with the session settings tandem relies on,
// a small connection pool, telling a lost connection from an error the
// server reported, and versioned schema migrations.
//
// Migrations are numbered steps per component (the store's tables, the
// lease's table), applied in order in one transaction per start, under an
// advisory lock so that two nodes starting at once do not race. The
// version of each component is kept in tandem_schema_version; a database
// whose version is newer than this build knows is refused, never changed.
// docs/database-format.md describes every table.
package pgdb
