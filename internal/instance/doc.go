// Package instance owns the instance directory that `tandem create` writes
// and `tandem run` reads, laid out as Artemis lays out a broker instance:
//
//	DIR/bin/tandem         a sh script that runs the tandem binary that
//	                       created the instance, with TANDEM_INSTANCE=DIR
//	DIR/etc/broker.yaml    the broker configuration (package config)
//	DIR/etc/users.yaml     users with argon2id password hashes (package security)
//	DIR/data/              journal, bindings, paging and large messages,
//	                       unless they live on a shared store (--data)
//	DIR/log/               the broker's log file
//
// Create builds the instance from options that mirror the create command's
// flags, and checks that the broker.yaml it wrote loads; Locate finds an
// existing instance. Paths inside the instance are written relative to it,
// so an instance directory can be moved, except the shared-store data
// directory, which is absolute.
package instance
