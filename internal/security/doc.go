// Package security owns who may talk to the broker and what they may do: the
// users file (etc/users.yaml) with argon2id password hashes, authentication
// of a login (including anonymous access and a cache that keeps a flood of
// reconnecting clients from burning CPU on argon2), and the Artemis-style
// per-address permissions (security-settings) with their wildcard patterns.
//
// The package is a leaf: it imports nothing else from tandem, so the broker,
// the protocol adapters and the configuration can all depend on it.
//
// Passwords never appear in clear on disk or in memory longer than a call:
// the users file holds only self-describing PHC strings of the form
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, and the authentication cache
// is keyed by a keyed MAC of the login, never by the password itself.
package security
