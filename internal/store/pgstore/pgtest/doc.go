// Package pgtest runs PostgreSQL servers for tests: the unit tests of the
// database store and lease, and the end-to-end tests that run brokers on
// PostgreSQL.
//
// It starts the server from Debian's package (/usr/lib/postgresql/N/bin,
// or TANDEM_PG_BIN) in a data directory of its own, listening on a free
// loopback port, with its socket directory beside the data. PostgreSQL
// refuses to run as root, so as root it runs initdb, pg_ctl and postgres as
// the postgres user (runuser -u postgres) on directories that user owns.
//
// A test that cannot find PostgreSQL is skipped, unless
// TANDEM_REQUIRE_POSTGRES=1 is set (as in CI), which makes it fail.
//
// Start gives a test a server of its own, stopped when the test ends; use
// it for tests that stop, kill or restart the server. Shared gives every
// test of a package one server, on which each test creates a database of
// its own (NewDatabase); the package's TestMain must call Main so that the
// shared server stops when the tests end. Servers left behind by a test
// binary that was killed are stopped by the next run.
package pgtest
